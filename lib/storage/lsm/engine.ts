/**
 * The durable storage engine: a commit log plus, per table, memtables that flush to
 * SSTables, compacted in the background.
 *
 * Write path: a mutation is applied to the memtables and appended to the commit log
 * in the same synchronous step, then acknowledged when the commit log says it is
 * durable enough for the sync mode. Because nothing awaits between the two, every
 * write that went into a memtable has a commit-log position below the position
 * recorded when that memtable is switched out; a flush can therefore mark the log
 * clean up to that position. Flushes of one table run one at a time and in order,
 * so clean positions only move forward.
 *
 * Memory: the memtables of all tables share `memtableSpaceBytes`; past it the largest
 * active memtable is flushed, and writers wait (back-pressure) while flushing data
 * holds more than that again.
 *
 * Layout under the data directory: commitlog/ for segments, and
 * data/<keyspace>/<table>-<table id>/ per table for SSTables and the truncation record.
 */
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InvalidRequest, ServerError } from '../../errors.js';
import type { Clock } from '../../model/clock.js';
import type { PartitionUpdate } from '../../model/partition.js';
import type { TableMetadata } from '../../schema/metadata.js';
import { CommitLog, comparePositions, type CommitLogPosition } from '../commitlog/commitlog.js';
import { runCompaction } from '../compaction/task.js';
import type { CompactionPlan } from '../compaction/plan.js';
import { strategyFor, type CompactionStrategy } from '../compaction/strategy.js';
import { Throttle } from '../compaction/throttle.js';
import type { StorageEngine, TableStore } from '../engine.js';
import type { FileSystem } from '../fs.js';
import type { Memtable } from '../memtable.js';
import { decodeMutation, encodeMutation } from '../mutation-codec.js';
import { ChunkCache } from '../sstable/chunks.js';
import { listSSTables, SSTableReader } from '../sstable/reader.js';
import { SSTableWriter } from '../sstable/writer.js';
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
}

interface TableState {
  store: LsmTableStore;
  dir: string;
  nextGeneration: number;
  /** Commit-log records of this table at or before this position are already in its
   *  SSTables or were truncated away: replay skips them. */
  replayedUpTo: CommitLogPosition | null;
  /** Flushes of this table, one after another. */
  flushChain: Promise<void>;
  /** A flush queued behind the running one and not started yet: later requests join it. */
  queuedFlush: Promise<void> | null;
  compacting: boolean;
  compactionProgress: { bytesRead: number; bytesTotal: number } | null;
  /** Kept for the table's life: strategies remember what they saw (LCS round-robin,
   *  tombstone-compaction ages); rebuilt when the table's compaction options change. */
  strategy: CompactionStrategy;
  strategyOptions: TableMetadata['options']['compaction'];
}

/** Where a table's replay position is kept (JSON {segmentId, offset}), in its directory. */
const REPLAY_POSITION_FILE = 'replay-position.json';
/** Default read cache of decompressed chunks (Cassandra's file_cache_size is min(512 MiB, heap/4)). */
export const DEFAULT_FILE_CACHE_BYTES = 256 * 2 ** 20;

export class LsmStorageEngine implements StorageEngine {
  private readonly tables = new Map<string, TableState>();
  private commitlog!: CommitLog;
  private closed = false;
  private draining = false;
  private readonly throttle: Throttle;
  private readonly chunkCache: ChunkCache;
  /** One compaction at a time across the node: the machine has two cores. */
  private compactionChain: Promise<void> = Promise.resolve();
  private flushWaiters: (() => void)[] = [];
  private flushesRunning = 0;

