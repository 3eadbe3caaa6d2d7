/**
 * Merging and filtering partitions: the one place where writes meet stored data and
 * where the answers of several sources (memtables, SSTables, replicas) become one.
 *
 * mergePartitions is the reconciled union: partition and row deletions supersede,
 * range tombstones accumulate, rows are merged by clustering and cells by
 * reconcileCells; then everything shadowed by a covering deletion is purged and rows
 * left with nothing are dropped. The result depends only on the union of the inputs,
 * so merging is commutative, associative and idempotent, which is what lets replicas
 * converge whatever order they see writes in. (Range tombstone lists are compared by
 * what they delete: a list may keep a member that another member of the same input
 * list makes redundant, so two equal merges can differ in such redundant members.)
 *
 * Rows, cells, maps and arrays are immutable by convention once they are part of a
 * stored or returned partition: merges share untouched rows and cells with their
 * inputs instead of cloning them, and build new objects only for what changed. Never
 * mutate a partition after handing it to a merge or a store. The one exception is
 * applyUpdate's `mutateStoredRows`, for a store that owns its row arrays.
 */
import type { Cell, DeletionTime } from './cell.js';
import {
  deletes,
  isLive,
  livenessIsLive,
  reconcileCells,
  reconcileLiveness,
  supersedingDeletion,
} from './cell.js';
import type { ClusteringComparator, Slice, ValueComparator } from './clustering.js';
import type { ComplexColumn, Partition, RangeTombstone, Row } from './partition.js';
import { assert } from '../errors.js';
import { firstIndex } from './search.js';
import { isNonEmptyRange } from './slices.js';

/**
 * Orders the element cells of a non-frozen collection column by path. Paths must be
 * kept in the collection's element order (set elements and map keys by their type's
 * order, list elements by their timeuuid), which is not always unsigned byte order.
 */
export type PathComparatorFor = (column: string) => ValueComparator;

/** Unsigned byte order for every column's paths. */
export const BYTE_ORDER_PATHS: PathComparatorFor = () => Buffer.compare;

/**
 * Which rows of a partition to return (lib/storage/engine.ts's ReadFilter has this
 * shape; it is declared here because the model layer imports nothing above it).
 */
export interface PartitionFilter {
  /** Sorted, non-overlapping clustering slices in table order. */
  readonly slices: readonly Slice[];
  readonly reversed: boolean;
  /** Live rows to return at most; Infinity for no limit. */
  readonly rowLimit: number;
  /** The reader's "now", deciding which rows are live. */
  readonly nowSeconds: number;
}

/** Above this ratio of stored rows to updated rows, applyUpdate splices instead of
 *  walking every stored row. */
const SPLICE_ROW_RATIO_MIN = 32;

/**
 * The reconciled union of two versions of one partition (same key), with everything
 * shadowed purged. Either input may hold shadowed data; the output holds none. Rows
 * must be in table order (reverse a reversed read's rows before merging it).
 */
export function mergePartitions(
  comparator: ClusteringComparator,
  a: Partition,
  b: Partition,
  pathComparatorFor: PathComparatorFor = BYTE_ORDER_PATHS,
): Partition {
  assert(a.token === b.token, 'merging partitions with different tokens');
  const deletion = supersedingDeletion(a.deletion, b.deletion);
  const rangeTombstones = mergeRangeTombstones(comparator, a.rangeTombstones, b.rangeTombstones, deletion);
  const staticRow = mergeStaticRows(a.staticRow, b.staticRow, deletion, pathComparatorFor);
  const rows = mergeRowLists(comparator, a.rows, b.rows, deletion, rangeTombstones, pathComparatorFor);
  return assemble(a, deletion, staticRow, rangeTombstones, rows);
}

/** The partition with everything shadowed by its own deletions removed. */
export function purgePartition(
  comparator: ClusteringComparator,
  partition: Partition,
  pathComparatorFor: PathComparatorFor = BYTE_ORDER_PATHS,
): Partition {
  return mergePartitions(comparator, partition, emptyLike(partition), pathComparatorFor);
}

export interface ApplyOptions {
  /**
   * Splice the update's rows into `stored.rows` itself instead of a copy. Only for an
   * owner that never hands that array out (readers get filterPartition's copies) and
   * drops `stored` for the result: copying a wide partition's row array on every
   * write costs far more than the write.
   */
  readonly mutateStoredRows?: boolean;
}

