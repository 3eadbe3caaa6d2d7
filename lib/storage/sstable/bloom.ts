/**
 * The bloom filter over an SSTable's partition keys: "certainly absent" or "maybe
 * present", so a point read skips most SSTables that do not hold the key without
 * touching disk. Sized from the expected key count and the table's
 * bloom_filter_fp_chance: m = -n·ln(p)/ln(2)² bits and k = (m/n)·ln(2) hashes.
 *
 * Positions come from one x64 128-bit MurmurHash3 (seed 0) of the key by double
 * hashing (Kirsch–Mitzenmacher): g_i = h1 + i·h2 mod m, with the low 32-bit words of
 * the two 64-bit hash halves, so every position is exact double arithmetic. That caps
 * a filter at 2^32 bits (512 MiB), far beyond what one SSTable's keys need.
 *
 * The hash is the standard MurmurHash3_x64_128 — the same bits murmurhash3js-revisited
 * computes (a test checks it) — but on pairs of 32-bit words without allocating: that
 * package builds arrays for every 64-bit step and a hex string per key, which made
 * hashing the largest cost of writing small partitions and of a point read.
 */
import { assert } from '../../errors.js';
import type { FilterBits } from './format.js';

const BIT_COUNT_MAX = 0xffffffff;
/** More hashes cost lookup time for no gain below any realistic fp chance. */
const HASH_COUNT_MAX = 20;

// 64-bit values are (hi, lo) pairs of int32; results of the last operation land in
// these module-level registers instead of allocated pairs. The hash never re-enters.
let outHi = 0;
let outLo = 0;

/** (aHi, aLo) * (bHi, bLo) mod 2^64. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  // The low words' full product from 16-bit limbs (each partial product and sum stays
  // exact in a double); the cross terms only reach the high word, mod 2^32.
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const middle = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  outLo = ((middle & 0xffff) << 16) | (p00 & 0xffff);
  outHi = (a1 * b1 + Math.floor(p01 / 0x10000) + Math.floor(p10 / 0x10000) + Math.floor(middle / 0x10000) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
}

/** Rotates left by n (0 < n < 32). */
function rotl64(hi: number, lo: number, n: number): void {
  outHi = (hi << n) | (lo >>> (32 - n));
  outLo = (lo << n) | (hi >>> (32 - n));
}

function add64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = (aLo >>> 0) + (bLo >>> 0);
  outLo = lo | 0;
  outHi = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) | 0;
}

/** MurmurHash3's final mix of a 64-bit half. */
function fmix64(hi: number, lo: number): void {
  lo ^= hi >>> 1; // k ^= k >>> 33
  mul64(hi, lo, 0xff51afd7 | 0, 0xed558ccd | 0);
  hi = outHi;
  lo = outLo ^ (outHi >>> 1);
  mul64(hi, lo, 0xc4ceb9fe | 0, 0x1a85ec53 | 0);
  outLo ^= outHi >>> 1;
}

const C1_HI = 0x87c37b91 | 0;
const C1_LO = 0x114253d5 | 0;
const C2_HI = 0x4cf5ad43 | 0;
const C2_LO = 0x2745937f | 0;

/** k1 (or k2, with the constants swapped and rotation 33) of a block, mixed. */
function mixK(hi: number, lo: number, firstHi: number, firstLo: number, secondHi: number, secondLo: number, rotation: number): void {
  mul64(hi, lo, firstHi, firstLo);
  if (rotation > 32) rotl64(outLo, outHi, rotation - 32);
  else rotl64(outHi, outLo, rotation);
  mul64(outHi, outLo, secondHi, secondLo);
}

// The last key hashed and its two position words. A point read checks one key against
// every SSTable of a table in turn, so it is hashed once, not once per SSTable. The key
// is copied because a caller may reuse its buffer.
let lastKey: Buffer | null = null;
let lastH1 = 0;
let lastH2 = 0;

/** Sets lastH1/lastH2 to the low words of h1/h2 of MurmurHash3_x64_128(key, seed 0);
 *  `remember` keeps the key for the next call (reads); writes hash each key once. */
