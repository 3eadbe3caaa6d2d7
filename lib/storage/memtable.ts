/**
 * A memtable: one table's recent writes in memory, found by key through a hash table of
 * token halves (memtable-index.ts) and ordered by (token, key) on demand
 * (memtable-order.ts), each partition kept merged and purged (lib/model/merge.ts).
 * Writes go to the active memtable; a flushing memtable is read-only until its SSTable
 * is in place.
 *
 * A stored partition's row array is spliced in place by later writes (copying a wide
 * partition per write would cost far more than the write). Readers therefore never
 * hold an index into it across an await: a row iterator re-finds its place by the
 * last clustering it returned whenever the array may have changed.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClusteringComparator, Slice } from '../model/clustering.js';
import { applyUpdate, mergePartitions, type PathComparatorFor } from '../model/merge.js';
import { emptyPartition, type Partition, type Row } from '../model/partition.js';
import { compareKeys, tokenOfWords, tokenWords } from '../model/token.js';
import { firstIndex } from '../model/search.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import type { TableMetadata } from '../schema/metadata.js';
import type { KeyRange } from './engine.js';
import { MemtableEntries } from './memtable-entries.js';
import { MemtableIndex } from './memtable-index.js';
import { MemtableOrder } from './memtable-order.js';
import { decodeUpdate, readUpdateHeader, updateHeader } from './mutation-decoder.js';
import { UpdateArena } from './update-arena.js';
import type { PartitionSource } from './source.js';

/** Where touch() leaves what it read: a store the compiler must keep, so the reads stay. */
let touched = 0;

/** Heap bytes of an entry kept as bytes in the arena (the bytes are counted with the arena). */
const ENTRY_OVERHEAD_BYTES = 120;
/** An entry kept as bytes past this size turns into objects at its first read (see readFromBytes). */
const WIDE_ENTRY_BYTES_MIN = 4096;

/** Partitions a scan hands out before letting the event loop run. */
const SCAN_PARTITIONS_PER_TURN_MAX = 256;
/** Rough heap cost of the objects around a cell and a row, for memory accounting. */
const CELL_OVERHEAD_BYTES = 48;
const ROW_OVERHEAD_BYTES = 96;
const PARTITION_OVERHEAD_BYTES = 160;

const IN_PLACE = Object.freeze({ mutateStoredRows: true });

// measureUpdate's results: module registers rather than an object per write.
let measuredBytes = 0;
let measuredMinTimestamp = Infinity;

function measureRow(row: Row): void {
  let bytes = ROW_OVERHEAD_BYTES;
  let min = measuredMinTimestamp;
  for (const c of row.clustering) bytes += c.length;
  if (row.liveness !== null && row.liveness.timestamp < min) min = row.liveness.timestamp;
  if (row.deletion !== null && row.deletion.markedForDeleteAt < min) min = row.deletion.markedForDeleteAt;
  for (const [name, cell] of row.cells) {
    bytes += name.length + CELL_OVERHEAD_BYTES + (cell.value?.length ?? 0);
    if (cell.timestamp < min) min = cell.timestamp;
  }
  for (const [name, complex] of row.complex) {
    bytes += name.length;
    if (complex.deletion !== null && complex.deletion.markedForDeleteAt < min) min = complex.deletion.markedForDeleteAt;
    for (const cell of complex.cells) {
      bytes += CELL_OVERHEAD_BYTES + (cell.value?.length ?? 0) + (cell.path?.length ?? 0);
      if (cell.timestamp < min) min = cell.timestamp;
    }
  }
  measuredBytes += bytes;
  measuredMinTimestamp = min;
}

/**
 * One pass over an update: the heap bytes it adds to a memtable (an upper bound:
 * overwrites count in full) into measuredBytes, and the oldest timestamp in it (for
 * compaction's purge bound) into measuredMinTimestamp.
 */
