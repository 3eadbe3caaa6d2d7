/**
 * The SSTable on-disk format, version 1: the byte layout of every component, its
 * magic and version, and the codecs that write and read it. The writer and the reader
 * share this module, so each layout is written down exactly once, here.
 *
 * Primitives
 * - `u8`, `u16`, `u32`: unsigned, big-endian. `int64`: big-endian two's complement (tokens).
 * - `varint`: unsigned LEB128 (7 bits per byte, low groups first, 0x80 = more) of a
 *   safe integer (< 2^53, at most 8 bytes).
 * - `svarint`: a signed safe integer. The first byte holds 0x80 "more", 0x40 "negative"
 *   and the magnitude's low 6 bits; a varint of the rest of the magnitude follows when
 *   "more" is set. (Zigzag would need 54 bits for the extremes of the safe range.)
 * - `bytes`: varint length, then the bytes. `string`: `bytes` of UTF-8.
 * - `clustering`: varint component count, then each component as `bytes`.
 * - `bound`: u8 inclusive (0/1), then the prefix as a `clustering`.
 * - `deletion`: svarint markedForDeleteAt (µs), svarint localDeletionTime (s).
 * - CRC: CRC32C (Castagnoli), stored as u32.
 * - Every binary component starts with an 8-byte header: u32 magic, u16 version (1), u16
 *   flags (0, except Filter.db's layout).
 *
 * Data.db (magic "SBDT"): header, then chunks. The uncompressed *data stream* below is
 * cut into chunks of `chunkLength` bytes (the last one may be shorter), and each chunk
 * is stored as `compressed bytes | u32 CRC of those bytes`. A chunk whose compressed form
 * is not smaller than the chunk itself is stored uncompressed; the reader tells the two
 * apart by the stored length. Where each chunk starts is in CompressionInfo.db.
 *
 * The data stream: partitions in (token, key) order, each
 *     record(partition header) record(row body)* varint 0
 * where record(x) = varint byte length of x, then x (no body is empty, so the varint 0
 * marks the end of the partition). Rows are in table clustering order.
 *   partition header: u8 flags (0x01 deletion, 0x02 static row) | bytes key | int64 token |
 *     [deletion] | varint range tombstone count | (bound start | bound end | deletion)* |
 *     [row body of the static row]
 *   row body: u8 flags | clustering | [svarint base timestamp] |
 *     [liveness: [varint ttl] [svarint localDeletionTime], its timestamp is the base] |
 *     [deletion] | [varint simple cell count | (varint column id | cell)*] |
 *     [varint complex column count | (varint column id | u8 has deletion | [deletion] |
 *      varint cell count | cell*)*]
 *     row flags: 0x01 liveness, 0x02 liveness ttl ≠ 0, 0x04 liveness localDeletionTime ≠
 *     NO_DELETION_TIME, 0x08 deletion, 0x10 base timestamp, 0x20 simple cells, 0x40 complex.
 *   cell: u8 flags | [svarint timestamp] | [varint ttl] | [svarint localDeletionTime] |
 *     [bytes path] | [bytes value]
 *     cell flags: 0x01 tombstone (no value), 0x02 ttl ≠ 0, 0x04 localDeletionTime ≠
 *     NO_DELETION_TIME, 0x08 path, 0x10 own timestamp (absent: the row's base timestamp).
 *   The base timestamp is the liveness timestamp, else the first cell's; cells written by
 *   one statement share it and spend no byte on it. Column ids index the column table
 *   in Statistics.db.
 *
 * Index.db (magic "SBIX"): header, then index blocks, each `entries | u32 CRC of the
 * entries`. Summary.db says where each block starts. An entry:
 *     bytes key | int64 token | varint position of the partition in the data stream |
 *     varint row index length | row index
 *   row index (empty for partitions whose rows fit in one block of ROW_INDEX_BLOCK_BYTES):
 *     varint rows end (relative to the partition's position: where the end marker is) |
 *     varint block count | (varint offset relative to the partition's position |
 *     clustering first row | clustering last row)*
 *
 * Summary.db (magic "SBSM"), held in memory by readers: two samples of the partitions.
 *     header | varint Index.db length | samples(index blocks) | samples(data chunks) |
 *     u32 CRC of everything before it
 *   samples(x) = varint count | (bytes key | int64 token | varint position)*
 *   - index blocks: the first partition of each index block and where the block starts
 *     in Index.db (scans and row-index lookups start there);
 *   - data chunks: for each data chunk in which a partition starts, the first such
 *     partition, and one in every 16 partitions besides, with its position in the data
 *     stream. A point read finds the last sample at or before its key and walks the
 *     partition headers from there to the next sample — about 8 of them, in one chunk —
 *     so it needs no Index.db read.
 *
 * Filter.db (magic "SBBF"): header | u32 hash count | u32 bit count | bits (bit i is
 *   bit i % 8 of byte i / 8) | u32 CRC of everything before it. The header's last u16
 *   is the layout (bloom.ts): 0, positions from a MurmurHash3 of the key; 1, 512-bit
 *   blocks picked by the token (the bit count a multiple of 512).
 *
 * CompressionInfo.db (magic "SBCI"): header | string compressor class ('' for none) |
 *   varint chunk length | varint data stream length | varint chunk count |
 *   varint first chunk offset | varint stored length of each chunk (CRC included) |
 *   u32 CRC of everything before it.
 *
 * Statistics.db (magic "SBST"): header | svarint min timestamp | svarint max timestamp |
 *   svarint min localDeletionTime | svarint max localDeletionTime | int64 min token |
 *   int64 max token | varint partition count | varint row count | varint tombstone count |
 *   varint uncompressed bytes | varint disk bytes | varint level | string compression |
 *   bytes first key | bytes last key | varint column count | string column name* |
 *   u32 CRC of everything before it.
 *
 * Digest.db (magic "SBDG"): header | u32 CRC32C of the whole Data.db file | u32 CRC of
 *   everything before it.
 *
 * TOC.db: UTF-8 text lines: `sibyl-sstable-toc 1`, one component file suffix per line
 *   (`Data.db` …), then `crc32c <8 hex digits>` over every byte before that line.
 */
