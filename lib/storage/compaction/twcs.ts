/**
 * Time-window compaction (Cassandra's TWCS), for time series and data written with a
 * TTL. SSTables are grouped into windows of compaction_window_size ×
 * compaction_window_unit by their newest write timestamp. The newest window compacts
 * size-tiered while it fills; every older window is compacted into one SSTable and
 * then left alone. Data of one window then expires together, and an SSTable whose
 * every cell has expired (past gc grace) is dropped without touching the others.
 *
 * The newest window is the one of the newest timestamp in the table, not of the wall
 * clock: timestamps are the clients', as in Cassandra.
 */
import type { TimeWindowOptions } from './options.js';
import {
  SSTableAges,
  byDiskBytes,
  spanOf,
  spansOverlap,
  singleOutputPlan,
  tombstoneCompactionPlan,
  totalDiskBytes,
  type CompactionCandidate,
  type CompactionPlan,
  type CompactionStrategy,
} from './plan.js';
import { mostInterestingBucket, sizeTieredBuckets, sizeTieredPending } from './stcs.js';

/** However often expired SSTables are looked for, other ones are not planned sooner
 *  than this after the last (see TimeWindowStrategy.expiredPlanned). */
const EXPIRED_REWRITE_WAIT_SECONDS_MIN = 60;

/** The start (in seconds since the epoch) of the window a write timestamp falls in. */
export function windowStart(timestamp: number, options: TimeWindowOptions): number {
  const seconds = timestamp / options.timestampsPerSecond;
  return Math.floor(seconds / options.windowSeconds) * options.windowSeconds;
}

/**
 * SSTables whose every cell and tombstone expired or was deleted before gcBefore and
 * which shadow nothing outside them: every other SSTable with keys in their range
 * holds only newer data. Compacting them (together) purges them to nothing; the purge
 * itself checks each partition again, memtables included (purge.ts), so this choice
 * only has to avoid compactions that would rewrite them unchanged.
 */
export function fullyExpired(
  sstables: readonly CompactionCandidate[],
  compacting: ReadonlySet<number>,
  gcBefore: number,
): CompactionCandidate[] {
  const expired = sstables.filter((s) => !compacting.has(s.generation) && s.stats.maxLocalDeletionTime < gcBefore);
  if (expired.length === 0) return expired;
  const expiredSet = new Set(expired);
  const others = sstables.filter((s) => !expiredSet.has(s));
  return expired.filter((sstable) => {
    const span = spanOf(sstable);
    return !others.some((other) => other.stats.minTimestamp <= sstable.stats.maxTimestamp && spansOverlap(span, spanOf(other)));
  });
}

export class TimeWindowStrategy implements CompactionStrategy {
  private readonly ages = new SSTableAges();
  /** When no fully expired SSTable was found last (seconds); looked for again after
   *  expired_sstable_check_frequency_seconds. Not set while one is found, so a repeated
   *  call at the same moment plans the same. */
  private expiredCheckedAt = -Infinity;
  /** The last expired SSTables planned (generations) and when. Another set found
   *  within the check frequency waits for it: data in a memtable the purge must keep
   *  them for makes the compaction's output expired again, which must not be
   *  rewritten at once, again and again. */
  private expiredPlanned: { generations: string; at: number } | null = null;

  constructor(
    private readonly options: TimeWindowOptions,
    private readonly gcGraceSeconds: number,
  ) {}

  next(sstables: readonly CompactionCandidate[], compacting: ReadonlySet<number>, nowSeconds: number): CompactionPlan | null {
    this.ages.observe(sstables, nowSeconds);
    if (!this.options.enabled) return null;
    const gcBefore = nowSeconds - this.gcGraceSeconds;
    if (nowSeconds - this.expiredCheckedAt >= this.options.expiredCheckSeconds) {
      const expired = fullyExpired(sstables, compacting, gcBefore);
      if (expired.length > 0) {
        const generations = expired.map((sstable) => sstable.generation).join(',');
        const planned = this.expiredPlanned;
        const wait = Math.max(this.options.expiredCheckSeconds, EXPIRED_REWRITE_WAIT_SECONDS_MIN);
        if (planned === null || planned.generations === generations || nowSeconds - planned.at >= wait) {
          if (planned?.generations !== generations) this.expiredPlanned = { generations, at: nowSeconds };
          return singleOutputPlan(expired, `time-window: ${expired.length} fully expired SSTables`);
        }
      } else {
        this.expiredCheckedAt = nowSeconds;
      }
    }
    const window = this.windowToCompact(sstables, compacting);
    if (window !== null) return window;
    return tombstoneCompactionPlan(sstables, compacting, nowSeconds, this.gcGraceSeconds, this.options, this.ages);
  }

  /** Newest window first: size-tiered inside the newest, all of it in an older one. */
  private windowToCompact(sstables: readonly CompactionCandidate[], compacting: ReadonlySet<number>): CompactionPlan | null {
    const { windows, newest } = this.windows(sstables, compacting);
    for (const start of [...windows.keys()].sort((a, b) => b - a)) {
      const members = windows.get(start)!;
      const when = new Date(start * 1000).toISOString();
      if (start >= newest) {
        if (members.length < this.options.minThreshold) continue;
        const bucket = mostInterestingBucket(sizeTieredBuckets(members, this.options), this.options);
        if (bucket !== null) return singleOutputPlan(bucket, `time-window ${when} (newest), size-tiered: ${bucket.length} SSTables`);
      } else if (members.length >= 2) {
        const inputs = [...members].sort(byDiskBytes).slice(0, this.options.maxThreshold);
        return singleOutputPlan(inputs, `time-window ${when}: ${inputs.length} SSTables of ${totalDiskBytes(inputs)} bytes into one`);
      }
    }
    return null;
  }

  pending(sstables: readonly CompactionCandidate[]): number {
    if (!this.options.enabled) return 0;
    const { windows, newest } = this.windows(sstables, new Set());
    let pending = 0;
    for (const [start, members] of windows) {
      if (start >= newest) pending += sizeTieredPending(members, this.options);
      else if (members.length >= 2) pending += Math.ceil(members.length / this.options.maxThreshold);
    }
    return pending;
  }

  /** The SSTables not being compacted by window start, and the newest window's start
   *  (of every SSTable: a compaction running in a newer window closes the older ones). */
  private windows(
    sstables: readonly CompactionCandidate[],
    compacting: ReadonlySet<number>,
  ): { windows: Map<number, CompactionCandidate[]>; newest: number } {
    let newest = -Infinity;
    const windows = new Map<number, CompactionCandidate[]>();
    for (const sstable of sstables) {
      const start = windowStart(sstable.stats.maxTimestamp, this.options);
      newest = Math.max(newest, start);
      if (compacting.has(sstable.generation)) continue;
      const members = windows.get(start);
      if (members === undefined) windows.set(start, [sstable]);
      else members.push(sstable);
    }
    return { windows, newest };
  }

  all(sstables: readonly CompactionCandidate[]): CompactionPlan[] {
    // As in Cassandra, a major compaction merges every window into one SSTable (and so
    // purges every tombstone it can); operators of time series seldom want it.
    return sstables.length === 0 ? [] : [singleOutputPlan([...sstables], `major compaction of ${sstables.length} SSTables`)];
  }
}
