/**
 * Partition updates to and from protobuf bytes (protocol/mutation.proto): the form
 * mutations take in the commit log and, later, between nodes.
 */
import { assert } from '../errors.js';
import type { Cell, DeletionTime } from '../model/cell.js';
import type { ClusteringBound } from '../model/clustering.js';
import type { PartitionUpdate, Row } from '../model/partition.js';

/**
 * Encoding is written by hand, in two passes over the update: the first measures every
 * nested message (lengths kept in pre-order), the second writes into one buffer of the
 * exact size. protobufjs's encoder needs a plain-object copy of every row and cell and
 * allocates an operation per field, which made encoding the largest cost of a write
 * after the memtable. The bytes are standard proto3 (fields in number order, default
 * scalars left out), so any protobuf decoder reads them.
 */
const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const TWO_TO_32 = 2 ** 32;

function tag(field: number, wire: number): number {
  return (field << 3) | wire;
}

/** Bytes of an unsigned 32-bit varint. */
function varint32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Bytes of a safe integer as a protobuf int64 / int32 varint (negatives take ten). */
function int64Size(value: number): number {
  if (value < 0) return 10;
  if (value < TWO_TO_32) return varint32Size(value);
  let size = 5;
  for (let rest = Math.floor(value / 2 ** 35); rest > 0; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

/** Field of length-delimited content of `length` bytes, tag included. */
function delimitedSize(length: number): number {
  return 1 + varint32Size(length) + length;
}

/** UTF-8 bytes of the strings encoded (table ids, column names): few and repeated. */
const utf8Cache = new Map<string, Buffer>();
const UTF8_CACHE_ENTRIES_MAX = 4096;
function utf8(text: string): Buffer {
  let bytes = utf8Cache.get(text);
  if (bytes === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_ENTRIES_MAX) utf8Cache.clear();
    bytes = Buffer.from(text, 'utf8');
    utf8Cache.set(text, bytes);
  }
  return bytes;
}

/** Slots for nested-message lengths the encoder starts with, and the most it keeps between calls. */
const LENGTHS_FIRST = 1024;
const LENGTHS_KEPT_MAX = 1 << 16;

class MutationEncoder {
  /** Lengths of the nested messages, in the order they are written: [0, reserved) used, kept between calls. */
  private lengths = new Int32Array(LENGTHS_FIRST);
  private reserved = 0;
  private next = 0;
  private buffer: Buffer = Buffer.alloc(0);
  private at = 0;

  /**
   * `bodies`, when given, receives where each update's message lies: [start, end) pairs
   * (encodeMutationLocated); `space`, when given, may provide the buffer to write into.
   */
  encode(updates: readonly PartitionUpdate[], bodies: Int32Array | null = null, space: PayloadSpace | null = null): Buffer {
    this.reserved = 0;
    let total = 0;
    for (const update of updates) total += delimitedSize(this.measureUpdate(update));
    this.buffer = space?.(total) ?? Buffer.allocUnsafe(total);
    this.at = 0;
    this.next = 0;
    for (let i = 0; i < updates.length; i++) {
      this.startMessage(1);
      if (bodies !== null) bodies[2 * i] = this.at;
      this.writeUpdate(updates[i]);
      if (bodies !== null) bodies[2 * i + 1] = this.at;
    }
    assert(this.at === total && this.next === this.reserved, 'mutation encoder measured one size and wrote another');
    const out = this.buffer;
    this.buffer = Buffer.alloc(0);
    // An exceptionally large mutation does not keep its lengths' memory for good.
    if (this.lengths.length > LENGTHS_KEPT_MAX) this.lengths = new Int32Array(LENGTHS_FIRST);
    return out;
  }

  // ---- measuring: each returns a message's length, its nested ones recorded ----

  /** Keeps the place of a nested message's length, in writing order. */
  private reserve(): number {
    if (this.reserved === this.lengths.length) {
      const grown = new Int32Array(this.lengths.length * 2);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    return this.reserved++;
  }

  /** Records the nested message's length; returns its field's bytes. */
  private close(slot: number, length: number): number {
    this.lengths[slot] = length;
    return delimitedSize(length);
  }

  private measureUpdate({ tableId, partition }: PartitionUpdate): number {
    const slot = this.reserve();
    let size = stringSize(tableId) + bytesSize(partition.key);
    if (partition.deletion !== null) size += this.close(this.reserve(), deletionSize(partition.deletion));
    if (partition.staticRow !== null) {
      const rowSlot = this.reserve();
      size += this.close(rowSlot, this.measureRow(partition.staticRow));
    }
    for (const rt of partition.rangeTombstones) {
      const tombstoneSlot = this.reserve();
      const bounds = this.close(this.reserve(), boundSize(rt.start)) + this.close(this.reserve(), boundSize(rt.end));
      size += this.close(tombstoneSlot, bounds + this.close(this.reserve(), deletionSize(rt.deletion)));
    }
    for (const row of partition.rows) {
      const rowSlot = this.reserve();
      size += this.close(rowSlot, this.measureRow(row));
    }
    this.lengths[slot] = size;
    return size;
  }

  private measureRow(row: Row): number {
    let size = 0;
    for (const component of row.clustering) size += delimitedSize(component.length);
    const liveness = row.liveness;
    if (liveness !== null) {
      const length = int64FieldSize(liveness.timestamp) + int64FieldSize(liveness.ttl) + int64FieldSize(liveness.localDeletionTime);
      size += this.close(this.reserve(), length);
    }
    if (row.deletion !== null) size += this.close(this.reserve(), deletionSize(row.deletion));
    for (const [column, cell] of row.cells) size += this.close(this.reserve(), cellSize(column, cell));
    for (const [column, complex] of row.complex) {
      for (const cell of complex.cells) size += this.close(this.reserve(), cellSize(column, cell));
    }
    for (const [column, complex] of row.complex) {
      if (complex.deletion === null) continue;
      const slot = this.reserve();
      size += this.close(slot, stringSize(column) + this.close(this.reserve(), deletionSize(complex.deletion)));
    }
    return size;
  }

  // ---- writing, in the same order ----

  private writeUpdate({ tableId, partition }: PartitionUpdate): void {
    this.stringField(1, tableId);
    this.bytesField(2, partition.key);
    if (partition.deletion !== null) this.deletion(3, partition.deletion);
    if (partition.staticRow !== null) {
      this.startMessage(4);
      this.writeRow(partition.staticRow);
    }
    for (const rt of partition.rangeTombstones) {
      this.startMessage(5);
      this.bound(1, rt.start);
      this.bound(2, rt.end);
      this.deletion(3, rt.deletion);
    }
    for (const row of partition.rows) {
      this.startMessage(6);
      this.writeRow(row);
    }
  }

  private writeRow(row: Row): void {
    for (const component of row.clustering) {
      this.varint(tag(1, WIRE_BYTES));
      this.varint(component.length);
      this.raw(component);
    }
    const liveness = row.liveness;
    if (liveness !== null) {
      this.startMessage(2);
      this.int64Field(1, liveness.timestamp);
      this.int64Field(2, liveness.ttl);
      this.int64Field(3, liveness.localDeletionTime);
    }
    if (row.deletion !== null) this.deletion(3, row.deletion);
    for (const [column, cell] of row.cells) this.cell(column, cell);
    for (const [column, complex] of row.complex) for (const cell of complex.cells) this.cell(column, cell);
    for (const [column, complex] of row.complex) {
      if (complex.deletion === null) continue;
      this.startMessage(5);
      this.stringField(1, column);
      this.deletion(2, complex.deletion);
    }
  }

  private cell(column: string, cell: Cell): void {
    this.startMessage(4);
    this.stringField(1, column);
    this.int64Field(2, cell.timestamp);
    if (cell.value === null) this.int64Field(3, 1);
    else this.bytesField(4, cell.value);
    this.int64Field(5, cell.ttl);
    this.int64Field(6, cell.localDeletionTime);
    if (cell.path !== undefined) {
      this.bytesField(7, cell.path);
      this.int64Field(8, 1);
    }
  }

  private bound(field: number, bound: ClusteringBound): void {
    this.startMessage(field);
    for (const component of bound.prefix) {
      this.varint(tag(1, WIRE_BYTES));
      this.varint(component.length);
      this.raw(component);
    }
    if (bound.inclusive) this.int64Field(2, 1);
  }

  private deletion(field: number, deletion: DeletionTime): void {
    this.startMessage(field);
    this.int64Field(1, deletion.markedForDeleteAt);
    this.int64Field(2, deletion.localDeletionTime);
  }

  /** Tag and length of the next nested message, whose fields the caller writes next. */
  private startMessage(field: number): void {
    this.varint(tag(field, WIRE_BYTES));
    this.varint(this.lengths[this.next++]);
  }

  private stringField(field: number, text: string): void {
    if (text.length > 0) this.bytesField(field, utf8(text));
  }

  private bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.varint(tag(field, WIRE_BYTES));
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** An int64/int32/bool field; the proto3 default 0 is left out. */
  private int64Field(field: number, value: number): void {
    if (value === 0) return;
    this.varint(tag(field, WIRE_VARINT));
    if (value >= 0 && value < TWO_TO_32) {
      this.varint(value);
      return;
    }
    // Two's complement in 64 bits, as two 32-bit halves.
    const high = Math.floor(value / TWO_TO_32);
    let lo = (value - high * TWO_TO_32) >>> 0;
    let hi = high >>> 0;
    while (hi !== 0 || lo > 0x7f) {
      this.buffer[this.at++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buffer[this.at++] = lo;
  }

  /** An unsigned 32-bit varint. */
  private varint(value: number): void {
    let rest = value >>> 0;
    while (rest > 0x7f) {
      this.buffer[this.at++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buffer[this.at++] = rest;
  }

  private raw(bytes: Uint8Array): void {
    const count = bytes.length;
    // Keys, clusterings and small values: a loop beats a native copy's call.
    if (count < 32) {
      const buffer = this.buffer;
      let at = this.at;
      for (let i = 0; i < count; i++) buffer[at++] = bytes[i];
    } else {
      this.buffer.set(bytes, this.at);
    }
    this.at += count;
  }
}

function stringSize(text: string): number {
  return text.length === 0 ? 0 : delimitedSize(utf8(text).length);
}

function bytesSize(bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : delimitedSize(bytes.length);
}

/** An int64/int32/bool field's bytes, tag included; 0 when it is the default. */
function int64FieldSize(value: number): number {
  return value === 0 ? 0 : 1 + int64Size(value);
}

function deletionSize(deletion: DeletionTime): number {
  return int64FieldSize(deletion.markedForDeleteAt) + int64FieldSize(deletion.localDeletionTime);
}

function boundSize(bound: ClusteringBound): number {
  let size = bound.inclusive ? 2 : 0;
  for (const component of bound.prefix) size += delimitedSize(component.length);
  return size;
}

function cellSize(column: string, cell: Cell): number {
  return (
    stringSize(column) +
    int64FieldSize(cell.timestamp) +
    (cell.value === null ? 2 : bytesSize(cell.value)) +
    int64FieldSize(cell.ttl) +
    int64FieldSize(cell.localDeletionTime) +
    (cell.path !== undefined ? bytesSize(cell.path) + 2 : 0)
  );
}

const encoder = new MutationEncoder();

export function encodeMutation(updates: readonly PartitionUpdate[]): Buffer {
  return encoder.encode(updates);
}

/**
 * Where a mutation may be encoded: a buffer of exactly `length` bytes, or null to leave
 * the allocation to the encoder (a memtable's arena, see UpdateArena.reserve).
 */
export type PayloadSpace = (length: number) => Buffer | null;

/**
 * The mutation's bytes and where each update's PartitionUpdate message lies in them:
 * [start, end) of update i at bodies[2i], bodies[2i + 1] (a memtable keeps an update
 * as those bytes, decodeUpdate reads it back). Written into `space` if it provides one.
 */
export function encodeMutationLocated(
  updates: readonly PartitionUpdate[],
  space: PayloadSpace | null = null,
): { bytes: Buffer; bodies: Int32Array } {
  const bodies = new Int32Array(2 * updates.length);
  return { bytes: encoder.encode(updates, bodies, space), bodies };
}

// Decoding is written by hand too, in a module of its own.
export { decodeMutation } from './mutation-decoder.js';
