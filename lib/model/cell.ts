/**
 * Cells, deletion times and Cassandra's reconciliation rules, in one place.
 *
 * Timestamps are integer microseconds held in JS numbers (exact up to 2^53, far
 * beyond any real clock); local deletion times are whole seconds.
 */

/** "No local deletion time": a live, non-expiring cell (Cassandra's Integer.MAX_VALUE). */
export const NO_DELETION_TIME = 0x7fffffff;

/** Largest TTL Cassandra accepts: 20 years, in seconds. */
export const MAX_TTL_SECONDS = 20 * 365 * 24 * 60 * 60;

/**
 * One cell: a value (or a tombstone when `value` is null) written at `timestamp`.
 * - live cell: value set, ttl 0, localDeletionTime NO_DELETION_TIME
 * - expiring cell: value set, ttl > 0, localDeletionTime = write time (s) + ttl
 * - tombstone: value null, ttl 0, localDeletionTime = deletion time (s) (for gc_grace)
 * `path` addresses one element of a non-frozen collection (list: timeuuid, set: the
 * element, map: the key); it is undefined for simple columns.
 */
export interface Cell {
  readonly timestamp: number;
  readonly value: Buffer | null;
  readonly ttl: number;
  readonly localDeletionTime: number;
  readonly path?: Buffer;
}

/** A deletion covering everything written at or before `markedForDeleteAt` (µs). */
export interface DeletionTime {
  readonly markedForDeleteAt: number;
  readonly localDeletionTime: number;
}

/** Liveness of a row's primary key (the row marker written by INSERT). */
export interface LivenessInfo {
  readonly timestamp: number;
  readonly ttl: number;
  readonly localDeletionTime: number;
}

export function liveCell(timestamp: number, value: Buffer, ttl: number, nowSeconds: number, path?: Buffer): Cell {
  return ttl > 0
    ? { timestamp, value, ttl, localDeletionTime: nowSeconds + ttl, path }
    : { timestamp, value, ttl: 0, localDeletionTime: NO_DELETION_TIME, path };
}

export function tombstoneCell(timestamp: number, nowSeconds: number, path?: Buffer): Cell {
  return { timestamp, value: null, ttl: 0, localDeletionTime: nowSeconds, path };
}

export function isTombstone(cell: Cell): boolean {
  return cell.value === null;
}

export function isExpiring(cell: { ttl: number }): boolean {
  return cell.ttl > 0;
}

/** True when the cell carries a value that is visible at `nowSeconds`. */
export function isLive(cell: Cell, nowSeconds: number): boolean {
  return cell.value !== null && (cell.ttl === 0 || nowSeconds < cell.localDeletionTime);
}

export function livenessIsLive(info: LivenessInfo, nowSeconds: number): boolean {
  return info.ttl === 0 || nowSeconds < info.localDeletionTime;
}

/** True when `deletion` (if any) shadows something written at `timestamp`. */
export function deletes(deletion: DeletionTime | null | undefined, timestamp: number): boolean {
  return deletion != null && timestamp <= deletion.markedForDeleteAt;
}

/** The later of two deletions (the one that covers more). */
export function supersedingDeletion(
  a: DeletionTime | null | undefined,
  b: DeletionTime | null | undefined,
): DeletionTime | null {
  if (a == null) return b ?? null;
  if (b == null) return a;
  if (a.markedForDeleteAt !== b.markedForDeleteAt) return a.markedForDeleteAt > b.markedForDeleteAt ? a : b;
  return a.localDeletionTime >= b.localDeletionTime ? a : b;
}

/**
 * Cassandra's cell reconciliation: the higher timestamp wins; on a tie a tombstone wins
 * over a value (two tombstones: the later local deletion time); between two values an
 * expiring cell wins over a non-expiring one and then the later expiry; then the
 * greater value bytes win, and finally the longer TTL (two writes with the same
 * timestamp, expiry and value but different TTLs must still pick one). Deterministic
 * and independent of "now", so every replica converges to the same cell whatever
 * order it sees the writes in.
 */
export function reconcileCells(a: Cell, b: Cell): Cell {
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
  const aDead = a.value === null;
  const bDead = b.value === null;
  if (aDead !== bDead) return aDead ? a : b;
  if (aDead) return a.localDeletionTime >= b.localDeletionTime ? a : b;
  if (a.ttl > 0 !== b.ttl > 0) return a.ttl > 0 ? a : b;
  if (a.localDeletionTime !== b.localDeletionTime) return a.localDeletionTime > b.localDeletionTime ? a : b;
  const byValue = Buffer.compare(a.value!, b.value!);
  if (byValue !== 0) return byValue > 0 ? a : b;
  return a.ttl >= b.ttl ? a : b;
}

/** Reconcile row markers: later timestamp wins; on a tie the expiring/later-expiring
 *  one, then the longer TTL (so the choice never depends on argument order). */
export function reconcileLiveness(a: LivenessInfo | null, b: LivenessInfo | null): LivenessInfo | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
  if (a.ttl > 0 !== b.ttl > 0) return a.ttl > 0 ? a : b;
  if (a.localDeletionTime !== b.localDeletionTime) return a.localDeletionTime > b.localDeletionTime ? a : b;
  return a.ttl >= b.ttl ? a : b;
}