  private constructor(private readonly options: LsmEngineOptions) {
    this.throttle = new Throttle(options.compactionThroughputBytes, options.clock);
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
    const report = await engine.commitlog.replay(async (payload, position) => {
      const updates = decodeMutation(payload);
      for (const update of updates) {
        const state = engine.tables.get(update.tableId);
        if (state === undefined) continue;
        if (state.replayedUpTo !== null && comparePositions(position, state.replayedUpTo) <= 0) continue;
        state.store.applyToMemtable(update.partition);
      }
      // The tables this record dirties: flushing them frees the replayed segment.
      return updates.map((u) => u.tableId);
    });
    if (report.records > 0) options.logger.info({ ...report }, `Replayed ${report.records} commit-log records`);
    // Flush what replay rebuilt so the replayed segments can go.
    await Promise.all([...engine.tables.keys()].map((id) => engine.flush(id)));
    engine.commitlog.onPressure((tableIds) => {
      for (const id of tableIds) void engine.flush(id).catch((error) => engine.logFailure('flush', id, error));
    });
    for (const id of engine.tables.keys()) engine.maybeCompact(id);
    return engine;
  }

  private tableDir(table: TableMetadata): string {
    return join(this.options.dataDir, 'data', table.keyspace, `${table.name}-${table.id.replaceAll('-', '')}`);
  }

