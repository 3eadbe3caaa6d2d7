/**
 * The commit log: every mutation is appended here before it is applied to a memtable,
 * so that a restart can replay what the memtables had not flushed yet. Byte layout in
 * ./format.ts; replay rules in ./replay.ts.
 *
 * Writing: `append` frames the record synchronously into a pooled write buffer and
 * returns its position at once (as a promise); records appended while the previous
 * write is in flight, or in the same event-loop turn, go to disk as ONE write. A single
 * writer loop does every write, fsync and segment switch in order, so a crash can only
 * tear the tail of the newest segment.
 *
 * Sync modes (cassandra.yaml `commitlog_sync`):
 * - periodic: an append resolves once its bytes are written to the OS; an fsync runs
 *   every `syncPeriodMs` (ack at once, like Cassandra: a power loss may lose the last
 *   period of writes, a process crash loses nothing written);
 * - batch: an append resolves after an fsync covering it; appends that queue up while
 *   one write+fsync is in flight share the next one;
 * - group: like batch, but each fsync waits for its group to assemble: until as many
 *   records are pending as the previous fsync covered (the writers active then have
 *   come back), or until `groupWindowMs` after the first of them, whichever comes
 *   first (the very first group waits the window, its size being unknown). Concurrent
 *   writers thus share one fsync even when their appends arrive milliseconds apart,
 *   while neither a lone writer nor a complete group idles out the window each time
 *   (a fixed window would cap 64 writers at 64 records per window).
 * When a write or fsync fails the log stops (Cassandra's commit_failure_policy: stop):
 * the pending appends and every later one reject with that error. An fsync is never
 * retried, as the kernel may have dropped the unwritten pages.
 *
 * Space: segments are deleted once every table holding data in them has flushed past
 * it (markClean); when the segments exceed `totalSpaceBytesMax`, pressure listeners are
 * told which tables to flush to free the oldest segment.
 */
import path from 'node:path';
import { InvalidRequest, assert } from '../../errors.js';
import type { FileSystem } from '../fs.js';
import { COMMITLOG_VERSION, RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES, parseSegmentFileName, writeRecord } from './format.js';
import { type CommitLogLogger, type CommitLogPosition, type ReplayApply, replaySegment } from './replay.js';
import { Segment, createSegmentFile } from './segment.js';

export { CommitLogCorruption } from './replay.js';
export type { CommitLogLogger, CommitLogPosition, ReplayApply } from './replay.js';

/** Orders positions: by segment id, then offset. */
export function comparePositions(a: CommitLogPosition, b: CommitLogPosition): number {
  return a.segmentId - b.segmentId || a.offset - b.offset;
}

export type CommitLogSync = 'periodic' | 'batch' | 'group';

export interface CommitLogOptions {
  fs: FileSystem;
  /** Directory of the segments; created if missing. */
  dir: string;
  /** commitlog_segment_size: bytes per segment file (default 32 MiB). A mutation may take at most half. */
  segmentBytes?: number;
  /** commitlog_total_space: above this, pressure listeners are asked to flush (default 8192 MiB). */
  totalSpaceBytesMax?: number;
  /** commitlog_sync. */
  sync: CommitLogSync;
  /** periodic: fsync every N ms (commitlog_sync_period, default 10000). */
  syncPeriodMs?: number;
  /** group: the longest an append waits for others to share its fsync (commitlog_sync_group_window, default 15). */
  groupWindowMs?: number;
  logger?: CommitLogLogger;
  /** Replay: skip corrupt records and segments (counted and logged, their data lost) instead of refusing to start. */
  skipCorrupt?: boolean;
}

export interface ReplayReport {
  /** Segment files read. */
  segments: number;
  records: number;
  /** Bytes of the replayed records, framing included. */
  bytes: number;
  /** Corrupt records or segments skipped (skipCorrupt only). */
  skippedCorrupt: number;
  /** Where the torn record at the tail of the newest segment was dropped, if there was one. */
  droppedTornTail: { file: string; offset: number } | null;
}

