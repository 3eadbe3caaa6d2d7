/**
 * The commit log's on-disk format, version 1: the one place that knows its bytes.
 *
 * A commit log is a directory of segment files named `CommitLog-<version>-<segmentId>.log`.
 * Segment ids increase over the life of the node (each run starts above the largest id
 * on disk and above the wall clock in milliseconds), so replay order is id order. A
 * segment is preallocated to its full size by truncation, so the unwritten rest of it
 * reads as zeros. All integers are little-endian.
 *
 * Segment header, at offset 0 (SEGMENT_HEADER_BYTES = 20 bytes):
 *
 *     0  u32  magic 0x4c434253 (the bytes "SBCL")
 *     4  u16  format version (COMMITLOG_VERSION)
 *     6  u16  flags, 0 (reserved)
 *     8  u64  segment id, equal to the one in the file name
 *    16  u32  CRC32C of bytes 0..15
 *
 * Records follow back to back from offset 20; each one (RECORD_OVERHEAD_BYTES = 12
 * bytes plus its payload):
 *
 *     0    u32  payload length n, at least 1
 *     4    u32  CRC32C of the 4 length bytes (so a damaged length is never trusted)
 *     8    n    payload: one encoded mutation (lib/storage/mutation-codec.ts), opaque here
 *     8+n  u32  CRC32C of the payload
 *
 * End of the written data: 8 zero bytes where a record would start (length 0 and its
 * CRC 0: the preallocated area), or fewer than 8 bytes left in the file. A zero length
 * with a non-zero CRC is corruption rather than an end, so that a damaged length field
 * cannot silently hide the records after it.
 *
 * A record's position (CommitLogPosition) is (segment id, offset just after the record).
 */
import { assert } from '../../errors.js';
import { crc32c, crc32cOfUint32LE } from '../crc.js';

export const COMMITLOG_VERSION = 1;
export const SEGMENT_MAGIC = 0x4c434253;
export const SEGMENT_HEADER_BYTES = 20;
export const RECORD_HEADER_BYTES = 8;
export const RECORD_OVERHEAD_BYTES = 12;

const SEGMENT_FILE_NAME = /^CommitLog-(\d+)-(\d+)\.log$/;

export function segmentFileName(segmentId: number): string {
  return `CommitLog-${COMMITLOG_VERSION}-${segmentId}.log`;
}

/** The version and id a segment file name carries, or null when the name is not a segment's. */
export function parseSegmentFileName(name: string): { version: number; segmentId: number } | null {
  const match = SEGMENT_FILE_NAME.exec(name);
  if (!match) return null;
  const segmentId = Number(match[2]);
  return Number.isSafeInteger(segmentId) ? { version: Number(match[1]), segmentId } : null;
}

export function encodeSegmentHeader(segmentId: number): Buffer {
  assert(Number.isSafeInteger(segmentId) && segmentId >= 0, `segment id ${segmentId} is a safe non-negative integer`);
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  header.writeUInt32LE(SEGMENT_MAGIC, 0);
  header.writeUInt16LE(COMMITLOG_VERSION, 4);
  header.writeUInt16LE(0, 6);
  header.writeBigUInt64LE(BigInt(segmentId), 8);
  header.writeUInt32LE(crc32c(header.subarray(0, 16)), 16);
  return header;
}

export type SegmentHeaderCheck =
  | { kind: 'valid'; segmentId: number }
  /** All zeros or cut short: the segment was created but its header never reached the disk. */
  | { kind: 'blank' }
  | { kind: 'unsupported'; version: number }
  | { kind: 'corrupt' };

export function decodeSegmentHeader(bytes: Buffer): SegmentHeaderCheck {
  if (bytes.length < SEGMENT_HEADER_BYTES || bytes.subarray(0, SEGMENT_HEADER_BYTES).every((byte) => byte === 0)) {
    return { kind: 'blank' };
  }
  if (bytes.readUInt32LE(0) !== SEGMENT_MAGIC || crc32c(bytes.subarray(0, 16)) !== bytes.readUInt32LE(16)) {
    return { kind: 'corrupt' };
  }
  const version = bytes.readUInt16LE(4);
  if (version !== COMMITLOG_VERSION) return { kind: 'unsupported', version };
  const segmentId = bytes.readBigUInt64LE(8);
  if (segmentId > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: 'corrupt' };
  return { kind: 'valid', segmentId: Number(segmentId) };
}

/**
 * Frames `payload` as one record into `target` at `offset` (which must have room for
 * RECORD_OVERHEAD_BYTES + payload.length bytes); returns the offset just after it. The payload CRC is
 * computed on the caller's bytes in place.
 */
export function writeRecord(target: Buffer, offset: number, payload: Uint8Array): number {
  const length = payload.length;
  assert(length > 0, 'a commit log record has a non-empty payload');
  target.writeUInt32LE(length, offset);
  target.writeUInt32LE(crc32cOfUint32LE(length), offset + 4);
  target.set(payload, offset + RECORD_HEADER_BYTES);
  target.writeUInt32LE(crc32c(payload), offset + RECORD_HEADER_BYTES + length);
  return offset + RECORD_HEADER_BYTES + length + 4;
}

/**
 * What the 8 header bytes of a record say, given `room`, the bytes from the record's
 * start to the end of the file: the end of written data, a record whose length can be
 * trusted (its payload still needs checkPayload), or corruption.
 */
export function checkRecordHeader(length: number, lengthCrc: number, room: number): 'end' | 'valid' | 'corrupt' {
  if (length === 0) return lengthCrc === 0 ? 'end' : 'corrupt';
  if (crc32cOfUint32LE(length) !== lengthCrc) return 'corrupt';
  return length + RECORD_OVERHEAD_BYTES <= room ? 'valid' : 'corrupt';
}

/** Whether the payload of `length` bytes at `payloadOffset` of `bytes` matches the CRC stored after it. */
export function checkPayload(bytes: Buffer, payloadOffset: number, length: number): boolean {
  const payloadEnd = payloadOffset + length;
  return crc32c(bytes.subarray(payloadOffset, payloadEnd)) === bytes.readUInt32LE(payloadEnd);
}
