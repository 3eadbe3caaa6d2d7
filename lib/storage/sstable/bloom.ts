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
 * The hash is the standard MurmurHash3_x64_128 (model/murmur3.ts, unsigned tail) — the
 * same bits murmurhash3js-revisited computes (a test checks it) — but without
 * allocating: that package builds arrays for every 64-bit step and a hex string per
 * key, which made hashing the largest cost of writing small partitions and of a point
 * read.
 */
import { assert } from '../../errors.js';
import { murmur3Result, murmur3x64 } from '../../model/murmur3.js';
import type { FilterBits } from './format.js';

const BIT_COUNT_MAX = 0xffffffff;
/** More hashes cost lookup time for no gain below any realistic fp chance. */
const HASH_COUNT_MAX = 20;

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
  murmur3x64(key, false);
  lastH1 = murmur3Result.h1Lo >>> 0;
  lastH2 = murmur3Result.h2Lo >>> 0;
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
