/**
 * A partition's canonical form, which validation hashes into a Merkle tree's leaves,
 * and its MD5 digest, which replicas answer digest reads with (read-reconcile.ts). It
 * covers everything repair must reconcile — the key, every cell's value, path,
 * timestamp, TTL and local deletion time, row markers, and every tombstone (partition,
 * range, row, complex column, cell).
 *
 * Canonical means independent of how a replica happens to hold the data: cells and
 * collections are visited by column name (a row's maps keep insertion order, which
 * depends on the order writes arrived) and every variable-length field is
 * length-prefixed.
 */
import { createHash } from 'node:crypto';
import type { Cell, DeletionTime, LivenessInfo } from '../model/cell.js';
import type { Partition, Row } from '../model/partition.js';

/** Absent fields (no deletion, no marker, tombstone value, no path, no static row). */
const ABSENT = -1;

/** The partition's digest: MD5 of its canonical form. */
export function partitionDigest(partition: Partition): Buffer {
  return createHash('md5').update(canonicalBytes(partition)).digest();
}

/**
 * The partition's canonical form, which partitionDigest hashes: its head (key,
 * deletion, static row, range tombstones), its rows, and an end mark. Self-delimiting,
 * so the forms of several partitions in a row can be hashed as one stream (a Merkle
 * leaf does). A view of a buffer the next call reuses: hash it before calling again.
 */
export function canonicalBytes(partition: Partition): Buffer {
  const writer = WRITER;
  writer.reset();
  writeHead(writer, partition);
  for (const row of partition.rows) writer.row(row);
  writer.number(ABSENT);
  return writer.written();
}

/**
 * The same form in parts, for a partition read in pieces (ScanOptions.rowsPerPiece):
 * canonicalHead of the first piece, canonicalRows of each piece's rows, then
 * CANONICAL_END. Hashed in that order they hash exactly canonicalBytes of the whole.
 */
export function canonicalHead(partition: Partition): Buffer {
  WRITER.reset();
  writeHead(WRITER, partition);
  return WRITER.written();
}

export function canonicalRows(rows: readonly Row[]): Buffer {
  WRITER.reset();
  for (const row of rows) WRITER.row(row);
  return WRITER.written();
}

export const CANONICAL_END: Buffer = (() => {
  const end = Buffer.alloc(8);
  end.writeDoubleBE(ABSENT);
  return end;
})();

function writeHead(writer: CanonicalWriter, partition: Partition): void {
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
}

/** A row's columns in name order; a map of one (the common row) as it is. */
const byName = <T>(columns: ReadonlyMap<string, T>): Iterable<[string, T]> =>
  columns.size < 2 ? columns : [...columns].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** A buffer kept after a partition this big is given back, not kept for the next. */
const KEPT_BUFFER_BYTES_MAX = 1 << 20;

/**
 * Writes the canonical form into one growing buffer, reused from partition to
 * partition: hashing it in one update costs far less than an update per field.
 */
class CanonicalWriter {
  private buffer = Buffer.allocUnsafe(4096);
  private length = 0;

  reset(): void {
    if (this.buffer.length > KEPT_BUFFER_BYTES_MAX) this.buffer = Buffer.allocUnsafe(4096);
    this.length = 0;
  }

  written(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  number(value: number): void {
    // Timestamps (µs) exceed 32 bits: every number is a 64-bit float, exact for safe integers.
    this.room(8);
    this.buffer.writeDoubleBE(value, this.length);
    this.length += 8;
  }

  bytes(value: Uint8Array): void {
    this.number(value.length);
    this.room(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  name(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.number(length);
    this.room(length);
    this.length += this.buffer.write(value, this.length, 'utf8');
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

const WRITER = new CanonicalWriter();