const MIB = 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 32 * MIB;
const DEFAULT_TOTAL_SPACE_BYTES_MAX = 8192 * MIB;
const DEFAULT_SYNC_PERIOD_MS = 10_000;
const DEFAULT_GROUP_WINDOW_MS = 15;
/** The smallest segment that holds a header and a useful record; tests use small ones. */
const SEGMENT_BYTES_MIN = 4096;
/** Lengths are u32 and a segment is addressed with safe offsets; 1 GiB is plenty. */
const SEGMENT_BYTES_MAX = 1024 * MIB;
/** Size of a pooled write buffer: the most one coalesced write carries unless a single record is bigger. */
const WRITE_BUFFER_BYTES = 1 * MIB;
/** Free write buffers kept for reuse (two: one filling while one is written, plus a spare). */
const WRITE_BUFFER_POOL_MAX = 3;
/** Batch and group modes write zeros this far past the data (see zeroAhead)… */
const ZERO_AHEAD_BYTES = 1 * MIB;
/** …once the data comes this close to where they end. */
const ZERO_AHEAD_MARGIN_BYTES = 256 * 1024;
let zeros: Buffer | null = null;

const SILENT_LOGGER: CommitLogLogger = { warn() {}, info() {} };

/** Records bound for one segment, framed back to back, going to disk as one write. */
interface PendingWrite {
  readonly segment: Segment;
  /** File offset of buffer[0]. */
  readonly offset: number;
  readonly buffer: Buffer;
  used: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

export class CommitLog {
  private readonly fs: FileSystem;
  private readonly dir: string;
  private readonly mode: CommitLogSync;
  private readonly segmentBytes: number;
  private readonly totalSpaceBytesMax: number;
  private readonly groupWindowMs: number;
  private readonly mutationBytesMax: number;
  private readonly logger: CommitLogLogger;
  private readonly skipCorrupt: boolean;

  /** Every segment on disk or about to be, oldest first. */
  private readonly segments: Segment[];
  private nextSegmentId: number;
  private readonly pressureListeners: ((tableIds: string[]) => void)[] = [];

  // Append side (synchronous): where the next record goes.
  private appendSegment: Segment | null = null;
  private appendOffset = SEGMENT_HEADER_BYTES;
  private filling: PendingWrite | null = null;
  private queue: PendingWrite[] = [];
  private readonly bufferPool: Buffer[] = [];

  // Writer side (the drain loop): what is on disk.
  private openSegment: Segment | null = null;
  private unsynced = false;
  /** Periodic mode: a background fsync of the open segment (see syncAhead), and where the written data ended when it began. */
  private aheadSync: Promise<void> | null = null;
  private syncedAheadTo = 0;
  /** Batch and group modes: where the open segment's written bytes (data, then zeros) end. */
  private zeroedTo = 0;
  private round: { writes: PendingWrite[]; syncWaiters: Waiter[] } = { writes: [], syncWaiters: [] };
  private syncWaiters: Waiter[] = [];
  private draining = false;
  private drainScheduled = false;
  // Group mode: records appended since the writer loop last took a round, when the first
  // of them came, how many the last round carried, and the wake-up of a waiting round.
  private pendingRecords = 0;
  private firstPendingAt = 0;
  private groupExpected = Infinity;
  private groupAssembled: (() => void) | null = null;
  private readonly runDrain = (): void => void this.drain();

  private readonly periodicTimer: NodeJS.Timeout | null = null;
  private sweepTail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;

  private constructor(options: CommitLogOptions, segments: Segment[], nextSegmentId: number) {
    this.fs = options.fs;
    this.dir = options.dir;
    this.mode = options.sync;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.totalSpaceBytesMax = options.totalSpaceBytesMax ?? DEFAULT_TOTAL_SPACE_BYTES_MAX;
    this.groupWindowMs = options.groupWindowMs ?? DEFAULT_GROUP_WINDOW_MS;
    this.mutationBytesMax = Math.floor(this.segmentBytes / 2) - RECORD_OVERHEAD_BYTES;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.skipCorrupt = options.skipCorrupt ?? false;
    this.segments = segments;
    this.nextSegmentId = nextSegmentId;
    if (this.mode === 'periodic') {
      this.periodicTimer = setInterval(() => {
        if (this.unsynced || this.filling !== null || this.queue.length > 0) this.sync().catch(() => undefined);
      }, options.syncPeriodMs ?? DEFAULT_SYNC_PERIOD_MS);
      // The timer must not keep a process alive on its own; close() syncs at the end.
      this.periodicTimer.unref();
    }
  }

