/**
 * One partition of an SSTable as a PartitionSource: the header was read eagerly, rows
 * are read lazily for the slices asked for. A wide partition has a row index (first
 * and last clustering of each ROW_INDEX_BLOCK_BYTES block of rows), so a slice seeks
 * to the block that can hold its start (or its end, reading backwards) instead of
 * scanning from the first row, and never reads the whole partition for a small slice.
 */
import type { DeletionTime } from '../../model/cell.js';
import type { ClusteringComparator, Slice } from '../../model/clustering.js';
import type { RangeTombstone, Row } from '../../model/partition.js';
import { isEmptySlice } from '../../model/slices.js';
import type { PartitionHeader, PartitionSource } from '../source.js';
import type { ChunkReader, DataCursor } from './chunks.js';
import { readRowBody, readRowClustering, type RowIndex } from './format.js';

/** What the rows of every partition of one SSTable are read with. */
export interface RowContext {
  readonly chunks: ChunkReader;
  readonly comparator: ClusteringComparator;
  /** The SSTable's column table (Statistics.db). */
  readonly columns: readonly string[];
}

/** The first index in [0, count) where a monotone predicate holds; `count` if none. */
export function firstIndex(count: number, holds: (index: number) => boolean): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (holds(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** rowsIfLoaded decodes a partition at once only up to this many rows: a read with a
 *  small limit on a bigger one should not decode rows it does not return. */
const ROWS_AT_HAND_MAX = 16;

/** Row records as rows, decoded as they are taken: a read with a small limit stops early. */
function* decodedRows(records: Buffer[], clusterings: Buffer[][], columns: readonly string[], file: string, reversed: boolean): Generator<Row> {
  if (reversed) for (let i = records.length - 1; i >= 0; i--) yield readRowBody(records[i], columns, file, clusterings[i]);
  else for (let i = 0; i < records.length; i++) yield readRowBody(records[i], columns, file, clusterings[i]);
}

export class SSTablePartition implements PartitionSource {
  readonly key: Buffer;
  readonly token: bigint;
  readonly deletion: DeletionTime | null;
  readonly staticRow: Row | null;
  readonly rangeTombstones: readonly RangeTombstone[];

  constructor(
    private readonly context: RowContext,
    header: PartitionHeader,
    /** Stream position of the partition header: row index offsets are relative to it. */
    private readonly position: number,
    /** Positioned at the first row record, holding the chunk the header was read from. */
    private readonly rowsCursor: DataCursor,
    /** The row index, or how to look it up when it is not known yet. */
    private rowIndex: RowIndex | null | (() => Promise<RowIndex | null>),
  ) {
    this.key = header.key;
    this.token = header.token;
    this.deletion = header.deletion;
    this.staticRow = header.staticRow;
    this.rangeTombstones = header.rangeTombstones;
  }

  rows(slices: readonly Slice[], reversed: boolean): AsyncIterable<Row> {
    return reversed ? this.backward(slices) : this.forward(slices);
  }

  rowsIfLoaded(slices: readonly Slice[], reversed: boolean): Iterable<Row> | undefined {
    const records = this.rowsCursor.partitionRecordsIfLoaded(ROWS_AT_HAND_MAX);
    if (records === undefined) return undefined;
    const { comparator, columns, chunks } = this.context;
    const file = chunks.path;
    const chosen: Buffer[] = [];
    const clusterings: Buffer[][] = [];
    // Rows and slices both ascend: each row is checked against the first slice that
    // does not end before it.
    let s = 0;
    for (const record of records) {
      const clustering = readRowClustering(record, file);
      while (s < slices.length && !comparator.beforeEnd(clustering, slices[s].end)) s++;
      if (s === slices.length) break;
      if (comparator.afterStart(clustering, slices[s].start)) {
        chosen.push(record);
        clusterings.push(clustering);
      }
    }
    return decodedRows(chosen, clusterings, columns, file, reversed);
  }

  private async index(): Promise<RowIndex | null> {
    if (typeof this.rowIndex === 'function') this.rowIndex = await this.rowIndex();
    return this.rowIndex;
  }

  private async *forward(slices: readonly Slice[]): AsyncGenerator<Row> {
    const { chunks, comparator, columns } = this.context;
    const file = chunks.path;
    // Reading every row front to back needs no seeking.
    const everything = slices.length === 1 && slices[0].start.prefix.length === 0 && slices[0].end.prefix.length === 0;
    const index = everything ? null : await this.index();
    const cursor = this.rowsCursor.fork(this.rowsCursor.position);
    for (const slice of slices) {
      if (index !== null) {
        // Skip the blocks that end before the slice starts.
        const block = firstIndex(index.offsets.length, (b) => comparator.afterStart(index.lasts[b], slice.start));
        if (block === index.offsets.length) return;
        cursor.position = Math.max(cursor.position, this.position + index.offsets[block]);
      }
      for (;;) {
        const at = cursor.position;
        const record = cursor.nextIfLoaded() ?? (await cursor.next());
        if (record.length === 0) return; // the end of the partition
        const clustering = readRowClustering(record, file);
        if (!comparator.afterStart(clustering, slice.start)) continue;
        if (!comparator.beforeEnd(clustering, slice.end)) {
          // Past this slice; the next one may start with this very row.
          cursor.position = at;
          break;
        }
        yield readRowBody(record, columns, file, clustering);
      }
    }
  }

  /**
   * Rows can only be decoded front to back, so reading backwards goes block by block
   * (the whole partition when it has no row index, which means it is smaller than one
   * block): read the block forward, then serve it from its end.
   */
  private async *backward(slices: readonly Slice[]): AsyncGenerator<Row> {
    const { chunks, comparator, columns } = this.context;
    const file = chunks.path;
    const index = await this.index();
    const rowsStart = this.rowsCursor.position;
    const cursor = this.rowsCursor.fork(rowsStart);
    let block = -1;
    let records: Buffer[] = [];
    let clusterings: Buffer[][] = [];
    /** Next row of the loaded block to consider, going down. */
    let next = -1;
    const load = async (b: number): Promise<void> => {
      let end = Infinity;
      if (index === null) {
        cursor.position = rowsStart;
      } else {
        cursor.position = this.position + index.offsets[b];
        end = this.position + (b + 1 < index.offsets.length ? index.offsets[b + 1] : index.rowsEnd);
      }
      records = [];
      clusterings = [];
      while (cursor.position < end) {
        const record = cursor.nextIfLoaded() ?? (await cursor.next());
        if (record.length === 0) break;
        records.push(record);
        clusterings.push(readRowClustering(record, file));
      }
      block = b;
      next = records.length - 1;
    };

    for (let s = slices.length - 1; s >= 0; s--) {
      const slice = slices[s];
      // Rows past a slice's end are dropped below, which is right only while the ends
      // ascend with the starts: an empty slice, such as (30, 30) after (0, 30], breaks that.
      if (isEmptySlice(comparator, slice)) continue;
      if (index === null) {
        if (block < 0) await load(0);
      } else {
        // The last block whose first row is not after the slice's end.
        const b = firstIndex(index.offsets.length, (k) => !comparator.beforeEnd(index.firsts[k], slice.end)) - 1;
        if (b < 0) return; // this slice and every earlier one lie before the first row
        if (b !== block) await load(b);
      }
      for (;;) {
        while (next >= 0) {
          const clustering = clusterings[next];
          if (!comparator.beforeEnd(clustering, slice.end)) {
            next--;
            continue;
          }
          // Before this slice: keep the row for the earlier slices.
          if (!comparator.afterStart(clustering, slice.start)) break;
          yield readRowBody(records[next], columns, file, clustering);
          next--;
        }
        if (next >= 0) break;
        // The block is used up; the slice continues in the previous block only if that
        // block ends inside it.
        if (index === null || block === 0 || !comparator.afterStart(index.lasts[block - 1], slice.start)) break;
        await load(block - 1);
      }
    }
  }
}
