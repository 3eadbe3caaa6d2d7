/**
 * Partition updates from protobuf bytes (protocol/mutation.proto), decoded by hand in
 * one pass straight into model objects. protobufjs built a message object per row and
 * cell and then this module copied each into its model shape: decoding was a third of
 * a flush rebuilt from the memtable's update bytes (flush-source.ts), and weighs on
 * replay and on every MUTATION a replica receives. A flush also reads a key written
 * once in one plain row straight into a FlatRow (`readFlatRow`), making no objects.
 *
 * Standard proto3: fields in any order, unknown fields and fields of an unexpected wire
 * type skipped, a later occurrence of a singular field replacing an earlier one, absent
 * scalars at their defaults. Integers are read exactly up to 2^53 (every sibyl
 * timestamp is a safe integer). TTLs and local deletion times were int32 fields and are
 * int64 now, the same bytes for any value an int32 holds: an expiry past 2038 (a TTL of
 * more than ~11 years) no longer comes back negative, as if long expired.
 */
import { ProtocolError } from '../errors.js';
import type { Cell, DeletionTime, LivenessInfo } from '../model/cell.js';
import type { ClusteringBound } from '../model/clustering.js';
import type { ComplexColumn, Partition, PartitionUpdate, RangeTombstone, Row } from '../model/partition.js';
import { murmur3Token } from '../model/token.js';
import type { FlatRow } from './flat-row.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const EMPTY = Buffer.alloc(0);

function malformed(what: string): ProtocolError {
  return new ProtocolError(`Malformed mutation: ${what}`);
}

/** A cell as read, before the row knows whether its column is simple or a collection. */
interface ReadCell {
  readonly column: string;
  readonly cell: Cell;
  readonly hasPath: boolean;
}

/**
 * Strings of up to this many bytes — column names, table ids: a handful of distinct
 * values repeated in every cell and update — come from a small cache instead of a
 * fresh string each time.
 */
const NAME_CACHE_BYTES_MAX = 48;
const NAME_CACHE_SLOTS = 64;
const cachedBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(NAME_CACHE_SLOTS).fill(undefined);
const cachedStrings: string[] = new Array<string>(NAME_CACHE_SLOTS).fill('');

