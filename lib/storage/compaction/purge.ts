/**
 * What a compaction may drop from data it has merged (and so already freed of
 * everything shadowed within its inputs): tombstones nobody needs any more, and the
 * values of expired cells.
 *
 * A tombstone — cell, row, range, complex (collection) or partition deletion, or an
 * expired row marker, which shadows older markers just as a tombstone does — is
 * dropped only when both hold:
 * - its local deletion time is before gcBefore (now − gc_grace_seconds): replicas
 *   have had gc_grace_seconds to receive it by repair, so no replica can still hand
 *   back the data it deleted;
 * - its timestamp is below maxPurgeableTimestamp, the oldest timestamp of any data
 *   for the partition outside this compaction (other SSTables, memtables): nothing
 *   outside can then hold data the tombstone still has to shadow.
 * Dropping it then changes no read: every datum it shadowed inside the compaction is
 * already gone, and everything outside is newer and wins over it anyway.
 *
 * An expired TTL cell becomes a tombstone (its value is dropped; localDeletionTime =
 * its expiry, timestamp kept), and goes the way of tombstones once gc grace passes.
 * It is converted only below maxPurgeableTimestamp: reconciliation does not depend on
 * "now" (lib/model/cell.ts), so an expired cell loses a timestamp tie against a
 * later-expiring cell where a tombstone would win it, and a tie can only come from
 * outside data at or above that bound.
 */
import type { Cell, DeletionTime } from '../../model/cell.js';
import type { ComplexColumn, Partition, RangeTombstone, Row } from '../../model/partition.js';
import type { PartitionHeader } from '../source.js';

export interface PurgeContext {
  /** The compaction's "now" (seconds): TTL cells expired by then are dead. */
  readonly nowSeconds: number;
  /** nowSeconds − gc_grace_seconds: tombstones deleted before it are past gc grace. */
  readonly gcBefore: number;
  /** The oldest timestamp (µs) of any data for this partition outside the
   *  compaction; Infinity when there is none. */
  readonly maxPurgeableTimestamp: number;
}

export function purgeContext(nowSeconds: number, gcGraceSeconds: number, maxPurgeableTimestamp: number): PurgeContext {
  return { nowSeconds, gcBefore: nowSeconds - gcGraceSeconds, maxPurgeableTimestamp };
}

function purgeable(timestamp: number, localDeletionTime: number, context: PurgeContext): boolean {
  return localDeletionTime < context.gcBefore && timestamp < context.maxPurgeableTimestamp;
}

function deletionPurgeable(deletion: DeletionTime | null, context: PurgeContext): boolean {
  return deletion !== null && purgeable(deletion.markedForDeleteAt, deletion.localDeletionTime, context);
}

/**
 * The partition-level parts of a merged partition after purging: partition deletion,
 * range tombstones and static row. Returns `header` itself when nothing is dropped.
 */
export function purgeHeader(header: PartitionHeader, context: PurgeContext): PartitionHeader {
  const deletion = deletionPurgeable(header.deletion, context) ? null : header.deletion;
  const rangeTombstones = header.rangeTombstones.some((tombstone) => deletionPurgeable(tombstone.deletion, context))
    ? header.rangeTombstones.filter((tombstone) => !deletionPurgeable(tombstone.deletion, context))
    : header.rangeTombstones;
  const staticRow = header.staticRow === null ? null : purgeRow(header.staticRow, context);
  if (deletion === header.deletion && rangeTombstones === header.rangeTombstones && staticRow === header.staticRow) {
    return header;
  }
  return { key: header.key, token: header.token, deletion, staticRow, rangeTombstones };
}

/** True when a header carries nothing to write (no deletion, static row or range tombstone). */
export function isEmptyHeader(header: PartitionHeader): boolean {
  return header.deletion === null && header.staticRow === null && header.rangeTombstones.length === 0;
}

/**
 * One merged row after purging; the row itself when nothing changes, null when
 * nothing is left. Usable on a stream of rows, one at a time.
 */
export function purgeRow(row: Row, context: PurgeContext): Row | null {
  const marker = row.liveness;
  const liveness =
    marker !== null &&
    marker.ttl > 0 &&
    context.nowSeconds >= marker.localDeletionTime &&
    purgeable(marker.timestamp, marker.localDeletionTime, context)
      ? null
      : marker;
  const deletion = deletionPurgeable(row.deletion, context) ? null : row.deletion;

  let cells: Map<string, Cell> | null = null;
  for (const [column, cell] of row.cells) {
    const purged = purgeCell(cell, context);
    if (purged === cell) continue;
    cells ??= new Map(row.cells);
    if (purged === null) cells.delete(column);
    else cells.set(column, purged);
  }

  let complex: Map<string, ComplexColumn> | null = null;
  for (const [column, collection] of row.complex) {
    const purged = purgeComplexColumn(collection, context);
    if (purged === collection) continue;
    complex ??= new Map(row.complex);
    if (purged === null) complex.delete(column);
    else complex.set(column, purged);
  }

  if (liveness === row.liveness && deletion === row.deletion && cells === null && complex === null) return row;
  const result: Row = {
    clustering: row.clustering,
    liveness,
    deletion,
    cells: cells ?? row.cells,
    complex: complex ?? row.complex,
  };
  const empty = liveness === null && deletion === null && result.cells.size === 0 && result.complex.size === 0;
  return empty ? null : result;
}

/** A whole merged partition after purging; null when nothing is left. */
export function purgePartitionForCompaction(partition: Partition, context: PurgeContext): Partition | null {
  const header = purgeHeader(partition, context);
  const rows: Row[] = [];
  let changed = false;
  for (const row of partition.rows) {
    const purged = purgeRow(row, context);
    if (purged !== row) changed = true;
    if (purged !== null) rows.push(purged);
  }
  if (rows.length === 0 && isEmptyHeader(header)) return null;
  if (header === partition && !changed) return partition;
  return {
    key: partition.key,
    token: partition.token,
    deletion: header.deletion,
    staticRow: header.staticRow,
    rangeTombstones: header.rangeTombstones as RangeTombstone[],
    rows: changed ? rows : partition.rows,
  };
}

function purgeCell(cell: Cell, context: PurgeContext): Cell | null {
  if (cell.value !== null) {
    const expired = cell.ttl > 0 && context.nowSeconds >= cell.localDeletionTime;
    if (!expired || cell.timestamp >= context.maxPurgeableTimestamp) return cell;
    if (cell.localDeletionTime < context.gcBefore) return null;
    return { timestamp: cell.timestamp, value: null, ttl: 0, localDeletionTime: cell.localDeletionTime, path: cell.path };
  }
  return purgeable(cell.timestamp, cell.localDeletionTime, context) ? null : cell;
}

function purgeComplexColumn(collection: ComplexColumn, context: PurgeContext): ComplexColumn | null {
  const deletion = deletionPurgeable(collection.deletion, context) ? null : collection.deletion;
  let cells: Cell[] | null = null;
  for (let i = 0; i < collection.cells.length; i++) {
    const cell = collection.cells[i];
    const purged = purgeCell(cell, context);
    if (purged === cell && cells === null) continue;
    cells ??= collection.cells.slice(0, i);
    if (purged !== null) cells.push(purged);
  }
  if (deletion === collection.deletion && cells === null) return collection;
  const kept = cells ?? collection.cells;
  return deletion === null && kept.length === 0 ? null : { deletion, cells: kept };
}
