/**
 * Size-tiered compaction (Cassandra's STCS, the default): SSTables of similar size are
 * grouped into buckets, and a bucket with enough members is merged into one SSTable
 * about their combined size. Each piece of data is rewritten about log(data/flush)
 * times; reads may have to look at one SSTable per tier.
 */
import type { SizeTieredOptions } from './options.js';
import {
  SSTableAges,
  byDiskBytes,
  singleOutputPlan,
  tombstoneCompactionPlan,
  totalDiskBytes,
  type CompactionCandidate,
  type CompactionPlan,
  type CompactionStrategy,
} from './plan.js';

/**
 * Groups SSTables by size: sorted by size, each joins the bucket whose average it is
 * within [bucket_low, bucket_high] times of, or a new bucket; SSTables below
 * min_sstable_size all go to the small bucket, however different their sizes, so
 * that many tiny flushes do not sit in separate buckets forever.
 */
export function sizeTieredBuckets(
  sstables: readonly CompactionCandidate[],
  options: SizeTieredOptions,
): CompactionCandidate[][] {
  const buckets: { members: CompactionCandidate[]; averageBytes: number }[] = [];
  for (const sstable of [...sstables].sort(byDiskBytes)) {
    const size = sstable.stats.diskBytes;
    // Sizes ascend, so the newest bucket has the largest average: if any bucket fits
    // this SSTable, the newest does.
    const bucket = buckets.at(-1);
    const fits =
      bucket !== undefined &&
      ((size > bucket.averageBytes * options.bucketLow && size < bucket.averageBytes * options.bucketHigh) ||
        (size < options.minSSTableBytes && bucket.averageBytes < options.minSSTableBytes));
    if (fits) {
      bucket.averageBytes = (bucket.averageBytes * bucket.members.length + size) / (bucket.members.length + 1);
      bucket.members.push(sstable);
    } else {
      buckets.push({ members: [sstable], averageBytes: size });
    }
  }
  return buckets.map((bucket) => bucket.members);
}

/**
 * The bucket to compact: among those with at least min_threshold SSTables, each cut
 * to its max_threshold smallest, the one with the smallest average size — the
 * cheapest compaction that removes the most SSTables per byte rewritten. (Cassandra
 * also weighs read hotness, which sibyl does not track.) Null when none qualifies.
 */
export function mostInterestingBucket(
  buckets: readonly CompactionCandidate[][],
  options: SizeTieredOptions,
): CompactionCandidate[] | null {
  let best: CompactionCandidate[] | null = null;
  let bestAverage = Infinity;
  for (const bucket of buckets) {
    if (bucket.length < options.minThreshold) continue;
    const trimmed = bucket.slice(0, options.maxThreshold);
    const average = totalDiskBytes(trimmed) / trimmed.length;
    if (average < bestAverage) {
      best = trimmed;
      bestAverage = average;
    }
  }
  return best;
}

/** Compactions to bring every bucket below min_threshold: each takes at most max_threshold. */
export function sizeTieredPending(sstables: readonly CompactionCandidate[], options: SizeTieredOptions): number {
  let pending = 0;
  for (const bucket of sizeTieredBuckets(sstables, options)) {
    if (bucket.length >= options.minThreshold) pending += Math.ceil(bucket.length / options.maxThreshold);
  }
  return pending;
}

export class SizeTieredStrategy implements CompactionStrategy {
  private readonly ages = new SSTableAges();

  constructor(
    private readonly options: SizeTieredOptions,
    private readonly gcGraceSeconds: number,
  ) {}

  next(sstables: readonly CompactionCandidate[], compacting: ReadonlySet<number>, nowSeconds: number): CompactionPlan | null {
    this.ages.observe(sstables, nowSeconds);
    if (!this.options.enabled) return null;
    const available = sstables.filter((sstable) => !compacting.has(sstable.generation));
    const bucket = mostInterestingBucket(sizeTieredBuckets(available, this.options), this.options);
    if (bucket !== null) {
      const averageBytes = Math.round(totalDiskBytes(bucket) / bucket.length);
      return singleOutputPlan(bucket, `size-tiered: ${bucket.length} SSTables of about ${averageBytes} bytes`);
    }
    return tombstoneCompactionPlan(sstables, compacting, nowSeconds, this.gcGraceSeconds, this.options, this.ages);
  }

  all(sstables: readonly CompactionCandidate[]): CompactionPlan[] {
    // Even one SSTable is worth rewriting in a major compaction: it purges tombstones.
    return sstables.length === 0 ? [] : [singleOutputPlan([...sstables], `major compaction of ${sstables.length} SSTables`)];
  }

  pending(sstables: readonly CompactionCandidate[]): number {
    return this.options.enabled ? sizeTieredPending(sstables, this.options) : 0;
  }
}
