/**
 * The durable storage engine: a commit log plus, per table, memtables that flush to
 * SSTables, compacted in the background.
 *
 * Write path: a mutation is applied to the memtables and appended to the commit log
 * in the same synchronous step, then acknowledged when the commit log says it is
 * durable enough for the sync mode. The memtables go first: a mutation they refuse (an
 * exception in their code) must not reach the log, whose replay would refuse it again
 * at every start. Because nothing awaits between the two, every
 * write that went into a memtable has a commit-log position below the position
 * recorded when that memtable is switched out; a flush can therefore mark the log
 * clean up to that position. Flushes of one table run one at a time and in order,
 * so clean positions only move forward.
 *
 * Memory: the memtables of all tables share `memtableSpaceBytes`. Past two thirds of it
 * the largest active memtable is flushed, and writers wait (back-pressure) while all
 * memtables, flushing ones included, hold more than twice that. The flush starts before
 * the share is full so that writes faster than one flush do not wait for it: flushing
 * at the full share, a 1M-row load waited ~0.3 s for its first flush.
 *
 * Layout under the data directory: commitlog/ for segments, and
 * data/<keyspace>/<table>-<table id>/ per table for SSTables and the truncation record.
 */
import { join } from 'node:path';
import { CorruptSSTable, InvalidRequest, ServerError } from '../../errors.js';
import type { Clock } from '../../model/clock.js';
import type { PartitionUpdate } from '../../model/partition.js';
import type { TableMetadata } from '../../schema/metadata.js';
import { encodeTable } from '../../system/schema-codec.js';
import { CommitLog, comparePositions, type CommitLogPosition } from '../commitlog/commitlog.js';
import { runCompaction } from '../compaction/task.js';
import type { CompactionPlan } from '../compaction/plan.js';
import { strategyFor, type CompactionStrategy } from '../compaction/strategy.js';
import { Throttle } from '../compaction/throttle.js';
import type { CleanupResult, StorageEngine, TableStore, VerifyResult } from '../engine.js';
import type { FileSystem } from '../fs.js';
import { FlushThread, FlushThreadFailure } from '../flush-thread.js';
import type { Memtable } from '../memtable.js';
import type { UpdateArena } from '../update-arena.js';
import { decodeMutation, encodeMutationLocated } from '../mutation-codec.js';
import { NodeFileSystem } from '../node-fs.js';
import { ChunkCache } from '../sstable/chunks.js';
import { listSSTables, SSTableReader } from '../sstable/reader.js';
import { removeSSTableFiles, SSTableWriter } from '../sstable/writer.js';
import { LsmTableStore } from './table.js';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LsmEngineOptions {
  fs: FileSystem;
  dataDir: string;
  clock: Clock;
  logger: Logger;
  commitlogSync: 'periodic' | 'batch' | 'group';
  commitlogSyncPeriodMs: number;
  commitlogGroupWindowMs: number;
  commitlogSegmentBytes: number;
  commitlogTotalSpaceBytes: number;
  /** Replay skips corrupt commit-log records instead of refusing to start. */
  commitlogSkipCorrupt?: boolean;
  memtableSpaceBytes: number;
  /** Bytes per second compaction may read; 0 = unthrottled. */
  compactionThroughputBytes: number;
  /** Decompressed SSTable chunks kept in memory for reads, shared by every table (file_cache_size). */
  fileCacheBytes?: number;
  /** Set false to run compactions only on request (tests). */
  autoCompaction?: boolean;
  /**
   * How often (ms) every table is offered to its compaction strategy even when nothing
   * was flushed: time alone makes some compactions due (expired SSTables, tombstones
   * past gc grace, a time window closing). Default 60 s; 0 = only after flushes.
   */
  compactionCheckIntervalMs?: number;
  /**
   * Flushes on a thread of their own (flush-thread.ts). Only with the real file system
   * (a NodeFileSystem), which the thread writes through; the default there. Tests may
   * hand in the thread.
   */
  flushThread?: boolean | FlushThread;
}

export interface TableStats {
  tableId: string;
  sstableCount: number;
  liveBytes: number;
  totalBytes: number;
  partitionsEstimate: number;
  bloomFalsePositives: number;
  bloomChecks: number;
  memtableBytes: number;
  readLatency: { count: number; p50Ms: number; p99Ms: number };
  writeLatency: { count: number; p50Ms: number; p99Ms: number };
  compactionsPending: number;
  compactionRunning: boolean;
  /** Input bytes processed of the total, while a compaction runs. */
  compactionProgress: { bytesRead: number; bytesTotal: number } | null;
}