/**
 * mergePartitions(stored, update), faster for a small update to a wide partition:
 * when the update brings no partition or range deletion the stored partition lacks,
 * stored rows the update does not touch cannot become shadowed, so they are kept
 * without being visited and the update's rows are spliced in by binary search.
 * `stored` must already be purged (every result of these functions is); `update`
 * may hold anything.
 */
export function applyUpdate(
  comparator: ClusteringComparator,
  stored: Partition,
  update: Partition,
  pathComparatorFor: PathComparatorFor = BYTE_ORDER_PATHS,
  options: ApplyOptions = {},
): Partition {
  const bringsNoDeletion =
    update.rangeTombstones.length === 0 &&
    (update.deletion === null ||
      (stored.deletion !== null && stored.deletion.markedForDeleteAt >= update.deletion.markedForDeleteAt));
  if (!bringsNoDeletion || update.rows.length * SPLICE_ROW_RATIO_MIN > stored.rows.length) {
    return mergePartitions(comparator, stored, update, pathComparatorFor);
  }
  assert(stored.token === update.token, 'merging partitions with different tokens');
  const deletion = supersedingDeletion(stored.deletion, update.deletion);
  const staticRow = mergeStaticRows(stored.staticRow, update.staticRow, deletion, pathComparatorFor);
  const inPlace = options.mutateStoredRows === true;
  const rows = spliceRows(comparator, stored, update.rows, deletion, pathComparatorFor, inPlace);
  return assemble(stored, deletion, staticRow, stored.rangeTombstones, rows);
}

/** True when the partition holds nothing at all, not even a tombstone. */
export function isEmptyPartition(partition: Partition): boolean {
  return (
    partition.deletion === null &&
    partition.staticRow === null &&
    partition.rangeTombstones.length === 0 &&
    partition.rows.length === 0
  );
}

/** True when the row has a live primary key (row marker) or any live cell. */
export function isRowLive(row: Row, nowSeconds: number): boolean {
  if (row.liveness !== null && livenessIsLive(row.liveness, nowSeconds)) return true;
  for (const cell of row.cells.values()) if (isLive(cell, nowSeconds)) return true;
  for (const column of row.complex.values()) {
    for (const cell of column.cells) if (isLive(cell, nowSeconds)) return true;
  }
  return false;
}

/** True when the (purged) partition has a live row or live static data. */
export function hasLiveData(partition: Partition, nowSeconds: number): boolean {
  if (partition.staticRow !== null && isRowLive(partition.staticRow, nowSeconds)) return true;
  return partition.rows.some((row) => isRowLive(row, nowSeconds));
}

/**
 * The rows of `partition` selected by the filter: those inside its slices, in table
 * order or reversed, stopping after `rowLimit` live rows (non-live rows before that
 * point are kept, as tombstones a reader may need). The partition deletion, the
 * static row and the range tombstones intersecting a slice are kept. When
 * `filter.reversed`, the result's rows are in reverse table order.
 */
export function filterPartition(
  comparator: ClusteringComparator,
  partition: Partition,
  filter: PartitionFilter,
): Partition {
  const { slices, reversed, rowLimit, nowSeconds } = filter;
  const source = partition.rows;
  const rows: Row[] = [];
  let live = 0;
  if (rowLimit > 0) {
    for (let s = 0; s < slices.length; s++) {
      const slice = slices[reversed ? slices.length - 1 - s : s];
      const from = firstIndex(source, (row) => comparator.afterStart(row.clustering, slice.start));
      const to = firstIndex(source, (row) => !comparator.beforeEnd(row.clustering, slice.end), from);
      for (let i = 0; i < to - from && live < rowLimit; i++) {
        const row = source[reversed ? to - 1 - i : from + i];
        rows.push(row);
        if (isRowLive(row, nowSeconds)) live++;
      }
      if (live >= rowLimit) break;
    }
  }
  const rangeTombstones = rangeTombstonesWithin(comparator, partition.rangeTombstones, slices);
  return {
    key: partition.key,
    token: partition.token,
    deletion: partition.deletion,
    staticRow: partition.staticRow,
    rangeTombstones,
    rows,
  };
}

