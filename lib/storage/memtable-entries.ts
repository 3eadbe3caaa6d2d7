/**
 * A memtable's entries — one per key — as columns of numbers; an entry is its index.
 *
 * Why columns: a memtable lives for hundreds of thousands of writes, and an object per
 * key kept that long is copied by the garbage collector's young generation before it
 * is promoted — under a heavy write load that copying was most of the collector's
 * time. Numbers in typed arrays cost it nothing. Only an entry kept as objects (a key
 * written more than once, or an update that needed merging) holds a partition.
 */
import type { Partition } from '../model/partition.js';

const ENTRIES_FIRST = 1024;

export class MemtableEntries {
  size = 0;
  /** The arena chunk holding the entry's update and key; -1 for an entry made as
   *  objects, whose key is its partition's. */
  chunk = new Int32Array(ENTRIES_FIRST);
  /** The key's bytes in the chunk ([0, key length) of the partition's key for an entry made as objects). */
  keyStart = new Int32Array(ENTRIES_FIRST);
  keyEnd = new Int32Array(ENTRIES_FIRST);
  /** The update's bytes in the chunk. */
  start = new Int32Array(ENTRIES_FIRST);
  end = new Int32Array(ENTRIES_FIRST);
  /** The token's high 32 bits, signed, and low 32 bits, unsigned. */
  high = new Int32Array(ENTRIES_FIRST);
  low = new Uint32Array(ENTRIES_FIRST);
  /** The merged partition of an entry kept as objects; null while it is kept as bytes. */
  readonly partitions: (Partition | null)[] = [];

  /** Adds an entry; returns its number. */
  add(chunk: number, keyStart: number, keyEnd: number, start: number, end: number, high: number, low: number, partition: Partition | null): number {
    const id = this.size;
    if (id === this.chunk.length) this.grow();
    this.chunk[id] = chunk;
    this.keyStart[id] = keyStart;
    this.keyEnd[id] = keyEnd;
    this.start[id] = start;
    this.end[id] = end;
    this.high[id] = high;
    this.low[id] = low;
    this.partitions.push(partition);
    this.size = id + 1;
    return id;
  }

  private grow(): void {
    const grown = <T extends Int32Array | Uint32Array>(array: T): T => {
      const next = new (array.constructor as new (length: number) => T)(array.length * 2);
      next.set(array);
      return next;
    };
    this.chunk = grown(this.chunk);
    this.keyStart = grown(this.keyStart);
    this.keyEnd = grown(this.keyEnd);
    this.start = grown(this.start);
    this.end = grown(this.end);
    this.high = grown(this.high);
    this.low = grown(this.low);
  }
}