interface TableState {
  store: LsmTableStore;
  dir: string;
  nextGeneration: number;
  /** Commit-log records of this table at or before this position are already in its
   *  SSTables or were truncated away: replay skips them. */
  replayedUpTo: CommitLogPosition | null;
  /** SSTable generations at or below this were truncated away (deleted at open if a
   *  reader kept them alive past the truncation). */
  truncatedThroughGeneration: number;
  /** Bumped by TRUNCATE: a compaction that started before it discards its output. */
  epoch: number;
  /** No automatic compaction before this time (ms) after a failed one. */
  compactionBackoffUntil: number;
  /** Flushes of this table, one after another. */
  flushChain: Promise<void>;
  /** A flush queued behind the running one and not started yet: later requests join it. */
  queuedFlush: Promise<void> | null;
  compacting: boolean;
  /** The compaction of this table running now, and how to stop it (TRUNCATE does). */
  compactionRun: { readonly done: Promise<void>; readonly stop: AbortController } | null;
  compactionProgress: { bytesRead: number; bytesTotal: number } | null;
  /** Kept for the table's life: strategies remember what they saw (LCS round-robin,
   *  tombstone-compaction ages); rebuilt when the table's compaction options change. */
  strategy: CompactionStrategy;
  strategyOptions: TableMetadata['options']['compaction'];
}

const DEFAULT_COMPACTION_CHECK_MS = 60_000;
/** Where a table's replay position is kept, in its directory (JSON ReplayRecord). */
const REPLAY_POSITION_FILE = 'replay-position.json';
/** The part of memtableSpaceBytes active memtables may hold before the largest is flushed (see the module comment). */
const FLUSH_AT_SHARE = 2 / 3;
/** A finished compaction whose inputs may not all be deleted yet: `compaction-<n>.json`
 *  lists them (JSON {inputs: number[]}); it is written before the first deletion and
 *  removed after the last, and at open the listed inputs are deleted. */
const COMPACTION_RECORD = /^compaction-(\d+)\.json$/;

interface ReplayRecord {
  segmentId: number;
  offset: number;
  truncatedThroughGeneration?: number;
}
/** How long automatic compaction of a table pauses after one failed. */
const COMPACTION_RETRY_DELAY_MS = 60_000;
/** Default read cache of decompressed chunks (Cassandra's file_cache_size is min(512 MiB, heap/4)). */
export const DEFAULT_FILE_CACHE_BYTES = 256 * 2 ** 20;

export class LsmStorageEngine implements StorageEngine {
  private readonly tables = new Map<string, TableState>();
  private commitlog!: CommitLog;
  private closed = false;
  /** Set when close() begins: nothing new (compaction) starts after it. */
  private closing = false;
  private compactionCheckTimer: NodeJS.Timeout | null = null;
  private draining = false;
  /** While replaying, flushes write SSTables but leave the log's clean marks alone. */
  private replaying = false;
  /** The commit-log position each switched-out memtable's flush may mark clean. */
  private readonly flushPositions = new WeakMap<Memtable, CommitLogPosition>();
  private compactionRecordSerial = 0;
  /**
   * compaction_throughput's budget. Repair's validation spends from it too (as
   * Cassandra's validation compactions do), so the two together stay within the rate.
   */
  readonly throttle: Throttle;
  private readonly chunkCache: ChunkCache;
  /** One compaction at a time across the node: the machine has two cores. */
  private compactionChain: Promise<void> = Promise.resolve();
  private flushWaiters: (() => void)[] = [];
  private flushesRunning = 0;
  /** Null without one, or once it failed (flushes then run on the event loop). */
  private flushThread: FlushThread | null;

  private constructor(private readonly options: LsmEngineOptions) {
    this.throttle = new Throttle(options.compactionThroughputBytes, options.clock);
    this.flushThread =
      options.fs instanceof NodeFileSystem && options.flushThread !== false
        ? options.flushThread instanceof FlushThread
          ? options.flushThread
          : new FlushThread()
        : null;
    this.chunkCache = new ChunkCache(options.fileCacheBytes ?? DEFAULT_FILE_CACHE_BYTES);
  }

