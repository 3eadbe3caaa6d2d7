/**
 * The bloom filter over an SSTable's partition keys: "certainly absent" or "maybe
 * present", so a point read skips most SSTables that do not hold the key without
 * touching disk. Sized from the expected key count and the table's
 * bloom_filter_fp_chance: m = -n·ln(p)/ln(2)² bits and k = (m/n)·ln(2) hashes.
 *
 * Two layouts (Filter.db says which, format.ts):
 *
 * - `TokenBloomFilter`, what SSTables are written with: blocked and keyed by the
 *   partition's token. The token already is a Murmur3 hash of the key, so nothing is
 *   hashed: its high word picks a 512-bit block (one cache line) and its low word, run
 *   through a multiplicative hash once per probe, the k bits in it. A key costs one
 *   cache miss to add or check instead of k, which were most of adding a key on the
 *   flush thread and of a point read's check of each SSTable. Confining the bits to a
 *   block raises the false-positive rate a little for the same size; the filter is
 *   sized BLOCKED_SIZE_FACTOR larger to keep the chance asked for.
 *
 * - `BloomFilter`, of SSTables written before: positions from one x64 128-bit
 *   MurmurHash3 (seed 0) of the key by double hashing (Kirsch–Mitzenmacher):
 *   g_i = h1 + i·h2 mod m, with the low 32-bit words of the two 64-bit hash halves, so
 *   every position is exact double arithmetic (this caps a filter at 2^32 bits). The
 *   hash is the standard MurmurHash3_x64_128 (model/murmur3.ts, unsigned tail) — the
 *   same bits murmurhash3js-revisited computes (a test checks it) — without allocating.
 */
import { assert } from '../../errors.js';
import { murmur3Result, murmur3x64 } from '../../model/murmur3.js';
import { tokenWords } from '../../model/token.js';
import { FILTER_LAYOUT_KEY_HASH, FILTER_LAYOUT_TOKEN_BLOCKS, type FilterBits } from './format.js';

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

/** What an SSTable's writer and reader use of a filter, whichever its layout. */
export interface KeyFilter extends FilterBits {
  add(key: Buffer, token: bigint): void;
  mightContain(key: Buffer, token: bigint): boolean;
}

/** The filter `bits` (read from Filter.db) describe. */
export function filterOf(bits: FilterBits): KeyFilter {
  return bits.layout === FILTER_LAYOUT_TOKEN_BLOCKS
    ? new TokenBloomFilter(bits.hashCount, bits.bitCount, bits.bits)
    : new BloomFilter(bits.hashCount, bits.bitCount, bits.bits);
}

/** Bits of m = -n·ln(p)/ln(2)² for n keys (at least one), or 0 for no filter (p >= 1). */
function bitsFor(expectedKeys: number, fpChance: number): number {
  if (fpChance >= 1) return 0;
  assert(fpChance > 0, `bloom_filter_fp_chance must be > 0 (got ${fpChance})`);
  return Math.ceil((-Math.max(1, expectedKeys) * Math.log(fpChance)) / (Math.LN2 * Math.LN2));
}

function hashesFor(bitCount: number, expectedKeys: number): number {
  return Math.min(HASH_COUNT_MAX, Math.max(1, Math.round((bitCount / Math.max(1, expectedKeys)) * Math.LN2)));
}

/** Bits per block of a TokenBloomFilter: one 64-byte cache line. */
const BLOCK_BITS = 512;
/** Extra size of a blocked filter, for the false-positive chance asked (measured with
 *  random tokens: at the formula's size 1.17% for 1% and 0.16% for 0.1%; with this,
 *  0.83% and 0.10%; a test checks the rate). */
const BLOCKED_SIZE_FACTOR = 1.08;
/** Odd multiplier (2^32 / golden ratio) deriving each probe's bits from the last. */
const PROBE_MULTIPLIER = 0x9e3779b1;

export class TokenBloomFilter implements KeyFilter {
  readonly layout = FILTER_LAYOUT_TOKEN_BLOCKS;
  private readonly blockCount: number;

  constructor(
    readonly hashCount: number,
    readonly bitCount: number,
    readonly bits: Buffer,
  ) {
    assert(bitCount % BLOCK_BITS === 0 && bits.length === bitCount / 8, 'blocked bloom filter bits do not match its bit count');
    this.blockCount = bitCount / BLOCK_BITS;
  }

  /** An empty filter for about `expectedKeys` keys at false-positive rate `fpChance`.
   *  With fpChance >= 1 the filter holds nothing and answers "maybe" to everything. */
  static sized(expectedKeys: number, fpChance: number): TokenBloomFilter {
    const wanted = bitsFor(expectedKeys, fpChance);
    if (wanted === 0) return new TokenBloomFilter(0, 0, Buffer.alloc(0));
    const blocks = Math.min(Math.floor(BIT_COUNT_MAX / BLOCK_BITS), Math.ceil((wanted * BLOCKED_SIZE_FACTOR) / BLOCK_BITS));
    return new TokenBloomFilter(hashesFor(wanted, expectedKeys), blocks * BLOCK_BITS, Buffer.alloc(blocks * (BLOCK_BITS / 8)));
  }

  add(_key: Buffer, token: bigint): void {
    if (this.bitCount === 0) return;
    const [high, low] = tokenWords(token);
    const base = this.blockOf(high >>> 0);
    let h = low;
    for (let i = 0; i < this.hashCount; i++) {
      h = Math.imul(h, PROBE_MULTIPLIER);
      const bit = base + (h >>> 23);
      this.bits[bit >>> 3] |= 1 << (bit & 7);
    }
  }

  mightContain(_key: Buffer, token: bigint): boolean {
    if (this.bitCount === 0) return true;
    const [high, low] = tokenWords(token);
    const base = this.blockOf(high >>> 0);
    let h = low;
    for (let i = 0; i < this.hashCount; i++) {
      h = Math.imul(h, PROBE_MULTIPLIER);
      const bit = base + (h >>> 23);
      if ((this.bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  /** The first bit of the block a token's high word (unsigned) picks (multiply-shift:
   *  spreads the word's range over the blocks without a division). */
  private blockOf(high: number): number {
    return Math.min(this.blockCount - 1, Math.floor((high * this.blockCount) / 2 ** 32)) * BLOCK_BITS;
  }
}

export class BloomFilter implements KeyFilter {
  readonly layout = FILTER_LAYOUT_KEY_HASH;

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
    const wanted = bitsFor(expectedKeys, fpChance);
    if (wanted === 0) return new BloomFilter(0, 0, Buffer.alloc(0));
    const bitCount = Math.min(BIT_COUNT_MAX, Math.max(8, wanted));
    return new BloomFilter(hashesFor(bitCount, expectedKeys), bitCount, Buffer.alloc(Math.ceil(bitCount / 8)));
  }

  add(key: Buffer, _token?: bigint): void {
    if (this.bitCount === 0) return;
    hashKey(key, false);
    const m = this.bitCount;
    for (let i = 0; i < this.hashCount; i++) {
      const bit = (lastH1 + i * lastH2) % m;
      this.bits[bit >>> 3] |= 1 << (bit & 7);
    }
  }

  mightContain(key: Buffer, _token?: bigint): boolean {
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