  /**
   * Opens the log in `dir`, finding the segments already there (they are replayed by
   * `replay`, not here). New segments get ids above theirs and above the wall clock in
   * milliseconds, so ids keep increasing across restarts even when the directory is empty.
   */
  static async open(options: CommitLogOptions): Promise<CommitLog> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    assert(
      Number.isSafeInteger(segmentBytes) && segmentBytes >= SEGMENT_BYTES_MIN && segmentBytes <= SEGMENT_BYTES_MAX,
      `commitlog_segment_size ${segmentBytes} is between ${SEGMENT_BYTES_MIN} and ${SEGMENT_BYTES_MAX} bytes`,
    );
    assert((options.totalSpaceBytesMax ?? 1) > 0, 'commitlog_total_space is positive');
    assert((options.syncPeriodMs ?? 1) > 0, 'commitlog_sync_period is positive');
    assert((options.groupWindowMs ?? 0) >= 0, 'commitlog_sync_group_window is not negative');
    await options.fs.mkdir(options.dir);
    const segments: Segment[] = [];
    for (const name of await options.fs.readdir(options.dir)) {
      const parsed = parseSegmentFileName(name);
      if (!parsed) continue;
      if (parsed.version !== COMMITLOG_VERSION) {
        throw new Error(
          `Unsupported commit log format version ${parsed.version} in ${path.join(options.dir, name)} ` +
            `(this version of sibyl reads version ${COMMITLOG_VERSION})`,
        );
      }
      const bytes = await options.fs.size(path.join(options.dir, name));
      segments.push(new Segment(parsed.segmentId, options.dir, bytes, 'closed', true));
    }
    segments.sort((a, b) => a.id - b.id);
    const newestId = segments.length > 0 ? segments[segments.length - 1].id : -1;
    return new CommitLog(options, segments, Math.max(Date.now(), newestId + 1));
  }

  /**
   * Replays every record of the segments found at open, oldest first, calling `apply`
   * for each; returns counts. Run it before the first append. Idempotent: the segments
   * stay (until markClean calls cover them), so a crash during or after replay replays
   * them again. It repairs what a crash legitimately leaves: a torn tail of the newest
   * segment is zeroed, a newest segment that never got its header is deleted; any other
   * damage throws CommitLogCorruption naming file and offset (see skipCorrupt).
   */
  async replay(apply: ReplayApply): Promise<ReplayReport> {
    assert(this.appendSegment === null, 'commit log replay runs before the first append');
    const report: ReplayReport = { segments: 0, records: 0, bytes: 0, skippedCorrupt: 0, droppedTornTail: null };
    const context = { fs: this.fs, apply, skipCorrupt: this.skipCorrupt, logger: this.logger };
    const found = [...this.segments];
    for (let i = 0; i < found.length; i++) {
      const segment = found[i];
      const replayed = await replaySegment(segment, i === found.length - 1, context);
      report.segments++;
      report.records += replayed.records;
      report.bytes += replayed.bytes;
      report.skippedCorrupt += replayed.skippedCorrupt;
      report.droppedTornTail ??= replayed.droppedTornTail;
      if (replayed.neverWritten) await this.deleteSegment(segment, true);
    }
    const pinned = this.segments.filter((segment) => segment.pinned).length;
    if (pinned > 0) {
      this.logger.warn(
        { segments: pinned },
        'Commit log replay was not told which tables some records dirty; their segments are kept until the next start-up',
      );
    }
    this.logger.info(
      { segments: report.segments, records: report.records, bytes: report.bytes, skippedCorrupt: report.skippedCorrupt },
      'Commit log replay complete',
    );
    return report;
  }