import { crc32c } from '@node-rs/crc32';
import { NO_DELETION_TIME, type Cell, type DeletionTime, type LivenessInfo } from '../../model/cell.js';
import type { ClusteringBound } from '../../model/clustering.js';
import type { ComplexColumn, RangeTombstone, Row } from '../../model/partition.js';
import { CorruptSSTable, assert } from '../../errors.js';
import type { FlatRow } from '../flat-row.js';
import type { PartitionHeader } from '../source.js';

export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 8;
/** Row bytes after which a partition's row index starts a new block. A partition
 *  smaller than this has no row index: reading it whole costs less than seeking. */
export const ROW_INDEX_BLOCK_BYTES = 64 * 1024;

/** Magic numbers: "SB" + two letters naming the component. */
export const MAGIC = Object.freeze({
  data: 0x53424454, // SBDT
  index: 0x53424958, // SBIX
  summary: 0x5342534d, // SBSM
  filter: 0x53424246, // SBBF
  compression: 0x53424349, // SBCI
  statistics: 0x53425354, // SBST
  digest: 0x53424447, // SBDG
});

const TOC_FIRST_LINE = `sibyl-sstable-toc ${FORMAT_VERSION}`;

/**
 * One 64-bit slot seen as a bigint and as bytes (little-endian on every platform Node
 * supports): moving a token between the two costs a typed-array store and eight byte
 * copies, several times less than Buffer's BigInt read/write methods, and every
 * partition header and index entry holds a token. The byte order is the platform's.
 */
const int64Slot = new BigInt64Array(1);
const int64Bytes = new Uint8Array(int64Slot.buffer);
/** XORed with a big-endian byte index gives the slot's index of that byte. */
const INT64_SLOT_ORDER = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;

const HEADER_DELETION = 0x01;
const HEADER_STATIC = 0x02;

const ROW_LIVENESS = 0x01;
const ROW_LIVENESS_TTL = 0x02;
const ROW_LIVENESS_EXPIRY = 0x04;
const ROW_DELETION = 0x08;
const ROW_BASE_TIMESTAMP = 0x10;
const ROW_SIMPLE = 0x20;
const ROW_COMPLEX = 0x40;

const CELL_TOMBSTONE = 0x01;
const CELL_TTL = 0x02;
const CELL_EXPIRY = 0x04;
const CELL_PATH = 0x08;
const CELL_TIMESTAMP = 0x10;

/** Largest varint: 8 bytes hold 56 bits, enough for every safe integer. */
export const VARINT_BYTES_MAX = 8;

// ---------------------------------------------------------------------------------
// Primitives

/** An append-only byte buffer that grows; reused across records to avoid allocation. */
export class ByteWriter {
  private buffer: Buffer;
  length = 0;

  constructor(capacity = 256) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  reset(): void {
    this.length = 0;
  }

  /** The bytes written so far: a view, valid until the next write or reset. */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.view());
  }

  /** Copies `count` of the bytes written so far, from `start`, into `target` at `at`. */
  copyTo(target: Buffer, at: number, start: number, count: number): void {
    const buffer = this.buffer;
    // Most records are a few dozen bytes: a loop beats a native copy's call.
    if (count < 64) {
      for (let i = 0; i < count; i++) target[at + i] = buffer[start + i];
    } else {
      buffer.copy(target, at, start, start + count);
    }
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.buffer.writeUInt16BE(value, this.length);
    this.length += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32BE(value >>> 0, this.length);
    this.length += 4;
  }

  /** Big-endian two's complement. */
  int64(value: bigint): void {
    this.ensure(8);
    int64Slot[0] = value;
    const buffer = this.buffer;
    const at = this.length;
    for (let i = 0; i < 8; i++) buffer[at + i] = int64Bytes[INT64_SLOT_ORDER ^ i];
    this.length += 8;
  }

  varint(value: number): void {
    // Checked on every value written: keep the message out of the common path.
    if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `varint out of range: ${value}`);
    this.ensure(VARINT_BYTES_MAX);
    let rest = value;
    // Arithmetic rather than bit operators: those truncate to 32 bits.
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  svarint(value: number): void {
    if (!Number.isSafeInteger(value)) assert(false, `svarint out of range: ${value}`);
    const negative = value < 0;
    const magnitude = negative ? -value : value;
    const low = magnitude % 0x40;
    const rest = (magnitude - low) / 0x40;
    this.u8((rest > 0 ? 0x80 : 0) | (negative ? 0x40 : 0) | low);
    if (rest > 0) this.varint(rest);
  }

  raw(bytes: Uint8Array): void {
    const count = bytes.length;
    this.ensure(count);
    // Most values and key components are a few bytes: a loop beats a native copy's call.
    if (count < 32) {
      const buffer = this.buffer;
      let at = this.length;
      for (let i = 0; i < count; i++) buffer[at++] = bytes[i];
    } else {
      this.buffer.set(bytes, this.length);
    }
    this.length += count;
  }

  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** `bytes` of source[start, end), without a view of it. */
  bytesOf(source: Buffer, start: number, end: number): void {
    const count = end - start;
    this.varint(count);
    this.ensure(count);
    if (count < 32) {
      const buffer = this.buffer;
      let at = this.length;
      for (let i = start; i < end; i++) buffer[at++] = source[i];
    } else {
      source.copy(this.buffer, this.length, start, end);
    }
    this.length += count;
  }

  string(text: string): void {
    this.bytes(Buffer.from(text, 'utf8'));
  }
}

/** Reads the primitives back; running past the end throws CorruptSSTable naming `file`. */
export class ByteReader {
  constructor(
    readonly buffer: Buffer,
    readonly file: string,
    public position = 0,
    readonly end = buffer.length,
  ) {}

  get remaining(): number {
    return this.end - this.position;
  }

