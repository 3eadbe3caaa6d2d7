/**
 * The one checksum of every on-disk format: CRC32C (Castagnoli), hardware-accelerated
 * through @node-rs/crc32. Formats import it from here so that the choice is made once.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC32C of `data` (any view: a subarray is checksummed in place, without a copy).
 * Pass a previous result as `initial` to continue a checksum over several pieces:
 * crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export const crc32c: (data: Uint8Array, initial?: number) => number = nativeCrc32c;

// Reflected CRC32C table, for checksumming 4-byte fields without crossing into native
// code (a commit-log record header checksums its length on every append and replay).
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** CRC32C of the 4 little-endian bytes of the unsigned 32-bit `value`; equals crc32c of those bytes. */
export function crc32cOfUint32LE(value: number): number {
  let c = 0xffffffff;
  c = TABLE[(c ^ value) & 0xff] ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 8)) & 0xff] ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 16)) & 0xff] ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 24)) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