  /**
   * Throws now what append() would reject a payload of `length` bytes with (failed or
   * closed log, empty or oversized payload), so a caller can refuse a write before
   * changing anything else.
   */
  checkAppendable(length: number): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('The commit log is closed');
    if (length === 0) throw new Error('A commit log record needs a non-empty payload');
    if (length > this.mutationBytesMax) {
      throw new InvalidRequest(`Mutation of ${length} bytes is too large for the maximum size of ${this.mutationBytesMax}`);
    }
  }

  /**
   * Appends one record (`payload`: an encoded mutation, at least one byte, at most half
   * a segment; `tableIds`: the tables it dirties) and resolves with the position just
   * after it, per sync mode: periodic once written to the OS, batch and group once an
   * fsync covers it. The position is decided synchronously, so records are ordered by
   * call order and `currentPosition()` right after the call already includes this one.
   * A too-large mutation rejects with InvalidRequest, like Cassandra's max_mutation_size.
   */
  append(payload: Buffer, tableIds: readonly string[]): Promise<CommitLogPosition> {
    try {
      this.checkAppendable(payload.length);
    } catch (error) {
      return Promise.reject(error);
    }
    const recordBytes = payload.length + RECORD_OVERHEAD_BYTES;
    let segment = this.appendSegment;
    if (segment === null || this.appendOffset + recordBytes > this.segmentBytes) segment = this.startSegment();
    let write = this.filling;
    if (write === null || write.segment !== segment || write.used + recordBytes > write.buffer.length) {
      write = this.startWrite(segment, recordBytes);
    }
    write.used = writeRecord(write.buffer, write.used, payload);
    const end = this.appendOffset + recordBytes;
    this.appendOffset = end;
    for (const tableId of tableIds) segment.dirty.set(tableId, end);
    if (this.pendingRecords++ === 0) this.firstPendingAt = performance.now();
    if (this.groupAssembled !== null && this.pendingRecords >= this.groupExpected) this.groupAssembled();
    this.scheduleDrain();
    const position: CommitLogPosition = { segmentId: segment.id, offset: end };
    return write.done.then(() => position);
  }

  /**
   * The position just after the last appended record (where the next one would start if
   * it fits): the upper bound of what a memtable switched now can hold.
   */
  currentPosition(): CommitLogPosition {
    return this.appendSegment === null
      ? { segmentId: this.nextSegmentId, offset: SEGMENT_HEADER_BYTES }
      : { segmentId: this.appendSegment.id, offset: this.appendOffset };
  }

  /**
   * Table `tableId`'s data up to `upTo` is flushed: segments whose every table is now
   * flushed past its last record there are deleted, except the one being appended to.
   */
  async markClean(tableId: string, upTo: CommitLogPosition): Promise<void> {
    for (const segment of this.segments) {
      if (segment.id > upTo.segmentId) break;
      const last = segment.dirty.get(tableId);
      if (last !== undefined && (segment.id < upTo.segmentId || last <= upTo.offset)) segment.dirty.delete(tableId);
    }
    await this.sweep();
  }

  /**
   * Registers a listener told, whenever a new segment takes the log over
   * totalSpaceBytesMax, the ids of the tables holding data in the oldest segment: flushing
   * them (then markClean) frees it. Called outside the append that triggered it.
   */
  onPressure(listener: (tableIds: string[]) => void): void {
    this.pressureListeners.push(listener);
  }

  /** Bytes the segments take (each counted at its preallocated size from its first append). */
  usedBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.bytes;
    return total;
  }

  /** Segments held: found at open and not yet freed, plus those written since. */
  segmentCount(): number {
    return this.segments.length;
  }

  /** Makes everything appended so far durable (also written, if it was still buffered). */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.draining && !this.unsynced && this.filling === null && this.queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
      this.scheduleDrain();
    });
  }

  /** Writes and syncs everything appended, then closes; the log is unusable afterwards. Rejects if the log had failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.periodicTimer) clearInterval(this.periodicTimer);
    try {
      await this.sync();
    } finally {
      await this.aheadSync;
      await this.sweepTail;
      const segment = this.openSegment;
      if (segment?.handle) {
        await segment.handle.close().catch(() => undefined);
        segment.handle = null;
        segment.state = 'closed';
      }
    }
  }

  /** Starts the segment the next record goes to; its file is created by the writer loop. */
  private startSegment(): Segment {
    const id = this.appendSegment === null ? this.nextSegmentId : this.appendSegment.id + 1;
    const segment = new Segment(id, this.dir, this.segmentBytes, 'pending');
    this.segments.push(segment);
    this.appendSegment = segment;
    this.appendOffset = SEGMENT_HEADER_BYTES;
    this.nextSegmentId = id + 1;
    if (this.usedBytes() > this.totalSpaceBytesMax) this.signalPressure();
    return segment;
  }

  private signalPressure(): void {
    const oldest = this.segments.find((segment) => segment.dirty.size > 0);
    if (!oldest) return;
    const tableIds = [...oldest.dirty.keys()];
    queueMicrotask(() => {
      for (const listener of this.pressureListeners) {
        try {
          listener(tableIds);
        } catch (error) {
          this.logger.warn({ err: error, tableIds }, 'Commit log pressure listener failed');
        }
      }
    });
  }

  /** Seals the buffer being filled and starts one for records from the current append offset. */
  private startWrite(segment: Segment, recordBytes: number): PendingWrite {
    if (this.filling !== null) this.queue.push(this.filling);
    const buffer =
      recordBytes <= WRITE_BUFFER_BYTES
        ? (this.bufferPool.pop() ?? Buffer.allocUnsafe(WRITE_BUFFER_BYTES))
        : Buffer.allocUnsafe(recordBytes);
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const done = new Promise<void>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    const write: PendingWrite = { segment, offset: this.appendOffset, buffer, used: 0, done, resolve, reject };
    this.filling = write;
    return write;
  }

  private scheduleDrain(): void {
    if (this.draining || this.drainScheduled) return;
    this.drainScheduled = true;
    // After the current turn, so every record appended in it joins the same write.
    setImmediate(this.runDrain);
  }

  /** The writer loop: writes, syncs and switches segments strictly in order until nothing is pending. */
  private async drain(): Promise<void> {
    this.drainScheduled = false;
    this.draining = true;
    try {
      while (this.filling !== null || this.queue.length > 0 || this.syncWaiters.length > 0) {
        if (this.mode === 'group' && this.pendingRecords > 0 && this.pendingRecords < this.groupExpected) {
          await this.groupAssembling();
        }
        if (this.pendingRecords > 0) this.groupExpected = this.pendingRecords;
        this.pendingRecords = 0;
        if (this.filling !== null) {
          this.queue.push(this.filling);
          this.filling = null;
        }
        this.round = { writes: this.queue, syncWaiters: this.syncWaiters };
        this.queue = [];
        this.syncWaiters = [];
        const { writes, syncWaiters } = this.round;
        for (const write of writes) {
          // A background sync failed meanwhile (syncAhead): its writers were told so; write nothing more.
          if (this.failure) throw this.failure;
          if (write.segment !== this.openSegment) await this.switchTo(write.segment);
          const segment = this.openSegment as Segment;
          const handle = segment.handle as NonNullable<Segment['handle']>;
          if (this.mode !== 'periodic') await this.zeroAhead(segment, write.offset + write.used);
          const bytes = write.buffer.subarray(0, write.used);
          if (this.mode !== 'periodic' && !this.unsynced && handle.writeSynced !== undefined) {
            // Nothing written waits for a sync: this write is made durable in one step.
            await handle.writeSynced(bytes, write.offset);
            continue;
          }
          await handle.write(bytes, write.offset);
          this.unsynced = true;
          if (this.mode === 'periodic') {
            this.complete(write);
            this.syncAhead(segment, write.offset + write.used);
          }
        }
        if (this.unsynced && (this.mode !== 'periodic' || syncWaiters.length > 0)) {
          await (this.openSegment?.handle as NonNullable<Segment['handle']>).sync();
          this.unsynced = false;
        }
        if (this.mode !== 'periodic') for (const write of writes) this.complete(write);
        for (const waiter of syncWaiters) waiter.resolve();
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.draining = false;
    }
  }

  /**
   * Batch and group modes fsync for every round of appends. A segment is preallocated
   * by truncation, so its blocks do not exist yet; an fsync after a write into new
   * blocks must also commit their allocation to the file system's journal, which makes
   * it about half as slow again (ext4 here: 0.36 ms against 0.25). So the writer loop
   * keeps the segment written with zeros up to ZERO_AHEAD_BYTES past the data, one
   * large write (whose allocation one fsync commits) instead of one per round; zeros
   * read as the end of the data, as the truncated file's holes do. PostgreSQL fills
   * new WAL files with zeros for the same reason (wal_init_zero). The price: the log
   * writes its bytes twice (zeros, then data over them), and a full disk stops it up
   * to 1 MiB earlier. Periodic mode, which fsyncs rarely, does not pay it.
   */
  private async zeroAhead(segment: Segment, writeEnd: number): Promise<void> {
    if (writeEnd + ZERO_AHEAD_MARGIN_BYTES <= this.zeroedTo) return;
    const from = Math.max(this.zeroedTo, writeEnd);
    const to = Math.min(this.segmentBytes, writeEnd + ZERO_AHEAD_BYTES);
    if (from < to) {
      zeros ??= Buffer.alloc(ZERO_AHEAD_BYTES);
      await (segment.handle as NonNullable<Segment['handle']>).write(zeros.subarray(0, to - from), from);
      // Synced with this round's data (not through writeSynced, which syncs its own
      // bytes only): that fsync commits the allocation.
      this.unsynced = true;
    }
    this.zeroedTo = Math.max(to, writeEnd);
  }

  /** Resolves once the pending records reach the last round's count, or the window since the first of them ends. */
  private groupAssembling(): Promise<void> {
    const wait = this.firstPendingAt + this.groupWindowMs - performance.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.groupAssembled = null;
        resolve();
      }, wait);
      this.groupAssembled = () => {
        this.groupAssembled = null;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Periodic mode: once another quarter of the segment is written since the last such
   * fsync began, starts one in the background. Writes go on meanwhile; the switch to
   * the next segment, which must sync this one before writing there (see switchTo),
   * then waits on the last quarter at most instead of the whole segment: a stall of
   * tens of milliseconds at every segment's end, for every writer.
   */
  private syncAhead(segment: Segment, writtenTo: number): void {
    if (this.aheadSync !== null || writtenTo - this.syncedAheadTo < this.segmentBytes / 4) return;
    this.syncedAheadTo = writtenTo;
    this.aheadSync = (segment.handle as NonNullable<Segment['handle']>).sync().then(
      () => {
        this.aheadSync = null;
      },
      (error: unknown) => {
        this.aheadSync = null;
        this.fail(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  private complete(write: PendingWrite): void {
    write.resolve();
    if (write.buffer.length === WRITE_BUFFER_BYTES && this.bufferPool.length < WRITE_BUFFER_POOL_MAX) {
      this.bufferPool.push(write.buffer);
    }
  }

  /**
   * Finishes the open segment (fsync, close) before creating the next one, so that only
   * the newest segment can ever hold unsynced, tearable data. Once per segment, even in
   * periodic mode.
   */
  private async switchTo(segment: Segment): Promise<void> {
    const previous = this.openSegment;
    if (previous?.handle) {
      await this.aheadSync;
      if (this.unsynced) await previous.handle.sync();
      this.unsynced = false;
      await previous.handle.close();
      previous.handle = null;
      previous.state = 'closed';
    }
    await createSegmentFile(this.fs, this.dir, segment, this.segmentBytes);
    this.openSegment = segment;
    this.syncedAheadTo = 0;
    this.zeroedTo = 0;
    // The finished segment may already be clean (its tables flushed while it filled).
    if (previous) this.sweep().catch((error) => this.logger.warn({ err: error }, 'Could not delete a clean commit log segment'));
  }

  private fail(error: Error): void {
    if (!this.failure) {
      this.failure = error;
      this.logger.warn({ err: error, dir: this.dir }, 'Commit log write failed; refusing all further writes');
    }
    const pending = [...this.round.writes, ...this.queue, ...(this.filling ? [this.filling] : [])];
    const waiters = [...this.round.syncWaiters, ...this.syncWaiters];
    this.queue = [];
    this.filling = null;
    this.syncWaiters = [];
    // Rejecting an already-resolved write is a no-op, so the whole round can be rejected.
    for (const write of pending) write.reject(error);
    for (const waiter of waiters) waiter.reject(error);
  }

  /** Deletes, one sweep at a time, every finished segment that no table needs any more. */
  private sweep(): Promise<void> {
    const run = this.sweepTail.then(async () => {
      for (const segment of [...this.segments]) {
        if (segment.state === 'closed' && !segment.pinned && segment.dirty.size === 0) await this.deleteSegment(segment, false);
      }
    });
    this.sweepTail = run.catch(() => undefined);
    return run;
  }

  /**
   * Removes a segment file. The deletion need not be durable: a segment that comes back
   * after a crash is replayed again, which is harmless (replay is idempotent). Only a
   * never-written segment's deletion is synced, so it cannot come back as a not-newest
   * segment with a bad header.
   */
  private async deleteSegment(segment: Segment, durably: boolean): Promise<void> {
    segment.state = 'deleted';
    this.segments.splice(this.segments.indexOf(segment), 1);
    await this.fs.unlink(segment.path);
    if (durably) await this.fs.syncDir(this.dir);
  }
}
