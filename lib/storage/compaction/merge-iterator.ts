/**
 * Lazy k-way merges of partition sources (memtables, SSTables): of one partition's
 * sources into one source (the LSM read path and compaction), and of whole scans
 * into one scan in (token, key) order (compaction, range reads).
 *
 * Rows stream through: a merged partition holds at most one pending row per source,
 * whatever the partition's width. Rows with equal clustering are reconciled and
 * everything shadowed by the merged deletions (partition, range, row) is removed with
 * lib/model/merge.ts's rules, so the result reads exactly as mergePartitions of the
 * sources would.
 *
 * Every source is assumed to hold nothing its own deletions shadow, as every store
 * keeps it (memtables hold merge results; SSTables are written from them or from
 * compactions): so a partition found in one source only is passed through untouched.
 */
import { supersedingDeletion, type DeletionTime } from '../../model/cell.js';
import type { ClusteringComparator, Slice } from '../../model/clustering.js';
import { mergePartitions, purgePartition, type PathComparatorFor } from '../../model/merge.js';
import type { Partition, RangeTombstone, Row } from '../../model/partition.js';
import { compareKeys } from '../../model/token.js';
import { assert } from '../../errors.js';
import { pathComparatorsOf } from '../../schema/cell-paths.js';
import type { TableMetadata } from '../../schema/metadata.js';
import type { PartitionHeader, PartitionSource } from '../source.js';

const NO_RANGE_TOMBSTONES: RangeTombstone[] = [];
const NO_ROWS: Row[] = [];

/**
 * The sources of one partition (same key, at least one) as one source. Its header is
 * computed at once; its rows are merged lazily each time `rows` is called, from each
 * source's rows over the same slices and direction.
 */
export function mergeSources(table: TableMetadata, sources: readonly PartitionSource[]): PartitionSource {
  assert(sources.length > 0, 'merging no partition sources');
  if (sources.length === 1) return sources[0];
  const comparator = table.comparator;
  const pathComparatorFor = pathComparatorsOf(table);
  const first = sources[0];
  let merged = headerPartition(first);
  for (let i = 1; i < sources.length; i++) {
    assert(sources[i].key.equals(first.key), 'merging sources of different partitions');
    merged = mergePartitions(comparator, merged, headerPartition(sources[i]), pathComparatorFor);
  }
  const header: PartitionHeader = {
    key: merged.key,
    token: merged.token,
    deletion: merged.deletion,
    staticRow: merged.staticRow,
    rangeTombstones: merged.rangeTombstones,
  };
  return {
    ...header,
    rows: (slices, reversed) => mergeRows(table.comparator, pathComparatorFor, header, sources, slices, reversed),
  };
}

/**
 * Several scans, each in (token, key) order, as one scan in that order with the
 * sources of each key merged by mergeSources. A partition's rows must be read before
 * the next partition is asked for: the scans only move on then, and a scan may stop
 * serving a partition's rows once it has moved past it.
 */
export async function* mergeScans(
  table: TableMetadata,
  scans: readonly AsyncIterable<PartitionSource>[],
): AsyncGenerator<PartitionSource> {
  const iterators = scans.map((scan) => scan[Symbol.asyncIterator]());
  const heap = new MergeHeap<PartitionSource>((a, b) => compareKeys(a.token, a.key, b.token, b.key));
  try {
    await advance(iterators, iterators.keys(), heap);
    const group: PartitionSource[] = [];
    const groupIndexes: number[] = [];
    while (heap.size > 0) {
      group.length = 0;
      groupIndexes.length = 0;
      do {
        const head = heap.pop();
        group.push(head.item);
        groupIndexes.push(head.index);
      } while (heap.size > 0 && heap.compare(heap.peek().item, group[0]) === 0);
      yield mergeSources(table, group);
      await advance(iterators, groupIndexes, heap);
    }
  } finally {
    await closeAll(iterators);
  }
}

/** A partition holding only a source's partition-level parts (to merge headers). */
function headerPartition(source: PartitionHeader): Partition {
  return {
    key: source.key,
    token: source.token,
    deletion: source.deletion,
    staticRow: source.staticRow,
    // Merges never mutate their inputs (lib/model/merge.ts).
    rangeTombstones: source.rangeTombstones as RangeTombstone[],
    rows: NO_ROWS,
  };
}

async function* mergeRows(
  comparator: ClusteringComparator,
  pathComparatorFor: PathComparatorFor,
  header: PartitionHeader,
  sources: readonly PartitionSource[],
  slices: readonly Slice[],
  reversed: boolean,
): AsyncGenerator<Row> {
  const iterators = sources.map((source) => source.rows(slices, reversed)[Symbol.asyncIterator]());
  const heap = new MergeHeap<Row>(
    reversed ? (a, b) => comparator.compare(b.clustering, a.clustering) : (a, b) => comparator.compare(a.clustering, b.clustering),
  );
  const rangeDeletions = new RangeDeletionCursor(comparator, header.rangeTombstones, reversed);
  const reconciler = new RowReconciler(comparator, pathComparatorFor, header);
  try {
    await advance(iterators, iterators.keys(), heap);
    const same: Row[] = [];
    const sameIndexes: number[] = [];
    while (heap.size > 0) {
      same.length = 0;
      sameIndexes.length = 0;
      do {
        const head = heap.pop();
        same.push(head.item);
        sameIndexes.push(head.index);
      } while (heap.size > 0 && heap.compare(heap.peek().item, same[0]) === 0);
      const clustering = same[0].clustering;
      const outer = supersedingDeletion(header.deletion, rangeDeletions.at(clustering));
      const row = reconciler.reconcile(same, outer);
      await advance(iterators, sameIndexes, heap);
      if (row !== null) yield row;
    }
  } finally {
    await closeAll(iterators);
  }
}

