/**
 * UUID helpers: string ↔ bytes, random (version 4) and time-based (version 1) UUIDs,
 * the minTimeuuid/maxTimeuuid bounds, and the two orders Cassandra defines on UUIDs.
 *
 * A version 1 UUID packs a 60-bit timestamp — 100 ns ticks since 1582-10-15, the start
 * of the Gregorian calendar — as time_low (bytes 0-3), time_mid (4-5) and
 * time_hi_and_version (6-7, version in the top nibble), followed by the clock sequence
 * (8-9, variant in the top bits) and the node (10-15).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Milliseconds from 1582-10-15T00:00Z (the UUID epoch) to the Unix epoch. */
const gregorianOffsetMillis = 12_219_292_800_000n;
const ticksPerMilli = 10_000n;

export function isUuidString(text: string): boolean {
  return uuidPattern.test(text);
}

/** Parses the 8-4-4-4-12 hex form (any case). Throws InvalidRequest on anything else. */
export function uuidToBytes(uuid: string): Buffer {
  if (!uuidPattern.test(uuid)) throw new InvalidRequest(`Invalid UUID string: ${uuid}`);
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/** The canonical lower-case string form of 16 UUID bytes. */
export function bytesToUuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new InvalidRequest(`A UUID is 16 bytes, got ${bytes.length}`);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A random (version 4) UUID, as uuid() returns. */
export function randomUuid(): string {
  return randomUUID();
}

/** The version nibble of serialized UUID bytes. */
export function uuidVersion(bytes: Buffer): number {
  return bytes[6]! >> 4;
}

/** Writes a version 1 UUID for `ticks` (100 ns units since the UUID epoch) and the
 *  8 bytes of clock sequence + node in `tail`. */
function timeUuidBytes(ticks: bigint, tail: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeUInt32BE(Number(ticks & 0xffffffffn), 0);
  bytes.writeUInt16BE(Number((ticks >> 32n) & 0xffffn), 4);
  bytes.writeUInt16BE(Number((ticks >> 48n) & 0x0fffn) | 0x1000, 6);
  tail.copy(bytes, 8);
  return bytes;
}

/** The 60-bit timestamp of a version 1 UUID, in 100 ns ticks since the UUID epoch. */
function ticksOf(bytes: Buffer): bigint {
  const high = BigInt(bytes.readUInt16BE(6) & 0x0fff);
  const mid = BigInt(bytes.readUInt16BE(4));
  const low = BigInt(bytes.readUInt32BE(0));
  return (high << 48n) | (mid << 32n) | low;
}

/** Milliseconds since the Unix epoch encoded in a version 1 UUID (dateOf/toTimestamp). */
export function timeuuidToMillis(uuid: string | Buffer): number {
  const bytes = typeof uuid === 'string' ? uuidToBytes(uuid) : uuid;
  if (uuidVersion(bytes) !== 1) throw new InvalidRequest(`${bytesToUuid(bytes)} is not a time-based (version 1) UUID`);
  // Ticks are unsigned, so bigint division (which truncates) is the floor here.
  return Number(ticksOf(bytes) / ticksPerMilli - gregorianOffsetMillis);
}

/** Clock sequence and node of the bounds: all-zero sorts first and all-one sorts last
 *  under compareTimeuuid's unsigned byte tie-break, whatever a generated UUID holds. */
const minTail = Buffer.alloc(8, 0x00);
const maxTail = Buffer.alloc(8, 0xff);

/**
 * The smallest ('min') or greatest ('max') timeuuid whose time is `ms`, for
 * minTimeuuid()/maxTimeuuid(): every timeuuid generated within that millisecond sorts
 * between the two. The results are range bounds, not identifiers to store.
 */
export function timeuuidFromMillis(ms: number, bound: 'min' | 'max'): string {
  if (!Number.isSafeInteger(ms)) throw new InvalidRequest(`Invalid timestamp ${ms} for a timeuuid`);
  const first = (BigInt(ms) + gregorianOffsetMillis) * ticksPerMilli;
  if (first < 0n || first >= 1n << 60n) throw new InvalidRequest(`Timestamp ${ms} is outside the range of a timeuuid`);
  const ticks = bound === 'min' ? first : first + ticksPerMilli - 1n;
  return bytesToUuid(timeUuidBytes(ticks, bound === 'min' ? minTail : maxTail));
}

/**
 * Produces version 1 UUIDs (now()) from an injected clock. Each call returns a UUID
 * strictly greater in time than the previous one: within one millisecond the 100 ns
 * sub-millisecond ticks count up, and if the clock steps back the ticks keep counting
 * from the last value until the clock catches up. The clock sequence and node are
 * chosen once per generator (randomly unless given), so two generators — two nodes —
 * produce distinct UUIDs even for the same instant.
 */
export class TimeUuidGenerator {
  private lastTicks = -1n;
  /** Clock sequence (with the RFC 4122 variant bits) followed by the node id. */
  private readonly tail: Buffer;

  constructor(
    private readonly clock: Pick<Clock, 'nowMillis'>,
    identity: { clockSequence?: number; node?: Buffer } = {},
  ) {
    const clockSequence = identity.clockSequence ?? randomBytes(2).readUInt16BE(0);
    const node = identity.node ?? randomBytes(6);
    if (node.length !== 6) throw new RangeError('A UUID node id is 6 bytes');
    this.tail = Buffer.allocUnsafe(8);
    this.tail.writeUInt16BE((clockSequence & 0x3fff) | 0x8000, 0);
    node.copy(this.tail, 2);
    // A random node id sets the multicast bit so it cannot clash with a real MAC (RFC 4122 §4.5).
    if (identity.node === undefined) this.tail[2]! |= 0x01;
  }

  /** The next timeuuid, as a lower-case string. */
  next(): string {
    return bytesToUuid(this.nextBytes());
  }

  nextBytes(): Buffer {
    const nowTicks = (BigInt(this.clock.nowMillis()) + gregorianOffsetMillis) * ticksPerMilli;
    this.lastTicks = nowTicks > this.lastTicks ? nowTicks : this.lastTicks + 1n;
    return timeUuidBytes(this.lastTicks, this.tail);
  }
}

/** Compares the 60-bit timestamps of two version 1 UUIDs without allocating. */
function compareTimestamps(a: Buffer, b: Buffer): number {
  return (
    (a.readUInt16BE(6) & 0x0fff) - (b.readUInt16BE(6) & 0x0fff) ||
    a.readUInt16BE(4) - b.readUInt16BE(4) ||
    a.readUInt32BE(0) - b.readUInt32BE(0)
  );
}

/** TimeUUIDType's order: by timestamp, then by the remaining bytes (unsigned). */
export function compareTimeuuid(a: Buffer, b: Buffer): number {
  return compareTimestamps(a, b) || Buffer.compare(a.subarray(8), b.subarray(8));
}

/**
 * UUIDType's order: by version first; two version 1 UUIDs by time (as timeuuid); any
 * other pair by their bytes (unsigned).
 */
export function compareUuid(a: Buffer, b: Buffer): number {
  const byVersion = uuidVersion(a) - uuidVersion(b);
  if (byVersion !== 0) return byVersion;
  return uuidVersion(a) === 1 ? compareTimeuuid(a, b) : Buffer.compare(a, b);
}