  /**
   * Opens the engine for the given tables: loads their SSTables, replays the commit
   * log into memtables (records of unknown or truncated tables are skipped), flushes
   * what was replayed, and starts taking writes.
   */
  static async open(options: LsmEngineOptions, tables: readonly TableMetadata[]): Promise<LsmStorageEngine> {
    const engine = new LsmStorageEngine(options);
    await options.fs.mkdir(join(options.dataDir, 'data'));
    for (const table of tables) await engine.openTableState(table);
    engine.commitlog = await CommitLog.open({
      fs: options.fs,
      dir: join(options.dataDir, 'commitlog'),
      sync: options.commitlogSync,
      syncPeriodMs: options.commitlogSyncPeriodMs,
      groupWindowMs: options.commitlogGroupWindowMs,
      segmentBytes: options.commitlogSegmentBytes,
      totalSpaceBytesMax: options.commitlogTotalSpaceBytes,
      skipCorrupt: options.commitlogSkipCorrupt,
      logger: options.logger,
    });
    engine.replaying = true;
    const report = await engine.commitlog.replay(async (payload, position) => {
      const applied: string[] = [];
      for (const update of decodeMutation(payload)) {
        const state = engine.tables.get(update.tableId);
        if (state === undefined) continue;
        if (state.replayedUpTo !== null && comparePositions(position, state.replayedUpTo) <= 0) continue;
        state.store.applyToMemtable(update.partition);
        applied.push(update.tableId);
      }
      // Memory stays bounded during a long replay: flush (without marking the log clean,
      // since the segment being replayed is not done yet).
      if (engine.totalMemtableBytes().active > options.memtableSpaceBytes) {
        const largest = engine.largestActiveMemtable();
        if (largest !== null) await engine.flush(largest);
      }
      // Only tables the record was applied to: flushing them frees the segment.
      return applied;
    });
    engine.replaying = false;
    if (report.records > 0) options.logger.info({ ...report }, `Replayed ${report.records} commit-log records`);
    // Flush what replay rebuilt (and mark the log clean) so the replayed segments can go.
    await Promise.all([...engine.tables.keys()].map((id) => engine.flush(id)));
    engine.commitlog.onPressure((tableIds) => {
      for (const id of tableIds) void engine.flush(id).catch((error) => engine.logFailure('flush', id, error));
    });
    engine.maybeCompactAll();
    const checkMs = options.compactionCheckIntervalMs ?? DEFAULT_COMPACTION_CHECK_MS;
    if (checkMs > 0) engine.compactionCheckTimer = setInterval(() => engine.maybeCompactAll(), checkMs).unref();
    return engine;
  }

  private tableDir(table: TableMetadata): string {
    return join(this.options.dataDir, 'data', table.keyspace, `${table.name}-${table.id.replaceAll('-', '')}`);
  }

  private async openTableState(table: TableMetadata): Promise<TableState> {
    const { fs } = this.options;
    const dir = this.tableDir(table);
    await fs.mkdir(dir);
    let replayedUpTo: CommitLogPosition | null = null;
    let truncatedThroughGeneration = 0;
    if (await fs.exists(join(dir, REPLAY_POSITION_FILE))) {
      const saved = JSON.parse((await fs.readFile(join(dir, REPLAY_POSITION_FILE))).toString('utf8')) as ReplayRecord;
      replayedUpTo = { segmentId: saved.segmentId, offset: saved.offset };
      truncatedThroughGeneration = saved.truncatedThroughGeneration ?? 0;
    }
    const finishedCompactions = await this.finishCompactionRecords(dir);
    const generations = await listSSTables(fs, dir);
    const readers: SSTableReader[] = [];
    for (const generation of generations) {
      const reader = await SSTableReader.open(fs, dir, generation, table, { chunkCache: this.chunkCache });
      // Inputs of a compaction that finished, or SSTables a truncation dropped while a
      // reader still held them: their deletion did not complete before a stop.
      if (generation <= truncatedThroughGeneration || finishedCompactions.has(generation)) await reader.delete();
      else readers.push(reader);
    }
    await this.removeCompactionRecords(dir);
    const state: TableState = {
      store: new LsmTableStore(table, readers, (error) => this.logFailure('delete of a compacted SSTable', table.id, error)),
      dir,
      nextGeneration: Math.max(generations.at(-1) ?? 0, truncatedThroughGeneration) + 1,
      replayedUpTo,
      truncatedThroughGeneration,
      epoch: 0,
      compactionBackoffUntil: 0,
      flushChain: Promise.resolve(),
      queuedFlush: null,
      compacting: false,
      compactionRun: null,
      compactionProgress: null,
      strategy: strategyFor(table),
      strategyOptions: table.options.compaction,
    };
    this.tables.set(table.id, state);
    return state;
  }

  private logFailure(what: string, tableId: string, error: unknown): void {
    this.options.logger.error({ err: error, tableId }, `${what} failed for table ${tableId}`);
  }

