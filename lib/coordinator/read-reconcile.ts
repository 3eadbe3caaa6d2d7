/**
 * What a coordinator does with replica answers: digests to compare them cheaply, and
 * the reconciled merge of full answers when the digests disagree.
 */
import { createHash } from 'node:crypto';
import { filterPartition, isEmptyPartition, mergePartitions } from '../model/merge.js';
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
 */
export function reconcile(table: TableMetadata, filter: ReadFilter, answers: readonly (Partition | null)[]): Reconciliation {
  const ordered = answers.map((answer) => (answer === null ? null : inTableOrder(answer, filter.reversed)));
  let merged: Partition | null = null;
  const paths = pathComparatorsOf(table);
  for (const answer of ordered) {
    if (answer === null) continue;
    merged = merged === null ? answer : mergePartitions(table.comparator, merged, answer, paths);
  }
  if (merged === null) return { result: null, merged: null, stale: [] };
  const mergedDigest = partitionDigest(merged);
  const stale: number[] = [];
  ordered.forEach((answer, index) => {
    if (answer === null || !partitionDigest(answer).equals(mergedDigest)) stale.push(index);
  });
  return { result: filterPartition(table.comparator, merged, filter), merged, stale };
}
