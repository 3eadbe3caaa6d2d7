/**
 * Time as the data model sees it. Write timestamps are microseconds since the epoch;
 * TTL expiry and tombstone "local deletion times" are whole seconds, as in Cassandra.
 * Every module that needs the time receives a Clock, so tests can inject one.
 */
export interface Clock {
  /** Microseconds since the epoch; strictly increasing across calls on one clock. */
  nowMicros(): number;
  /** Milliseconds since the epoch. */
  nowMillis(): number;
  /** Whole seconds since the epoch, used for TTL expiry and gc_grace. */
  nowSeconds(): number;
}

/** The wall clock, with microsecond timestamps that never repeat or go backwards. */
export class SystemClock implements Clock {
  private lastMicros = 0;
  /** `offsetMs` shifts this node's notion of time (used by chaos tests for clock skew). */
  constructor(private readonly offsetMs = 0) {}
  nowMillis(): number {
    return Date.now() + this.offsetMs;
  }
  nowMicros(): number {
    // performance.timeOrigin + now() gives sub-millisecond resolution.
    const micros = Math.floor((performance.timeOrigin + performance.now() + this.offsetMs) * 1000);
    this.lastMicros = micros > this.lastMicros ? micros : this.lastMicros + 1;
    return this.lastMicros;
  }
  nowSeconds(): number {
    return Math.floor(this.nowMillis() / 1000);
  }
}

/** A clock that only moves when told to; for deterministic tests. */
export class ManualClock implements Clock {
  private micros: number;
  constructor(startMillis = 1_700_000_000_000) {
    this.micros = startMillis * 1000;
  }
  nowMicros(): number {
    return ++this.micros;
  }
  nowMillis(): number {
    return Math.floor(this.micros / 1000);
  }
  nowSeconds(): number {
    return Math.floor(this.micros / 1_000_000);
  }
  advanceMillis(ms: number): void {
    this.micros += ms * 1000;
  }
  advanceSeconds(s: number): void {
    this.micros += s * 1_000_000;
  }
}
