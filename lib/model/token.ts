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
 * The hash (murmur3.ts) runs on pairs of 32-bit halves and one bigint is made at the
 * end: BigInt arithmetic allocates on every operation and is ~50x slower.
 */
import { InvalidRequest, ServerError } from '../errors.js';
import { murmur3Result, murmur3x64 } from './murmur3.js';

/** The ring's minimum (-2^63): a position before every key, never a key's token. */
export const MIN_TOKEN = -(2n ** 63n);
/** The ring's maximum (2^63 - 1). */
export const MAX_TOKEN = 2n ** 63n - 1n;

/** Largest component of a composite key: its length is written as a uint16. */
const COMPOSITE_COMPONENT_BYTES_MAX = 0xffff;

/** High half of Long.MIN_VALUE. */
const LONG_MIN_HI = 0x80000000 | 0;

/** h1 of Cassandra's MurmurHash3 x64_128 (seed 0) as a signed 64-bit bigint. */
export function murmur3H1(bytes: Uint8Array): bigint {
  murmur3x64(bytes, true);
  return h1ToBigInt();
}

/** The Murmur3Partitioner token of a serialized partition key. */
export function murmur3Token(key: Uint8Array): bigint {
  if (key.length === 0) return MIN_TOKEN;
  murmur3x64(key, true);
  // Long.MIN_VALUE is the ring's minimum, reserved; Cassandra moves it to MAX.
  if (murmur3Result.h1Hi === LONG_MIN_HI && murmur3Result.h1Lo === 0) return MAX_TOKEN;
  return h1ToBigInt();
}

/** h1 of the last hash as a signed 64-bit bigint. */
function h1ToBigInt(): bigint {
  // The signed high half shifted left keeps the sign; OR-ing the unsigned low half
  // into its zero low bits gives the two's-complement value without BigInt.asIntN.
  return (BigInt(murmur3Result.h1Hi) << 32n) | BigInt(murmur3Result.h1Lo >>> 0);
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

/** A 64-bit slot seen as a bigint and as two 32-bit words: splitting a token through it
 *  costs far less than BigInt shifts, which allocate. */
const tokenSlot = new BigInt64Array(1);
const tokenSlotWords = new Int32Array(tokenSlot.buffer);
/** Index of the high word in tokenSlotWords: 1 on little-endian platforms. */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** The token whose words (tokenWords) these are. */
export function tokenOfWords(high: number, low: number): bigint {
  return (BigInt(high | 0) << 32n) | BigInt(low >>> 0);
}

/** A token's signed high and unsigned low 32-bit words: comparing these orders tokens
 *  as comparing the bigints does, with number comparisons. */
export function tokenWords(token: bigint): [high: number, low: number] {
  tokenSlot[0] = token;
  return [tokenSlotWords[HIGH_WORD], tokenSlotWords[HIGH_WORD ^ 1] >>> 0];
}