  private need(count: number): void {
    if (this.position + count > this.end) {
      throw new CorruptSSTable(`Corrupted: ${this.file}: record truncated at byte ${this.position}`, this.file);
    }
  }

  /** Asserts the record was consumed exactly (a decoder/encoder mismatch otherwise). */
  expectEnd(what: string): void {
    if (this.position !== this.end) {
      throw new CorruptSSTable(`Corrupted: ${this.file}: ${this.end - this.position} unexpected bytes after ${what}`, this.file);
    }
  }

  u8(): number {
    this.need(1);
    return this.buffer[this.position++];
  }

  u16(): number {
    this.need(2);
    const value = this.buffer.readUInt16BE(this.position);
    this.position += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.position);
    this.position += 4;
    return value;
  }

  int64(): bigint {
    this.need(8);
    const buffer = this.buffer;
    const at = this.position;
    for (let i = 0; i < 8; i++) int64Bytes[INT64_SLOT_ORDER ^ i] = buffer[at + i];
    this.position += 8;
    return int64Slot[0];
  }

  varint(): number {
    let byte = this.u8();
    if (byte < 0x80) return byte;
    let value = byte & 0x7f;
    let multiplier = 0x80;
    for (let i = 1; i < VARINT_BYTES_MAX; i++) {
      byte = this.u8();
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return value;
      multiplier *= 0x80;
    }
    throw new CorruptSSTable(`Corrupted: ${this.file}: varint too long at byte ${this.position}`, this.file);
  }

  svarint(): number {
    const first = this.u8();
    let magnitude = first & 0x3f;
    if (first & 0x80) magnitude += this.varint() * 0x40;
    return first & 0x40 ? -magnitude : magnitude;
  }

  /** The next `count` bytes, as a view of the buffer (no copy). */
  raw(count: number): Buffer {
    this.need(count);
    const bytes = this.buffer.subarray(this.position, this.position + count);
    this.position += count;
    return bytes;
  }

  bytes(): Buffer {
    return this.raw(this.varint());
  }

  string(): string {
    return this.bytes().toString('utf8');
  }
}

/** Decodes the varint at the start of `buffer` from `offset`; returns -1 when it runs
 *  past the end (the caller then gathers more bytes). Sets `varintBytes`. */
export function peekVarint(buffer: Buffer, offset: number): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < VARINT_BYTES_MAX && offset + i < buffer.length; i++) {
    const byte = buffer[offset + i];
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) {
      varintBytes = i + 1;
      return value;
    }
    multiplier *= 0x80;
  }
  return -1;
}
/** Length of the varint last decoded by peekVarint (module scratch: no result object). */
export let varintBytes = 0;

/** `flags`: the last u16 of the header, 0 except where a component says otherwise (Filter.db's layout). */
export function writeHeader(writer: ByteWriter, magic: number, flags = 0): void {
  writer.u32(magic);
  writer.u16(FORMAT_VERSION);
  writer.u16(flags);
}

/** Checks a component's header; returns its flags (see writeHeader). */
export function readHeader(reader: ByteReader, magic: number): number {
  const found = reader.u32();
  if (found !== magic) {
    throw new CorruptSSTable(`Corrupted: ${reader.file}: bad magic 0x${found.toString(16)} (expected 0x${magic.toString(16)})`, reader.file);
  }
  const version = reader.u16();
  if (version !== FORMAT_VERSION) {
    throw new CorruptSSTable(`Unsupported SSTable format version ${version} in ${reader.file} (this node reads ${FORMAT_VERSION})`, reader.file);
  }
  return reader.u16();
}

/** Appends the CRC32C of everything written so far. */
export function seal(writer: ByteWriter): Buffer {
  writer.u32(crc32c(writer.view()));
  return writer.toBuffer();
}

/** Verifies the trailing CRC32C of a whole-file component; returns a reader over the rest. */
export function unseal(buffer: Buffer, file: string): ByteReader {
  if (buffer.length < HEADER_BYTES + 4) throw new CorruptSSTable(`Corrupted: ${file}: file too short (${buffer.length} bytes)`, file);
  const bodyLength = buffer.length - 4;
  if (crc32c(buffer.subarray(0, bodyLength)) !== buffer.readUInt32BE(bodyLength)) {
    throw new CorruptSSTable(`Corrupted: ${file}: checksum mismatch`, file);
  }
  return new ByteReader(buffer, file, 0, bodyLength);
}

// ---------------------------------------------------------------------------------
// Data stream: partition headers and rows

/**
 * Column names ↔ small integers, per SSTable: the writer assigns ids in the order it
 * meets columns, the reader gets the list back from Statistics.db.
 */
export class ColumnIds {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];

  idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }
}

function writeClustering(writer: ByteWriter, clustering: readonly Buffer[]): void {
  writer.varint(clustering.length);
  for (const component of clustering) writer.bytes(component);
}

function readClustering(reader: ByteReader): Buffer[] {
  const count = reader.varint();
  const clustering: Buffer[] = new Array(count);
  for (let i = 0; i < count; i++) clustering[i] = reader.bytes();
  return clustering;
}

function writeBound(writer: ByteWriter, bound: ClusteringBound): void {
  writer.u8(bound.inclusive ? 1 : 0);
  writeClustering(writer, bound.prefix);
}

function readBound(reader: ByteReader): ClusteringBound {
  const inclusive = reader.u8() === 1;
  return { prefix: readClustering(reader), inclusive };
}

function writeDeletion(writer: ByteWriter, deletion: DeletionTime): void {
  writer.svarint(deletion.markedForDeleteAt);
  writer.svarint(deletion.localDeletionTime);
}

function readDeletion(reader: ByteReader): DeletionTime {
  const markedForDeleteAt = reader.svarint();
  return { markedForDeleteAt, localDeletionTime: reader.svarint() };
}

