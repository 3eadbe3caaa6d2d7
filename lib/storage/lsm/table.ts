/**
 * One table's LSM store: the active memtable, memtables being flushed, and the live
 * SSTables. Reads merge every source that may hold the partition, newest first,
 * skipping SSTables by bloom filter, token bounds and timestamps (an SSTable whose
 * newest write is older than a partition deletion already seen cannot contribute).
 *
 * SSTables are reference-counted: a read or scan holds the set it started with, so a
 * compaction that replaces SSTables deletes their files only when the last reader
 * is done with them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ALL_ROWS, type Slice } from '../../model/clustering.js';
import { isRowLive, rangeTombstonesWithin, rowWithoutDroppedColumns } from '../../model/merge.js';
import type { Partition, Row } from '../../model/partition.js';
import type { TableMetadata } from '../../schema/metadata.js';
import { mergeScans, mergeSources } from '../compaction/merge-iterator.js';
import { laterPiece, type KeyRange, type ReadFilter, type ScanOptions, type TableStore } from '../engine.js';
import { Memtable } from '../memtable.js';
import type { SSTableReader } from '../sstable/reader.js';
import type { PartitionSource } from '../source.js';
import { LatencyHistogram } from './latency.js';

/** Partitions a scan hands out before letting the event loop run. */
const SCAN_PARTITIONS_PER_TURN_MAX = 256;
const ONE_ROW_SLICES: readonly Slice[] = [ALL_ROWS];

/** What one read works with: fixed when it starts, whatever flushes or compactions do. */
class View {
  /** Reads using it, plus one while it is the store's current view. */
  users = 0;
  constructor(
    readonly memtables: readonly Memtable[],
    /** Newest data first: by maximum timestamp, descending. */
    readonly sstables: readonly SSTableReader[],
  ) {}
}

function addRef<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Takes one count off `key`; true when that was its last (it is then gone from `counts`). */
function dropRef<K>(counts: Map<K, number>, key: K): boolean {
  const n = (counts.get(key) ?? 1) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
  return n <= 0;
}

export class LsmTableStore implements TableStore {
  private table: TableMetadata;
  private active: Memtable;
  /** Memtables switched out and being written to SSTables, oldest first. */
  private flushing: Memtable[] = [];
  private live: SSTableReader[] = [];
  private view: View;
  /** Per SSTable, the views in use (with users) that hold it, plus holds on it alone
   *  (hold()): a read costs a count on its view, and only a view's first user and its
   *  last touch these. */
  private readonly refs = new Map<SSTableReader, number>();
  /** The same count per memtable, and the flushed memtables waiting for it to reach
   *  zero: their memory then goes to new memtables (Memtable.recycle). */
  private readonly memtableRefs = new Map<Memtable, number>();
  private readonly flushed = new Set<Memtable>();
  /** Replaced SSTables waiting for their last reader before their files go, with
   *  what to call once they are gone. */
  private readonly retired = new Map<SSTableReader, () => void>();
  /** Deletions of replaced SSTables in progress (close waits for them). */
  private readonly deleting = new Set<Promise<void>>();
  readonly readLatency = new LatencyHistogram();
  readonly writeLatency = new LatencyHistogram();

  constructor(
    table: TableMetadata,
    sstables: SSTableReader[],
    private readonly onRetiredDeleteError: (error: unknown) => void,
  ) {
    this.table = table;
    this.active = new Memtable(table);
    this.live = sstables;
    this.view = this.buildView();
    this.acquire();
  }

  get metadata(): TableMetadata {
    return this.table;
  }

  setMetadata(table: TableMetadata): void {
    this.table = table;
    this.active.setMetadata(table);
    for (const m of this.flushing) m.setMetadata(table);
  }

  private buildView(): View {
    const sstables = [...this.live].sort((a, b) => b.stats.maxTimestamp - a.stats.maxTimestamp);
    return new View([this.active, ...this.flushing].reverse(), sstables);
  }

  /** Makes a view of the memtables and SSTables as they are now the current one. */
  private refreshView(): void {
    const previous = this.view;
    this.view = this.buildView();
    this.acquire();
    this.release(previous);
  }

  private acquire(): View {
    const view = this.view;
    if (view.users++ === 0) {
      for (const s of view.sstables) addRef(this.refs, s);
      for (const m of view.memtables) addRef(this.memtableRefs, m);
    }
    return view;
  }

  private release(view: View): void {
    if (--view.users > 0) return;
    for (const m of view.memtables) if (dropRef(this.memtableRefs, m) && this.flushed.delete(m)) m.recycle();
    for (const s of view.sstables) this.dropSSTableRef(s);
  }

