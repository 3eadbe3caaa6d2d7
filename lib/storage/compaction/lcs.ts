/**
 * Leveled compaction (Cassandra's LCS). Flushed SSTables land in L0, where they may
 * overlap. Every level from L1 up is a set of SSTables of about sstable_size_in_mb
 * whose key ranges never overlap, so a read looks at one SSTable per level; level N
 * may hold fanout^N × sstable_size_in_mb bytes. When L0 fills up it is merged into L1;
 * when level N outgrows its target, one of its SSTables (round-robin over the ring)
 * is merged with the SSTables of level N+1 it overlaps.
 *
 * Compactions may run concurrently. The non-overlap invariant holds because a plan
 * writing into level L≥1 is only made when its key span is disjoint from every
 * SSTable being compacted in levels L and L-1: the output of a running compaction
 * into L stays within the span of its inputs, which lie in those two levels.
 */
import type { LeveledOptions } from './options.js';
import {
  SSTableAges,
  comparePositions,
  droppableTombstoneRatio,
  spanOf,
  spanOfAll,
  spansOverlap,
  byFirstKey,
  tombstoneCompactionCandidate,
  totalDiskBytes,
  type CompactionCandidate,
  type CompactionPlan,
  type CompactionStrategy,
  type RingPosition,
  type RingSpan,
} from './plan.js';
import { mostInterestingBucket, sizeTieredBuckets } from './stcs.js';

/** L0 SSTables that make an L0 → L1 compaction worth running. */
const L0_COMPACTION_TRIGGER = 4;
/**
 * Most L0 SSTables one L0 → L1 compaction takes. With more than this in L0, LCS has
 * fallen behind (every L0 → L1 rewrites the overlapping L1), so L0 is first compacted
 * size-tiered within itself, which cuts the SSTable count reads must visit much faster.
 */
const L0_COMPACTING_MAX = 32;

export class LeveledStrategy implements CompactionStrategy {
  private readonly ages = new SSTableAges();
  /** Per level ≥ 1, the last key of the SSTable last picked from it: the next pick
   *  starts after it, so every part of the ring gets its turn. */
  private readonly lastCompacted = new Map<number, RingPosition>();

  constructor(
    private readonly options: LeveledOptions,
    private readonly gcGraceSeconds: number,
  ) {}

  /** The bytes level `level` ≥ 1 may hold before it is compacted into the next. */
  targetBytes(level: number): number {
    return this.options.fanout ** level * this.options.sstableBytes;
  }

  next(sstables: readonly CompactionCandidate[], compacting: ReadonlySet<number>, nowSeconds: number): CompactionPlan | null {
    this.ages.observe(sstables, nowSeconds);
    if (!this.options.enabled) return null;
    const levels = byLevel(sstables);
    const busy = new BusySpans(levels, compacting);
    const level0 = levels[0];
    if (level0.length > L0_COMPACTING_MAX) {
      const plan = this.level0SizeTiered(level0, compacting);
      if (plan !== null) return plan;
    }
    // Higher levels first, as Cassandra does: room made above lets lower levels drain.
    for (let level = levels.length - 1; level >= 1; level--) {
      if (totalDiskBytes(levels[level]) <= this.targetBytes(level)) continue;
      const plan = this.promote(level, levels, compacting, busy);
      if (plan !== null) return plan;
    }
    if (level0.length >= L0_COMPACTION_TRIGGER || totalDiskBytes(level0) > this.targetBytes(1)) {
      const plan = this.level0ToLevel1(levels, compacting, busy);
      if (plan !== null) return plan;
    }
    return this.tombstoneCompaction(sstables, compacting, nowSeconds, busy);
  }

  /** Everything into the lowest level (≥ 1) whose target holds it all, split at
   *  sstable_size_in_mb. The caller makes sure nothing else is compacting. */
  all(sstables: readonly CompactionCandidate[]): CompactionPlan[] {
    if (sstables.length === 0) return [];
    const total = totalDiskBytes(sstables);
    let level = 1;
    while (this.targetBytes(level) < total) level++;
    return [
      {
        inputs: [...sstables],
        outputLevel: level,
        maxOutputBytes: this.options.sstableBytes,
        moveOnly: false,
        reason: `major compaction of ${sstables.length} SSTables into L${level}`,
      },
    ];
  }

  pending(sstables: readonly CompactionCandidate[]): number {
    if (!this.options.enabled) return 0;
    const levels = byLevel(sstables);
    let pending = levels[0].length >= L0_COMPACTION_TRIGGER ? Math.ceil(levels[0].length / L0_COMPACTING_MAX) : 0;
    // Each compaction out of an overfull level moves about one SSTable's worth up.
    for (let level = 1; level < levels.length; level++) {
      const excess = totalDiskBytes(levels[level]) - this.targetBytes(level);
      if (excess > 0) pending += Math.ceil(excess / this.options.sstableBytes);
    }
    return pending;
  }

  private level0SizeTiered(level0: readonly CompactionCandidate[], compacting: ReadonlySet<number>): CompactionPlan | null {
    const available = level0.filter((sstable) => !compacting.has(sstable.generation));
    const bucket = mostInterestingBucket(sizeTieredBuckets(available, this.options), this.options);
    if (bucket === null) return null;
    return {
      inputs: bucket,
      outputLevel: 0,
      maxOutputBytes: Infinity,
      moveOnly: false,
      reason: `L0 behind (${level0.length} SSTables): size-tiered compaction of ${bucket.length} L0 SSTables`,
    };
  }