/** Merges the versions of one row and removes what deletions shadow, with merge.ts. */
class RowReconciler {
  constructor(
    private readonly comparator: ClusteringComparator,
    private readonly pathComparatorFor: PathComparatorFor,
    private readonly header: PartitionHeader,
  ) {}

  /** The reconciled row, or null when nothing is left of it; `outer` is the
   *  partition or range deletion covering it. */
  reconcile(versions: readonly Row[], outer: DeletionTime | null): Row | null {
    const only = versions[0];
    if (versions.length === 1 && outer === null && only.deletion === null && only.complex.size === 0) {
      // Nothing can shadow anything in this row: decided without building partitions.
      return only.liveness === null && only.cells.size === 0 ? null : only;
    }
    // The covering deletion as a one-row partition's deletion makes mergePartitions
    // remove what it shadows along with the merge.
    let merged = this.oneRowPartition(only, outer);
    if (versions.length === 1) merged = purgePartition(this.comparator, merged, this.pathComparatorFor);
    for (let i = 1; i < versions.length; i++) {
      merged = mergePartitions(this.comparator, merged, this.oneRowPartition(versions[i], null), this.pathComparatorFor);
    }
    return merged.rows.length === 0 ? null : merged.rows[0];
  }

  private oneRowPartition(row: Row, deletion: DeletionTime | null): Partition {
    const { key, token } = this.header;
    return { key, token, deletion, staticRow: null, rangeTombstones: NO_RANGE_TOMBSTONES, rows: [row] };
  }
}

/**
 * Answers "which range deletion covers this clustering?" for clusterings visited in
 * one direction: a tombstone becomes active once the walk enters it (its start going
 * forward, its end going backward) and is dropped once the walk has left it, so a
 * walk costs O(rows + tombstones) plus the size of the active set.
 */
class RangeDeletionCursor {
  private readonly tombstones: readonly RangeTombstone[];
  private readonly active: RangeTombstone[] = [];
  private next = 0;

  constructor(
    private readonly comparator: ClusteringComparator,
    tombstones: readonly RangeTombstone[],
    private readonly reversed: boolean,
  ) {
    // Merged lists are sorted by start already; walking backwards needs them by end, descending.
    this.tombstones = reversed ? [...tombstones].sort((a, b) => comparator.compareEnds(b.end, a.end)) : tombstones;
  }

  at(clustering: readonly Buffer[]): DeletionTime | null {
    const { comparator, tombstones, active, reversed } = this;
    const entered = (tombstone: RangeTombstone): boolean =>
      reversed ? comparator.beforeEnd(clustering, tombstone.end) : comparator.afterStart(clustering, tombstone.start);
    const left = (tombstone: RangeTombstone): boolean =>
      reversed ? !comparator.afterStart(clustering, tombstone.start) : !comparator.beforeEnd(clustering, tombstone.end);
    while (this.next < tombstones.length && entered(tombstones[this.next])) active.push(tombstones[this.next++]);
    let deletion: DeletionTime | null = null;
    let kept = 0;
    for (const tombstone of active) {
      if (left(tombstone)) continue;
      active[kept++] = tombstone;
      deletion = supersedingDeletion(deletion, tombstone.deletion);
    }
    active.length = kept;
    return deletion;
  }
}

// ---------------------------------------------------------------------------------
// Iterators and the heap

interface Head<T> {
  readonly item: T;
  /** Which iterator it came from; breaks ties so the order never depends on the heap. */
  readonly index: number;
}

/** Pulls the next item of each listed iterator (concurrently) into the heap. */
async function advance<T>(iterators: readonly AsyncIterator<T>[], indexes: Iterable<number>, heap: MergeHeap<T>): Promise<void> {
  const pulls: Promise<void>[] = [];
  for (const index of indexes) {
    pulls.push(
      iterators[index].next().then((result) => {
        if (!result.done) heap.push({ item: result.value, index });
      }),
    );
  }
  await Promise.all(pulls);
}

/** Lets every iterator release what it holds (file handles, buffers), even after an error. */
async function closeAll<T>(iterators: readonly AsyncIterator<T>[]): Promise<void> {
  await Promise.all(iterators.map((iterator) => iterator.return?.()));
}

/** A binary min-heap of iterator heads. */
class MergeHeap<T> {
  private readonly heads: Head<T>[] = [];

  constructor(readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.heads.length;
  }

  peek(): Head<T> {
    return this.heads[0];
  }

  push(head: Head<T>): void {
    const heads = this.heads;
    heads.push(head);
    let i = heads.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.before(heads[parent], heads[i])) break;
      [heads[parent], heads[i]] = [heads[i], heads[parent]];
      i = parent;
    }
  }

  pop(): Head<T> {
    const heads = this.heads;
    const top = heads[0];
    const last = heads.pop()!;
    if (heads.length > 0) {
      heads[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heads.length && this.before(heads[left], heads[smallest])) smallest = left;
        if (right < heads.length && this.before(heads[right], heads[smallest])) smallest = right;
        if (smallest === i) break;
        [heads[smallest], heads[i]] = [heads[i], heads[smallest]];
        i = smallest;
      }
    }
    return top;
  }

  private before(a: Head<T>, b: Head<T>): boolean {
    const c = this.compare(a.item, b.item);
    return c < 0 || (c === 0 && a.index < b.index);
  }
}

// ---------------------------------------------------------------------------------
// Collection element order


