/**
 * One commit-log segment: what the log tracks about it in memory (which tables it
 * holds unflushed data for), how its file is created, and how its bytes are read back.
 */
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FileHandle, FileSystem } from '../fs.js';
import { RECORD_HEADER_BYTES, checkPayload, checkRecordHeader, encodeSegmentHeader, segmentFileName } from './format.js';

/**
 * pending: records were appended to it but its file does not exist yet;
 * open: the file the writer appends to; closed: full, or found on disk at start-up;
 * deleted: its file was removed.
 */
export type SegmentState = 'pending' | 'open' | 'closed' | 'deleted';

export class Segment {
  readonly path: string;
  /** Table id → offset just after that table's last record here. A table leaves the map once flushed past it. */
  readonly dirty = new Map<string, number>();
  handle: FileHandle | null = null;

  constructor(
    readonly id: number,
    dir: string,
    /** Space the file takes on disk. */
    readonly bytes: number,
    public state: SegmentState,
    /**
     * Holds records whose tables are unknown (found on disk and not replayed, or replayed
     * with an apply callback that named no tables), so no markClean can prove it flushed:
     * it is kept until a later start-up replays it properly.
     */
    public pinned = false,
  ) {
    this.path = path.join(dir, segmentFileName(id));
  }
}

/**
 * Creates a segment's file, preallocated to `segmentBytes` by truncation (the unwritten
 * rest reads as zeros, which marks the end of the data), with its header durable and its
 * directory entry durable before any record goes in, so a crash can only tear records of
 * the newest segment, never make a segment vanish under acknowledged records.
 */
export async function createSegmentFile(fs: FileSystem, dir: string, segment: Segment, segmentBytes: number): Promise<void> {
  const handle = await fs.open(segment.path, 'wx+');
  try {
    await handle.truncate(segmentBytes);
    await handle.write(encodeSegmentHeader(segment.id), 0);
    await handle.sync();
    await fs.syncDir(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  segment.handle = handle;
  segment.state = 'open';
}

const READ_CHUNK_BYTES = 1 << 20;

/** Reads `buffer.length` bytes at `position` unless the file ends first; returns the count read. */
async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let total = 0;
  while (total < buffer.length) {
    const count = await handle.read(buffer, total, buffer.length - total, position + total);
    if (count === 0) break;
    total += count;
  }
  return total;
}

/**
 * Sequential reads of a segment through a 1 MiB window. Every window is a fresh buffer,
 * so a view handed out earlier stays valid while a caller holds it.
 */
export class SegmentReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Bytes [offset, offset + length) of the file, cut short at its end. */
  async view(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.windowStart && end <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, end - this.windowStart);
    }
    const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(Math.max(length, READ_CHUNK_BYTES), this.size - offset)));
    const count = await readFully(this.handle, buffer, offset);
    this.window = buffer.subarray(0, count);
    this.windowStart = offset;
    return this.window.subarray(0, Math.min(count, end - offset));
  }
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);
const SCAN_SLICE_BYTES = 1 << 20;

/** Index just after the last non-zero byte of `bytes` (0 when all are zero). */
function endOfNonZero(bytes: Buffer): number {
  let end = bytes.length;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_CHUNK.length);
    // Compare whole chunks natively; only the last non-zero chunk is walked byte by byte.
    if (!bytes.subarray(start, end).equals(ZERO_CHUNK.subarray(0, end - start))) {
      for (let i = end - 1; i >= start; i--) if (bytes[i] !== 0) return i + 1;
    }
    end = start;
  }
  return 0;
}

/**
 * Looks past a bad record at `offset`: `nextRecord` is the offset of the first intact
 * record after it (-1 when none), `dataEnd` the offset just after the last non-zero byte
 * of the file. The scan yields to the event loop every megabyte of candidates.
 */
export async function inspectPastCorruption(
  handle: FileHandle,
  offset: number,
  size: number,
): Promise<{ nextRecord: number; dataEnd: number }> {
  const rest = Buffer.allocUnsafe(size - offset);
  const count = await readFully(handle, rest, offset);
  const bytes = rest.subarray(0, count);
  const dataEnd = endOfNonZero(bytes);
  for (let sliceStart = 1; sliceStart < dataEnd; sliceStart += SCAN_SLICE_BYTES) {
    const sliceEnd = Math.min(dataEnd, sliceStart + SCAN_SLICE_BYTES, bytes.length - RECORD_HEADER_BYTES + 1);
    for (let candidate = sliceStart; candidate < sliceEnd; candidate++) {
      const length = bytes.readUInt32LE(candidate);
      // Most candidates fail on the length alone (zero, or longer than the file), cheaply.
      if (length === 0 || candidate + length > bytes.length) continue;
      const room = bytes.length - candidate;
      if (checkRecordHeader(length, bytes.readUInt32LE(candidate + 4), room) !== 'valid') continue;
      if (checkPayload(bytes, candidate + RECORD_HEADER_BYTES, length)) {
        return { nextRecord: offset + candidate, dataEnd: offset + dataEnd };
      }
    }
    await yieldToEventLoop();
  }
  return { nextRecord: -1, dataEnd: offset + dataEnd };
}

/** Overwrites [from, to) of a file with zeros and syncs it: how a dropped torn tail is made to read as the end of data. */
export async function zeroRange(fs: FileSystem, filePath: string, from: number, to: number): Promise<void> {
  const handle = await fs.open(filePath, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(to - from, READ_CHUNK_BYTES));
    for (let position = from; position < to; position += zeros.length) {
      await handle.write(zeros.subarray(0, Math.min(zeros.length, to - position)), position);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}
