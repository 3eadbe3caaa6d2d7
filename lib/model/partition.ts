/**
 * Rows and partitions: the unit that is written (a partition update), stored in a
 * memtable or SSTable, and read back. The same shape carries writes and read results,
 * tombstones included, so coordinators can reconcile replica answers later.
 */
import type { Cell, DeletionTime, LivenessInfo } from './cell.js';
import type { ClusteringBound } from './clustering.js';

/** A non-frozen collection column: its element cells (sorted by path) and an optional
 *  column-wide deletion that shadows older elements (written when the collection is
 *  overwritten or deleted as a whole). */
export interface ComplexColumn {
  deletion: DeletionTime | null;
  cells: Cell[];
}

export interface Row {
  /** Clustering key components (serialized bytes); empty for the static row and for
   *  tables without clustering columns. */
  clustering: Buffer[];
  /** Row marker: set by INSERT (not UPDATE), keeps a row alive with every column null. */
  liveness: LivenessInfo | null;
  /** Row tombstone. */
  deletion: DeletionTime | null;
  /** Simple (and frozen) columns by column name. */
  cells: Map<string, Cell>;
  /** Non-frozen collections by column name. */
  complex: Map<string, ComplexColumn>;
}

/** A deletion of a clustering range [start, end] within one partition. */
export interface RangeTombstone {
  start: ClusteringBound;
  end: ClusteringBound;
  deletion: DeletionTime;
}

export interface Partition {
  /** Serialized partition key (single column: its bytes; composite: Cassandra's
   *  composite encoding, see lib/model/token.ts). */
  key: Buffer;
  token: bigint;
  /** Partition tombstone. */
  deletion: DeletionTime | null;
  staticRow: Row | null;
  rangeTombstones: RangeTombstone[];
  /** Rows in the table's clustering order. */
  rows: Row[];
}

/** One table's change to one partition. */
export interface PartitionUpdate {
  tableId: string;
  partition: Partition;
}

export function emptyRow(clustering: Buffer[]): Row {
  return { clustering, liveness: null, deletion: null, cells: new Map(), complex: new Map() };
}

export function emptyPartition(key: Buffer, token: bigint): Partition {
  return { key, token, deletion: null, staticRow: null, rangeTombstones: [], rows: [] };
}
