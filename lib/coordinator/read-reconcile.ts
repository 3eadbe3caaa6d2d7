/**
 * What a coordinator does with replica answers: digests to compare them cheaply, and
 * the reconciled merge of full answers when the digests disagree.
 */
import { createHash } from 'node:crypto';
import { filterPartition, isEmptyPartition, isRowLive, mergePartitions } from '../model/merge.js';
import type { Partition } from '../model/partition.js';
import { partitionDigest as canonicalDigest } from '../repair/digest.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import type { TableMetadata } from '../schema/metadata.js';
import type { ReadFilter } from '../storage/engine.js';

/** The digest of a replica's answer when it holds nothing for the key. */
const ABSENT = Buffer.from([0]);

/**
 * The digest replicas answer digest reads with: lib/repair/digest.ts's canonical MD5
 * of the (filtered) result — the same form Merkle-tree validation hashes — and a fixed
 * digest for a replica that holds nothing for the key (absent and empty alike).
 */
export function partitionDigest(partition: Partition | null): Buffer {
  if (partition === null || isEmptyPartition(partition)) return createHash('md5').update(ABSENT).digest();
  return canonicalDigest(partition);
}

/** The partition with its rows in table order (a reversed read returns them backwards). */
export function inTableOrder(partition: Partition, reversed: boolean): Partition {
  return reversed ? { ...partition, rows: [...partition.rows].reverse() } : partition;
}

export interface Reconciliation {
  /** The merged answer in the filter's order and within its limit; null when no replica held anything. */
  readonly result: Partition | null;
  /** The merge of every answer, in table order: what a stale replica is repaired with. */
  readonly merged: Partition | null;
  /** Indexes of the answers that differ from `merged`: the replicas to repair. */
  readonly stale: readonly number[];
}

/**
 * Merges full answers of several replicas (each in the filter's order) with
 * mergePartitions, then applies the filter again: answers cut at the row limit at
 * different rows can merge into more rows than the limit. (A merge that ends up with
 * too few is the coordinator's to fix: short-read protection in cluster-proxy.ts.)
 * `readLimit` is the row limit the replicas were asked with (the filter's unless a
 * short-read round raised it).
 */
export function reconcile(
  table: TableMetadata,
  filter: ReadFilter,
  answers: readonly (Partition | null)[],
  readLimit = filter.rowLimit,
): Reconciliation {
  const ordered = withinCommonStop(table, filter, answers, readLimit).map((answer) =>
    answer === null ? null : inTableOrder(answer, filter.reversed),
  );
  // Replicas usually agree (a range read reconciles every partition of every page):
  // equal digests are the merge already, without merging or hashing the merge.
  const digests = ordered.map((answer) => (answer === null ? null : partitionDigest(answer)));
  const first = ordered[0];
  if (first !== null && digests.every((digest) => digest !== null && digest.equals(digests[0]!))) {
    return { result: filterPartition(table.comparator, first, filter), merged: first, stale: [] };
  }
  let merged: Partition | null = null;
  const paths = pathComparatorsOf(table);
  for (const answer of ordered) {
    if (answer === null) continue;
    merged = merged === null ? answer : mergePartitions(table.comparator, merged, answer, paths);
  }
  if (merged === null) return { result: null, merged: null, stale: [] };
  const mergedDigest = partitionDigest(merged);
  const stale: number[] = [];
  digests.forEach((digest, index) => {
    if (digest === null || !digest.equals(mergedDigest)) stale.push(index);
  });
  return { result: filterPartition(table.comparator, merged, filter), merged, stale };
}

/**
 * The answers without the rows past the first place (in the read's order) where a
 * replica stopped at `readLimit` live rows: that replica said nothing of the rows after
 * its last one, so another replica's version of them may be stale (it may have missed
 * their newest write) and must not be answered or repaired with. A merge left short by
 * the cut is what short-read protection reads again.
 */
function withinCommonStop(
  table: TableMetadata,
  filter: ReadFilter,
  answers: readonly (Partition | null)[],
  readLimit: number,
): readonly (Partition | null)[] {
  if (!Number.isFinite(readLimit)) return answers;
  const inReadOrder = (a: readonly Buffer[], b: readonly Buffer[]) =>
    filter.reversed ? table.comparator.compare(b, a) : table.comparator.compare(a, b);
  let stop: readonly Buffer[] | null = null;
  for (const answer of answers) {
    if (answer === null || answer.rows.length === 0) continue;
    if (answer.rows.reduce((live, row) => (isRowLive(row, filter.nowSeconds) ? live + 1 : live), 0) < readLimit) continue;
    const last = answer.rows[answer.rows.length - 1].clustering;
    if (stop === null || inReadOrder(last, stop) < 0) stop = last;
  }
  if (stop === null) return answers;
  const bound = stop;
  return answers.map((answer) => {
    if (answer === null) return null;
    const cut = answer.rows.findIndex((row) => inReadOrder(row.clustering, bound) > 0);
    return cut < 0 ? answer : { ...answer, rows: answer.rows.slice(0, cut) };
  });
}