function writeCell(writer: ByteWriter, cell: Cell, base: number): void {
  assert(cell.ttl >= 0, 'negative cell TTL');
  const flags =
    (cell.value === null ? CELL_TOMBSTONE : 0) |
    (cell.ttl !== 0 ? CELL_TTL : 0) |
    (cell.localDeletionTime !== NO_DELETION_TIME ? CELL_EXPIRY : 0) |
    (cell.path !== undefined ? CELL_PATH : 0) |
    (cell.timestamp !== base ? CELL_TIMESTAMP : 0);
  writer.u8(flags);
  if (flags & CELL_TIMESTAMP) writer.svarint(cell.timestamp);
  if (flags & CELL_TTL) writer.varint(cell.ttl);
  if (flags & CELL_EXPIRY) writer.svarint(cell.localDeletionTime);
  if (cell.path !== undefined) writer.bytes(cell.path);
  if (cell.value !== null) writer.bytes(cell.value);
}

function readCell(reader: ByteReader, base: number): Cell {
  const flags = reader.u8();
  const timestamp = flags & CELL_TIMESTAMP ? reader.svarint() : base;
  const ttl = flags & CELL_TTL ? reader.varint() : 0;
  const localDeletionTime = flags & CELL_EXPIRY ? reader.svarint() : NO_DELETION_TIME;
  const path = flags & CELL_PATH ? reader.bytes() : undefined;
  const value = flags & CELL_TOMBSTONE ? null : reader.bytes();
  return { timestamp, value, ttl, localDeletionTime, path };
}

/** The timestamp most cells of the row share: the marker's, else the first cell's. */
function baseTimestampOf(row: Row): number | null {
  if (row.liveness !== null) return row.liveness.timestamp;
  for (const cell of row.cells.values()) return cell.timestamp;
  for (const column of row.complex.values()) if (column.cells.length > 0) return column.cells[0].timestamp;
  return null;
}

export function writeRowBody(writer: ByteWriter, row: Row, columns: ColumnIds): void {
  const base = baseTimestampOf(row);
  const liveness = row.liveness;
  let flags =
    (base !== null ? ROW_BASE_TIMESTAMP : 0) |
    (row.deletion !== null ? ROW_DELETION : 0) |
    (row.cells.size > 0 ? ROW_SIMPLE : 0) |
    (row.complex.size > 0 ? ROW_COMPLEX : 0);
  if (liveness !== null) {
    assert(liveness.ttl >= 0, 'negative row marker TTL');
    flags |=
      ROW_LIVENESS |
      (liveness.ttl !== 0 ? ROW_LIVENESS_TTL : 0) |
      (liveness.localDeletionTime !== NO_DELETION_TIME ? ROW_LIVENESS_EXPIRY : 0);
  }
  writer.u8(flags);
  writeClustering(writer, row.clustering);
  if (base !== null) writer.svarint(base);
  if (liveness !== null) {
    if (flags & ROW_LIVENESS_TTL) writer.varint(liveness.ttl);
    if (flags & ROW_LIVENESS_EXPIRY) writer.svarint(liveness.localDeletionTime);
  }
  if (row.deletion !== null) writeDeletion(writer, row.deletion);
  if (row.cells.size > 0) {
    writer.varint(row.cells.size);
    for (const [name, cell] of row.cells) {
      writer.varint(columns.idOf(name));
      writeCell(writer, cell, base!);
    }
  }
  if (row.complex.size > 0) {
    writer.varint(row.complex.size);
    for (const [name, column] of row.complex) {
      writer.varint(columns.idOf(name));
      writer.u8(column.deletion !== null ? 1 : 0);
      if (column.deletion !== null) writeDeletion(writer, column.deletion);
      writer.varint(column.cells.length);
      // Any cell here means the row has a base timestamp.
      for (const cell of column.cells) writeCell(writer, cell, base!);
    }
  }
}

/**
 * writeRowBody of the row a FlatRow holds: the same bytes as writeRowBody of that row
 * decoded (a flush writes a key written once from its update's bytes; a test checks
 * that both give the same SSTable).
 */
export function writeFlatRowBody(writer: ByteWriter, row: FlatRow, columns: ColumnIds): void {
  const cells = row.cellCount;
  const base = row.hasLiveness ? row.livenessTimestamp : cells > 0 ? row.timestamps[0] : null;
  let flags = (base !== null ? ROW_BASE_TIMESTAMP : 0) | (cells > 0 ? ROW_SIMPLE : 0);
  if (row.hasLiveness) {
    assert(row.livenessTtl >= 0, 'negative row marker TTL');
    flags |=
      ROW_LIVENESS |
      (row.livenessTtl !== 0 ? ROW_LIVENESS_TTL : 0) |
      (row.livenessLocalDeletionTime !== NO_DELETION_TIME ? ROW_LIVENESS_EXPIRY : 0);
  }
  writer.u8(flags);
  const bytes = row.bytes;
  const clustering = row.clustering;
  writer.varint(row.clusteringCount);
  for (let i = 0; i < 2 * row.clusteringCount; i += 2) writer.bytesOf(bytes, clustering[i], clustering[i + 1]);
  if (base !== null) writer.svarint(base);
  if (flags & ROW_LIVENESS_TTL) writer.varint(row.livenessTtl);
  if (flags & ROW_LIVENESS_EXPIRY) writer.svarint(row.livenessLocalDeletionTime);
  if (cells === 0) return;
  writer.varint(cells);
  for (let i = 0; i < cells; i++) {
    writer.varint(columns.idOf(row.columns[i]));
    const ttl = row.ttls[i];
    const localDeletionTime = row.localDeletionTimes[i];
    const timestamp = row.timestamps[i];
    assert(ttl >= 0, 'negative cell TTL');
    const cellFlags =
      (row.tombstones[i] ? CELL_TOMBSTONE : 0) |
      (ttl !== 0 ? CELL_TTL : 0) |
      (localDeletionTime !== NO_DELETION_TIME ? CELL_EXPIRY : 0) |
      (timestamp !== base ? CELL_TIMESTAMP : 0);
    writer.u8(cellFlags);
    if (cellFlags & CELL_TIMESTAMP) writer.svarint(timestamp);
    if (cellFlags & CELL_TTL) writer.varint(ttl);
    if (cellFlags & CELL_EXPIRY) writer.svarint(localDeletionTime);
    if (!row.tombstones[i]) writer.bytesOf(bytes, row.valueStarts[i], row.valueEnds[i]);
  }
}