  /** The oldest L0 SSTables (up to L0_COMPACTING_MAX) and the L1 SSTables overlapping them, into L1. */
  private level0ToLevel1(
    levels: readonly CompactionCandidate[][],
    compacting: ReadonlySet<number>,
    busy: BusySpans,
  ): CompactionPlan | null {
    const fromLevel0 = levels[0]
      .filter((sstable) => !compacting.has(sstable.generation))
      .sort((a, b) => a.generation - b.generation)
      .slice(0, L0_COMPACTING_MAX);
    if (fromLevel0.length === 0) return null;
    const overlapping = overlappingIn(levels[1] ?? [], spanOfAll(fromLevel0));
    if (overlapping.some((sstable) => compacting.has(sstable.generation))) return null;
    const inputs = [...fromLevel0, ...overlapping];
    if (busy.blocksWritesTo(1, spanOfAll(inputs))) return null;
    return {
      inputs,
      outputLevel: 1,
      maxOutputBytes: this.options.sstableBytes,
      moveOnly: false,
      reason: `L0 → L1: ${fromLevel0.length} L0 SSTables with ${overlapping.length} overlapping L1 SSTables`,
    };
  }

  /** The next SSTable of `level` after the last one picked, with what it overlaps in level + 1. */
  private promote(
    level: number,
    levels: readonly CompactionCandidate[][],
    compacting: ReadonlySet<number>,
    busy: BusySpans,
  ): CompactionPlan | null {
    const ordered = [...levels[level]].sort(byFirstKey);
    const last = this.lastCompacted.get(level);
    let start = 0;
    if (last !== undefined) {
      while (start < ordered.length && comparePositions(spanOf(ordered[start]).first, last) <= 0) start++;
    }
    const above = levels[level + 1] ?? [];
    for (let i = 0; i < ordered.length; i++) {
      const sstable = ordered[(start + i) % ordered.length];
      if (compacting.has(sstable.generation)) continue;
      const overlapping = overlappingIn(above, spanOf(sstable));
      if (overlapping.some((other) => compacting.has(other.generation))) continue;
      const inputs = [sstable, ...overlapping];
      if (busy.blocksWritesTo(level + 1, spanOfAll(inputs))) continue;
      this.lastCompacted.set(level, spanOf(sstable).last);
      return {
        inputs,
        outputLevel: level + 1,
        maxOutputBytes: this.options.sstableBytes,
        moveOnly: overlapping.length === 0,
        reason: `L${level} holds ${totalDiskBytes(levels[level])} bytes, over its target of ${this.targetBytes(level)}: L${level} → L${level + 1} with ${overlapping.length} overlapping SSTables`,
      };
    }
    return null;
  }

  /** One SSTable alone, rewritten into its own level to drop its tombstones. */
  private tombstoneCompaction(
    sstables: readonly CompactionCandidate[],
    compacting: ReadonlySet<number>,
    nowSeconds: number,
    busy: BusySpans,
  ): CompactionPlan | null {
    const gcBefore = nowSeconds - this.gcGraceSeconds;
    const single = tombstoneCompactionCandidate(
      sstables,
      compacting,
      nowSeconds,
      gcBefore,
      this.options,
      this.ages,
      (sstable) => sstable.stats.level === 0 || !busy.blocksWritesTo(sstable.stats.level, spanOf(sstable)),
    );
    if (single === null) return null;
    const level = single.stats.level;
    const percent = Math.round(droppableTombstoneRatio(single.stats, gcBefore, nowSeconds) * 100);
    return {
      inputs: [single],
      outputLevel: level,
      // An L0 SSTable stays whole; in L1+ outputs keep the level's SSTable size.
      maxOutputBytes: level === 0 ? Infinity : this.options.sstableBytes,
      moveOnly: false,
      reason: `tombstone compaction in L${level}: about ${percent}% droppable tombstones`,
    };
  }
}

/** SSTables by level; index 0 always exists. */
function byLevel(sstables: readonly CompactionCandidate[]): CompactionCandidate[][] {
  const levels: CompactionCandidate[][] = [[]];
  for (const sstable of sstables) {
    const level = sstable.stats.level;
    while (levels.length <= level) levels.push([]);
    levels[level].push(sstable);
  }
  return levels;
}

function overlappingIn(level: readonly CompactionCandidate[], span: RingSpan): CompactionCandidate[] {
  return level.filter((sstable) => spansOverlap(span, spanOf(sstable))).sort(byFirstKey);
}

/** The key spans of the SSTables being compacted, per level. */
class BusySpans {
  private readonly spans: RingSpan[][];

  constructor(levels: readonly CompactionCandidate[][], compacting: ReadonlySet<number>) {
    this.spans = levels.map((sstables, level) => {
      const busy = sstables.filter((sstable) => compacting.has(sstable.generation));
      if (busy.length === 0) return [];
      // L0 inputs overlap anything and leave gaps between them that their output
      // still covers: the whole span they cover together is busy.
      return level === 0 ? [spanOfAll(busy)] : busy.map(spanOf);
    });
  }

  /** True when a running compaction may write into `level` somewhere within `span`. */
  blocksWritesTo(level: number, span: RingSpan): boolean {
    const overlaps = (spans: readonly RingSpan[] | undefined): boolean =>
      spans !== undefined && spans.some((busy) => spansOverlap(busy, span));
    return overlaps(this.spans[level]) || overlaps(this.spans[level - 1]);
  }
}