  private checkOpen(): void {
    if (this.closed) throw new ServerError('The storage engine is closed');
  }

  // ---- StorageEngine ----

  openTable(metadata: TableMetadata): TableStore {
    this.checkOpen();
    const state = this.tables.get(metadata.id);
    if (state !== undefined) {
      state.store.setMetadata(metadata);
      if (metadata.options.compaction !== state.strategyOptions) {
        state.strategy = strategyFor(metadata);
        state.strategyOptions = metadata.options.compaction;
      }
      return state.store;
    }
    // A new table has no files yet: its directory is made on its first flush.
    const store = new LsmTableStore(metadata, [], (error) => this.logFailure('delete of a compacted SSTable', metadata.id, error));
    this.tables.set(metadata.id, {
      store,
      dir: this.tableDir(metadata),
      nextGeneration: 1,
      replayedUpTo: null,
      truncatedThroughGeneration: 0,
      epoch: 0,
      compactionBackoffUntil: 0,
      flushChain: Promise.resolve(),
      queuedFlush: null,
      compacting: false,
      compactionRun: null,
      compactionProgress: null,
      strategy: strategyFor(metadata),
      strategyOptions: metadata.options.compaction,
    });
    return store;
  }

  table(tableId: string): TableStore | undefined {
    return this.tables.get(tableId)?.store;
  }

  async apply(updates: readonly PartitionUpdate[]): Promise<void> {
    this.checkOpen();
    if (this.draining) throw new ServerError('This node is drained and no longer accepts writes');
    const states = updates.map((u) => {
      const state = this.tables.get(u.tableId);
      if (state === undefined) throw new InvalidRequest(`Unknown table id ${u.tableId}`);
      return state;
    });
    const started = performance.now();
    // A mutation of one table is encoded straight into its memtable's arena, which
    // then keeps its updates where they lie instead of copying each. What the log would
    // refuse (too large, log failed) is refused first, nothing reserved or applied yet.
    const single = states.every((s) => s === states[0]) ? states[0] : undefined;
    const space = (length: number): Buffer | null => {
      this.commitlog.checkAppendable(length);
      return single === undefined ? null : single.store.reservePayload(length);
    };
    const { bytes: payload, bodies } = encodeMutationLocated(updates, space);
    const tableIds = [...new Set(updates.map((u) => u.tableId))];
    // Memtables and commit log in one synchronous step (see the module comment).
    for (let i = 0; i < updates.length; i++) states[i].store.touchMemtable(updates[i].partition);
    for (let i = 0; i < updates.length; i++) states[i].store.applyToMemtable(updates[i].partition, payload, bodies[2 * i], bodies[2 * i + 1]);
    const durable = this.commitlog.append(payload, tableIds);
    this.checkMemory();
    await durable;
    const elapsed = performance.now() - started;
    for (const s of new Set(states)) s.store.writeLatency.record(elapsed);
    await this.waitForMemory();
  }

  private totalMemtableBytes(): { active: number; all: number } {
    let active = 0;
    let all = 0;
    for (const s of this.tables.values()) {
      active += s.store.activeMemtable.sizeBytes;
      all += s.store.memtableBytes;
    }
    return { active, all };
  }

  /** Flushes the largest active memtable when active memtables hold more than FLUSH_AT_SHARE of the space. */
  private checkMemory(): void {
    if (this.totalMemtableBytes().active <= FLUSH_AT_SHARE * this.options.memtableSpaceBytes) return;
    const largest = this.largestActiveMemtable();
    if (largest !== null) void this.flush(largest).catch((error) => this.logFailure('flush', largest, error));
  }

  /** Back-pressure: wait while memtables (flushing ones included) hold twice their share. */
  private async waitForMemory(): Promise<void> {
    while (this.totalMemtableBytes().all > 2 * this.options.memtableSpaceBytes && !this.closed) {
      if (this.flushesRunning === 0) {
        // Nothing is being flushed that would free memory: start a flush, or give up
        // waiting when there is nothing left to flush.
        const largest = this.largestActiveMemtable();
        if (largest === null) return;
        void this.flush(largest).catch((error) => this.logFailure('flush', largest, error));
      }
      await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    }
  }

  private largestActiveMemtable(): string | null {
    let largest: [string, number] | null = null;
    for (const [id, s] of this.tables) {
      // An empty one may still count bytes (space reserved for a write it then refused): flushing it frees nothing.
      if (s.store.activeMemtable.isEmpty) continue;
      const bytes = s.store.activeMemtable.sizeBytes;
      if (largest === null || bytes > largest[1]) largest = [id, bytes];
    }
    return largest === null ? null : largest[0];
  }

