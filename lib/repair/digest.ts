/**
 * The digest of one partition as validation hashes it into a Merkle tree: MD5 over a
 * canonical form that covers everything repair must reconcile — the key, every cell's
 * value, path, timestamp, TTL and local deletion time, row markers, and every
 * tombstone (partition, range, row, complex column, cell).
 *
 * lib/coordinator/read-reconcile.ts has a digest of the same shape for read repair,
 * but repair sits below the coordinator and may not import it. This one also
 * length-prefixes column names, which that one writes bare (so a column name could
 * run into the bytes that follow it). The coordinator could import this one instead.
 *
 * Canonical means independent of how a replica happens to hold the data: cells and
 * collections are visited by column name (a row's maps keep insertion order, which
 * depends on the order writes arrived) and every variable-length field is
 * length-prefixed.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Cell, DeletionTime, LivenessInfo } from '../model/cell.js';
import type { Partition, Row } from '../model/partition.js';

/** Absent fields (no deletion, no marker, tombstone value, no path, no static row). */
const ABSENT = -1;

/**
 * The partition's digest. With `size`, adds to size.bytes the number of bytes hashed:
 * validation paces itself by it (a measure of the data read, free to take here).
 */
export function partitionDigest(partition: Partition, size?: { bytes: number }): Buffer {
  const writer = new DigestWriter(createHash('md5'));
  writer.bytes(partition.key);
  writer.deletion(partition.deletion);
  writer.row(partition.staticRow);
  writer.number(partition.rangeTombstones.length);
  for (const rangeTombstone of partition.rangeTombstones) {
    writer.prefix(rangeTombstone.start.prefix);
    writer.number(rangeTombstone.start.inclusive ? 1 : 0);
    writer.prefix(rangeTombstone.end.prefix);
    writer.number(rangeTombstone.end.inclusive ? 1 : 0);
    writer.deletion(rangeTombstone.deletion);
  }
  writer.number(partition.rows.length);
  for (const row of partition.rows) writer.row(row);
  if (size !== undefined) size.bytes += writer.bytesHashed;
  return writer.digest();
}

const byName = <T>(entries: Iterable<[string, T]>): [string, T][] =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

class DigestWriter {
  private readonly scratch = Buffer.alloc(8);
  bytesHashed = 0;
  constructor(private readonly hash: Hash) {}

  digest(): Buffer {
    return this.hash.digest();
  }

  number(value: number): void {
    // Timestamps (µs) exceed 32 bits: every number is a 64-bit float, exact for safe integers.
    this.scratch.writeDoubleBE(value);
    this.hash.update(this.scratch);
    this.bytesHashed += 8;
  }

  bytes(value: Uint8Array): void {
    this.number(value.length);
    this.hash.update(value);
    this.bytesHashed += value.length;
  }

  name(value: string): void {
    this.bytes(Buffer.from(value, 'utf8'));
  }

  prefix(components: readonly Buffer[]): void {
    this.number(components.length);
    for (const component of components) this.bytes(component);
  }

  deletion(deletion: DeletionTime | null): void {
    if (deletion === null) return this.number(ABSENT);
    this.number(deletion.markedForDeleteAt);
    this.number(deletion.localDeletionTime);
  }

  liveness(info: LivenessInfo | null): void {
    if (info === null) return this.number(ABSENT);
    this.number(info.timestamp);
    this.number(info.ttl);
    this.number(info.localDeletionTime);
  }

  cell(cell: Cell): void {
    this.number(cell.timestamp);
    this.number(cell.ttl);
    this.number(cell.localDeletionTime);
    if (cell.value === null) this.number(ABSENT);
    else this.bytes(cell.value);
    if (cell.path === undefined) this.number(ABSENT);
    else this.bytes(cell.path);
  }

  row(row: Row | null): void {
    if (row === null) return this.number(ABSENT);
    this.prefix(row.clustering);
    this.liveness(row.liveness);
    this.deletion(row.deletion);
    this.number(row.cells.size);
    for (const [column, cell] of byName(row.cells)) {
      this.name(column);
      this.cell(cell);
    }
    this.number(row.complex.size);
    for (const [column, complex] of byName(row.complex)) {
      this.name(column);
      this.deletion(complex.deletion);
      this.number(complex.cells.length);
      for (const cell of complex.cells) this.cell(cell);
    }
  }
}
