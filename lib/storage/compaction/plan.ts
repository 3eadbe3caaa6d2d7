/**
 * What a compaction strategy decides over: the SSTables it may pick (described by
 * their statistics and key ranges, nothing else) and the plan it returns. Pure data
 * and pure helpers shared by the size-tiered and leveled strategies.
 */
import { compareKeys } from '../../model/token.js';

/** The statistics of an SSTable that compaction reads; the SSTable reader's
 *  statistics (lib/storage/sstable/format.ts) satisfy this. */
export interface CompactionStats {
  /** Oldest and newest timestamp (µs) of anything in the SSTable. */
  readonly minTimestamp: number;
  readonly maxTimestamp: number;
  /** Earliest and latest local deletion time (s); live cells may count as NO_DELETION_TIME. */
  readonly minLocalDeletionTime: number;
  readonly maxLocalDeletionTime: number;
  readonly partitionCount: number;
  readonly rowCount: number;
  /** Deletions of every kind plus tombstone cells. */
  readonly tombstoneCount: number;
  readonly uncompressedBytes: number;
  readonly diskBytes: number;
  readonly level: number;
}

/** An SSTable as a strategy sees it; the SSTable reader satisfies this structurally. */
export interface CompactionCandidate {
  readonly generation: number;
  readonly stats: CompactionStats;
  readonly firstToken: bigint;
  readonly lastToken: bigint;
  readonly firstKey: Buffer;
  readonly lastKey: Buffer;
}

export interface CompactionPlan {
  inputs: CompactionCandidate[];
  outputLevel: number;
  /** Start a new output SSTable once one has this many bytes on disk; Infinity for one output. */
  maxOutputBytes: number;
  /**
   * True when the single input needs no rewrite: nothing in the output level overlaps
   * it, so relabelling it with `outputLevel` (SSTableReader.setLevel) has the same
   * effect as compacting it. Running the plan as a compaction is correct too, only
   * slower. Absent means false.
   */
  moveOnly?: boolean;
  /** Why this plan, for logs and `sibyl compactionstats`. */
  reason: string;
}

export interface CompactionStrategy {
  /**
   * The next compaction worth running over `sstables` (every live SSTable of the
   * table), never touching one in `compacting`; null when there is none.
   */
  next(sstables: readonly CompactionCandidate[], compacting: ReadonlySet<number>, nowSeconds: number): CompactionPlan | null;
  /** The plans of a major compaction (`sibyl compact`) over all of `sstables`. */
  all(sstables: readonly CompactionCandidate[]): CompactionPlan[];
  /**
   * About how many compactions it would take to catch up with `sstables` as they are
   * (nodetool's pending tasks): an estimate from sizes and counts, not a plan.
   */
  pending(sstables: readonly CompactionCandidate[]): number;
}

/** A position on the ring: (token, key), ordered by compareKeys. */
export interface RingPosition {
  readonly token: bigint;
  readonly key: Buffer;
}

/** A closed range of ring positions. */
export interface RingSpan {
  readonly first: RingPosition;
  readonly last: RingPosition;
}

export function comparePositions(a: RingPosition, b: RingPosition): number {
  return compareKeys(a.token, a.key, b.token, b.key);
}

export function spanOf(sstable: CompactionCandidate): RingSpan {
  return {
    first: { token: sstable.firstToken, key: sstable.firstKey },
    last: { token: sstable.lastToken, key: sstable.lastKey },
  };
}

/** The smallest span holding every one of `sstables` (at least one). */
export function spanOfAll(sstables: readonly CompactionCandidate[]): RingSpan {
  let { first, last } = spanOf(sstables[0]);
  for (let i = 1; i < sstables.length; i++) {
    const span = spanOf(sstables[i]);
    if (comparePositions(span.first, first) < 0) first = span.first;
    if (comparePositions(span.last, last) > 0) last = span.last;
  }
  return { first, last };
}

export function spansOverlap(a: RingSpan, b: RingSpan): boolean {
  return comparePositions(a.first, b.last) <= 0 && comparePositions(b.first, a.last) <= 0;
}

/** Orders SSTables by their first key, then generation (so ties never depend on input order). */
export function byFirstKey(a: CompactionCandidate, b: CompactionCandidate): number {
  return compareKeys(a.firstToken, a.firstKey, b.firstToken, b.firstKey) || a.generation - b.generation;
}

/** Orders SSTables by size on disk, then generation. */
export function byDiskBytes(a: CompactionCandidate, b: CompactionCandidate): number {
  return a.stats.diskBytes - b.stats.diskBytes || a.generation - b.generation;
}

export function totalDiskBytes(sstables: readonly CompactionCandidate[]): number {
  let total = 0;
  for (const sstable of sstables) total += sstable.stats.diskBytes;
  return total;
}

/**
 * Estimated share of an SSTable's contents that are tombstones a compaction at
 * `gcBefore` could drop: the tombstone share of (rows + tombstones), times the share
 * of tombstones deleted before gcBefore, assuming deletion times spread evenly from
 * the recorded minimum to the latest a tombstone can have — now, since deletions
 * happen in the past (the recorded maximum also counts live and expiring cells). An
 * estimate, to decide whether a single-SSTable compaction is worth it; the purge
 * itself decides exactly.
 */
