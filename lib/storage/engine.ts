/**
 * The storage interface: what the layers above (executor now, coordinator later) may
 * ask of a node's local data. Implementations: lib/storage/memory.ts (in-memory, for
 * the foundation and tests) and the durable LSM engine (commit log + memtables +
 * SSTables). Both run through the same shared suite (test/unit/storage-suite.ts).
 *
 * Nothing here knows about the network, the cluster or CQL.
 */
import type { Slice } from '../model/clustering.js';
import type { Partition, PartitionUpdate, Row } from '../model/partition.js';
import type { TableMetadata } from '../schema/metadata.js';

/** Which rows of a partition to read (the same shape as lib/model/merge.ts's
 *  PartitionFilter, which the model layer declares for itself). */
export interface ReadFilter {
  /** Sorted, non-overlapping clustering slices in table order; [ALL_ROWS] for all. */
  readonly slices: readonly Slice[];
  /** Return rows in reverse table order (and stop counting from the end). */
  readonly reversed: boolean;
  /** Stop after this many live rows (rows with a live marker or a live cell at
   *  `nowSeconds`); Infinity for no limit. The static row is always included. */
  readonly rowLimit: number;
  readonly nowSeconds: number;
}

/**
 * A point on the ring. `key` null means "the whole token": as a start position it
 * sits before (inclusive) or after (exclusive) every key with that token; as an end
 * position after (inclusive) or before (exclusive) them.
 */
export interface PartitionPosition {
  readonly token: bigint;
  readonly key: Buffer | null;
}

/** A non-wrapping range of partitions in (token, key) order. `end` null = ring end. */
export interface KeyRange {
  readonly start: PartitionPosition | null;
  readonly startInclusive: boolean;
  readonly end: PartitionPosition | null;
  readonly endInclusive: boolean;
}

export const FULL_RANGE: KeyRange = Object.freeze({ start: null, startInclusive: true, end: null, endInclusive: true });

export interface TableStore {
  readonly metadata: TableMetadata;
  /**
   * One partition, reconciled across everything the store holds: no cell shadowed by
   * a newer cell or by a covering deletion is returned; tombstones (partition, range,
   * row, cell) that intersect the filter are kept, so a coordinator can reconcile
   * replica answers. Expired cells are returned as they are; the reader decides
   * liveness at its own `nowSeconds`. Cells of dropped columns written at or before
   * the drop are hidden. With `filter.reversed` the rows come in reverse table order
   * (a coordinator merging replica answers must turn them back first). Null when the
   * store holds nothing for the key.
   */
  read(key: Buffer, token: bigint, filter: ReadFilter): Promise<Partition | null>;
  /** Partitions in (token, key) order within `range`, each read with `filter`,
   *  partitions holding nothing but fully-shadowed data included (they may carry
   *  tombstones). Stop iterating to stop the scan. */
  scan(range: KeyRange, filter: ReadFilter, options?: ScanOptions): AsyncIterable<Partition>;
}

export interface ScanOptions {
  /**
   * A partition with more rows than this comes as consecutive pieces with its key, of
   * at most this many rows each: the first carries its deletion, static row and range
   * tombstones, the others only rows, and a piece is only made once it has a row. So a
   * whole-table reader (validation) holds one piece of a very wide partition at a time.
   * Without it every partition comes whole.
   */
  readonly rowsPerPiece?: number;
}

/** A whole partition as ScanOptions.rowsPerPiece pieces. */
export function* piecesOf(partition: Partition, rowsPerPiece: number): Generator<Partition> {
  if (partition.rows.length <= rowsPerPiece) {
    yield partition;
    return;
  }
  for (let start = 0; start < partition.rows.length; start += rowsPerPiece) {
    const rows = partition.rows.slice(start, start + rowsPerPiece);
    yield start === 0 ? { ...partition, rows } : laterPiece(partition, rows);
  }
}

/** A piece after a partition's first: its key and rows only. */
export function laterPiece(partition: { readonly key: Buffer; readonly token: bigint }, rows: Row[]): Partition {
  return { key: partition.key, token: partition.token, deletion: null, staticRow: null, rangeTombstones: [], rows };
}

export interface StorageEngine {
  /** Creates the table's store (or returns the existing one, with new metadata). */
  openTable(metadata: TableMetadata): TableStore;
  /** The store of a table id, or undefined. */
  table(tableId: string): TableStore | undefined;
  /** Removes the table and its data. */
  dropTable(tableId: string): Promise<void>;
  /** Removes all of a table's data, keeping the table. */
  truncate(tableId: string): Promise<void>;
  /** Applies updates to several partitions/tables as one mutation: after the promise
   *  resolves the write is as durable as the engine's sync mode promises. The engine
   *  keeps the update objects: callers must not change them afterwards. An unknown
   *  table id rejects the whole mutation before anything is applied. */
  apply(updates: readonly PartitionUpdate[]): Promise<void>;
  /**
   * Drops the table's partitions whose token fails `keep` (sibyl cleanup: data of ranges
   * this node no longer replicates), atomically: a crash leaves the table as before or
   * as after. Partitions `keep` accepts are never touched, including those written while
   * it runs; one written meanwhile whose token `keep` rejects may be kept or dropped.
   */
  cleanup(tableId: string, keep: (token: bigint) => boolean): Promise<CleanupResult>;
  /**
   * Checks every SSTable of the table against its checksums (sibyl verify), reporting
   * each corrupt one rather than stopping at the first. Optional: an engine without
   * files (the in-memory one) has nothing to verify.
   */
  verify?(tableId: string): Promise<VerifyResult>;
  /** Flushes and releases everything; the engine is unusable afterwards. */
  close(): Promise<void>;
}

/** What a cleanup of one table did. */
export interface CleanupResult {
  /** Partitions dropped. */
  partitionsRemoved: number;
  /** On-disk bytes of the table's SSTables before and after; 0 for an in-memory engine. */
  bytesBefore: number;
  bytesAfter: number;
}

/** What a verify of one table found. */
export interface VerifyResult {
  /** SSTables read through, corrupt ones included. */
  sstables: number;
  /** The corrupt ones: the file that failed its check, and how. */
  corrupt: VerifiedCorruption[];
}

export interface VerifiedCorruption {
  file: string;
  message: string;
}