  private wakeWriters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  async dropTable(tableId: string): Promise<void> {
    const state = this.tables.get(tableId);
    if (state === undefined) return;
    this.tables.delete(tableId);
    await state.flushChain.catch(() => undefined);
    await state.store.close();
    await this.removeDir(state.dir);
    await this.commitlog.markClean(tableId, this.commitlog.currentPosition());
  }

  private async removeDir(dir: string): Promise<void> {
    const { fs } = this.options;
    for (const name of await fs.readdir(dir)) await fs.unlink(join(dir, name));
  }

  /**
   * Drops a table's data. It runs in the table's flush queue (no flush interleaves),
   * stops a compaction of the table that is running (as Cassandra's truncate does),
   * then captures the log position and empties the table in one synchronous step, makes
   * that durable, and bumps the epoch so a compaction still finishing discards its
   * output. Writes that arrive while it runs are kept.
   */
  truncate(tableId: string): Promise<void> {
    const state = this.tables.get(tableId);
    if (state === undefined) return Promise.reject(new InvalidRequest(`Unknown table id ${tableId}`));
    const run = async (): Promise<void> => {
      // A compaction writing on would create SSTables of truncated data numbered above
      // the generations truncated away, and bring them back if the node crashed before
      // it discarded them; one ending while this runs would put its outputs back.
      while (state.compactionRun !== null) {
        state.compactionRun.stop.abort(new Error('Compaction stopped: the table is being truncated'));
        await state.compactionRun.done.catch(() => undefined);
      }
      const position = this.commitlog.currentPosition();
      const truncatedThrough = state.nextGeneration - 1;
      state.epoch++;
      // SSTables still being read are deleted when their readers finish, or at the next
      // open (the replay record names the generations truncated away).
      void state.store.discardAll();
      await this.saveReplayPosition(state, position, truncatedThrough);
      await this.commitlog.markClean(tableId, position);
      this.wakeWriters();
    };
    const result = state.flushChain.then(run, run);
    state.flushChain = result.catch(() => undefined);
    state.queuedFlush = null;
    return result;
  }

  /** Durably records that the table's records up to `position` need no replay (and,
   *  for a truncation, which SSTable generations are gone). */
  private async saveReplayPosition(state: TableState, position: CommitLogPosition, truncatedThrough?: number): Promise<void> {
    const { fs } = this.options;
    if (truncatedThrough !== undefined) state.truncatedThroughGeneration = truncatedThrough;
    const record: ReplayRecord = { ...position, truncatedThroughGeneration: state.truncatedThroughGeneration };
    await fs.mkdir(state.dir);
    const tmp = join(state.dir, `${REPLAY_POSITION_FILE}.tmp`);
    await fs.writeFile(tmp, Buffer.from(JSON.stringify(record)));
    await fs.rename(tmp, join(state.dir, REPLAY_POSITION_FILE));
    await fs.syncDir(state.dir);
    state.replayedUpTo = position;
  }

  /** Generations listed by compaction records in `dir` (inputs to delete); the records
   *  themselves are removed once read. */
  private async finishCompactionRecords(dir: string): Promise<Set<number>> {
    const { fs } = this.options;
    const inputs = new Set<number>();
    for (const name of await fs.readdir(dir)) {
      if (!COMPACTION_RECORD.test(name)) continue;
      const record = JSON.parse((await fs.readFile(join(dir, name))).toString('utf8')) as { inputs: number[] };
      for (const generation of record.inputs) inputs.add(generation);
    }
    return inputs;
  }

  private async removeCompactionRecords(dir: string): Promise<void> {
    const { fs } = this.options;
    for (const name of await fs.readdir(dir)) if (COMPACTION_RECORD.test(name)) await fs.unlink(join(dir, name));
  }

  // ---- flush ----

  /** Flushes a table's active memtable to an SSTable (after any flush already running). */
  flush(tableId: string): Promise<void> {
    const state = this.tables.get(tableId);
    if (state === undefined) return Promise.resolve();
    if (state.queuedFlush !== null) return state.queuedFlush;
    const run = async (): Promise<void> => {
      state.queuedFlush = null;
      const store = state.store;
      if (store.activeMemtable.isEmpty && store.pendingFlushes().length === 0) {
        this.wakeWriters(); // a writer waiting for memory looks again
        return;
      }
      this.flushesRunning++;
      try {
        await this.flushMemtable(tableId, state);
      } finally {
        this.flushesRunning--;
        this.wakeWriters();
      }
    };
    const result = state.flushChain.then(run, run);
    state.queuedFlush = result;
    state.flushChain = result.catch(() => undefined);
    return result;
  }