function columnName(columns: readonly string[], id: number, file: string): string {
  const name = columns[id];
  if (name === undefined) throw new CorruptSSTable(`Corrupted: ${file}: unknown column id ${id}`, file);
  return name;
}

function skipClustering(reader: ByteReader): void {
  for (let count = reader.varint(); count > 0; count--) {
    const length = reader.varint();
    reader.position += length;
  }
}

function readRowBodyFrom(reader: ByteReader, columns: readonly string[], known: Buffer[] | null): Row {
  const flags = reader.u8();
  let clustering: Buffer[];
  if (known === null) {
    clustering = readClustering(reader);
  } else {
    clustering = known;
    skipClustering(reader);
  }
  const base = flags & ROW_BASE_TIMESTAMP ? reader.svarint() : 0;
  let liveness: LivenessInfo | null = null;
  if (flags & ROW_LIVENESS) {
    const ttl = flags & ROW_LIVENESS_TTL ? reader.varint() : 0;
    const localDeletionTime = flags & ROW_LIVENESS_EXPIRY ? reader.svarint() : NO_DELETION_TIME;
    liveness = { timestamp: base, ttl, localDeletionTime };
  }
  const deletion = flags & ROW_DELETION ? readDeletion(reader) : null;
  const cells = new Map<string, Cell>();
  if (flags & ROW_SIMPLE) {
    for (let n = reader.varint(); n > 0; n--) {
      const name = columnName(columns, reader.varint(), reader.file);
      cells.set(name, readCell(reader, base));
    }
  }
  const complex = new Map<string, ComplexColumn>();
  if (flags & ROW_COMPLEX) {
    for (let n = reader.varint(); n > 0; n--) {
      const name = columnName(columns, reader.varint(), reader.file);
      const columnDeletion = reader.u8() === 1 ? readDeletion(reader) : null;
      const count = reader.varint();
      const columnCells: Cell[] = new Array(count);
      for (let i = 0; i < count; i++) columnCells[i] = readCell(reader, base);
      complex.set(name, { deletion: columnDeletion, cells: columnCells });
    }
  }
  return { clustering, liveness, deletion, cells, complex };
}

/** Decodes one row record (exactly). `clustering`, when the caller already decoded it
 *  with readRowClustering, is used instead of decoding it again. */
export function readRowBody(record: Buffer, columns: readonly string[], file: string, clustering: Buffer[] | null = null): Row {
  const reader = new ByteReader(record, file);
  const row = readRowBodyFrom(reader, columns, clustering);
  reader.expectEnd('a row');
  return row;
}

/** Decodes only the clustering of a row record: enough to place it against a slice. */
export function readRowClustering(record: Buffer, file: string): Buffer[] {
  const reader = new ByteReader(record, file, 1);
  return readClustering(reader);
}

export function writePartitionHeader(writer: ByteWriter, header: PartitionHeader, columns: ColumnIds): void {
  writer.u8((header.deletion !== null ? HEADER_DELETION : 0) | (header.staticRow !== null ? HEADER_STATIC : 0));
  writer.bytes(header.key);
  writer.int64(header.token);
  if (header.deletion !== null) writeDeletion(writer, header.deletion);
  writer.varint(header.rangeTombstones.length);
  for (const tombstone of header.rangeTombstones) {
    writeBound(writer, tombstone.start);
    writeBound(writer, tombstone.end);
    writeDeletion(writer, tombstone.deletion);
  }
  if (header.staticRow !== null) writeRowBody(writer, header.staticRow, columns);
}

/** Orders the partition of a header record against (token words, key), like
 *  compareKeys, without decoding the rest of the header. */
export function compareHeaderKey(record: Buffer, tokenHigh: number, tokenLow: number, key: Buffer, file: string): number {
  return compareHeaderKeyAt(record, 0, record.length, tokenHigh, tokenLow, key, file);
}

/** compareHeaderKey of the header record at bytes [start, start + length) of `buffer`
 *  (a chunk), in place: a point read compares several headers to find one. */
export function compareHeaderKeyAt(
  buffer: Buffer,
  start: number,
  length: number,
  tokenHigh: number,
  tokenLow: number,
  key: Buffer,
  file: string,
): number {
  const keyLength = peekVarint(buffer, start + 1);
  const keyStart = start + 1 + varintBytes;
  if (keyLength < 0 || keyStart + keyLength + 8 > start + length) {
    throw new CorruptSSTable(`Corrupted: ${file}: truncated partition header`, file);
  }
  const high = buffer.readInt32BE(keyStart + keyLength);
  const low = buffer.readUInt32BE(keyStart + keyLength + 4);
  if (high !== tokenHigh) return high < tokenHigh ? -1 : 1;
  if (low !== tokenLow) return low < tokenLow ? -1 : 1;
  return buffer.compare(key, 0, key.length, keyStart, keyStart + keyLength);
}

export function readPartitionHeader(record: Buffer, columns: readonly string[], file: string): PartitionHeader {
  const reader = new ByteReader(record, file);
  const flags = reader.u8();
  const key = reader.bytes();
  const token = reader.int64();
  const deletion = flags & HEADER_DELETION ? readDeletion(reader) : null;
  const count = reader.varint();
  const rangeTombstones: RangeTombstone[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const start = readBound(reader);
    const end = readBound(reader);
    rangeTombstones[i] = { start, end, deletion: readDeletion(reader) };
  }
  const staticRow = flags & HEADER_STATIC ? readRowBodyFrom(reader, columns, null) : null;
  reader.expectEnd('a partition header');
  return { key, token, deletion, staticRow, rangeTombstones };
}