/** The range tombstones that intersect at least one of the slices. */
export function rangeTombstonesWithin(
  comparator: ClusteringComparator,
  tombstones: readonly RangeTombstone[],
  slices: readonly Slice[],
): RangeTombstone[] {
  // Both non-empty, they meet when each starts before the other ends; an empty slice
  // (which a replica may be sent) meets nothing.
  const intersects = (tombstone: RangeTombstone, slice: Slice): boolean =>
    isNonEmptyRange(comparator, tombstone.start, slice.end) &&
    isNonEmptyRange(comparator, slice.start, tombstone.end) &&
    isNonEmptyRange(comparator, slice.start, slice.end);
  return tombstones.filter((tombstone) => slices.some((slice) => intersects(tombstone, slice)));
}

/** A row without the cells of dropped columns written at or before the drop; null
 *  when nothing is left. Returns the row itself when nothing is hidden. */
export function rowWithoutDroppedColumns(row: Row, dropped: ReadonlyMap<string, number>): Row | null {
  if (dropped.size === 0) return row;
  let cells: Map<string, Cell> | null = null;
  let complex: Map<string, ComplexColumn> | null = null;
  for (const [column, droppedAt] of dropped) {
    const cell = row.cells.get(column);
    if (cell !== undefined && cell.timestamp <= droppedAt) {
      cells ??= new Map(row.cells);
      cells.delete(column);
    }
    const collection = row.complex.get(column);
    if (collection === undefined) continue;
    const deletion =
      collection.deletion !== null && collection.deletion.markedForDeleteAt > droppedAt ? collection.deletion : null;
    const hidden = collection.cells.some((element) => element.timestamp <= droppedAt);
    if (deletion === collection.deletion && !hidden) continue;
    complex ??= new Map(row.complex);
    const kept = hidden ? collection.cells.filter((element) => element.timestamp > droppedAt) : collection.cells;
    if (kept.length === 0 && deletion === null) complex.delete(column);
    else complex.set(column, { deletion, cells: kept });
  }
  if (cells === null && complex === null) return row;
  const result = { ...row, cells: cells ?? row.cells, complex: complex ?? row.complex };
  return isEmptyRow(result) ? null : result;
}

/**
 * Hides cells of dropped columns written at or before the drop (`dropped` maps a
 * column name to its drop time in µs), so that re-adding a column of the same name
 * does not resurrect the old values. Returns the partition itself when nothing is hidden.
 */
export function withoutDroppedColumns(partition: Partition, dropped: ReadonlyMap<string, number>): Partition {
  if (dropped.size === 0) return partition;
  const filterRow = (row: Row): Row | null => rowWithoutDroppedColumns(row, dropped);
  let changed = false;
  const rows: Row[] = [];
  for (const row of partition.rows) {
    const kept = filterRow(row);
    if (kept !== row) changed = true;
    if (kept !== null) rows.push(kept);
  }
  const staticRow = partition.staticRow === null ? null : filterRow(partition.staticRow);
  if (!changed && staticRow === partition.staticRow) return partition;
  return { ...partition, staticRow, rows: changed ? rows : partition.rows };
}

// ---------------------------------------------------------------------------------
// Partition assembly

function emptyLike(partition: Partition): Partition {
  return { key: partition.key, token: partition.token, deletion: null, staticRow: null, rangeTombstones: [], rows: [] };
}

/** A partition with the given parts, or `base` itself when every part is base's. */
function assemble(
  base: Partition,
  deletion: DeletionTime | null,
  staticRow: Row | null,
  rangeTombstones: RangeTombstone[],
  rows: Row[],
): Partition {
  if (
    deletion === base.deletion &&
    staticRow === base.staticRow &&
    rangeTombstones === base.rangeTombstones &&
    rows === base.rows
  ) {
    return base;
  }
  return { key: base.key, token: base.token, deletion, staticRow, rangeTombstones, rows };
}

function mergeStaticRows(
  a: Row | null,
  b: Row | null,
  partitionDeletion: DeletionTime | null,
  pathComparatorFor: PathComparatorFor,
): Row | null {
  // Only the partition deletion covers static columns; range tombstones never do.
  const merged = a === null ? b : b === null ? a : mergeRows(a, b, pathComparatorFor);
  return merged === null ? null : purgeRow(merged, partitionDeletion);
}

// ---------------------------------------------------------------------------------
// Range tombstones