/** buf[start, stop) as UTF-8, from the cache when the same bytes were read before. */
function cachedString(buf: Buffer, start: number, stop: number): string {
  const length = stop - start;
  if (length === 0) return '';
  const slot = (length * 31 + buf[start] * 7 + buf[stop - 1]) & (NAME_CACHE_SLOTS - 1);
  const held = cachedBytes[slot];
  if (held !== undefined && held.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (held[i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cachedStrings[slot];
  }
  const text = buf.toString('utf8', start, stop);
  cachedBytes[slot] = Buffer.from(buf.subarray(start, stop));
  cachedStrings[slot] = text;
  return text;
}

/** The fields of the Cell message read last (MutationDecoder.cellFields): module
 *  registers rather than an object per cell. Ranges are in the decoder's buffer. */
const cellFields = {
  column: '',
  timestamp: 0,
  tombstone: false,
  valueStart: 0,
  valueEnd: 0,
  ttl: 0,
  localDeletionTime: 0,
  pathStart: 0,
  pathEnd: 0,
  hasPath: false,
  /** Whether the cell had a path or has_path field at all. */
  pathSeen: false,
  /** Whether every field was one this version knows. */
  known: true,
};

/**
 * Reads one buffer. Not reentrant: `decodeMutation` and `decodeUpdate` use one module
 * instance, and nothing here awaits.
 */
class MutationDecoder {
  private buf: Buffer = EMPTY;
  private at = 0;

  /** Every update of a Mutation. */
  mutation(bytes: Uint8Array): PartitionUpdate[] {
    const updates: PartitionUpdate[] = [];
    this.eachUpdate(bytes, (start, end) => updates.push(this.single(bytes, start, end, null)));
    return updates;
  }

  /** Calls `visit` with the [start, end) of every PartitionUpdate message of a Mutation, decoding nothing. */
  eachUpdate(bytes: Uint8Array, visit: (start: number, end: number) => void): void {
    const end = bytes.length;
    this.reset(bytes, 0);
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag !== ((1 << 3) | WIRE_BYTES)) {
        this.skip(tag, end);
        continue;
      }
      const length = this.uint32(end);
      const start = this.at;
      const stop = this.limit(length, end);
      visit(start, stop);
      // `visit` may have used this decoder (decoding, readUpdateHeader): go on from the update's end.
      this.reset(bytes, stop);
    }
  }

  /** Fills `updateHeader` with where the table id and key of the update in bytes[start, end) lie. */
  header(bytes: Uint8Array, start: number, end: number): void {
    this.reset(bytes, start);
    updateHeader.tableIdStart = updateHeader.tableIdEnd = updateHeader.keyStart = updateHeader.keyEnd = start;
    let found = 0;
    while (this.at < end && found < 2) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES) || tag === ((2 << 3) | WIRE_BYTES)) {
        const length = this.uint32(end);
        const valueStart = this.at;
        this.at = this.limit(length, end);
        if (tag === ((1 << 3) | WIRE_BYTES)) {
          updateHeader.tableIdStart = valueStart;
          updateHeader.tableIdEnd = this.at;
        } else {
          updateHeader.keyStart = valueStart;
          updateHeader.keyEnd = this.at;
        }
        found++;
      } else {
        this.skip(tag, end);
      }
    }
  }

  private reset(bytes: Uint8Array, start: number): void {
    // protobufjs gives an absent bytes field as an empty array, not a Uint8Array.
    this.buf = Buffer.isBuffer(bytes)
      ? bytes
      : bytes instanceof Uint8Array
        ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : Buffer.from(bytes as ArrayLike<number>);
    this.at = start;
  }

  /** The end of a nested message of `length` bytes starting here, checked against its parent's. */
  private limit(length: number, end: number): number {
    const nested = this.at + length;
    if (nested > end) throw malformed('a nested message runs past its parent');
    return nested;
  }

  /** The PartitionUpdate message in bytes[start, end), its token given when the caller knows it. */
  single(bytes: Uint8Array, start: number, end: number, token: bigint | null): PartitionUpdate {
    this.reset(bytes, start);
    return this.update(end, token);
  }

  private update(end: number, knownToken: bigint | null = null): PartitionUpdate {
    let tableId = '';
    let key: Buffer = EMPTY;
    let deletion: DeletionTime | null = null;
    let staticRow: Row | null = null;
    const rangeTombstones: RangeTombstone[] = [];
    const rows: Row[] = [];
    while (this.at < end) {
      const tag = this.uint32(end);
      switch (tag) {
        case (1 << 3) | WIRE_BYTES:
          tableId = this.string(end);
          break;
        case (2 << 3) | WIRE_BYTES:
          key = this.bytes(end);
          break;
        case (3 << 3) | WIRE_BYTES:
          deletion = this.deletionTime(this.limit(this.uint32(end), end));
          break;
        case (4 << 3) | WIRE_BYTES:
          staticRow = this.row(this.limit(this.uint32(end), end));
          break;
        case (5 << 3) | WIRE_BYTES:
          rangeTombstones.push(this.rangeTombstone(this.limit(this.uint32(end), end)));
          break;
        case (6 << 3) | WIRE_BYTES:
          rows.push(this.row(this.limit(this.uint32(end), end)));
          break;
        default:
          this.skip(tag, end);
      }
    }
    if (tableId.length === 0) throw malformed('an update without a table id');
    const partition: Partition = { key, token: knownToken ?? murmur3Token(key), deletion, staticRow, rangeTombstones, rows };
    return { tableId, partition };
  }

  /**
   * Reads the update in bytes[start, end) into `row` if it is a partition of one plain
   * row (see FlatRow); false if it is anything else — then `row` holds nothing useful
   * and the update is decoded as usual. Fields are read as update() reads them.
   */
  flat(bytes: Uint8Array, start: number, end: number, row: FlatRow): boolean {
    this.reset(bytes, start);
    row.reset(this.buf);
    let rows = 0;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES)) {
        this.at = this.limit(this.uint32(end), end);
      } else if (tag === ((2 << 3) | WIRE_BYTES)) {
        const length = this.uint32(end);
        row.keyStart = this.at;
        row.keyEnd = this.at = this.limit(length, end);
      } else if (tag === ((6 << 3) | WIRE_BYTES) && rows++ === 0) {
        if (!this.flatRow(this.limit(this.uint32(end), end), row)) return false;
      } else {
        return false;
      }
    }
    return rows === 1;
  }

  private flatRow(end: number, row: FlatRow): boolean {
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES)) {
        const length = this.uint32(end);
        const start = this.at;
        this.at = this.limit(length, end);
        row.addClustering(start, this.at);
      } else if (tag === ((2 << 3) | WIRE_BYTES)) {
        const { timestamp, ttl, localDeletionTime } = this.liveness(this.limit(this.uint32(end), end));
        row.hasLiveness = true;
        row.livenessTimestamp = timestamp;
        row.livenessTtl = ttl;
        row.livenessLocalDeletionTime = localDeletionTime;
      } else if (tag === ((4 << 3) | WIRE_BYTES)) {
        if (!this.flatCell(this.limit(this.uint32(end), end), row)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  private flatCell(end: number, row: FlatRow): boolean {
    this.cellFields(end);
    const f = cellFields;
    // A collection element (a path) or a field this version does not know: not plain.
    if (!f.known || f.pathSeen) return false;
    return row.addCell(f.column, f.timestamp, f.tombstone, f.valueStart, f.valueEnd, f.ttl, f.localDeletionTime);
  }

  private deletionTime(end: number): DeletionTime {
    let markedForDeleteAt = 0;
    let localDeletionTime = 0;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_VARINT)) markedForDeleteAt = this.int64(end);
      else if (tag === ((2 << 3) | WIRE_VARINT)) localDeletionTime = this.int64(end);
      else this.skip(tag, end);
    }
    return { markedForDeleteAt, localDeletionTime };
  }

  private liveness(end: number): LivenessInfo {
    let timestamp = 0;
    let ttl = 0;
    let localDeletionTime = 0;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_VARINT)) timestamp = this.int64(end);
      else if (tag === ((2 << 3) | WIRE_VARINT)) ttl = this.int64(end);
      else if (tag === ((3 << 3) | WIRE_VARINT)) localDeletionTime = this.int64(end);
      else this.skip(tag, end);
    }
    return { timestamp, ttl, localDeletionTime };
  }

  private row(end: number): Row {
    const clustering: Buffer[] = [];
    let liveness: LivenessInfo | null = null;
    let deletion: DeletionTime | null = null;
    const read: ReadCell[] = [];
    const complexDeletions: [string, DeletionTime | null][] = [];
    while (this.at < end) {
      const tag = this.uint32(end);
      switch (tag) {
        case (1 << 3) | WIRE_BYTES:
          clustering.push(this.bytes(end));
          break;
        case (2 << 3) | WIRE_BYTES:
          liveness = this.liveness(this.limit(this.uint32(end), end));
          break;
        case (3 << 3) | WIRE_BYTES:
          deletion = this.deletionTime(this.limit(this.uint32(end), end));
          break;
        case (4 << 3) | WIRE_BYTES:
          read.push(this.cell(this.limit(this.uint32(end), end)));
          break;
        case (5 << 3) | WIRE_BYTES:
          complexDeletions.push(this.complexDeletion(this.limit(this.uint32(end), end)));
          break;
        default:
          this.skip(tag, end);
      }
    }
    // Collections with a deletion first, then the others in the order their cells came
    // (what sibyl has always decoded: the encoder writes cells before deletions).
    const cells = new Map<string, Cell>();
    const complex = new Map<string, ComplexColumn>();
    for (const [column, columnDeletion] of complexDeletions) complex.set(column, { deletion: columnDeletion, cells: [] });
    for (const { column, cell, hasPath } of read) {
      if (hasPath) {
        let collection = complex.get(column);
        if (collection === undefined) complex.set(column, (collection = { deletion: null, cells: [] }));
        collection.cells.push(cell);
      } else {
        cells.set(column, cell);
      }
    }
    return { clustering, liveness, deletion, cells, complex };
  }

  private cell(end: number): ReadCell {
    this.cellFields(end);
    const f = cellFields;
    const value = f.valueEnd > f.valueStart ? this.buf.subarray(f.valueStart, f.valueEnd) : EMPTY;
    const path = f.pathEnd > f.pathStart ? this.buf.subarray(f.pathStart, f.pathEnd) : EMPTY;
    const cell: Cell = { timestamp: f.timestamp, value: f.tombstone ? null : value, ttl: f.ttl, localDeletionTime: f.localDeletionTime, path: f.hasPath ? path : undefined };
    return { column: f.column, cell, hasPath: f.hasPath };
  }

  /** Reads a Cell message's fields into `cellFields` (cell() and flatCell() make of them what they need). */
  private cellFields(end: number): void {
    const f = cellFields;
    f.column = '';
    f.timestamp = f.ttl = f.localDeletionTime = 0;
    f.valueStart = f.valueEnd = f.pathStart = f.pathEnd = 0;
    f.tombstone = f.hasPath = f.pathSeen = false;
    f.known = true;
    while (this.at < end) {
      const tag = this.uint32(end);
      switch (tag) {
        case (1 << 3) | WIRE_BYTES:
          f.column = this.string(end);
          break;
        case (2 << 3) | WIRE_VARINT:
          f.timestamp = this.int64(end);
          break;
        case (3 << 3) | WIRE_VARINT:
          f.tombstone = this.int64(end) !== 0;
          break;
        case (4 << 3) | WIRE_BYTES: {
          const length = this.uint32(end);
          f.valueStart = this.at;
          f.valueEnd = this.at = this.limit(length, end);
          break;
        }
        case (5 << 3) | WIRE_VARINT:
          f.ttl = this.int64(end);
          break;
        case (6 << 3) | WIRE_VARINT:
          f.localDeletionTime = this.int64(end);
          break;
        case (7 << 3) | WIRE_BYTES: {
          const length = this.uint32(end);
          f.pathStart = this.at;
          f.pathEnd = this.at = this.limit(length, end);
          f.pathSeen = true;
          break;
        }
        case (8 << 3) | WIRE_VARINT:
          f.hasPath = this.int64(end) !== 0;
          f.pathSeen = true;
          break;
        default:
          this.skip(tag, end);
          f.known = false;
      }
    }
  }

  private complexDeletion(end: number): [string, DeletionTime | null] {
    let column = '';
    let deletion: DeletionTime | null = null;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES)) column = this.string(end);
      else if (tag === ((2 << 3) | WIRE_BYTES)) deletion = this.deletionTime(this.limit(this.uint32(end), end));
      else this.skip(tag, end);
    }
    return [column, deletion];
  }

  private rangeTombstone(end: number): RangeTombstone {
    let start: ClusteringBound | null = null;
    let stop: ClusteringBound | null = null;
    let deletion: DeletionTime | null = null;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES)) start = this.bound(this.limit(this.uint32(end), end));
      else if (tag === ((2 << 3) | WIRE_BYTES)) stop = this.bound(this.limit(this.uint32(end), end));
      else if (tag === ((3 << 3) | WIRE_BYTES)) deletion = this.deletionTime(this.limit(this.uint32(end), end));
      else this.skip(tag, end);
    }
    if (start === null || stop === null || deletion === null) throw malformed('a range tombstone without its bounds or deletion');
    return { start, end: stop, deletion };
  }

  private bound(end: number): ClusteringBound {
    const prefix: Buffer[] = [];
    let inclusive = false;
    while (this.at < end) {
      const tag = this.uint32(end);
      if (tag === ((1 << 3) | WIRE_BYTES)) prefix.push(this.bytes(end));
      else if (tag === ((2 << 3) | WIRE_VARINT)) inclusive = this.int64(end) !== 0;
      else this.skip(tag, end);
    }
    return { prefix, inclusive };
  }

  // ---- scalars ----

  /** A length-delimited field's bytes: a view, not a copy. */
  private bytes(end: number): Buffer {
    const length = this.uint32(end);
    const stop = this.limit(length, end);
    const start = this.at;
    this.at = stop;
    return length === 0 ? EMPTY : this.buf.subarray(start, stop);
  }

  private string(end: number): string {
    const length = this.uint32(end);
    const stop = this.limit(length, end);
    const start = this.at;
    this.at = stop;
    return length <= NAME_CACHE_BYTES_MAX ? cachedString(this.buf, start, stop) : this.buf.toString('utf8', start, stop);
  }

  /** A varint that must fit 32 bits unsigned (tags, lengths). */
  private uint32(end: number): number {
    const buf = this.buf;
    // Tags and most lengths take one byte: that case first.
    if (this.at < end && buf[this.at] < 0x80) return buf[this.at++];
    let value = 0;
    // A multiplier rather than `2 ** shift`, which is a call to Math.pow.
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      if (this.at >= end) throw malformed('a truncated varint');
      const byte = buf[this.at++];
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (value > 0xffffffff) throw malformed('a length or tag above 32 bits');
        return value;
      }
      multiplier *= 0x80;
    }
    throw malformed('a length or tag above 32 bits');
  }

  /** An int64 field as a number: exact for safe integers, negatives included. */
  private int64(end: number): number {
    const buf = this.buf;
    let low = 0;
    let high = 0;
    for (let i = 0; i < 10; i++) {
      if (this.at >= end) throw malformed('a truncated varint');
      const byte = buf[this.at++];
      const bits = byte & 0x7f;
      const shift = 7 * i;
      if (shift < 28) {
        low |= bits << shift;
      } else if (shift === 28) {
        low |= bits << 28;
        high |= bits >>> 4;
      } else {
        high |= bits << (shift - 32);
      }
      if (byte < 0x80) return (high | 0) * 0x100000000 + (low >>> 0);
    }
    throw malformed('a varint longer than ten bytes');
  }

  private skip(tag: number, end: number): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.int64(end);
        return;
      case WIRE_FIXED64:
        this.at = this.limit(8, end);
        return;
      case WIRE_BYTES:
        this.at = this.limit(this.uint32(end), end);
        return;
      case WIRE_FIXED32:
        this.at = this.limit(4, end);
        return;
      default:
        throw malformed(`wire type ${tag & 7}`);
    }
  }
}

