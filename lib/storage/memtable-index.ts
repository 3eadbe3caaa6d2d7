/**
 * Finds a memtable's entry by key: an open-addressing hash table (linear probing) of
 * entry numbers in an Int32Array, hashed by the low half of the partition's token — a
 * Murmur3 hash already, so it needs no hashing of its own. Every write looks its key up
 * first; a Map keyed by the key bytes as a string cost a string, its hash and several
 * pointer hops per write (a fifth of applying one).
 *
 * Entries are numbered 0, 1, 2 … in the order they are added (memtable-entries.ts);
 * whether entry n holds a given key is the caller's to say (`matches`).
 */

/** Slots per item at most: probes stay short. */
const LOAD_FACTOR_MAX = 0.5;
const SLOTS_MIN = 16;

export class MemtableIndex {
  /** Entry number + 1 per slot; 0 is empty. */
  private slots = new Int32Array(SLOTS_MIN);
  private count = 0;
  /** Each entry's token low half, by entry number: probing and growing read these. */
  private lows = new Int32Array(SLOTS_MIN);

  /** `matches(entry, key, high)`: whether the entry's key is `key` and its token's high half `high`. */
  constructor(private readonly matches: (entry: number, key: Buffer, high: number) => boolean) {}

  /** The entry with this key and token (high and low halves), or -1. */
  get(key: Buffer, high: number, low: number): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    const lowBits = low | 0;
    for (let slot = lowBits & mask; ; slot = (slot + 1) & mask) {
      const number = slots[slot];
      if (number === 0) return -1;
      if (this.lows[number - 1] === lowBits && this.matches(number - 1, key, high)) return number - 1;
    }
  }

  /** Reads the slot a token's low half hashes to, so that a lookup soon after finds it
   *  in the cache: a batch's keys are touched first, their misses overlapping. */
  touch(low: number): number {
    return this.slots[low & (this.slots.length - 1)];
  }

  /** Adds the next entry (numbered `count`), whose key is not present. */
  add(entry: number, low: number): void {
    if (entry !== this.count) throw new RangeError(`memtable index: entry ${entry} added out of turn (expected ${this.count})`);
    if (entry === this.lows.length) {
      const lows = new Int32Array(this.lows.length * 2);
      lows.set(this.lows);
      this.lows = lows;
    }
    this.lows[entry] = low | 0;
    this.count++;
    if (this.count > this.slots.length * LOAD_FACTOR_MAX) this.grow();
    else this.place(this.slots, entry + 1);
  }

  private place(slots: Int32Array, number: number): void {
    const mask = slots.length - 1;
    let slot = this.lows[number - 1] & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = number;
  }

  /** Doubles the table: about a millisecond per 100k entries, reading typed arrays only. */
  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    for (let number = 1; number <= this.count; number++) this.place(slots, number);
    this.slots = slots;
  }
}
