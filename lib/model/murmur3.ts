/**
 * MurmurHash3 x64_128 with seed 0: the one hash behind partition tokens (Cassandra's
 * variant, see token.ts) and bloom filter positions (the standard variant, see
 * storage/sstable/bloom.ts). The two differ only in how the tail bytes (the last
 * `length % 16`) are read: Cassandra reads them as *signed* bytes, so a tail byte
 * >= 0x80 sign-extends over the higher bits of k1/k2; the reference C implementation
 * (and `murmurhash3js-revisited`) reads them unsigned.
 *
 * Every 64-bit value is a pair of 32-bit halves (hi, lo) held as *signed* int32: V8
 * keeps those as small integers, while unsigned values >= 2^31 would be boxed as heap
 * numbers on every store, and BigInt arithmetic allocates on every operation and is
 * ~50x slower. Nothing here allocates: the result lands in `murmur3Result`.
 */

/** A 128-bit hash as the int32 halves of its two 64-bit words h1 and h2. */
export interface Murmur3Result {
  h1Hi: number;
  h1Lo: number;
  h2Hi: number;
  h2Lo: number;
}

const result: Murmur3Result = { h1Hi: 0, h1Lo: 0, h2Hi: 0, h2Lo: 0 };

/**
 * The hash of the last `murmur3x64(...)` call. One object reused by every call, so
 * read the words before hashing again; the hash never re-enters itself.
 */
export const murmur3Result: Readonly<Murmur3Result> = result;

// MurmurHash3 x64_128's 64-bit constants, as int32 halves.
const C1_HI = 0x87c37b91 | 0;
const C1_LO = 0x114253d5 | 0;
const C2_HI = 0x4cf5ad43 | 0;
const C2_LO = 0x2745937f | 0;
const FMIX1_HI = 0xff51afd7 | 0;
const FMIX1_LO = 0xed558ccd | 0;
const FMIX2_HI = 0xc4ceb9fe | 0;
const FMIX2_LO = 0x1a85ec53 | 0;

// The result of the last 64-bit operation. Module-level scratch instead of returned
// pairs keeps the hot loop free of allocations.
let outHi = 0;
let outLo = 0;

/** (hi, lo) * (bHi, bLo) mod 2^64 → outHi/outLo. */
function mul64(hi: number, lo: number, bHi: number, bLo: number): void {
  // The low halves' full 64-bit product from 16-bit limbs (each partial product is
  // below 2^32, so doubles hold every sum exactly); the cross terms only affect the
  // high half, where Math.imul's wrapped 32-bit product is all that is needed.
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const middle = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  outLo = ((middle & 0xffff) << 16) | (p00 & 0xffff);
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (middle >>> 16);
  outHi = (carry + Math.imul(lo, bHi) + Math.imul(hi, bLo)) | 0;
}

/** Rotates (hi, lo) left by r bits, 0 < r < 32 → outHi/outLo. */
function rotl64(hi: number, lo: number, r: number): void {
  outHi = (hi << r) | (lo >>> (32 - r));
  outLo = (lo << r) | (hi >>> (32 - r));
}

/** (aHi, aLo) + (bHi, bLo) mod 2^64 → outHi/outLo. */
function add64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = (aLo >>> 0) + (bLo >>> 0);
  outLo = lo | 0;
  outHi = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) | 0;
}

/** MurmurHash3's final avalanche of one 64-bit half → outHi/outLo. */
function fmix64(hi: number, lo: number): void {
  // k ^= k >>> 33 only touches the low half: (hi >>> 1) shifted into it.
  lo ^= hi >>> 1;
  mul64(hi, lo, FMIX1_HI, FMIX1_LO);
  hi = outHi;
  lo = outLo ^ (hi >>> 1);
  mul64(hi, lo, FMIX2_HI, FMIX2_LO);
  hi = outHi;
  outLo ^= hi >>> 1;
  outHi = hi;
}

/** k1 *= c1; k1 = rotl(k1, 31); k1 *= c2 → outHi/outLo. */
function mixK1(hi: number, lo: number): void {
  mul64(hi, lo, C1_HI, C1_LO);
  rotl64(outHi, outLo, 31);
  mul64(outHi, outLo, C2_HI, C2_LO);
}

/** k2 *= c2; k2 = rotl(k2, 33); k2 *= c1 → outHi/outLo. A rotation by 33 is a swap of
 *  the halves and a rotation by 1. */
