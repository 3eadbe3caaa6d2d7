/**
 * Partition keys and their tokens: the Murmur3 partitioner, bit-compatible with
 * Cassandra's `Murmur3Partitioner`, and Cassandra's composite encoding of
 * multi-column partition keys.
 *
 * A token is h1 of the x64 128-bit MurmurHash3 (seed 0) of the serialized key, as a
 * signed 64-bit bigint. Two Cassandra quirks are reproduced on purpose, because a
 * different token would put data on different replicas than Cassandra would:
 * - the tail bytes (the last `length % 16`) are read as *signed* bytes, so a tail
 *   byte >= 0x80 sign-extends over the higher bits of k1/k2 (the reference C
 *   implementation and `murmurhash3js-revisited` read them unsigned);
 * - Long.MIN_VALUE is reserved for the ring's minimum, so a hash equal to it becomes
 *   Long.MAX_VALUE, and an empty key has the minimum token.
 *
 * The hash runs on pairs of 32-bit halves (hi, lo) and makes one bigint at
 * the end: BigInt arithmetic allocates on every operation and is ~50x slower.
 */
import { InvalidRequest, ServerError } from '../errors.js';

/** The ring's minimum (-2^63): a position before every key, never a key's token. */
export const MIN_TOKEN = -(2n ** 63n);
/** The ring's maximum (2^63 - 1). */
export const MAX_TOKEN = 2n ** 63n - 1n;

/** Largest component of a composite key: its length is written as a uint16. */
const COMPOSITE_COMPONENT_BYTES_MAX = 0xffff;

// Every 64-bit value is a pair of 32-bit halves held as *signed* int32: V8 keeps
// those as small integers, while unsigned values >= 2^31 would be boxed as heap
// numbers on every store. These are MurmurHash3 x64_128's 64-bit constants.
const C1_HI = 0x87c37b91 | 0;
const C1_LO = 0x114253d5 | 0;
const C2_HI = 0x4cf5ad43 | 0;
const C2_LO = 0x2745937f | 0;
const FMIX1_HI = 0xff51afd7 | 0;
const FMIX1_LO = 0xed558ccd | 0;
const FMIX2_HI = 0xc4ceb9fe | 0;
const FMIX2_LO = 0x1a85ec53 | 0;
/** High half of Long.MIN_VALUE. */
const LONG_MIN_HI = 0x80000000 | 0;

// The result of the last 64-bit operation. Module-level scratch instead of returned
// pairs keeps the hot loop free of allocations; the hash never re-enters itself.
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

function readInt32LE(bytes: Uint8Array, offset: number): number {
  return bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24);
}

/**
 * h1 of MurmurHash3 x64_128 with seed 0, tail bytes sign-extended as Cassandra does,
 * as the two 32-bit halves of the 64-bit value → outHi/outLo.
 */
function murmur3H1Halves(bytes: Uint8Array): void {
  const length = bytes.length;
  let h1Hi = 0;
  let h1Lo = 0;
  let h2Hi = 0;
  let h2Lo = 0;
  let k1Hi: number;
  let k1Lo: number;
  let k2Hi: number;
  let k2Lo: number;

  const blockEnd = length & ~15;
  for (let offset = 0; offset < blockEnd; offset += 16) {
    k1Lo = readInt32LE(bytes, offset);
    k1Hi = readInt32LE(bytes, offset + 4);
    k2Lo = readInt32LE(bytes, offset + 8);
    k2Hi = readInt32LE(bytes, offset + 12);

    // k1 *= c1; k1 = rotl(k1, 31); k1 *= c2; h1 ^= k1
    mul64(k1Hi, k1Lo, C1_HI, C1_LO);
    rotl64(outHi, outLo, 31);
    mul64(outHi, outLo, C2_HI, C2_LO);
    h1Hi ^= outHi;
    h1Lo ^= outLo;
    // h1 = rotl(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729
    rotl64(h1Hi, h1Lo, 27);
    add64(outHi, outLo, h2Hi, h2Lo);
    mul64(outHi, outLo, 0, 5);
    add64(outHi, outLo, 0, 0x52dce729);
    h1Hi = outHi;
    h1Lo = outLo;

    // k2 *= c2; k2 = rotl(k2, 33); k2 *= c1; h2 ^= k2 (a rotation by 33 is a swap of
    // the halves and a rotation by 1)
    mul64(k2Hi, k2Lo, C2_HI, C2_LO);
    rotl64(outLo, outHi, 1);
    mul64(outHi, outLo, C1_HI, C1_LO);
    h2Hi ^= outHi;
    h2Lo ^= outLo;
    // h2 = rotl(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5
    rotl64(h2Hi, h2Lo, 31);
    add64(outHi, outLo, h1Hi, h1Lo);
    mul64(outHi, outLo, 0, 5);
    add64(outHi, outLo, 0, 0x38495ab5);
    h2Hi = outHi;
    h2Lo = outLo;
  }

  const tailLength = length & 15;
  if (tailLength > 0) {
    k1Hi = k1Lo = k2Hi = k2Lo = 0;
    // Byte j of the tail is XORed in at bit 8*(j mod 8) as a *signed* value: a
    // negative byte also flips every higher bit of its 64-bit word. `signed << s`
    // handles the bits of its own half; a byte in the low half additionally flips
    // the whole high half when negative (signed >> 31 is then all ones).
    for (let j = tailLength - 1; j >= 0; j--) {
      const signed = (bytes[blockEnd + j] << 24) >> 24;
      const slot = j & 7;
      if (j >= 8) {
        if (slot >= 4) k2Hi ^= signed << ((slot - 4) * 8);
        else {
          k2Lo ^= signed << (slot * 8);
          k2Hi ^= signed >> 31;
        }
      } else if (slot >= 4) k1Hi ^= signed << ((slot - 4) * 8);
      else {
        k1Lo ^= signed << (slot * 8);
        k1Hi ^= signed >> 31;
      }
    }
    if (tailLength > 8) {
      mul64(k2Hi, k2Lo, C2_HI, C2_LO);
      rotl64(outLo, outHi, 1);
      mul64(outHi, outLo, C1_HI, C1_LO);
      h2Hi ^= outHi;
      h2Lo ^= outLo;
    }
    mul64(k1Hi, k1Lo, C1_HI, C1_LO);
    rotl64(outHi, outLo, 31);
    mul64(outHi, outLo, C2_HI, C2_LO);
    h1Hi ^= outHi;
    h1Lo ^= outLo;
  }

  // h1 ^= length; h2 ^= length (length < 2^31: low half only)
  h1Lo ^= length;
  h2Lo ^= length;
  // h1 += h2; h2 += h1
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
  // h1 += h2 (h2 += h1 would follow, but h2 is not part of the token)
  add64(h1Hi, h1Lo, outHi, outLo);
}