  /**
   * Switches the active memtable out and writes every memtable waiting for a flush,
   * oldest first (one whose earlier flush failed goes before newer ones), marking the
   * log clean only up to what is really in SSTables, in order.
   */
  private async flushMemtable(tableId: string, state: TableState): Promise<void> {
    const store = state.store;
    if (!store.activeMemtable.isEmpty) {
      const upTo = this.commitlog.currentPosition();
      this.flushPositions.set(store.switchMemtable(), upTo);
    }
    for (const memtable of [...store.pendingFlushes()]) {
      const epoch = state.epoch;
      let sstable: SSTableReader;
      try {
        sstable = await this.writeSSTable(state, memtable);
      } catch (error) {
        // The memtable stays readable and first in line; its data is still in the log.
        this.logFailure('flush', tableId, error);
        throw error;
      }
      if (state.epoch !== epoch) {
        // Truncated while it was being written: its data is gone.
        await sstable.delete();
        return;
      }
      store.completeFlush(memtable, sstable);
      const upTo = this.flushPositions.get(memtable)!;
      if (!this.replaying) {
        // Replay need not rebuild what is now in an SSTable (it would only flush it again).
        await this.saveReplayPosition(state, upTo);
        await this.commitlog.markClean(tableId, upTo);
      }
    }
    this.maybeCompact(tableId);
  }