function hashKey(key: Buffer, remember: boolean): void {
  if (lastKey !== null && key.equals(lastKey)) return;
  let h1Hi = 0;
  let h1Lo = 0;
  let h2Hi = 0;
  let h2Lo = 0;
  const length = key.length;
  const blocksEnd = length - (length % 16);
  for (let i = 0; i < blocksEnd; i += 16) {
    mixK(key.readInt32LE(i + 4), key.readInt32LE(i), C1_HI, C1_LO, C2_HI, C2_LO, 31);
    h1Hi ^= outHi;
    h1Lo ^= outLo;
    rotl64(h1Hi, h1Lo, 27);
    add64(outHi, outLo, h2Hi, h2Lo);
    mul64(outHi, outLo, 0, 5);
    add64(outHi, outLo, 0, 0x52dce729);
    h1Hi = outHi;
    h1Lo = outLo;

    mixK(key.readInt32LE(i + 12), key.readInt32LE(i + 8), C2_HI, C2_LO, C1_HI, C1_LO, 33);
    h2Hi ^= outHi;
    h2Lo ^= outLo;
    rotl64(h2Hi, h2Lo, 31);
    add64(outHi, outLo, h1Hi, h1Lo);
    mul64(outHi, outLo, 0, 5);
    add64(outHi, outLo, 0, 0x38495ab5);
    h2Hi = outHi;
    h2Lo = outLo;
  }
  // The tail, little-endian, bytes unsigned: k1 from its first 8 bytes, k2 the rest.
  const tail = length - blocksEnd;
  if (tail > 8) {
    let kHi = 0;
    let kLo = 0;
    for (let j = tail - 1; j >= 8; j--) {
      if (j >= 12) kHi = (kHi << 8) | key[blocksEnd + j];
      else kLo = (kLo << 8) | key[blocksEnd + j];
    }
    mixK(kHi, kLo, C2_HI, C2_LO, C1_HI, C1_LO, 33);
    h2Hi ^= outHi;
    h2Lo ^= outLo;
  }
  if (tail > 0) {
    let kHi = 0;
    let kLo = 0;
    for (let j = Math.min(tail, 8) - 1; j >= 0; j--) {
      if (j >= 4) kHi = (kHi << 8) | key[blocksEnd + j];
      else kLo = (kLo << 8) | key[blocksEnd + j];
    }
    mixK(kHi, kLo, C1_HI, C1_LO, C2_HI, C2_LO, 31);
    h1Hi ^= outHi;
    h1Lo ^= outLo;
  }
  h1Lo ^= length;
  h2Lo ^= length;
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
  h1Hi = outHi;
  h1Lo = outLo;
  add64(h2Hi, h2Lo, h1Hi, h1Lo);
  lastH1 = h1Lo >>> 0;
  lastH2 = outLo >>> 0;
  lastKey = remember ? Buffer.from(key) : null;
}

export class BloomFilter implements FilterBits {
  constructor(
    readonly hashCount: number,
    readonly bitCount: number,
    readonly bits: Buffer,
  ) {
    assert(bits.length === Math.ceil(bitCount / 8), 'bloom filter bits do not match its bit count');
  }

  /** An empty filter for about `expectedKeys` keys at false-positive rate `fpChance`.
   *  With fpChance >= 1 the filter holds nothing and answers "maybe" to everything. */
  static sized(expectedKeys: number, fpChance: number): BloomFilter {
    if (fpChance >= 1) return new BloomFilter(0, 0, Buffer.alloc(0));
    assert(fpChance > 0, `bloom_filter_fp_chance must be > 0 (got ${fpChance})`);
    const keys = Math.max(1, expectedKeys);
    const bitCount = Math.min(BIT_COUNT_MAX, Math.max(8, Math.ceil((-keys * Math.log(fpChance)) / (Math.LN2 * Math.LN2))));
    const hashCount = Math.min(HASH_COUNT_MAX, Math.max(1, Math.round((bitCount / keys) * Math.LN2)));
    return new BloomFilter(hashCount, bitCount, Buffer.alloc(Math.ceil(bitCount / 8)));
  }

  add(key: Buffer): void {
    if (this.bitCount === 0) return;
    hashKey(key, false);
    const m = this.bitCount;
    for (let i = 0; i < this.hashCount; i++) {
      const bit = (lastH1 + i * lastH2) % m;
      this.bits[bit >>> 3] |= 1 << (bit & 7);
    }
  }

  mightContain(key: Buffer): boolean {
    if (this.bitCount === 0) return true;
    hashKey(key, true);
    const m = this.bitCount;
    for (let i = 0; i < this.hashCount; i++) {
      const bit = (lastH1 + i * lastH2) % m;
      if ((this.bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }
}
