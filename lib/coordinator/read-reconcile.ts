/**
 * What a coordinator does with replica answers: digests to compare them cheaply, and
 * the reconciled merge of full answers when the digests disagree.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Cell, DeletionTime, LivenessInfo } from '../model/cell.js';
import { filterPartition, isEmptyPartition, mergePartitions } from '../model/merge.js';
import type { Partition, Row } from '../model/partition.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import type { TableMetadata } from '../schema/metadata.js';
import type { ReadFilter } from '../storage/engine.js';

/** The digest of a replica's answer when it holds nothing for the key. */
const ABSENT = Buffer.from([0]);

/**
 * MD5 over a canonical form of a (filtered) read result, as Cassandra digests a read
 * response. Canonical means independent of how a replica happens to hold the data:
 * cells and collections are visited by column name (a row's maps keep insertion order,
 * which depends on the order writes arrived), every field is length-prefixed, and an
 * absent partition digests like an empty one. Equal answers give equal digests on
 * every replica; any difference in data, timestamps or tombstones changes it.
 */
export function partitionDigest(partition: Partition | null): Buffer {
  const hash = createHash('md5');
  if (partition === null || isEmptyPartition(partition)) return hash.update(ABSENT).digest();
  const writer = new DigestWriter(hash);
  writer.bytes(partition.key);
  writer.deletion(partition.deletion);
  writer.row(partition.staticRow);
  writer.int(partition.rangeTombstones.length);
  for (const rt of partition.rangeTombstones) {
    writer.prefix(rt.start.prefix);
    writer.int(rt.start.inclusive ? 1 : 0);
    writer.prefix(rt.end.prefix);
    writer.int(rt.end.inclusive ? 1 : 0);
    writer.deletion(rt.deletion);
  }
  writer.int(partition.rows.length);
  for (const row of partition.rows) writer.row(row);
  return hash.digest();
}

const byName = <T>(entries: Iterable<[string, T]>): [string, T][] =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

class DigestWriter {
  private readonly scratch = Buffer.alloc(8);
  constructor(private readonly hash: Hash) {}

  int(value: number): void {
    // Timestamps (µs) exceed 32 bits: write every number as a 64-bit float, exact for safe integers.
    this.scratch.writeDoubleBE(value);
    this.hash.update(this.scratch);
  }

  bytes(value: Buffer): void {
    this.int(value.length);
    this.hash.update(value);
  }

  prefix(components: readonly Buffer[]): void {
    this.int(components.length);
    for (const component of components) this.bytes(component);
  }

  deletion(deletion: DeletionTime | null): void {
    if (deletion === null) return this.int(-1);
    this.int(deletion.markedForDeleteAt);
    this.int(deletion.localDeletionTime);
  }

  liveness(info: LivenessInfo | null): void {
    if (info === null) return this.int(-1);
    this.int(info.timestamp);
    this.int(info.ttl);
    this.int(info.localDeletionTime);
  }

  cell(cell: Cell): void {
    this.int(cell.timestamp);
    this.int(cell.ttl);
    this.int(cell.localDeletionTime);
    if (cell.value === null) this.int(-1);
    else this.bytes(cell.value);
    if (cell.path === undefined) this.int(-1);
    else this.bytes(cell.path);
  }

  row(row: Row | null): void {
    if (row === null) return this.int(-1);
    this.prefix(row.clustering);
    this.liveness(row.liveness);
    this.deletion(row.deletion);
    this.int(row.cells.size);
    for (const [column, cell] of byName(row.cells)) {
      this.hash.update(column);
      this.cell(cell);
    }
    this.int(row.complex.size);
    for (const [column, complex] of byName(row.complex)) {
      this.hash.update(column);
      this.deletion(complex.deletion);
      this.int(complex.cells.length);
      for (const cell of complex.cells) this.cell(cell);
    }
  }
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
 * different rows can merge into more rows than the limit. (Short-read protection —
 * asking a replica for more when the merge ends up with too few — is not done.)
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