// ---------------------------------------------------------------------------------
// Index.db entries

/** Where the blocks of rows of a wide partition start (offsets relative to the partition). */
export interface RowIndex {
  /** Offset of the partition's end marker: the end of its last block. */
  readonly rowsEnd: number;
  readonly offsets: readonly number[];
  readonly firsts: readonly Buffer[][];
  readonly lasts: readonly Buffer[][];
}

export function writeIndexEntry(
  writer: ByteWriter,
  key: Buffer,
  token: bigint,
  position: number,
  rowIndex: RowIndex | null,
  scratch: ByteWriter,
): void {
  writer.bytes(key);
  writer.int64(token);
  writer.varint(position);
  if (rowIndex === null) {
    writer.varint(0);
    return;
  }
  scratch.reset();
  scratch.varint(rowIndex.rowsEnd);
  scratch.varint(rowIndex.offsets.length);
  for (let i = 0; i < rowIndex.offsets.length; i++) {
    scratch.varint(rowIndex.offsets[i]);
    writeClustering(scratch, rowIndex.firsts[i]);
    writeClustering(scratch, rowIndex.lasts[i]);
  }
  writer.bytes(scratch.view());
}

/**
 * Walks the entries of one index block without allocating per entry: a point lookup
 * compares tokens as two 32-bit words and keys in place, and only the entry found is
 * materialised.
 */
export class IndexBlockCursor {
  private readonly reader: ByteReader;
  keyStart = 0;
  keyEnd = 0;
  tokenHigh = 0;
  tokenLow = 0;
  position = 0;
  rowIndexStart = 0;
  rowIndexEnd = 0;

  constructor(readonly block: Buffer, file: string) {
    this.reader = new ByteReader(block, file);
  }

  /** Advances to the next entry; false at the end of the block. */
  next(): boolean {
    const reader = this.reader;
    if (reader.remaining === 0) return false;
    const keyLength = reader.varint();
    this.keyStart = reader.position;
    reader.raw(keyLength);
    this.keyEnd = reader.position;
    this.tokenHigh = reader.u32() | 0;
    this.tokenLow = reader.u32();
    this.position = reader.varint();
    const rowIndexLength = reader.varint();
    this.rowIndexStart = reader.position;
    reader.raw(rowIndexLength);
    this.rowIndexEnd = reader.position;
    return true;
  }

  /** Orders the current entry against (token words, key), like compareKeys. */
  compareTo(tokenHigh: number, tokenLow: number, key: Buffer): number {
    if (this.tokenHigh !== tokenHigh) return this.tokenHigh < tokenHigh ? -1 : 1;
    if (this.tokenLow !== tokenLow) return this.tokenLow < tokenLow ? -1 : 1;
    return this.block.compare(key, 0, key.length, this.keyStart, this.keyEnd);
  }

  key(): Buffer {
    return this.block.subarray(this.keyStart, this.keyEnd);
  }

  token(): bigint {
    return (BigInt(this.tokenHigh) << 32n) | BigInt(this.tokenLow);
  }

  rowIndex(): RowIndex | null {
    if (this.rowIndexStart === this.rowIndexEnd) return null;
    const reader = new ByteReader(this.block, this.reader.file, this.rowIndexStart, this.rowIndexEnd);
    const rowsEnd = reader.varint();
    const count = reader.varint();
    const offsets: number[] = new Array(count);
    const firsts: Buffer[][] = new Array(count);
    const lasts: Buffer[][] = new Array(count);
    for (let i = 0; i < count; i++) {
      offsets[i] = reader.varint();
      firsts[i] = readClustering(reader);
      lasts[i] = readClustering(reader);
    }
    reader.expectEnd('a row index');
    return { rowsEnd, offsets, firsts, lasts };
  }
}

// ---------------------------------------------------------------------------------
// Whole-file components

/** Sampled partitions: keys, tokens and positions in ascending (token, key) order. */
export interface Samples {
  readonly tokens: BigInt64Array;
  readonly keys: readonly Buffer[];
  readonly positions: readonly number[];
}

/**
 * Samples as a reader keeps and searches them. The keys lie end to end in one buffer
 * and the tokens are kept as 32-bit words, so a sample costs its key's bytes and 20
 * more (not a Buffer object and a bigint each: summaries are held for every SSTable
 * for as long as it is open), and a lookup compares without allocating.
 */
export class SampleIndex {
  readonly length: number;
  private readonly keyBytes: Buffer;
  /** Key i is keyBytes[keyEnds[i - 1] (0 for the first), keyEnds[i]). */
  private readonly keyEnds: Uint32Array;
  private readonly highs: Int32Array;
  private readonly lows: Uint32Array;
  readonly positions: Float64Array;

  constructor(reader: ByteReader) {
    const count = reader.varint();
    const keyStarts = new Uint32Array(count);
    this.keyEnds = new Uint32Array(count);
    this.highs = new Int32Array(count);
    this.lows = new Uint32Array(count);
    this.positions = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const length = reader.varint();
      keyStarts[i] = reader.position;
      reader.raw(length);
      this.keyEnds[i] = reader.position;
      this.highs[i] = reader.u32() | 0;
      this.lows[i] = reader.u32();
      this.positions[i] = reader.varint();
    }
    // Copied out of the component's buffer, keys only, so that buffer can be freed.
    let packed = 0;
    for (let i = 0; i < count; i++) packed += this.keyEnds[i] - keyStarts[i];
    this.keyBytes = Buffer.allocUnsafeSlow(packed);
    const source = reader.buffer;
    let at = 0;
    for (let i = 0; i < count; i++) {
      at += source.copy(this.keyBytes, at, keyStarts[i], this.keyEnds[i]);
      this.keyEnds[i] = at;
    }
    this.length = count;
  }

  key(i: number): Buffer {
    return this.keyBytes.subarray(i === 0 ? 0 : this.keyEnds[i - 1], this.keyEnds[i]);
  }

  token(i: number): bigint {
    return (BigInt(this.highs[i]) << 32n) | BigInt(this.lows[i]);
  }

  /** The last sample at or before (token words, key); -1 when the key is before all. */
  lastAtOrBefore(tokenHigh: number, tokenLow: number, key: Buffer): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(middle, tokenHigh, tokenLow, key) > 0) high = middle;
      else low = middle + 1;
    }
    return low - 1;
  }

  private compare(i: number, tokenHigh: number, tokenLow: number, key: Buffer): number {
    if (this.highs[i] !== tokenHigh) return this.highs[i] < tokenHigh ? -1 : 1;
    if (this.lows[i] !== tokenLow) return this.lows[i] < tokenLow ? -1 : 1;
    return -key.compare(this.keyBytes, i === 0 ? 0 : this.keyEnds[i - 1], this.keyEnds[i]);
  }
}