/**
 * The union of two range tombstone lists, sorted by start then end, without
 * tombstones the partition deletion covers, exact duplicates, or tombstones of one
 * list that a tombstone of the other covers entirely (same or wider range, same or
 * later deletion). Coverage is never lost: a tombstone is only dropped when another
 * kept one, or the partition deletion, shadows everything it shadows.
 */
function mergeRangeTombstones(
  comparator: ClusteringComparator,
  a: RangeTombstone[],
  b: RangeTombstone[],
  partitionDeletion: DeletionTime | null,
): RangeTombstone[] {
  const keep = (tombstone: RangeTombstone): boolean =>
    !deletes(partitionDeletion, tombstone.deletion.markedForDeleteAt);
  const byPosition = (x: RangeTombstone, y: RangeTombstone): number => compareRangeTombstones(comparator, x, y);
  if (b.length === 0 || a.length === 0) {
    // Usually already sorted and uncovered (stored lists are merge results): then
    // the list itself is the answer, checked in one pass.
    const only = a.length === 0 ? b : a;
    let sorted = true;
    for (let i = 1; i < only.length && sorted; i++) sorted = byPosition(only[i - 1], only[i]) <= 0;
    if (sorted && only.every(keep)) return only;
    const kept = only.filter(keep);
    return sorted ? kept : kept.sort(byPosition);
  }
  const merged: RangeTombstone[] = [];
  for (const tombstone of a) {
    // An identical tombstone in b does not remove a's copy; b's copy goes below.
    if (keep(tombstone) && !b.some((other) => covers(comparator, other, tombstone, false))) merged.push(tombstone);
  }
  for (const tombstone of b) {
    if (keep(tombstone) && !a.some((other) => covers(comparator, other, tombstone, true))) merged.push(tombstone);
  }
  return merged.sort(byPosition);
}

/** True when `wide` shadows everything `narrow` does; `orEqual` says whether an
 *  identical tombstone counts. */
function covers(
  comparator: ClusteringComparator,
  wide: RangeTombstone,
  narrow: RangeTombstone,
  orEqual: boolean,
): boolean {
  const deletion = compareDeletions(wide.deletion, narrow.deletion);
  if (deletion < 0) return false;
  const start = comparator.compareStarts(wide.start, narrow.start);
  if (start > 0) return false;
  const end = comparator.compareEnds(wide.end, narrow.end);
  if (end < 0) return false;
  return orEqual || deletion > 0 || start < 0 || end > 0;
}

function compareDeletions(a: DeletionTime, b: DeletionTime): number {
  return a.markedForDeleteAt - b.markedForDeleteAt || a.localDeletionTime - b.localDeletionTime;
}

function compareRangeTombstones(comparator: ClusteringComparator, a: RangeTombstone, b: RangeTombstone): number {
  return (
    comparator.compareStarts(a.start, b.start) ||
    comparator.compareEnds(a.end, b.end) ||
    compareDeletions(a.deletion, b.deletion)
  );
}

/**
 * Answers "which range deletion covers this clustering?" for clusterings visited in
 * ascending order, over tombstones sorted by start: tombstones enter the active set
 * once their start is passed and leave it once their end is, so a walk over n rows
 * and t tombstones costs O(n + t) plus the size of the active set.
 */
class CoveringDeletions {
  private next = 0;
  private readonly active: RangeTombstone[] = [];

  constructor(
    private readonly comparator: ClusteringComparator,
    private readonly tombstones: readonly RangeTombstone[],
  ) {}

  at(clustering: readonly Buffer[]): DeletionTime | null {
    const { comparator, tombstones, active } = this;
    while (this.next < tombstones.length && comparator.afterStart(clustering, tombstones[this.next].start)) {
      active.push(tombstones[this.next++]);
    }
    let deletion: DeletionTime | null = null;
    let kept = 0;
    for (const tombstone of active) {
      if (!comparator.beforeEnd(clustering, tombstone.end)) continue;
      active[kept++] = tombstone;
      deletion = supersedingDeletion(deletion, tombstone.deletion);
    }
    active.length = kept;
    return deletion;
  }
}

/** The deletion covering one clustering, by a linear look at every tombstone. */
function coveringDeletion(
  comparator: ClusteringComparator,
  tombstones: readonly RangeTombstone[],
  clustering: readonly Buffer[],
): DeletionTime | null {
  let deletion: DeletionTime | null = null;
  for (const tombstone of tombstones) {
    if (comparator.afterStart(clustering, tombstone.start) && comparator.beforeEnd(clustering, tombstone.end)) {
      deletion = supersedingDeletion(deletion, tombstone.deletion);
    }
  }
  return deletion;
}

