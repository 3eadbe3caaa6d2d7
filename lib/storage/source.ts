/**
 * One partition as one source holds it: a memtable or an SSTable. The LSM table
 * store merges the sources of a partition lazily, row by row, so a read of a few
 * rows of a wide partition never loads the whole partition from any source.
 */
import type { DeletionTime } from '../model/cell.js';
import type { Slice } from '../model/clustering.js';
import type { RangeTombstone, Row } from '../model/partition.js';

export interface PartitionHeader {
  readonly key: Buffer;
  readonly token: bigint;
  readonly deletion: DeletionTime | null;
  readonly staticRow: Row | null;
  /** Every range tombstone of the partition in this source, by start in table order. */
  readonly rangeTombstones: readonly RangeTombstone[];
}

export interface PartitionSource extends PartitionHeader {
  /** Rows inside `slices` (sorted, table order), in table order or reversed, lazily. */
  rows(slices: readonly Slice[], reversed: boolean): AsyncIterable<Row>;
  /** What rows() would give, without waiting, when the source has them at hand (a
   *  small partition in a chunk already read): a read then needs no promise per row.
   *  Undefined when they are not (then rows()), or when the source never has. */
  rowsIfLoaded?(slices: readonly Slice[], reversed: boolean): Iterable<Row> | undefined;
}
