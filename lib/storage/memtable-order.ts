/**
 * The memtable's partition order: cheap to add to, sorted only where and when someone
 * needs the order. Writes far outnumber scans and a flush needs the order once, so a
 * balanced tree (a dozen comparisons and node splits per write) costs more than it
 * gives.
 *
 * Partitions fall into BUCKET_COUNT buckets by the top bits of their token, which keeps
 * bucket order equal to token order; Murmur3 tokens spread evenly, so buckets stay
 * small. A write appends to its bucket and marks it unsorted; a scan or a flush sorts a
 * bucket when it reaches it (V8's TimSort takes a sorted array with a few items
 * appended in about linear time). Items are never removed (a memtable only grows).
 */
import { firstIndex } from '../model/search.js';

/** What an item must expose: its token's high 32 bits, signed. */
export interface TokenOrdered {
  readonly high: number;
}

const BUCKET_BITS = 12;
const BUCKET_COUNT = 1 << BUCKET_BITS;

/** The bucket of a token's high 32 bits: the top bits with the sign flipped, so that
 *  negative tokens come first. */
function bucketOf(high: number): number {
  return (high >>> (32 - BUCKET_BITS)) ^ (BUCKET_COUNT >>> 1);
}

class Bucket<T> {
  readonly items: T[] = [];
  sorted = true;
  /** Counts the sorts, so a walk knows when the items moved under it. */
  sorts = 0;
}

export class MemtableOrder<T extends TokenOrdered> {
  /** Allocated at the first add: an empty memtable costs nothing. */
  private buckets: (Bucket<T> | undefined)[] | null = null;
  private count = 0;

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.count;
  }

  /** Adds an item that is not already present. */
  add(item: T): void {
    this.buckets ??= new Array<Bucket<T> | undefined>(BUCKET_COUNT).fill(undefined);
    const index = bucketOf(item.high);
    let bucket = this.buckets[index];
    if (bucket === undefined) {
      bucket = new Bucket<T>();
      this.buckets[index] = bucket;
    }
    const items = bucket.items;
    if (bucket.sorted && items.length > 0 && this.compare(items[items.length - 1], item) > 0) bucket.sorted = false;
    items.push(item);
    this.count++;
  }

  /**
   * The items from the first for which `atOrAfterStart` holds (a predicate monotonic in
   * the order, true for no item whose token's high half is below `startHigh`), lazily.
   * Items added during the walk that sort after its position are seen: a bucket that
   * changed under the walk is sorted again and the position re-found from the last item
   * returned.
   */
  *from(startHigh: number, atOrAfterStart: (item: T) => boolean): Generator<T, void, undefined> {
    if (this.buckets === null) return;
    for (let b = bucketOf(startHigh); b < BUCKET_COUNT; b++) {
      const bucket = this.buckets[b];
      if (bucket === undefined) continue;
      this.sort(bucket);
      const items = bucket.items;
      let sorts = bucket.sorts;
      let position = firstIndex(items, atOrAfterStart);
      while (position < items.length) {
        const last = items[position];
        yield last;
        this.sort(bucket);
        if (bucket.sorts === sorts) {
          position++;
        } else {
          sorts = bucket.sorts;
          position = firstIndex(items, (item) => this.compare(item, last) > 0);
        }
      }
    }
  }

  /** Every item, in order. */
  all(): Generator<T, void, undefined> {
    return this.from(-(2 ** 31), () => true);
  }

  private sort(bucket: Bucket<T>): void {
    if (bucket.sorted) return;
    bucket.items.sort(this.compare);
    bucket.sorted = true;
    bucket.sorts++;
  }
}
