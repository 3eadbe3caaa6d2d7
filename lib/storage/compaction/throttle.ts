/**
 * Bounds the throughput of background work (compaction_throughput, 64 MiB/s by
 * default) with a token bucket, so that compactions leave disk bandwidth to reads,
 * writes and flushes.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The time source of a throttle. Any lib/model/clock.ts Clock that follows real time
 * will do (waits then use real timers); tests inject one with its own `sleep` that
 * moves its time forward.
 */
export interface ThrottleClock {
  /** Milliseconds; must not go backwards. */
  nowMillis(): number;
  sleep?(ms: number): Promise<void>;
}

export const SYSTEM_THROTTLE_CLOCK: ThrottleClock = { nowMillis: () => performance.now() };

/** Unused allowance accumulates up to this many seconds' worth: enough to absorb the
 *  unevenness of chunked I/O, too little for a long burst after an idle spell. */
const BURST_SECONDS = 1;

export const DEFAULT_COMPACTION_THROUGHPUT_BYTES_PER_SECOND = 64 * 1024 * 1024;

export class Throttle {
  /** Bytes that may pass now; negative when consumers have borrowed ahead and must wait. */
  private available = 0;
  private lastRefillMillis: number;

  /** `bytesPerSecond` 0 means unthrottled. */
  constructor(
    private bytesPerSecond: number,
    private readonly clock: ThrottleClock = SYSTEM_THROTTLE_CLOCK,
  ) {
    if (!(bytesPerSecond >= 0)) throw new RangeError(`throughput must be >= 0 bytes/s, got ${bytesPerSecond}`);
    this.lastRefillMillis = clock.nowMillis();
  }

  get rateBytesPerSecond(): number {
    return this.bytesPerSecond;
  }

  /** Changes the rate (nodetool setcompactionthroughput); 0 lifts the limit. */
  setRate(bytesPerSecond: number): void {
    if (!(bytesPerSecond >= 0)) throw new RangeError(`throughput must be >= 0 bytes/s, got ${bytesPerSecond}`);
    this.refill();
    this.bytesPerSecond = bytesPerSecond;
    this.available = Math.min(this.available, bytesPerSecond * BURST_SECONDS);
  }

  /**
   * Resolves once `bytes` may pass. A consumer takes its bytes at once, going into
   * debt if need be, and waits until the debt is paid off: so any amount passes in
   * one call, and concurrent consumers queue behind each other's debt in call order.
   * `signal` ends the wait early (rejecting): a stopped compaction does not sleep on.
   */
  async consume(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond === 0 || bytes <= 0) return;
    this.refill();
    this.available -= bytes;
    if (this.available >= 0) return;
    const waitMs = (-this.available / this.bytesPerSecond) * 1000;
    await (this.clock.sleep === undefined ? sleep(waitMs, undefined, { signal }) : this.clock.sleep(waitMs));
  }

  private refill(): void {
    const now = this.clock.nowMillis();
    const elapsedSeconds = (now - this.lastRefillMillis) / 1000;
    this.lastRefillMillis = now;
    if (this.bytesPerSecond === 0) return;
    this.available = Math.min(this.available + elapsedSeconds * this.bytesPerSecond, this.bytesPerSecond * BURST_SECONDS);
  }
}