  /** Takes one count off an SSTable; a replaced one whose last count this was is deleted. */
  private dropSSTableRef(sstable: SSTableReader): void {
    if (!dropRef(this.refs, sstable)) return;
    const deleted = this.retired.get(sstable);
    if (deleted !== undefined) {
      this.retired.delete(sstable);
      void this.deleteFiles(sstable).then(deleted);
    }
  }

  /**
   * Keeps one live SSTable from deletion, as a read keeps its view's, until the
   * returned function is called: a compaction or truncation replacing it meanwhile
   * deletes its files only then. Null when it is no longer live (replaced already).
   * For work on one SSTable at a time (verify), which should not pin a whole view.
   */
  hold(sstable: SSTableReader): (() => void) | null {
    if (!this.live.includes(sstable)) return null;
    addRef(this.refs, sstable);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.dropSSTableRef(sstable);
    };
  }

  // ---- writes and flushes (driven by the engine) ----

  /** See Memtable.touch: called for a batch's updates before they are applied. */
  touchMemtable(update: Partition): void {
    this.active.touch(update);
  }

  /** See Memtable.reservePayload (of the active memtable; call `applyToMemtable` in the same turn). */
  reservePayload(length: number): Buffer | null {
    return this.active.reservePayload(length);
  }

  /** `payload`: the encoded mutation the update came in, null when there is none; [start, end) the update's place in it (see Memtable.apply). */
  applyToMemtable(update: Partition, payload: Uint8Array | null = null, start = 0, end = 0): void {
    this.active.apply(update, payload, start, end);
  }

  get activeMemtable(): Memtable {
    return this.active;
  }

  get memtableBytes(): number {
    return this.active.sizeBytes + this.flushing.reduce((sum, m) => sum + m.sizeBytes, 0);
  }

  /** Starts a flush: the active memtable becomes read-only and a new one takes writes. */
  switchMemtable(): Memtable {
    const old = this.active;
    this.active = new Memtable(this.table);
    this.flushing.push(old);
    this.refreshView();
    return old;
  }

  /** A flush finished: its SSTable (if it wrote one) replaces the memtable. */
  completeFlush(memtable: Memtable, sstable: SSTableReader | null): void {
    this.flushing = this.flushing.filter((m) => m !== memtable);
    // The current view holds every flushing memtable, so this one is recycled when the
    // last view holding it goes; one held by none could be recycled at once.
    if (this.memtableRefs.has(memtable)) this.flushed.add(memtable);
    else memtable.recycle();
    if (sstable !== null) this.live.push(sstable);
    this.refreshView();
  }

  /** Memtables switched out and not yet in an SSTable (a failed flush leaves its
   *  memtable here, to be written before any newer one), oldest first. */
  pendingFlushes(): readonly Memtable[] {
    return this.flushing;
  }

  /** Drops all data (TRUNCATE): memtables are emptied and the SSTables retired.
   *  Resolves once the SSTables' files are deleted. */
  discardAll(): Promise<void> {
    this.active = new Memtable(this.table);
    this.flushing = [];
    return this.replace(this.live, []);
  }

  get sstables(): readonly SSTableReader[] {
    return this.live;
  }

  /** Bytes of SSTables replaced (compacted away, truncated) but kept until their last
   *  reader is done. */
  get retiredBytes(): number {
    let bytes = 0;
    for (const sstable of this.retired.keys()) bytes += sstable.stats.diskBytes;
    return bytes;
  }

  /** Swaps compacted SSTables for their replacements in one step. Resolves once the
   *  inputs' files are deleted, which waits for the reads still using them. */
  replace(inputs: readonly SSTableReader[], outputs: readonly SSTableReader[]): Promise<void> {
    const gone = new Set(inputs);
    this.live = [...this.live.filter((s) => !gone.has(s)), ...outputs];
    this.refreshView();
    return Promise.all(
      inputs.map((s) =>
        (this.refs.get(s) ?? 0) > 0 ? new Promise<void>((resolve) => this.retired.set(s, resolve)) : this.deleteFiles(s),
      ),
    ).then(() => undefined);
  }

  private deleteFiles(sstable: SSTableReader): Promise<void> {
    const deletion = sstable.delete().catch(this.onRetiredDeleteError);
    this.deleting.add(deletion);
    void deletion.finally(() => this.deleting.delete(deletion));
    return deletion;
  }

  /** Waits until replaced SSTables no longer read by anyone are deleted. */
  async settleDeletions(): Promise<void> {
    while (this.deleting.size > 0) await Promise.all(this.deleting);
  }

  /** The oldest timestamp anything outside `excluded` may hold for the key (compaction's purge bound). */
  minTimestampOutside(key: Buffer, token: bigint, excluded: ReadonlySet<SSTableReader>): number {
    let min = Infinity;
    for (const m of [this.active, ...this.flushing]) min = Math.min(min, m.minTimestampWritten);
    for (const s of this.live) {
      if (!excluded.has(s) && s.stats.minTimestamp < min && s.mayContain(key, token)) min = s.stats.minTimestamp;
    }
    return min;
  }

  // ---- reads ----

  async read(key: Buffer, token: bigint, filter: ReadFilter): Promise<Partition | null> {
    const started = performance.now();
    const view = this.acquire();
    try {
      const sources: PartitionSource[] = [];
      let deletedAt = -Infinity;
      for (const memtable of view.memtables) {
        const source = memtable.get(key, token);
        if (source === null) continue;
        sources.push(source);
        if (source.deletion !== null) deletedAt = Math.max(deletedAt, source.deletion.markedForDeleteAt);
      }
      let shadowedBelow: number | undefined;
      const sstables = view.sstables;
      for (let i = 0; i < sstables.length; i++) {
        const sstable = sstables[i];
        // Sorted newest first: once one is older than a partition deletion, all the rest are.
        if (sstable.stats.maxTimestamp <= deletedAt) break;
        if (!sstable.admits(key, token)) continue;
        if (sources.length > 0) {
          // …or older than everything the row found so far holds (one-row tables). Not
          // when they hold tombstones: a superseded row or partition deletion is still
          // part of the result (replicas compare digests of it), whatever the layout.
          shadowedBelow ??= this.shadowedBelow(sources);
          if (sstable.stats.maxTimestamp < shadowedBelow && !tombstonesIn(sstables, i)) break;
        }
        let source = sstable.findIfLoaded(key, token);
        if (source === undefined) source = await sstable.find(key, token);
        if (source === null) continue;
        sources.push(source);
        shadowedBelow = undefined;
        if (source.deletion !== null) deletedAt = Math.max(deletedAt, source.deletion.markedForDeleteAt);
      }
      if (sources.length === 0) return null;
      const merged = sources.length === 1 ? sources[0] : mergeSources(this.table, sources);
      return this.materializeIfLoaded(merged, filter) ?? (await this.materialize(merged, filter));
    } finally {
      this.release(view);
      this.readLatency.record(performance.now() - started);
    }
  }

  /**
   * For a table whose partitions are one row of simple columns (no clustering, static
   * or collection columns): the oldest, over the row marker and every regular column,
   * of the newest timestamp `sources` hold for it, a row or partition deletion counting
   * for all of them. Anything strictly older in another source is superseded (ties are
   * not: a tie goes to the greater value), so a read need not look further: Cassandra's
   * reads of named columns in timestamp order. -Infinity when the table is not like
   * that, or a column is missing, or a source's rows are not at hand.
   */
  private shadowedBelow(sources: readonly PartitionSource[]): number {
    const table = this.table;
    if (table.clusteringKey.length > 0 || table.staticColumns.length > 0) return -Infinity;
    const columns = table.regularColumns;
    if (columns.some((column) => column.type.multiCell)) return -Infinity;
    let marker = -Infinity;
    const newest = columns.map(() => -Infinity);
    for (const source of sources) {
      const rows = source.rowsIfLoaded?.(ONE_ROW_SLICES, false);
      if (rows === undefined) return -Infinity;
      const partitionDeletion = source.deletion?.markedForDeleteAt ?? -Infinity;
      marker = Math.max(marker, partitionDeletion);
      for (let i = 0; i < columns.length; i++) newest[i] = Math.max(newest[i], partitionDeletion);
      for (const row of rows) {
        const rowDeletion = Math.max(partitionDeletion, row.deletion?.markedForDeleteAt ?? -Infinity);
        marker = Math.max(marker, rowDeletion, row.liveness?.timestamp ?? -Infinity);
        for (let i = 0; i < columns.length; i++) {
          newest[i] = Math.max(newest[i], rowDeletion, row.cells.get(columns[i].name)?.timestamp ?? -Infinity);
        }
      }
    }
    return Math.min(marker, ...newest);
  }

  /**
   * Partitions in `range`. A scan reads the sources of the moment it starts; when a
   * flush or compaction changes them, it starts over on the new ones just after the
   * last partition it returned, so it sees later writes and does not pin replaced
   * SSTables for as long as it runs. With options.rowsPerPiece a wide partition comes
   * in pieces, its rows read from the sources as the pieces are taken.
   */
  async *scan(range: KeyRange, filter: ReadFilter, options: ScanOptions = {}): AsyncGenerator<Partition> {
    const rowsPerPiece = options.rowsPerPiece ?? Infinity;
    let from: KeyRange = range;
    let handed = 0;
    for (;;) {
      const view = this.acquire();
      let restart = false;
      try {
        // An empty memtable (just switched for a flush) would only cost a merge.
        const memtables = view.memtables.filter((m) => m.partitionCount > 0);
        const scans = [...memtables.map((m) => m.scan(from)), ...view.sstables.map((s) => s.scan(from))];
        const merged = scans.length === 1 ? scans[0] : mergeScans(this.table, scans);
        for await (const source of merged) {
          if (rowsPerPiece === Infinity) yield await this.materialize(source, filter);
          else yield* this.pieces(source, filter, rowsPerPiece);
          // Sources served from memory resolve in microtasks: let timers and I/O run.
          if (++handed % SCAN_PARTITIONS_PER_TURN_MAX === 0) await nextTurn();
          if (this.view !== view) {
            from = { ...from, start: { token: source.token, key: source.key }, startInclusive: false };
            restart = true;
            break;
          }
        }
      } finally {
        this.release(view);
      }
      if (!restart) return;
    }
  }

  /** A merged source as a partition: its header and the filter's rows, stopping at the
   *  row limit. */
  private async materialize(source: PartitionSource, filter: ReadFilter): Promise<Partition> {
    // Read once: a schema change during the read must not hide a column in some rows only.
    const dropped = this.table.droppedColumns;
    const rows: Row[] = [];
    if (filter.rowLimit > 0) {
      let live = 0;
      for await (const stored of source.rows(filter.slices, filter.reversed)) {
        live = keepRow(stored, rows, live, dropped, filter);
        if (live >= filter.rowLimit) break;
      }
    }
    return this.partitionWith(source, rows, dropped, filter);
  }

  /** materialize() in pieces of at most `rowsPerPiece` rows (ScanOptions). */
  private async *pieces(source: PartitionSource, filter: ReadFilter, rowsPerPiece: number): AsyncGenerator<Partition> {
    const dropped = this.table.droppedColumns;
    let rows: Row[] = [];
    let first = true;
    if (filter.rowLimit > 0) {
      let live = 0;
      for await (const stored of source.rows(filter.slices, filter.reversed)) {
        live = keepRow(stored, rows, live, dropped, filter);
        if (live >= filter.rowLimit) break;
        if (rows.length < rowsPerPiece) continue;
        yield first ? this.partitionWith(source, rows, dropped, filter) : laterPiece(source, rows);
        first = false;
        rows = [];
      }
    }
    if (first) yield this.partitionWith(source, rows, dropped, filter);
    else if (rows.length > 0) yield laterPiece(source, rows);
  }

  /** materialize() without waiting, when the source has its rows at hand; else undefined. */
  private materializeIfLoaded(source: PartitionSource, filter: ReadFilter): Partition | undefined {
    const dropped = this.table.droppedColumns;
    const rows: Row[] = [];
    if (filter.rowLimit > 0) {
      const stored = source.rowsIfLoaded?.(filter.slices, filter.reversed);
      if (stored === undefined) return undefined;
      let live = 0;
      for (const row of stored) {
        live = keepRow(row, rows, live, dropped, filter);
        if (live >= filter.rowLimit) break;
      }
    }
    return this.partitionWith(source, rows, dropped, filter);
  }

  private partitionWith(source: PartitionSource, rows: Row[], dropped: TableMetadata['droppedColumns'], filter: ReadFilter): Partition {
    const staticRow = source.staticRow === null ? null : rowWithoutDroppedColumns(source.staticRow, dropped);
    return {
      key: source.key,
      token: source.token,
      deletion: source.deletion,
      staticRow,
      rangeTombstones: rangeTombstonesWithin(this.table.comparator, source.rangeTombstones, filter.slices),
      rows,
    };
  }

  async close(): Promise<void> {
    await this.settleDeletions();
    for (const s of this.live) await s.close();
    this.live = [];
    this.refreshView();
  }
}

/** Adds a stored row to `rows` as a read returns it; the count of live rows after it.
 *  Dropped columns are hidden before liveness is counted, so a row alive only through
 *  a dropped column does not use up the limit. */
function keepRow(stored: Row, rows: Row[], live: number, dropped: TableMetadata['droppedColumns'], filter: ReadFilter): number {
  const row = rowWithoutDroppedColumns(stored, dropped);
  if (row === null) return live;
  rows.push(row);
  return isRowLive(row, filter.nowSeconds) ? live + 1 : live;
}

/** Whether any of `sstables` from index `from` on holds a tombstone. */
function tombstonesIn(sstables: readonly SSTableReader[], from: number): boolean {
  for (let i = from; i < sstables.length; i++) if (sstables[i].stats.tombstoneCount > 0) return true;
  return false;
}