/**
 * Where an update's table id and key lie in its bytes (readUpdateHeader), as offsets;
 * a field proto3 left out (an empty value) is an empty range at the update's start.
 * Module registers rather than an object per call.
 */
export const updateHeader = { tableIdStart: 0, tableIdEnd: 0, keyStart: 0, keyEnd: 0 };

const decoder = new MutationDecoder();

/** The [start, end) of every PartitionUpdate message of an encoded Mutation, in order, decoding nothing. */
export function forEachUpdate(bytes: Uint8Array, visit: (start: number, end: number) => void): void {
  decoder.eachUpdate(bytes, visit);
}

/** Reads where the table id and key of the PartitionUpdate in bytes[start, end) lie into `updateHeader`. */
export function readUpdateHeader(bytes: Uint8Array, start: number, end: number): void {
  decoder.header(bytes, start, end);
}

/** Reads the update in bytes[start, end) into `row` if it is a partition of one plain row; see MutationDecoder.flat. */
export function readFlatRow(bytes: Uint8Array, start: number, end: number, row: FlatRow): boolean {
  return decoder.flat(bytes, start, end, row);
}

/** The updates of an encoded Mutation; bytes fields are views over `bytes`. */
export function decodeMutation(bytes: Uint8Array): PartitionUpdate[] {
  return decoder.mutation(bytes);
}

/**
 * One PartitionUpdate message, bytes[start, end) (a Mutation's field 1 without its tag
 * and length), with its key's token when the caller has it already (flush-source.ts).
 */
export function decodeUpdate(bytes: Uint8Array, start: number, end: number, token: bigint | null = null): PartitionUpdate {
  return decoder.single(bytes, start, end, token);
}