// ---------------------------------------------------------------------------------
// Rows

/** Merges two sorted row lists and purges each row; returns `a` when nothing changed. */
function mergeRowLists(
  comparator: ClusteringComparator,
  a: Row[],
  b: Row[],
  partitionDeletion: DeletionTime | null,
  rangeTombstones: readonly RangeTombstone[],
  pathComparatorFor: PathComparatorFor,
): Row[] {
  const covering = rangeTombstones.length === 0 ? null : new CoveringDeletions(comparator, rangeTombstones);
  const out: Row[] = [];
  // Whether `out` differs from `a`, in which case `a` itself is returned.
  let changed = false;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const c = j === b.length ? -1 : i === a.length ? 1 : comparator.compare(a[i].clustering, b[j].clustering);
    let row: Row;
    if (c < 0) row = a[i++];
    else if (c > 0) {
      row = b[j++];
      changed = true;
    } else {
      const fromA = a[i++];
      row = mergeRows(fromA, b[j++], pathComparatorFor);
      if (row !== fromA) changed = true;
    }
    const outer =
      covering === null ? partitionDeletion : supersedingDeletion(partitionDeletion, covering.at(row.clustering));
    const purged = purgeRow(row, outer);
    if (purged !== row) changed = true;
    if (purged !== null) out.push(purged);
  }
  return changed ? out : a;
}

/** Merges a few rows into the stored (purged) partition's rows by binary search. */
function spliceRows(
  comparator: ClusteringComparator,
  stored: Partition,
  updates: Row[],
  partitionDeletion: DeletionTime | null,
  pathComparatorFor: PathComparatorFor,
  inPlace: boolean,
): Row[] {
  const rows = stored.rows;
  let out: Row[] | null = null;
  // Backwards, so that splicing at one index never moves the indices still to come.
  for (let u = updates.length - 1; u >= 0; u--) {
    const update = updates[u];
    const index = firstIndex(rows, (row) => comparator.compare(row.clustering, update.clustering) >= 0);
    const existing =
      index < rows.length && comparator.compare(rows[index].clustering, update.clustering) === 0 ? rows[index] : null;
    const merged = existing === null ? update : mergeRows(existing, update, pathComparatorFor);
    const tombstones = stored.rangeTombstones;
    const rangeDeletion = tombstones.length === 0 ? null : coveringDeletion(comparator, tombstones, update.clustering);
    const outer = supersedingDeletion(partitionDeletion, rangeDeletion);
    const purged = purgeRow(merged, outer);
    if (purged === existing) continue;
    out ??= inPlace ? rows : rows.slice();
    if (existing === null) out.splice(index, 0, purged!);
    else if (purged === null) out.splice(index, 1);
    else out[index] = purged;
  }
  return out ?? rows;
}

/** Reconciles two versions of one row; returns an input when it already is the result. */
function mergeRows(a: Row, b: Row, pathComparatorFor: PathComparatorFor): Row {
  if (a === b) return a;
  const liveness = reconcileLiveness(a.liveness, b.liveness);
  const deletion = supersedingDeletion(a.deletion, b.deletion);
  const cells = mergeCellMaps(a.cells, b.cells);
  const complex = mergeComplexMaps(a.complex, b.complex, pathComparatorFor);
  if (liveness === a.liveness && deletion === a.deletion && cells === a.cells && complex === a.complex) return a;
  if (liveness === b.liveness && deletion === b.deletion && cells === b.cells && complex === b.complex) return b;
  return { clustering: a.clustering, liveness, deletion, cells, complex };
}

function mergeCellMaps(a: Map<string, Cell>, b: Map<string, Cell>): Map<string, Cell> {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  let out: Map<string, Cell> | null = null;
  for (const [column, cell] of b) {
    const existing = a.get(column);
    const winner = existing === undefined ? cell : reconcileCells(existing, cell);
    if (winner === existing) continue;
    out ??= new Map(a);
    out.set(column, winner);
  }
  return out ?? a;
}