function measureUpdate(update: Partition): void {
  measuredBytes = PARTITION_OVERHEAD_BYTES + update.key.length + update.rangeTombstones.length * ROW_OVERHEAD_BYTES;
  measuredMinTimestamp = update.deletion?.markedForDeleteAt ?? Infinity;
  for (const rt of update.rangeTombstones) measuredMinTimestamp = Math.min(measuredMinTimestamp, rt.deletion.markedForDeleteAt);
  if (update.staticRow !== null) measureRow(update.staticRow);
  for (const row of update.rows) measureRow(row);
}

/**
 * For an update that can be stored as it is, the oldest timestamp in it; NaN for any
 * other. It can when it has no deletion of any kind (so nothing in it can shadow
 * anything else in it) and its rows are strictly ascending. Most writes are like that;
 * they skip the merge and its allocations, and, kept as bytes, any measure of heap
 * size (the arena counts their bytes): this one pass is all a new key's write costs.
 */
function oldestIfSelfConsistent(comparator: ClusteringComparator, update: Partition): number {
  if (update.deletion !== null || update.rangeTombstones.length > 0) return NaN;
  let oldest = Infinity;
  const rows = update.rows;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (i > 0 && comparator.compare(rows[i - 1].clustering, row.clustering) >= 0) return NaN;
    oldest = oldestOfLiveRow(row, oldest);
  }
  return update.staticRow === null ? oldest : oldestOfLiveRow(update.staticRow, oldest);
}

/** `oldest` lowered to the row's oldest timestamp; NaN if the row deletes anything. */
function oldestOfLiveRow(row: Row, oldest: number): number {
  if (row.deletion !== null) return NaN;
  if (row.liveness !== null && row.liveness.timestamp < oldest) oldest = row.liveness.timestamp;
  for (const cell of row.cells.values()) if (cell.timestamp < oldest) oldest = cell.timestamp;
  for (const complex of row.complex.values()) {
    if (complex.deletion !== null || complex.cells.length > 1) return NaN;
    if (complex.cells.length === 1 && complex.cells[0].timestamp < oldest) oldest = complex.cells[0].timestamp;
  }
  return oldest;
}

function isSelfConsistent(comparator: ClusteringComparator, update: Partition): boolean {
  return !Number.isNaN(oldestIfSelfConsistent(comparator, update));
}

/**
 * The partition a memtable stores for a key after `update`: `stored` (undefined for a
 * new key) merged with it, rows spliced in place. Shared with flushes rebuilt from the
 * arena's updates (flush-source.ts), which must write exactly what the memtable held.
 */
export function absorb(
  comparator: ClusteringComparator,
  pathComparatorFor: PathComparatorFor,
  stored: Partition | undefined,
  update: Partition,
): Partition {
  if (stored !== undefined) return applyUpdate(comparator, stored, update, pathComparatorFor, IN_PLACE);
  return isSelfConsistent(comparator, update) ? update : mergePartitions(comparator, emptyPartition(update.key, update.token), update, pathComparatorFor);
}

/**
 * Rows of a live (possibly still growing) partition within slices, lazily. After each
 * yield the stored array may have been spliced; the position is re-found by the last
 * clustering returned, so no row is skipped or returned twice.
 */
function* rowsOf(
  comparator: ClusteringComparator,
  current: () => readonly Row[],
  slices: readonly Slice[],
  reversed: boolean,
): Generator<Row> {
  for (let s = 0; s < slices.length; s++) {
    const slice = slices[reversed ? slices.length - 1 - s : s];
    let last: Row | null = null;
    for (;;) {
      const rows = current();
      let index: number;
      if (!reversed) {
        index =
          last === null
            ? firstIndex(rows, (row) => comparator.afterStart(row.clustering, slice.start))
            : firstIndex(rows, (row) => comparator.compare(row.clustering, last!.clustering) > 0);
        if (index >= rows.length || !comparator.beforeEnd(rows[index].clustering, slice.end)) break;
      } else {
        index =
          (last === null
            ? firstIndex(rows, (row) => !comparator.beforeEnd(row.clustering, slice.end))
            : firstIndex(rows, (row) => comparator.compare(row.clustering, last!.clustering) >= 0)) - 1;
        if (index < 0 || !comparator.afterStart(rows[index].clustering, slice.start)) break;
      }
      last = rows[index];
      yield last;
    }
  }
}