export interface Summary {
  /** Length of Index.db: where the last index block ends. */
  readonly indexLength: number;
  /** First partition of each index block; positions are offsets in Index.db. */
  readonly indexBlocks: SampleIndex;
  /** First partition starting in each data chunk, and one in 16 besides (the writer's
   *  choice); positions are in the data stream. */
  readonly dataChunks: SampleIndex;
}

function writeSamples(writer: ByteWriter, samples: Samples): void {
  writer.varint(samples.keys.length);
  for (let i = 0; i < samples.keys.length; i++) {
    writer.bytes(samples.keys[i]);
    writer.int64(samples.tokens[i]);
    writer.varint(samples.positions[i]);
  }
}

export function encodeSummary(summary: { indexLength: number; indexBlocks: Samples; dataChunks: Samples }): Buffer {
  const writer = new ByteWriter(64 + (summary.indexBlocks.keys.length + summary.dataChunks.keys.length) * 32);
  writeHeader(writer, MAGIC.summary);
  writer.varint(summary.indexLength);
  writeSamples(writer, summary.indexBlocks);
  writeSamples(writer, summary.dataChunks);
  return seal(writer);
}

export function decodeSummary(buffer: Buffer, file: string): Summary {
  const reader = unseal(buffer, file);
  readHeader(reader, MAGIC.summary);
  const indexLength = reader.varint();
  const indexBlocks = new SampleIndex(reader);
  const dataChunks = new SampleIndex(reader);
  reader.expectEnd('the summary');
  return { indexLength, indexBlocks, dataChunks };
}

/** Filter.db's layouts (bloom.ts): positions from a hash of the key (SSTables written
 *  before the blocked filter), or blocks picked by the token. */
export const FILTER_LAYOUT_KEY_HASH = 0;
export const FILTER_LAYOUT_TOKEN_BLOCKS = 1;

export interface FilterBits {
  readonly layout: number;
  readonly hashCount: number;
  readonly bitCount: number;
  readonly bits: Buffer;
}

export function encodeFilter(filter: FilterBits): Buffer {
  const writer = new ByteWriter(HEADER_BYTES + 12 + filter.bits.length);
  writeHeader(writer, MAGIC.filter, filter.layout);
  writer.u32(filter.hashCount);
  writer.u32(filter.bitCount);
  writer.raw(filter.bits);
  return seal(writer);
}

export function decodeFilter(buffer: Buffer, file: string): FilterBits {
  const reader = unseal(buffer, file);
  const layout = readHeader(reader, MAGIC.filter);
  if (layout !== FILTER_LAYOUT_KEY_HASH && layout !== FILTER_LAYOUT_TOKEN_BLOCKS) {
    throw new CorruptSSTable(`Corrupted: ${file}: unknown bloom filter layout ${layout}`, file);
  }
  const hashCount = reader.u32();
  const bitCount = reader.u32();
  if (layout === FILTER_LAYOUT_TOKEN_BLOCKS && bitCount % 512 !== 0) {
    throw new CorruptSSTable(`Corrupted: ${file}: a blocked bloom filter of ${bitCount} bits`, file);
  }
  const bits = reader.raw(Math.ceil(bitCount / 8));
  reader.expectEnd('the bloom filter');
  return { layout, hashCount, bitCount, bits };
}

export interface CompressionInfo {
  /** Compressor class name; '' for none. */
  readonly compressor: string;
  readonly chunkLength: number;
  /** Length of the uncompressed data stream. */
  readonly dataLength: number;
  /** Where each chunk starts in Data.db, plus one last entry: the file's length. */
  readonly chunkOffsets: Float64Array;
}

export function encodeCompressionInfo(info: CompressionInfo): Buffer {
  const count = info.chunkOffsets.length - 1;
  const writer = new ByteWriter(64 + count * 3);
  writeHeader(writer, MAGIC.compression);
  writer.string(info.compressor);
  writer.varint(info.chunkLength);
  writer.varint(info.dataLength);
  writer.varint(count);
  writer.varint(info.chunkOffsets[0]);
  for (let i = 0; i < count; i++) writer.varint(info.chunkOffsets[i + 1] - info.chunkOffsets[i]);
  return seal(writer);
}

export function decodeCompressionInfo(buffer: Buffer, file: string): CompressionInfo {
  const reader = unseal(buffer, file);
  readHeader(reader, MAGIC.compression);
  const compressor = reader.string();
  const chunkLength = reader.varint();
  const dataLength = reader.varint();
  const count = reader.varint();
  const chunkOffsets = new Float64Array(count + 1);
  chunkOffsets[0] = reader.varint();
  for (let i = 0; i < count; i++) chunkOffsets[i + 1] = chunkOffsets[i] + reader.varint();
  reader.expectEnd('the compression info');
  if (chunkLength === 0 || Math.ceil(dataLength / chunkLength) !== count) {
    throw new CorruptSSTable(`Corrupted: ${file}: ${count} chunks cannot hold ${dataLength} bytes in chunks of ${chunkLength}`, file);
  }
  return { compressor, chunkLength, dataLength, chunkOffsets };
}

