/**
 * An ordered set that is cheap to add to and only sorted when someone needs the order:
 * the memtable's partition order. Writes far outnumber scans, and a flush needs the
 * order once, so items are appended unsorted and sorted in bulk when a scan or a flush
 * asks (one native sort beats a balanced-tree insert per write several times over).
 *
 * Sorted items are kept as runs of decreasing size, merged like a binary counter when
 * a newly sorted run is at least half the size of the one before it, so every item is
 * compared O(log n) times whatever the mix of writes and scans, and a scan steps over
 * O(log n) runs. Unsorted items are sorted into a run once there are UNSORTED_MAX of
 * them, so no single sort stalls the event loop (the largest step left is a linear
 * merge). Items are never removed (a memtable only grows).
 */
import { firstIndex } from '../model/search.js';

/** Items appended before they are sorted into a run (a sort of this many takes about a
 *  millisecond). */
const UNSORTED_MAX = 4096;

export class SortedRuns<T> {
  private runs: T[][] = [];
  private unsorted: T[] = [];
  private count = 0;
  /** Changes whenever runs are rebuilt, so cursors know their positions went stale. */
  private layout = 0;

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.count;
  }

  /** Adds an item that is not already present. */
  add(item: T): void {
    this.unsorted.push(item);
    this.count++;
    if (this.unsorted.length >= UNSORTED_MAX) this.settle();
  }

  /** Every item, in order (merges everything into one run). */
  sorted(): readonly T[] {
    this.settle();
    while (this.runs.length > 1) this.mergeLastTwo();
    return this.runs[0] ?? [];
  }

  /**
   * The items from the first for which `atOrAfterStart` holds (a predicate monotonic
   * in the order), lazily, seeing items added during the walk that sort after its
   * position. Positions are indexes into the runs, re-found from the last item returned
   * whenever the runs were rebuilt (by this walk sorting what was added since its last
   * step, or by another walk).
   */
  *from(atOrAfterStart: (item: T) => boolean): Generator<T, void, undefined> {
    let positions: number[] = [];
    let layout = -1;
    let last: T | undefined;
    for (;;) {
      this.settle();
      const runs = this.runs;
      if (layout !== this.layout) {
        const after = last;
        positions = runs.map((run) =>
          after === undefined ? firstIndex(run, atOrAfterStart) : firstIndex(run, (item) => this.compare(item, after) > 0),
        );
        layout = this.layout;
      }
      let best = -1;
      for (let r = 0; r < runs.length; r++) {
        if (positions[r] >= runs[r].length) continue;
        if (best === -1 || this.compare(runs[r][positions[r]], runs[best][positions[best]]) < 0) best = r;
      }
      if (best === -1) return;
      last = runs[best][positions[best]++];
      yield last;
    }
  }

  /** Sorts what was added since the last call into a run and restores the run sizes. */
  private settle(): void {
    if (this.unsorted.length === 0) return;
    const run = this.unsorted.sort(this.compare);
    this.unsorted = [];
    this.runs.push(run);
    while (this.runs.length > 1 && this.runs[this.runs.length - 1].length * 2 >= this.runs[this.runs.length - 2].length) {
      this.mergeLastTwo();
    }
    this.layout++;
  }

  private mergeLastTwo(): void {
    const b = this.runs.pop()!;
    const a = this.runs.pop()!;
    const merged = new Array<T>(a.length + b.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < a.length && j < b.length) merged[k++] = this.compare(a[i], b[j]) <= 0 ? a[i++] : b[j++];
    while (i < a.length) merged[k++] = a[i++];
    while (j < b.length) merged[k++] = b[j++];
    this.runs.push(merged);
    this.layout++;
  }
}