/** A generator's values as an async iterable (rows() is one for every source). */
async function* eventually<T>(values: Iterable<T>): AsyncGenerator<T> {
  yield* values;
}

export class Memtable {
  /**
   * One entry per key (memtable-entries.ts). A key written once (the common case) is
   * kept as its update's bytes in the update arena and decoded when read: the update's
   * dozen objects die young instead of living in the heap until the flush, which made
   * garbage collection the largest cost of a heavy write load. A second write to the
   * key decodes it and keeps the merged partition as objects.
   */
  private readonly entries = new MemtableEntries();
  /** Order, for scans and flushes. */
  private readonly order = new MemtableOrder<number>(
    (a, b) => this.compareEntries(a, b),
    (entry) => this.entries.high[entry],
  );
  /** Point access by key (and token), for writes and reads. */
  private readonly index = new MemtableIndex((entry, key, high) => this.entries.high[entry] === high && this.keyEquals(entry, key));
  private table: TableMetadata;
  private pathComparatorFor: PathComparatorFor;
  private bytes = 0;
  private minTimestamp = Infinity;
  private readonly arena = new UpdateArena();
  /** Whether every write brought its bytes (see `apply`). */
  private updatesComplete = true;

  constructor(table: TableMetadata) {
    this.table = table;
    this.pathComparatorFor = pathComparatorsOf(table);
  }

  setMetadata(table: TableMetadata): void {
    this.table = table;
    this.pathComparatorFor = pathComparatorsOf(table);
  }

  /** Estimated heap bytes held. */
  get sizeBytes(): number {
    return this.bytes;
  }

  get partitionCount(): number {
    return this.order.size;
  }

  get isEmpty(): boolean {
    return this.order.size === 0;
  }

  /** The oldest timestamp of anything written here (for compaction's purge rules). */
  get minTimestampWritten(): number {
    return this.minTimestamp;
  }

  /**
   * The updates everything here came from, as bytes, while every write brought them
   * (see `apply`): a flush can then be rebuilt from them off the event loop.
   */
  get updates(): UpdateArena | null {
    return this.updatesComplete ? this.arena : null;
  }

  /**
   * Space in the arena for a mutation to be encoded into (see UpdateArena.reserve), so
   * that `apply` records its updates where they lie instead of copying them; null when
   * the arena takes no bytes (see `updates`) or the mutation is too large for it.
   */
  reservePayload(length: number): Buffer | null {
    if (!this.updatesComplete) return null;
    const before = this.arena.sizeBytes;
    const space = this.arena.reserve(length);
    this.bytes += this.arena.sizeBytes - before;
    return space;
  }