/** What Statistics.db records about an SSTable's content. */
export interface SSTableStats {
  /** Smallest and largest write/deletion timestamp (µs) of anything in the SSTable. */
  readonly minTimestamp: number;
  readonly maxTimestamp: number;
  /** Smallest and largest local deletion time (s) of cells, markers and deletions; live
   *  cells count as NO_DELETION_TIME, so max < gcBefore means everything is purgeable. */
  readonly minLocalDeletionTime: number;
  readonly maxLocalDeletionTime: number;
  readonly minToken: bigint;
  readonly maxToken: bigint;
  readonly partitionCount: number;
  /** Clustering rows, static rows not included. */
  readonly rowCount: number;
  /** Partition, range, row and complex-column deletions plus tombstone cells. */
  readonly tombstoneCount: number;
  /** Length of the uncompressed data stream. */
  readonly uncompressedBytes: number;
  /** Length of Data.db on disk. */
  readonly diskBytes: number;
  /** Level for leveled compaction (0 for new SSTables). */
  readonly level: number;
  /** Compressor class of Data.db; '' for none. */
  readonly compression: string;
}

export interface Statistics {
  readonly stats: SSTableStats;
  readonly firstKey: Buffer;
  readonly lastKey: Buffer;
  /** The column table: row bodies refer to columns by index into it. */
  readonly columns: readonly string[];
}

export function encodeStatistics(statistics: Statistics): Buffer {
  const { stats } = statistics;
  const writer = new ByteWriter(256);
  writeHeader(writer, MAGIC.statistics);
  writer.svarint(stats.minTimestamp);
  writer.svarint(stats.maxTimestamp);
  writer.svarint(stats.minLocalDeletionTime);
  writer.svarint(stats.maxLocalDeletionTime);
  writer.int64(stats.minToken);
  writer.int64(stats.maxToken);
  writer.varint(stats.partitionCount);
  writer.varint(stats.rowCount);
  writer.varint(stats.tombstoneCount);
  writer.varint(stats.uncompressedBytes);
  writer.varint(stats.diskBytes);
  writer.varint(stats.level);
  writer.string(stats.compression);
  writer.bytes(statistics.firstKey);
  writer.bytes(statistics.lastKey);
  writer.varint(statistics.columns.length);
  for (const name of statistics.columns) writer.string(name);
  return seal(writer);
}

export function decodeStatistics(buffer: Buffer, file: string): Statistics {
  const reader = unseal(buffer, file);
  readHeader(reader, MAGIC.statistics);
  const stats: SSTableStats = {
    minTimestamp: reader.svarint(),
    maxTimestamp: reader.svarint(),
    minLocalDeletionTime: reader.svarint(),
    maxLocalDeletionTime: reader.svarint(),
    minToken: reader.int64(),
    maxToken: reader.int64(),
    partitionCount: reader.varint(),
    rowCount: reader.varint(),
    tombstoneCount: reader.varint(),
    uncompressedBytes: reader.varint(),
    diskBytes: reader.varint(),
    level: reader.varint(),
    compression: reader.string(),
  };
  const firstKey = reader.bytes();
  const lastKey = reader.bytes();
  const count = reader.varint();
  const columns: string[] = new Array(count);
  for (let i = 0; i < count; i++) columns[i] = reader.string();
  reader.expectEnd('the statistics');
  return { stats, firstKey, lastKey, columns };
}

export function encodeDigest(dataCrc: number): Buffer {
  const writer = new ByteWriter(16);
  writeHeader(writer, MAGIC.digest);
  writer.u32(dataCrc);
  return seal(writer);
}

export function decodeDigest(buffer: Buffer, file: string): number {
  const reader = unseal(buffer, file);
  readHeader(reader, MAGIC.digest);
  const crc = reader.u32();
  reader.expectEnd('the digest');
  return crc;
}

export function encodeDataHeader(): Buffer {
  const writer = new ByteWriter(HEADER_BYTES);
  writeHeader(writer, MAGIC.data);
  return writer.toBuffer();
}

/** Checks the header at the start of a streamed file (Data.db, Index.db). */
export function checkFileHeader(buffer: Buffer, magic: number, file: string): void {
  readHeader(new ByteReader(buffer, file, 0, HEADER_BYTES), magic);
}

/** Stored form of a chunk: the (compressed or raw) bytes followed by their CRC32C. */
export function encodeChunk(stored: Buffer): Buffer {
  const out = Buffer.allocUnsafe(stored.length + 4);
  stored.copy(out);
  out.writeUInt32BE(crc32c(stored), stored.length);
  return out;
}

/** The payload of a stored chunk after verifying its CRC, or null when it fails. */
export function chunkPayload(chunk: Buffer): Buffer | null {
  if (chunk.length < 4) return null;
  const payload = chunk.subarray(0, chunk.length - 4);
  return crc32c(payload) === chunk.readUInt32BE(payload.length) ? payload : null;
}

export function encodeToc(components: readonly string[]): Buffer {
  const body = `${TOC_FIRST_LINE}\n${components.map((c) => `${c}\n`).join('')}`;
  const crc = crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0');
  return Buffer.from(`${body}crc32c ${crc}\n`, 'utf8');
}

export function decodeToc(buffer: Buffer, file: string): string[] {
  const text = buffer.toString('utf8');
  const crcLine = text.lastIndexOf('crc32c ');
  const corrupt = (why: string) => new CorruptSSTable(`Corrupted: ${file}: ${why}`, file);
  if (crcLine < 0 || !text.endsWith('\n')) throw corrupt('no checksum line');
  const body = text.slice(0, crcLine);
  const stored = text.slice(crcLine + 'crc32c '.length, -1);
  if (crc32c(Buffer.from(body, 'utf8')).toString(16).padStart(8, '0') !== stored) throw corrupt('checksum mismatch');
  const lines = body.split('\n').slice(0, -1);
  if (lines[0] !== TOC_FIRST_LINE) throw corrupt(`unsupported table of contents '${lines[0]}'`);
  return lines.slice(1);
}