function mixK2(hi: number, lo: number): void {
  mul64(hi, lo, C2_HI, C2_LO);
  rotl64(outLo, outHi, 1);
  mul64(outHi, outLo, C1_HI, C1_LO);
}

/** h = rotl(h, r); h += other; h = h * 5 + addend → outHi/outLo. */
function mixH(hi: number, lo: number, otherHi: number, otherLo: number, r: number, addend: number): void {
  rotl64(hi, lo, r);
  add64(outHi, outLo, otherHi, otherLo);
  mul64(outHi, outLo, 0, 5);
  add64(outHi, outLo, 0, addend);
}

function readInt32LE(bytes: Uint8Array, offset: number): number {
  return bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24);
}

/**
 * MurmurHash3 x64_128 of `bytes` with seed 0 → `murmur3Result`. `signedTail` reads
 * the tail bytes as signed, as Cassandra does; false gives the standard hash.
 */
export function murmur3x64(bytes: Uint8Array, signedTail: boolean): void {
  const length = bytes.length;
  let h1Hi = 0;
  let h1Lo = 0;
  let h2Hi = 0;
  let h2Lo = 0;

  const blockEnd = length & ~15;
  for (let offset = 0; offset < blockEnd; offset += 16) {
    mixK1(readInt32LE(bytes, offset + 4), readInt32LE(bytes, offset));
    mixH(h1Hi ^ outHi, h1Lo ^ outLo, h2Hi, h2Lo, 27, 0x52dce729);
    h1Hi = outHi;
    h1Lo = outLo;
    mixK2(readInt32LE(bytes, offset + 12), readInt32LE(bytes, offset + 8));
    mixH(h2Hi ^ outHi, h2Lo ^ outLo, h1Hi, h1Lo, 31, 0x38495ab5);
    h2Hi = outHi;
    h2Lo = outLo;
  }

  const tailLength = length & 15;
  if (tailLength > 0) {
    let k1Hi = 0;
    let k1Lo = 0;
    let k2Hi = 0;
    let k2Lo = 0;
    // Byte j of the tail is XORed in at bit 8*(j mod 8) of k1 (j < 8) or k2. Read
    // signed, a negative byte also flips every higher bit of its 64-bit word:
    // `value << s` handles the bits of its own half; a byte in the low half also
    // flips the whole high half when negative (value >> 31 is then all ones, and
    // always 0 for an unsigned byte).
    for (let j = tailLength - 1; j >= 0; j--) {
      const byte = bytes[blockEnd + j];
      const value = signedTail ? (byte << 24) >> 24 : byte;
      const slot = j & 7;
      if (j >= 8) {
        if (slot >= 4) k2Hi ^= value << ((slot - 4) * 8);
        else {
          k2Lo ^= value << (slot * 8);
          k2Hi ^= value >> 31;
        }
      } else if (slot >= 4) k1Hi ^= value << ((slot - 4) * 8);
      else {
        k1Lo ^= value << (slot * 8);
        k1Hi ^= value >> 31;
      }
    }
    if (tailLength > 8) {
      mixK2(k2Hi, k2Lo);
      h2Hi ^= outHi;
      h2Lo ^= outLo;
    }
    mixK1(k1Hi, k1Lo);
    h1Hi ^= outHi;
    h1Lo ^= outLo;
  }

  // h1 ^= length; h2 ^= length (length < 2^31: low half only)
  h1Lo ^= length;
  h2Lo ^= length;
  // h1 += h2; h2 += h1; h1 = fmix(h1); h2 = fmix(h2); h1 += h2; h2 += h1
  add64(h1Hi, h1Lo, h2Hi, h2Lo);
  h1Hi = outHi;
  h1Lo = outLo;
  add64(h2Hi, h2Lo, h1Hi, h1Lo);
  h2Hi = outHi;
  h2Lo = outLo;
  fmix64(h1Hi, h1Lo);
  h1Hi = outHi;
  h1Lo = outLo;
  fmix64(h2Hi, h2Lo);
  h2Hi = outHi;
  h2Lo = outLo;
  add64(h1Hi, h1Lo, h2Hi, h2Lo);
  result.h1Hi = outHi;
  result.h1Lo = outLo;
  add64(h2Hi, h2Lo, outHi, outLo);
  result.h2Hi = outHi;
  result.h2Lo = outLo;
}