  /**
   * Merges one partition update in. `payload` is the encoded mutation the update came
   * in (the commit-log record) and [start, end) the update's message in it
   * (encodeMutationLocated); those bytes are kept in the arena (where they lie, if the
   * payload is space reservePayload gave, else copied). A new key whose
   * update needs no merging is kept as them; otherwise the update's objects become the
   * memtable's. A write without its bytes (commit-log replay keeps no record of which
   * updates it skipped) is kept as objects, and the arena no longer describes the
   * memtable: it is flushed from its partitions.
   */
  apply(update: Partition, payload: Uint8Array | null = null, start = 0, end = 0): void {
    const comparator = this.table.comparator;
    const [high, low] = tokenWords(update.token);
    const withBytes = this.updatesComplete && payload !== null && end > start;
    if (withBytes) {
      const before = this.arena.sizeBytes;
      this.arena.append(payload, start, end, high, low);
      this.bytes += this.arena.sizeBytes - before;
    } else {
      this.updatesComplete = false;
    }
    const entry = this.index.get(update.key, high, low);
    if (entry < 0) {
      const oldest = withBytes ? oldestIfSelfConsistent(comparator, update) : NaN;
      let created: number;
      if (!Number.isNaN(oldest)) {
        const offset = this.arena.lastOffset;
        const chunk = this.arena.lastChunk;
        // The key as the arena holds it: the update's own may be a view on a far larger
        // buffer (a received message) that the memtable would keep alive until its flush.
        readUpdateHeader(this.arena.chunk(chunk), offset, offset + (end - start));
        created = this.entries.add(chunk, updateHeader.keyStart, updateHeader.keyEnd, offset, offset + (end - start), high, low, null);
        this.bytes += ENTRY_OVERHEAD_BYTES;
        if (oldest < this.minTimestamp) this.minTimestamp = oldest;
      } else {
        measureUpdate(update);
        const partition = absorb(comparator, this.pathComparatorFor, undefined, update);
        created = this.entries.add(-1, 0, update.key.length, 0, 0, high, low, partition);
        this.countMeasured();
      }
      this.index.add(created, low);
      this.order.add(created);
    } else {
      const stored = this.entries.partitions[entry] ?? this.keepAsObjects(entry);
      measureUpdate(update);
      this.entries.partitions[entry] = absorb(comparator, this.pathComparatorFor, stored, update);
      this.countMeasured();
    }
  }

  /** Adds what measureUpdate measured last to the heap bytes and the oldest timestamp. */
  private countMeasured(): void {
    this.bytes += measuredBytes;
    if (measuredMinTimestamp < this.minTimestamp) this.minTimestamp = measuredMinTimestamp;
  }

  /**
   * Touches where applying `update` will look (its index slot, its order leaf): a
   * batch's updates are touched first and applied after, so the processor fetches
   * those scattered places together instead of waiting on each in turn.
   */
  touch(update: Partition): void {
    const [high, low] = tokenWords(update.token);
    touched = this.index.touch(low) + this.order.touch(high);
  }

  get(key: Buffer, token: bigint): PartitionSource | null {
    const [high, low] = tokenWords(token);
    const entry = this.index.get(key, high, low);
    return entry < 0 ? null : this.source(entry);
  }

  /** The buffer an entry's key lies in, at [keyStart, keyEnd). */
  private keyBytes(entry: number): Buffer {
    const chunk = this.entries.chunk[entry];
    return chunk >= 0 ? this.arena.chunk(chunk) : this.entries.partitions[entry]!.key;
  }

  private keyEquals(entry: number, key: Buffer): boolean {
    const start = this.entries.keyStart[entry];
    const length = this.entries.keyEnd[entry] - start;
    if (key.length !== length) return false;
    const bytes = this.keyBytes(entry);
    for (let i = 0; i < length; i++) if (bytes[start + i] !== key[i]) return false;
    return true;
  }

  private compareEntries(a: number, b: number): number {
    const { high, low, keyStart, keyEnd } = this.entries;
    if (high[a] !== high[b]) return high[a] < high[b] ? -1 : 1;
    if (low[a] !== low[b]) return low[a] < low[b] ? -1 : 1;
    return this.keyBytes(a).compare(this.keyBytes(b), keyStart[b], keyEnd[b], keyStart[a], keyEnd[a]);
  }

  private tokenOf(entry: number): bigint {
    return tokenOfWords(this.entries.high[entry], this.entries.low[entry]);
  }

  /** The key where the entry holds it: for comparisons only, never handed out (see decode). */
  private keyOf(entry: number): Buffer {
    return this.keyBytes(entry).subarray(this.entries.keyStart[entry], this.entries.keyEnd[entry]);
  }

