/**
 * Latency histogram with fixed logarithmic buckets: constant memory, O(1) record,
 * percentiles accurate to a bucket (about 10%). Enough for tablestats.
 */
const BUCKETS = 200;
/** Bucket i holds latencies up to MIN_MS * GROWTH^i. */
const MIN_MS = 0.001;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.counts[i]++;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /** The upper bound of the bucket holding the q-quantile (0 when empty). */
  percentile(q: number): number {
    if (this.total === 0) return 0;
    let seen = 0;
    const target = q * this.total;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= target) return MIN_MS * GROWTH ** i;
    }
    return MIN_MS * GROWTH ** (BUCKETS - 1);
  }

  summary(): { count: number; p50Ms: number; p99Ms: number } {
    return { count: this.total, p50Ms: this.percentile(0.5), p99Ms: this.percentile(0.99) };
  }
}