/** h1 of Cassandra's MurmurHash3 x64_128 (seed 0) as a signed 64-bit bigint. */
export function murmur3H1(bytes: Uint8Array): bigint {
  murmur3H1Halves(bytes);
  // The signed high half shifted left keeps the sign; OR-ing the unsigned low half
  // into its zero low bits gives the two's-complement value without BigInt.asIntN.
  return (BigInt(outHi) << 32n) | BigInt(outLo >>> 0);
}

/** The Murmur3Partitioner token of a serialized partition key. */
export function murmur3Token(key: Uint8Array): bigint {
  if (key.length === 0) return MIN_TOKEN;
  murmur3H1Halves(key);
  // Long.MIN_VALUE is the ring's minimum, reserved; Cassandra moves it to MAX.
  if (outHi === LONG_MIN_HI && outLo === 0) return MAX_TOKEN;
  return (BigInt(outHi) << 32n) | BigInt(outLo >>> 0);
}

/**
 * Serializes partition key components. One component is stored as its own bytes (a
 * single-column key is not composite, as in Cassandra); several use Cassandra's
 * CompositeType encoding: per component a uint16 big-endian length, the bytes, and
 * an end-of-component byte 0x00.
 */
export function compositeKey(components: readonly Buffer[]): Buffer {
  if (components.length === 1) return components[0];
  let size = 0;
  for (const component of components) {
    if (component.length > COMPOSITE_COMPONENT_BYTES_MAX) {
      throw new InvalidRequest(
        `Key length of ${component.length} is longer than maximum of ${COMPOSITE_COMPONENT_BYTES_MAX}`,
      );
    }
    size += 3 + component.length;
  }
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const component of components) {
    out.writeUInt16BE(component.length, offset);
    component.copy(out, offset + 2);
    offset += 2 + component.length;
    out[offset++] = 0;
  }
  return out;
}

/**
 * The inverse of compositeKey for a key of `count` components. The components are
 * views into `key` (no copies). Throws when the bytes are not such a key.
 */
export function splitCompositeKey(key: Buffer, count: number): Buffer[] {
  if (count === 1) return [key];
  const components: Buffer[] = [];
  let offset = 0;
  while (offset < key.length) {
    if (offset + 2 > key.length) break;
    const length = key.readUInt16BE(offset);
    const end = offset + 2 + length;
    if (end + 1 > key.length) break;
    components.push(key.subarray(offset + 2, end));
    offset = end + 1;
  }
  if (offset !== key.length || components.length !== count) {
    throw new ServerError(`Invalid composite partition key: expected ${count} components in ${key.length} bytes`);
  }
  return components;
}

/** Orders partitions on the ring: by token, then by unsigned key bytes. */
export function compareKeys(aToken: bigint, aKey: Buffer, bToken: bigint, bKey: Buffer): number {
  if (aToken !== bToken) return aToken < bToken ? -1 : 1;
  return Buffer.compare(aKey, bKey);
}