function mergeComplexMaps(
  a: Map<string, ComplexColumn>,
  b: Map<string, ComplexColumn>,
  pathComparatorFor: PathComparatorFor,
): Map<string, ComplexColumn> {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  let out: Map<string, ComplexColumn> | null = null;
  for (const [column, collection] of b) {
    const existing = a.get(column);
    const merged =
      existing === undefined ? collection : mergeComplexColumns(existing, collection, pathComparatorFor(column));
    if (merged === existing) continue;
    out ??= new Map(a);
    out.set(column, merged);
  }
  return out ?? a;
}

function mergeComplexColumns(a: ComplexColumn, b: ComplexColumn, comparePaths: ValueComparator): ComplexColumn {
  const deletion = supersedingDeletion(a.deletion, b.deletion);
  const cells = mergeElementCells(a.cells, b.cells, comparePaths);
  if (deletion === a.deletion && cells === a.cells) return a;
  if (deletion === b.deletion && cells === b.cells) return b;
  return { deletion, cells };
}

/** Merges two path-sorted element lists; returns an input when it already is the result. */
function mergeElementCells(a: Cell[], b: Cell[], comparePaths: ValueComparator): Cell[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Cell[] = [];
  let fromA = true;
  let fromB = true;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const c = j === b.length ? -1 : i === a.length ? 1 : comparePaths(a[i].path!, b[j].path!);
    if (c < 0) {
      out.push(a[i++]);
      fromB = false;
    } else if (c > 0) {
      out.push(b[j++]);
      fromA = false;
    } else {
      const winner = reconcileCells(a[i++], b[j++]);
      out.push(winner);
      if (winner !== a[i - 1]) fromA = false;
      if (winner !== b[j - 1]) fromB = false;
    }
  }
  return fromA ? a : fromB ? b : out;
}

function isEmptyRow(row: Row): boolean {
  return row.liveness === null && row.deletion === null && row.cells.size === 0 && row.complex.size === 0;
}

/**
 * Removes from `row` everything shadowed by `outer` (the partition deletion and any
 * covering range deletion) or by the row's own deletions: the row deletion itself
 * when `outer` covers it, the marker and cells written at or before the effective
 * deletion, complex deletions it covers, and element cells covered by it or by their
 * column's deletion. Returns the row itself when nothing is shadowed, null when
 * nothing is left.
 */
function purgeRow(row: Row, outer: DeletionTime | null): Row | null {
  if (outer === null && row.deletion === null && row.complex.size === 0) {
    // Nothing can shadow anything: the common case, decided without visiting cells.
    return row.liveness === null && row.cells.size === 0 ? null : row;
  }
  const rowDeletion = row.deletion !== null && deletes(outer, row.deletion.markedForDeleteAt) ? null : row.deletion;
  const effective = supersedingDeletion(outer, rowDeletion);
  const liveness = row.liveness !== null && deletes(effective, row.liveness.timestamp) ? null : row.liveness;

  let cells: Map<string, Cell> | null = null;
  if (effective !== null) {
    for (const [column, cell] of row.cells) {
      if (!deletes(effective, cell.timestamp)) continue;
      cells ??= new Map(row.cells);
      cells.delete(column);
    }
  }

  let complex: Map<string, ComplexColumn> | null = null;
  for (const [column, collection] of row.complex) {
    const purged = purgeComplexColumn(collection, effective);
    if (purged === collection) continue;
    complex ??= new Map(row.complex);
    if (purged === null) complex.delete(column);
    else complex.set(column, purged);
  }

  if (rowDeletion === row.deletion && liveness === row.liveness && cells === null && complex === null) {
    return isEmptyRow(row) ? null : row;
  }
  const result: Row = {
    clustering: row.clustering,
    liveness,
    deletion: rowDeletion,
    cells: cells ?? row.cells,
    complex: complex ?? row.complex,
  };
  return isEmptyRow(result) ? null : result;
}

function purgeComplexColumn(collection: ComplexColumn, outer: DeletionTime | null): ComplexColumn | null {
  const deletion =
    collection.deletion !== null && deletes(outer, collection.deletion.markedForDeleteAt) ? null : collection.deletion;
  const effective = supersedingDeletion(outer, deletion);
  const cells =
    effective === null || !collection.cells.some((cell) => deletes(effective, cell.timestamp))
      ? collection.cells
      : collection.cells.filter((cell) => !deletes(effective, cell.timestamp));
  if (deletion === null && cells.length === 0) return null;
  return deletion === collection.deletion && cells === collection.cells ? collection : { deletion, cells };
}

// ---------------------------------------------------------------------------------

