/**
 * Cell paths for list elements. A non-frozen list stores each element under a
 * timeuuid path, so concurrent appends interleave by time instead of clobbering
 * each other. Appends use increasing times from the clock; prepends use times
 * mirrored around a reference point in the past, so each later prepend sorts
 * before everything written so far (Cassandra does the same).
 */
import type { Clock } from '../model/clock.js';

/** 100 ns intervals between the UUID epoch (1582-10-15) and the Unix epoch. */
const UUID_EPOCH_OFFSET = 0x01b21dd213814000n;
/** Mirror point for prepends: 2010-01-01, in ms since the Unix epoch. */
const PREPEND_REFERENCE_MS = 1262304000000;

function timeuuidBytes(time100ns: bigint, clockSeqAndNode: Buffer): Buffer {
  const out = Buffer.alloc(16);
  const t = time100ns & 0x0fffffffffffffffn;
  out.writeUInt32BE(Number(t & 0xffffffffn), 0);
  out.writeUInt16BE(Number((t >> 32n) & 0xffffn), 4);
  out.writeUInt16BE(Number((t >> 48n) & 0x0fffn) | 0x1000, 6);
  clockSeqAndNode.copy(out, 8);
  return out;
}

export class ListPaths {
  private lastAppend = 0n;
  private lastPrepend = 0n;
  private readonly clockSeqAndNode: Buffer;

  constructor(private readonly clock: Clock) {
    this.clockSeqAndNode = Buffer.from(crypto.getRandomValues(new Uint8Array(8)));
    this.clockSeqAndNode[0] = (this.clockSeqAndNode[0] & 0x3f) | 0x80; // RFC 4122 variant
  }

  /** `count` increasing paths, all after any path this generator made before. */
  append(count: number): Buffer[] {
    let t = BigInt(this.clock.nowMillis()) * 10_000n + UUID_EPOCH_OFFSET;
    if (t <= this.lastAppend) t = this.lastAppend + 1n;
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) out.push(timeuuidBytes(t + BigInt(i), this.clockSeqAndNode));
    this.lastAppend = t + BigInt(count - 1);
    return out;
  }

  /** `count` increasing paths that all sort before any path made before (by either method). */
  prepend(count: number): Buffer[] {
    const mirrored = 2 * PREPEND_REFERENCE_MS - this.clock.nowMillis();
    let start = BigInt(mirrored) * 10_000n + UUID_EPOCH_OFFSET - BigInt(count);
    if (this.lastPrepend !== 0n && start + BigInt(count) > this.lastPrepend) start = this.lastPrepend - BigInt(count);
    this.lastPrepend = start;
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) out.push(timeuuidBytes(start + BigInt(i), this.clockSeqAndNode));
    return out;
  }
}