export function droppableTombstoneRatio(stats: CompactionStats, gcBefore: number, nowSeconds: number): number {
  if (stats.tombstoneCount === 0) return 0;
  const min = stats.minLocalDeletionTime;
  const max = Math.min(stats.maxLocalDeletionTime, nowSeconds);
  const droppableShare = max < gcBefore ? 1 : min >= gcBefore ? 0 : (gcBefore - min) / (max - min + 1);
  return (droppableShare * stats.tombstoneCount) / (stats.rowCount + stats.tombstoneCount);
}

/** The settings of single-SSTable tombstone compactions (Cassandra's names in comments). */
export interface TombstoneCompactionOptions {
  /** tombstone_threshold */
  readonly tombstoneThreshold: number;
  /** tombstone_compaction_interval (seconds) */
  readonly tombstoneCompactionIntervalSeconds: number;
  /** unchecked_tombstone_compaction */
  readonly uncheckedTombstoneCompaction: boolean;
}

/**
 * When each SSTable was first offered to a strategy. The statistics carry no creation
 * time, and an SSTable must not be tombstone-compacted again and again while its
 * tombstones cannot be dropped yet: so its age counts from the first time this
 * strategy saw it (after a restart, from the restart — which only delays such
 * compactions by one interval).
 */
export class SSTableAges {
  private readonly firstSeen = new Map<number, number>();

  /** Records the SSTables present now and forgets those that are gone. */
  observe(sstables: readonly CompactionCandidate[], nowSeconds: number): void {
    const present = new Set<number>();
    for (const sstable of sstables) {
      present.add(sstable.generation);
      if (!this.firstSeen.has(sstable.generation)) this.firstSeen.set(sstable.generation, nowSeconds);
    }
    for (const generation of this.firstSeen.keys()) if (!present.has(generation)) this.firstSeen.delete(generation);
  }

  ageSeconds(generation: number, nowSeconds: number): number {
    return nowSeconds - (this.firstSeen.get(generation) ?? nowSeconds);
  }
}

/**
 * The SSTable most worth compacting alone to drop its tombstones: old enough, with an
 * estimated droppable share above the threshold, and (unless unchecked) no other
 * overlapping SSTable holding data as old as its newest write — such data would keep
 * every tombstone from being dropped, and the compaction would only rewrite the file.
 * `eligible` filters by strategy-specific rules (levels, concurrent compactions).
 */
export function tombstoneCompactionCandidate(
  sstables: readonly CompactionCandidate[],
  compacting: ReadonlySet<number>,
  nowSeconds: number,
  gcBefore: number,
  options: TombstoneCompactionOptions,
  ages: SSTableAges,
  eligible: (sstable: CompactionCandidate) => boolean = () => true,
): CompactionCandidate | null {
  let best: CompactionCandidate | null = null;
  let bestRatio = 0;
  for (const sstable of sstables) {
    if (compacting.has(sstable.generation)) continue;
    if (ages.ageSeconds(sstable.generation, nowSeconds) < options.tombstoneCompactionIntervalSeconds) continue;
    const ratio = droppableTombstoneRatio(sstable.stats, gcBefore, nowSeconds);
    if (ratio <= options.tombstoneThreshold) continue;
    if (best !== null && (ratio < bestRatio || (ratio === bestRatio && sstable.generation > best.generation))) continue;
    if (!eligible(sstable)) continue;
    if (!options.uncheckedTombstoneCompaction && overlapsOlderData(sstable, sstables)) continue;
    best = sstable;
    bestRatio = ratio;
  }
  return best;
}

/** A plan writing its inputs into one level-0 SSTable (size-tiered and time-window). */
export function singleOutputPlan(inputs: CompactionCandidate[], reason: string): CompactionPlan {
  return { inputs, outputLevel: 0, maxOutputBytes: Infinity, moveOnly: false, reason };
}

/** tombstoneCompactionCandidate's choice as a plan of its own, or null. */
export function tombstoneCompactionPlan(
  sstables: readonly CompactionCandidate[],
  compacting: ReadonlySet<number>,
  nowSeconds: number,
  gcGraceSeconds: number,
  options: TombstoneCompactionOptions,
  ages: SSTableAges,
): CompactionPlan | null {
  const gcBefore = nowSeconds - gcGraceSeconds;
  const single = tombstoneCompactionCandidate(sstables, compacting, nowSeconds, gcBefore, options, ages);
  if (single === null) return null;
  const percent = Math.round(droppableTombstoneRatio(single.stats, gcBefore, nowSeconds) * 100);
  return singleOutputPlan([single], `tombstone compaction: about ${percent}% droppable tombstones`);
}

function overlapsOlderData(sstable: CompactionCandidate, sstables: readonly CompactionCandidate[]): boolean {
  const span = spanOf(sstable);
  return sstables.some(
    (other) =>
      other.generation !== sstable.generation &&
      other.stats.minTimestamp <= sstable.stats.maxTimestamp &&
      spansOverlap(span, spanOf(other)),
  );
}
