/**
 * Reading one segment back at start-up, with the rules on damage: a torn record at the
 * tail of the newest segment is what a crash mid-write leaves, so it is dropped (and
 * zeroed, so the next start-up does not meet it again in a segment that is no longer
 * the newest); any other damage means lost acknowledged data, so start-up stops with a
 * CommitLogCorruption naming file and offset, unless the operator chose skipCorrupt.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FileSystem } from '../fs.js';
import {
  COMMITLOG_VERSION,
  RECORD_HEADER_BYTES,
  RECORD_OVERHEAD_BYTES,
  SEGMENT_HEADER_BYTES,
  checkPayload,
  checkRecordHeader,
  decodeSegmentHeader,
} from './format.js';
import { type Segment, SegmentReader, inspectPastCorruption, zeroRange } from './segment.js';

/** A point in the commit log: totally ordered by segment id, then offset (see comparePositions). */
export interface CommitLogPosition {
  readonly segmentId: number;
  readonly offset: number;
}

export interface CommitLogLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Called for each replayed record with its payload (possibly a view into a larger read
 * buffer: copy it to keep it) and its position (just after the record). Return the ids
 * of the tables the record dirties, so that markClean can free the replayed segment
 * once they are flushed; a record for which nothing is returned keeps its segment
 * pinned until a later start-up (see Segment.pinned).
 */
export type ReplayApply = (
  payload: Buffer,
  position: CommitLogPosition,
) => Promise<readonly string[] | void> | readonly string[] | void;

/** The commit log holds damaged data that is not a torn tail; `file` and `offset` say where. */
export class CommitLogCorruption extends Error {
  override readonly name = 'CommitLogCorruption';
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface SegmentReplay {
  records: number;
  /** Bytes of the replayed records, framing included. */
  bytes: number;
  skippedCorrupt: number;
  droppedTornTail: { file: string; offset: number } | null;
  /** The newest segment was created but never written (no header on disk, no record): delete it. */
  neverWritten: boolean;
}

export interface ReplayContext {
  fs: FileSystem;
  apply: ReplayApply;
  skipCorrupt: boolean;
  logger: CommitLogLogger;
}

// Replay hands the event loop back this often, whatever apply costs.
const YIELD_MS = 5;

export async function replaySegment(segment: Segment, newest: boolean, context: ReplayContext): Promise<SegmentReplay> {
  const result: SegmentReplay = { records: 0, bytes: 0, skippedCorrupt: 0, droppedTornTail: null, neverWritten: false };
  const file = segment.path;
  segment.pinned = false;
  segment.dirty.clear();
  let tornTail: { from: number; to: number } | null = null;
  const handle = await context.fs.open(file, 'r');
  try {
    const size = await handle.size();
    const reader = new SegmentReader(handle, size);
    const header = decodeSegmentHeader(await reader.view(0, SEGMENT_HEADER_BYTES));
    if (header.kind === 'unsupported') {
      throw new Error(
        `Unsupported commit log format version ${header.version} in ${file} (this version of sibyl reads version ${COMMITLOG_VERSION})`,
      );
    }
    if (header.kind !== 'valid' || header.segmentId !== segment.id) {
      // A crash while creating the newest segment can leave its header unwritten or torn;
      // with no record after it, nothing was ever acknowledged from it.
      const firstRecord = await reader.view(SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES);
      if (newest && header.kind !== 'valid' && firstRecord.every((byte) => byte === 0)) {
        context.logger.warn({ file }, 'Commit log segment was created but never written; deleting it');
        result.neverWritten = true;
        return result;
      }
      const why =
        header.kind === 'valid'
          ? `its header names segment ${header.segmentId}, not ${segment.id}`
          : 'bad segment header (magic or CRC mismatch)';
      if (!context.skipCorrupt) throw corruption(file, 0, why);
      context.logger.warn({ file, offset: 0 }, `Skipping corrupt commit log segment: ${why}`);
      result.skippedCorrupt++;
      return result;
    }

    let offset = SEGMENT_HEADER_BYTES;
    let lastYield = performance.now();
    while (offset + RECORD_HEADER_BYTES <= size) {
      const head = await reader.view(offset, RECORD_HEADER_BYTES);
      const length = head.readUInt32LE(0);
      let check = checkRecordHeader(length, head.readUInt32LE(4), size - offset);
      if (check === 'end') break;
      let body: Buffer | null = null;
      if (check === 'valid') {
        body = await reader.view(offset + RECORD_HEADER_BYTES, length + 4);
        if (!checkPayload(body, 0, length)) check = 'corrupt';
      }
      if (check === 'corrupt' || body === null) {
        const { nextRecord, dataEnd } = await inspectPastCorruption(handle, offset, size);
        if (nextRecord === -1 && newest) {
          context.logger.warn({ file, offset }, 'Dropping a torn record at the tail of the newest commit log segment');
          result.droppedTornTail = { file, offset };
          tornTail = { from: offset, to: dataEnd };
          break;
        }
        const why =
          nextRecord === -1
            ? 'bad length or checksum in a segment that is not the newest'
            : `bad length or checksum, followed by an intact record at offset ${nextRecord}`;
        if (!context.skipCorrupt) throw corruption(file, offset, why);
        context.logger.warn({ file, offset }, `Skipping corrupt commit log data: ${why}`);
        result.skippedCorrupt++;
        if (nextRecord === -1) break;
        offset = nextRecord;
        continue;
      }
      const end = offset + RECORD_OVERHEAD_BYTES + length;
      const tables = await context.apply(body.subarray(0, length), { segmentId: segment.id, offset: end });
      if (Array.isArray(tables)) for (const tableId of tables) segment.dirty.set(tableId, end);
      else segment.pinned = true;
      result.records++;
      result.bytes += end - offset;
      offset = end;
      if (performance.now() - lastYield > YIELD_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
  } finally {
    await handle.close();
  }
  if (tornTail) await zeroRange(context.fs, file, tornTail.from, tornTail.to);
  return result;
}

function corruption(file: string, offset: number, why: string): CommitLogCorruption {
  return new CommitLogCorruption(
    `Corrupt commit log at ${file}, offset ${offset}: ${why}. ` +
      'Refusing to start, as replaying past it would lose acknowledged writes; ' +
      'set commitlog_replay_skip_corrupt: true to start skipping corrupt data (it is lost).',
    file,
    offset,
  );
}
