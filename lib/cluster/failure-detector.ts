/**
 * Phi-accrual failure detector (Hayashibara et al.), with the simplifications Cassandra's
 * `FailureDetector` makes. Pure: the caller passes the time of every observation, so
 * tests drive it with a simulated clock.
 *
 * For each endpoint we keep the inter-arrival times of its heartbeats in a bounded
 * window. Inter-arrival times are modelled as exponentially distributed with the window's
 * mean, so the probability that the next heartbeat is still to come after `t` ms of
 * silence is `e^(-t / mean)` and
 *
 *     phi = -log10(e^(-t / mean)) = PHI_FACTOR * t / mean,   PHI_FACTOR = 1 / ln(10)
 *
 * An endpoint is convicted (DOWN) once phi exceeds the convict threshold (cassandra.yaml's
 * `phi_convict_threshold`, default 8). With steady 1 s heartbeats that is 8 / PHI_FACTOR
 * ≈ 18.4 s of silence.
 *
 * Assumptions taken from Cassandra:
 * - The first heartbeat from an endpoint has no predecessor, so the window starts with an
 *   assumed interval of `initialIntervalMs` (2 s, Cassandra's `fd_initial_value_ms`).
 *   Erring high means a new endpoint is convicted late rather than flapping early: with
 *   only that sample, conviction takes ≈ 36.8 s.
 * - Intervals longer than `intervalMsMax` (2 s, Cassandra's `fd_max_interval_ms`) are not
 *   recorded: a long pause (partition, GC, restart) would otherwise inflate the mean and
 *   make the next real failure slow to detect.
 */

import { assert } from '../errors.js';

/** 1 / ln(10): turns `t / mean` (natural-log units) into a base-10 phi. */
export const PHI_FACTOR = 1 / Math.LN10;

export type Liveness = 'UP' | 'DOWN';

export interface FailureDetectorOptions {
  /** phi above which an endpoint is DOWN; Cassandra's `phi_convict_threshold`. */
  readonly phiConvictThreshold?: number;
  /** Inter-arrival samples kept per endpoint. */
  readonly windowSamplesMax?: number;
  /** Interval assumed before the second heartbeat of an endpoint is seen. */
  readonly initialIntervalMs?: number;
  /** Intervals above this are not recorded. */
  readonly intervalMsMax?: number;
}

export const DEFAULT_PHI_CONVICT_THRESHOLD = 8;
export const DEFAULT_WINDOW_SAMPLES_MAX = 1000;
export const DEFAULT_INITIAL_INTERVAL_MS = 2000;
export const DEFAULT_INTERVAL_MS_MAX = 2000;

/**
 * The recent inter-arrival times of one endpoint in a ring buffer, with a running sum so
 * the mean costs O(1) per phi computation.
 */
class ArrivalWindow {
  private readonly intervals: Float64Array;
  private count = 0;
  private next = 0;
  private sum = 0;

  constructor(
    samplesMax: number,
    /** Time of the last heartbeat, ms. */
    public lastArrivalMs: number,
  ) {
    this.intervals = new Float64Array(samplesMax);
  }

  add(intervalMs: number): void {
    if (this.count === this.intervals.length) this.sum -= this.intervals[this.next];
    else this.count++;
    this.intervals[this.next] = intervalMs;
    this.sum += intervalMs;
    this.next = (this.next + 1) % this.intervals.length;
  }

  mean(): number {
    return this.sum / this.count;
  }
}

export class FailureDetector {
  readonly phiConvictThreshold: number;
  private readonly windowSamplesMax: number;
  private readonly initialIntervalMs: number;
  private readonly intervalMsMax: number;
  private readonly windows = new Map<string, ArrivalWindow>();

  constructor(options: FailureDetectorOptions = {}) {
    this.phiConvictThreshold = options.phiConvictThreshold ?? DEFAULT_PHI_CONVICT_THRESHOLD;
    this.windowSamplesMax = options.windowSamplesMax ?? DEFAULT_WINDOW_SAMPLES_MAX;
    this.initialIntervalMs = options.initialIntervalMs ?? DEFAULT_INITIAL_INTERVAL_MS;
    this.intervalMsMax = options.intervalMsMax ?? DEFAULT_INTERVAL_MS_MAX;
    // Config validation rejects bad values with a message naming the key; these guard callers.
    assert(this.phiConvictThreshold > 0, `phi_convict_threshold must be positive, got ${this.phiConvictThreshold}`);
    assert(
      Number.isInteger(this.windowSamplesMax) && this.windowSamplesMax >= 1,
      `failure detector window must hold at least one sample, got ${this.windowSamplesMax}`,
    );
    assert(this.initialIntervalMs > 0 && this.intervalMsMax > 0, 'failure detector intervals must be positive');
  }

  /** Records a heartbeat from `endpoint` received at `nowMs`. */
  report(endpoint: string, nowMs: number): void {
    const window = this.windows.get(endpoint);
    if (window === undefined) {
      const created = new ArrivalWindow(this.windowSamplesMax, nowMs);
      created.add(this.initialIntervalMs);
      this.windows.set(endpoint, created);
      return;
    }
    const intervalMs = nowMs - window.lastArrivalMs;
    // A clock that went backwards (or a duplicate report) carries no information.
    if (intervalMs <= 0) return;
    if (intervalMs <= this.intervalMsMax) window.add(intervalMs);
    window.lastArrivalMs = nowMs;
  }

  /**
   * Suspicion that `endpoint` is down at `nowMs`. 0 for an endpoint never reported:
   * without heartbeats there is nothing to accrue from (Cassandra ignores such endpoints too).
   */
  phi(endpoint: string, nowMs: number): number {
    const window = this.windows.get(endpoint);
    if (window === undefined) return 0;
    const silenceMs = Math.max(0, nowMs - window.lastArrivalMs);
    return (PHI_FACTOR * silenceMs) / window.mean();
  }

  interpret(endpoint: string, nowMs: number): Liveness {
    return this.phi(endpoint, nowMs) > this.phiConvictThreshold ? 'DOWN' : 'UP';
  }

  /** Forgets an endpoint's history, e.g. when it restarts after being convicted. */
  remove(endpoint: string): void {
    this.windows.delete(endpoint);
  }
}