  /**
   * A read of an entry kept as bytes. A wide one (a partition of many rows written in
   * one mutation) is kept as objects from then on: decoding all its rows for every read
   * of a slice would cost far more than the heap it takes (accounted).
   */
  private readFromBytes(entry: number): Partition {
    return this.entries.end[entry] - this.entries.start[entry] > WIDE_ENTRY_BYTES_MIN ? this.keepAsObjects(entry) : this.decode(entry);
  }

  /** Turns an entry kept as bytes into objects it keeps from now on, accounted. */
  private keepAsObjects(entry: number): Partition {
    const decoded = this.decode(entry);
    this.entries.partitions[entry] = decoded;
    measureUpdate(decoded);
    this.bytes += measuredBytes;
    return decoded;
  }

  /**
   * An entry's bytes as a partition: a fresh copy each time, never changed by later
   * writes, and decoded from a copy of the bytes: nothing handed out refers to the
   * arena, whose memory goes to another memtable once this one retires (recycle).
   */
  private decode(entry: number): Partition {
    const { chunk, start, end } = this.entries;
    const bytes = Buffer.from(this.arena.chunk(chunk[entry]).subarray(start[entry], end[entry]));
    return decodeUpdate(bytes, 0, bytes.length, this.tokenOf(entry)).partition;
  }

  /**
   * Gives the arena's memory to new memtables; this one is unusable afterwards. Only
   * once its flush is done and no read can reach it any more (LsmTableStore counts the
   * views holding it).
   */
  recycle(): void {
    this.arena.recycle();
  }

  private source(entry: number): PartitionSource {
    const comparator = this.table.comparator;
    const stored = this.entries.partitions[entry] ?? this.readFromBytes(entry);
    // Rows come from the same partition object as the header. A write that brings a
    // deletion replaces that object (the old one stays as it was: a consistent
    // snapshot); other writes splice its row array in place, which rowsOf tolerates.
    return {
      key: stored.key,
      token: stored.token,
      deletion: stored.deletion,
      staticRow: stored.staticRow,
      rangeTombstones: stored.rangeTombstones,
      rows: (slices, reversed) => eventually(rowsOf(comparator, () => stored.rows, slices, reversed)),
      // In memory: always at hand.
      rowsIfLoaded: (slices, reversed) => rowsOf(comparator, () => stored.rows, slices, reversed),
    };
  }

  /** Partitions in `range`, in order; safe against writes between iterations (it
   *  sees those written meanwhile that sort after its position). */
  async *scan(range: KeyRange): AsyncGenerator<PartitionSource> {
    const start = range.start;
    const end = range.end;
    const afterStart = (entry: number): boolean => {
      if (start === null) return true;
      const token = this.tokenOf(entry);
      if (start.key === null) return range.startInclusive ? token >= start.token : token > start.token;
      const c = compareKeys(token, this.keyOf(entry), start.token, start.key);
      return range.startInclusive ? c >= 0 : c > 0;
    };
    const beforeEnd = (entry: number): boolean => {
      if (end === null) return true;
      const token = this.tokenOf(entry);
      if (end.key === null) return range.endInclusive ? token <= end.token : token < end.token;
      const c = compareKeys(token, this.keyOf(entry), end.token, end.key);
      return range.endInclusive ? c <= 0 : c < 0;
    };
    let handed = 0;
    const startHigh = start === null ? -(2 ** 31) : tokenWords(start.token)[0];
    for (const entry of this.order.from(startHigh, afterStart)) {
      if (!beforeEnd(entry)) return;
      yield this.source(entry);
      if (++handed % SCAN_PARTITIONS_PER_TURN_MAX === 0) await nextTurn();
    }
  }

  /** Every partition in order, for a flush (the memtable must no longer take writes). */
  *partitions(): IterableIterator<Partition> {
    for (const entry of this.order.all()) yield this.entries.partitions[entry] ?? this.decode(entry);
  }
}