  private async writeSSTable(state: TableState, memtable: Memtable): Promise<SSTableReader> {
    const { fs } = this.options;
    await fs.mkdir(state.dir);
    const table = state.store.metadata;
    const updates = memtable.updates;
    if (this.flushThread !== null && updates !== null) {
      try {
        return await this.writeSSTableOffThread(state, memtable, updates);
      } catch (error) {
        if (!(error instanceof FlushThreadFailure) || this.closing) throw error;
        // Without a working thread, flushes go on here rather than fail for good.
        this.options.logger.warn({ err: error }, 'the flush thread failed; flushing on the event loop from now on');
        const failed = this.flushThread;
        this.flushThread = null;
        await failed?.close();
      }
    }
    const writer = await SSTableWriter.create(fs, state.dir, state.nextGeneration++, table, {
      expectedPartitions: memtable.partitionCount,
      level: 0,
      chunkCache: this.chunkCache,
    });
    try {
      // The writer lets the event loop turn after every chunk it seals.
      for (const partition of memtable.partitions()) await writer.append(partition);
      return await writer.finish();
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }

  /** The flush on the flush thread, from the memtable's update arena; this thread opens the SSTable. */
  private async writeSSTableOffThread(state: TableState, memtable: Memtable, updates: UpdateArena): Promise<SSTableReader> {
    const { fs } = this.options;
    const table = state.store.metadata;
    const generation = state.nextGeneration++;
    await this.flushThread!.write({
      keyspace: table.keyspace,
      table: encodeTable(table),
      dir: state.dir,
      generation,
      expectedPartitions: memtable.partitionCount,
      updates: updates.contents(),
    });
    try {
      return await SSTableReader.open(fs, state.dir, generation, table, { chunkCache: this.chunkCache });
    } catch (error) {
      // Left on disk it would be loaded at the next start beside the retried flush's copy.
      await removeSSTableFiles(fs, state.dir, generation).catch(() => undefined);
      throw error;
    }
  }

  // ---- compaction ----

  private maybeCompactAll(): void {
    for (const id of this.tables.keys()) this.maybeCompact(id);
  }

  private maybeCompact(tableId: string): void {
    if (this.options.autoCompaction === false || this.closing || this.replaying) return;
    const state = this.tables.get(tableId);
    if (state === undefined || state.compacting || this.options.clock.nowMillis() < state.compactionBackoffUntil) return;
    if (state.strategy.next(state.store.sstables, new Set(), this.options.clock.nowSeconds()) === null) return;
    state.compacting = true;
    this.compactionChain = this.compactionChain
      .then(async () => {
        // Planned when it runs, against the SSTables as they are then.
        const plan = state.strategy.next(state.store.sstables, new Set(), this.options.clock.nowSeconds());
        if (plan !== null) await this.runPlan(state, plan);
      })
      .catch((error) => {
        // A failing input (a corrupt SSTable …) must not make compaction spin.
        state.compactionBackoffUntil = this.options.clock.nowMillis() + COMPACTION_RETRY_DELAY_MS;
        this.logFailure('compaction', tableId, error);
      })
      .finally(() => {
        state.compacting = false;
        this.maybeCompact(tableId);
      });
  }

  /** Runs `plan`; partitions whose token fails `keepPartition` are left out (cleanup).
   *  A truncation stops it (see truncate); it then returns, its outputs deleted. */
  private async runPlan(state: TableState, plan: CompactionPlan, keepPartition?: (token: bigint) => boolean): Promise<void> {
    const stop = new AbortController();
    const done = this.runStoppablePlan(state, plan, stop.signal, keepPartition);
    state.compactionRun = { done, stop };
    try {
      await done;
    } catch (error) {
      if (!stop.signal.aborted) throw error;
      this.options.logger.info({ table: state.store.metadata.id }, 'Compaction stopped by TRUNCATE');
    } finally {
      state.compactionRun = null;
      // Also after a failure: the stats must not show a compaction running on.
      state.compactionProgress = null;
    }
  }

  private async runStoppablePlan(
    state: TableState,
    plan: CompactionPlan,
    signal: AbortSignal,
    keepPartition?: (token: bigint) => boolean,
  ): Promise<void> {
    if (this.closing) return;
    const epoch = state.epoch;
    const store = state.store;
    const wanted = new Set(plan.inputs.map((c) => c.generation));
    const inputs = store.sstables.filter((s) => wanted.has(s.generation));
    if (inputs.length === 0) return;
    if (plan.moveOnly === true && inputs.length === 1 && keepPartition === undefined) {
      // Leveled promotion of an SSTable that overlaps nothing below: no rewrite needed.
      await inputs[0].setLevel(plan.outputLevel);
      store.replace([], []);
      return;
    }
    const table = store.metadata;
    const excluded = new Set(inputs);
    const outputs = await runCompaction({
      plan: { ...plan, inputs },
      table,
      open: (generation: number) => inputs.find((s) => s.generation === generation)!,
      createWriter: (level: number, expectedPartitions: number) =>
        SSTableWriter.create(this.options.fs, state.dir, state.nextGeneration++, table, {
          expectedPartitions,
          level,
          chunkCache: this.chunkCache,
        }),
      maxPurgeableTimestamp: (key: Buffer, token: bigint) => store.minTimestampOutside(key, token, excluded),
      nowSeconds: this.options.clock.nowSeconds(),
      keepPartition,
      throttle: this.throttle,
      onProgress: (progress: { bytesRead: number; bytesTotal: number }) => {
        state.compactionProgress = progress;
      },
      discardOutput: (output: SSTableReader) => output.delete(),
      signal,
    });
    if (this.closing || state.epoch !== epoch || !this.tables.has(store.metadata.id)) {
      // Closed, truncated or dropped meanwhile: the output must not come back.
      for (const output of outputs) await output.delete();
      return;
    }
    // Record the inputs before deleting any: a crash midway must not leave some inputs
    // (say, data whose tombstone was in another input and got purged) behind.
    const { fs } = this.options;
    const record = join(state.dir, `compaction-${++this.compactionRecordSerial}.json`);
    await fs.writeFile(`${record}.tmp`, Buffer.from(JSON.stringify({ inputs: inputs.map((s) => s.generation) })));
    await fs.rename(`${record}.tmp`, record);
    await fs.syncDir(state.dir);
    const deleted = store.replace(inputs, outputs);
    void deleted.then(() => fs.unlink(record)).catch((error) => this.logFailure('removal of a compaction record', store.metadata.id, error));
  }

  /** Major compaction: everything of the table into as few SSTables as its strategy allows. */
  async compactAll(tableId: string): Promise<void> {
    await this.runMajor(tableId);
  }

  /**
   * Cleanup is a major compaction that leaves out the partitions `keep` rejects: the
   * memtable is flushed first so that everything the table held is in the rewritten
   * SSTables, and the rewrite has every guarantee of a compaction (throttled, yields,
   * serialized with the others, inputs deleted only after the outputs and the
   * compaction record are durable, discarded by a truncation). Writes arriving after
   * the flush stay in the memtable and are kept whatever their token.
   */
  async cleanup(tableId: string, keep: (token: bigint) => boolean): Promise<CleanupResult> {
    let partitionsRemoved = 0;
    const counted = (token: bigint): boolean => {
      if (keep(token)) return true;
      partitionsRemoved++;
      return false;
    };
    const { bytesBefore, bytesAfter } = await this.runMajor(tableId, counted);
    return { partitionsRemoved, bytesBefore, bytesAfter };
  }

  /** Flushes, then runs the strategy's major-compaction plans; returns the SSTables' bytes before and after. */
  private async runMajor(tableId: string, keepPartition?: (token: bigint) => boolean): Promise<{ bytesBefore: number; bytesAfter: number }> {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    await this.flush(tableId);
    const diskBytes = (): number => state.store.sstables.reduce((sum, s) => sum + s.stats.diskBytes, 0);
    // Queued behind background compactions, so the plans see the SSTables as they are then.
    const run = this.compactionChain.then(async () => {
      const bytesBefore = diskBytes();
      for (const plan of state.strategy.all(state.store.sstables)) await this.runPlan(state, plan, keepPartition);
      return { bytesBefore, bytesAfter: diskBytes() };
    });
    this.compactionChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  // ---- operations ----

  /** Flushes every table and refuses further writes (nodetool drain). */
  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all([...this.tables.keys()].map((id) => this.flush(id)));
    await this.commitlog.sync();
  }

  /**
   * nodetool verify: reads the table's SSTables that are live when it starts, one after
   * another, checking every chunk's CRC32C and the whole data file against Digest.db.
   * Each is held while it is read (LsmTableStore.hold), so a compaction or truncation
   * replacing it meanwhile deletes its files only afterwards; one replaced before its
   * turn is skipped, its data having gone through the checked reads of the compaction
   * that replaced it. A corrupt SSTable is reported (and logged) and the next one read,
   * so every corrupt one is listed; other failures (I/O errors) are thrown. The reads
   * spend compaction_throughput's budget, as validation does: verify is a background
   * read of whole files and must not take the disk from client reads.
   */
  async verify(tableId: string): Promise<VerifyResult> {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    const store = state.store;
    // Dropping the table or closing the engine closes its SSTables, held or not: what
    // fails then is no corruption.
    const stopped = (): ServerError | null =>
      this.closing || this.tables.get(tableId) !== state
        ? new ServerError(`Verify of ${store.metadata.keyspace}.${store.metadata.name} stopped: the table was dropped or the node is stopping`)
        : null;
    const result: VerifyResult = { sstables: 0, corrupt: [] };
    for (const sstable of [...store.sstables].sort((a, b) => a.generation - b.generation)) {
      const stop = stopped();
      if (stop !== null) throw stop;
      const release = store.hold(sstable);
      if (release === null) continue;
      try {
        await sstable.verify(this.throttle);
      } catch (error) {
        if (!(error instanceof CorruptSSTable)) throw stopped() ?? error;
        result.corrupt.push({ file: error.file, message: error.message });
        this.options.logger.error({ err: error, tableId, file: error.file }, `verify found a corrupt SSTable of table ${tableId}`);
      } finally {
        release();
      }
      result.sstables++;
    }
    return result;
  }

  stats(tableId: string): TableStats {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    const store = state.store;
    const sstables = store.sstables;
    const liveBytes = sstables.reduce((sum, s) => sum + s.stats.diskBytes, 0);
    return {
      tableId,
      sstableCount: sstables.length,
      liveBytes,
      totalBytes: liveBytes + store.retiredBytes,
      partitionsEstimate: sstables.reduce((sum, s) => sum + s.stats.partitionCount, 0) + store.activeMemtable.partitionCount,
      bloomFalsePositives: sstables.reduce((sum, s) => sum + s.bloomFalsePositives, 0),
      bloomChecks: sstables.reduce((sum, s) => sum + s.bloomChecks, 0),
      memtableBytes: store.memtableBytes,
      readLatency: store.readLatency.summary(),
      writeLatency: store.writeLatency.summary(),
      compactionsPending: state.strategy.pending(sstables),
      compactionRunning: state.compactionProgress !== null,
      compactionProgress: state.compactionProgress,
    };
  }

  /** Bytes on disk: live SSTables and commit-log segments. */
  diskBytes(): number {
    let bytes = this.commitlog.usedBytes();
    for (const state of this.tables.values()) for (const s of state.store.sstables) bytes += s.stats.diskBytes;
    return bytes;
  }

  /** Waits for running and queued compactions (tests, drain). */
  async quiesce(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.compactionChain;
      await chain;
    } while (chain !== this.compactionChain);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.compactionCheckTimer !== null) clearInterval(this.compactionCheckTimer);
    for (const state of this.tables.values()) await state.flushChain.catch(() => undefined);
    await this.quiesce();
    this.closed = true;
    this.wakeWriters();
    try {
      await this.commitlog.close();
    } finally {
      await this.flushThread?.close();
      for (const state of this.tables.values()) await state.store.close();
    }
  }
}