  private async openTableState(table: TableMetadata): Promise<TableState> {
    const { fs } = this.options;
    const dir = this.tableDir(table);
    await fs.mkdir(dir);
    const generations = await listSSTables(fs, dir);
    const readers: SSTableReader[] = [];
    for (const generation of generations) {
      readers.push(await SSTableReader.open(fs, dir, generation, table, { chunkCache: this.chunkCache }));
    }
    let replayedUpTo: CommitLogPosition | null = null;
    if (await fs.exists(join(dir, REPLAY_POSITION_FILE))) {
      replayedUpTo = JSON.parse((await fs.readFile(join(dir, REPLAY_POSITION_FILE))).toString('utf8')) as CommitLogPosition;
    }
    const state: TableState = {
      store: new LsmTableStore(table, readers, (error) => this.logFailure('delete of a compacted SSTable', table.id, error)),
      dir,
      nextGeneration: (generations.at(-1) ?? 0) + 1,
      replayedUpTo,
      flushChain: Promise.resolve(),
      queuedFlush: null,
      compacting: false,
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
      flushChain: Promise.resolve(),
      queuedFlush: null,
      compacting: false,
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
    const payload = Buffer.from(encodeMutation(updates));
    const tableIds = [...new Set(updates.map((u) => u.tableId))];
    // Memtables and commit log in one synchronous step (see the module comment).
    for (let i = 0; i < updates.length; i++) states[i].store.applyToMemtable(updates[i].partition);
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

  /** Flushes the largest active memtable when memtables hold more than their share. */
  private checkMemory(): void {
    if (this.totalMemtableBytes().active <= this.options.memtableSpaceBytes) return;
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
      const bytes = s.store.activeMemtable.sizeBytes;
      if (bytes > 0 && (largest === null || bytes > largest[1])) largest = [id, bytes];
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

  async truncate(tableId: string): Promise<void> {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    await state.flushChain.catch(() => undefined);
    const position = this.commitlog.currentPosition();
    // Record the truncation before dropping anything: replay must skip older records.
    await this.saveReplayPosition(state, position);
    state.store.discardAll();
    await state.store.settleDeletions();
    await this.commitlog.markClean(tableId, position);
    this.wakeWriters();
  }

  /** Durably records that the table's records up to `position` need no replay. */
  private async saveReplayPosition(state: TableState, position: CommitLogPosition): Promise<void> {
    const { fs } = this.options;
    await fs.mkdir(state.dir);
    const tmp = join(state.dir, `${REPLAY_POSITION_FILE}.tmp`);
    await fs.writeFile(tmp, Buffer.from(JSON.stringify(position)));
    await fs.rename(tmp, join(state.dir, REPLAY_POSITION_FILE));
    await fs.syncDir(state.dir);
    state.replayedUpTo = position;
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
      if (store.activeMemtable.isEmpty) return;
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

  /** Switches the active memtable out, writes it as an SSTable, marks the log clean. */
  private async flushMemtable(tableId: string, state: TableState): Promise<void> {
    const store = state.store;
    const upTo = this.commitlog.currentPosition();
    const memtable = store.switchMemtable();
    let sstable: SSTableReader;
    try {
      sstable = await this.writeSSTable(state, memtable);
    } catch (error) {
      // The memtable stays readable (its data is still in the commit log).
      this.logFailure('flush', tableId, error);
      throw error;
    }
    store.completeFlush(memtable, sstable);
    // Replay need not rebuild what is now in an SSTable (it would only flush it again).
    await this.saveReplayPosition(state, upTo);
    await this.commitlog.markClean(tableId, upTo);
    this.maybeCompact(tableId);
  }

  private async writeSSTable(state: TableState, memtable: Memtable): Promise<SSTableReader> {
    const { fs } = this.options;
    await fs.mkdir(state.dir);
    const table = state.store.metadata;
    const writer = await SSTableWriter.create(fs, state.dir, state.nextGeneration++, table, {
      expectedPartitions: memtable.partitionCount,
      level: 0,
      chunkCache: this.chunkCache,
    });
    try {
      let n = 0;
      for (const partition of memtable.partitions()) {
        await writer.append(partition);
        if (++n % 256 === 0) await nextTurn();
      }
      return await writer.finish();
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }

  // ---- compaction ----

  private maybeCompact(tableId: string): void {
    if (this.options.autoCompaction === false || this.closed) return;
    const state = this.tables.get(tableId);
    if (state === undefined || state.compacting) return;
    const plan = state.strategy.next(state.store.sstables, new Set(), this.options.clock.nowSeconds());
    if (plan === null) return;
    state.compacting = true;
    this.compactionChain = this.compactionChain
      .then(() => this.runPlan(state, plan))
      .catch((error) => this.logFailure('compaction', tableId, error))
      .finally(() => {
        state.compacting = false;
        this.maybeCompact(tableId);
      });
  }

  private async runPlan(state: TableState, plan: CompactionPlan): Promise<void> {
    if (this.closed) return;
    const store = state.store;
    const wanted = new Set(plan.inputs.map((c) => c.generation));
    const inputs = store.sstables.filter((s) => wanted.has(s.generation));
    if (inputs.length === 0) return;
    if (plan.moveOnly === true && inputs.length === 1) {
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
      throttle: this.throttle,
      onProgress: (progress: { bytesRead: number; bytesTotal: number }) => {
        state.compactionProgress = progress;
      },
      discardOutput: (output: SSTableReader) => output.delete(),
    });
    state.compactionProgress = null;
    store.replace(inputs, outputs);
  }

  /** Major compaction: everything of the table into as few SSTables as its strategy allows. */
  async compactAll(tableId: string): Promise<void> {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    await this.flush(tableId);
    // Queued behind background compactions, so the plans see the SSTables as they are then.
    const run = this.compactionChain.then(async () => {
      for (const plan of state.strategy.all(state.store.sstables)) await this.runPlan(state, plan);
    });
    this.compactionChain = run.catch(() => undefined);
    await run;
  }

  // ---- operations ----

  /** Flushes every table and refuses further writes (nodetool drain). */
  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all([...this.tables.keys()].map((id) => this.flush(id)));
    await this.commitlog.sync();
  }

  stats(tableId: string): TableStats {
    const state = this.tables.get(tableId);
    if (state === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    const store = state.store;
    const sstables = store.sstables;
    return {
      tableId,
      sstableCount: sstables.length,
      liveBytes: sstables.reduce((sum, s) => sum + s.stats.diskBytes, 0),
      totalBytes: sstables.reduce((sum, s) => sum + s.stats.diskBytes, 0),
      partitionsEstimate: sstables.reduce((sum, s) => sum + s.stats.partitionCount, 0) + store.activeMemtable.partitionCount,
      bloomFalsePositives: sstables.reduce((sum, s) => sum + s.bloomFalsePositives, 0),
      bloomChecks: sstables.reduce((sum, s) => sum + s.bloomChecks, 0),
      memtableBytes: store.memtableBytes,
      readLatency: store.readLatency.summary(),
      writeLatency: store.writeLatency.summary(),
      compactionsPending: state.compacting ? 1 : 0,
      compactionRunning: state.compactionProgress !== null,
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
    await this.quiesce();
    for (const state of this.tables.values()) await state.flushChain.catch(() => undefined);
    this.closed = true;
    this.wakeWriters();
    await this.commitlog.close();
    for (const state of this.tables.values()) await state.store.close();
  }
}
