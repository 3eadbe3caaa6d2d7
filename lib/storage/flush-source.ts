/**
 * A memtable's partitions rebuilt from the updates it was built from (update-arena.ts),
 * in (token, key) order, each merged exactly as the memtable merged it (memtable.ts,
 * absorb): what a flush writes, computed without the memtable.
 *
 * Why: a memtable's objects were allocated in write order and a flush visits them in
 * token order, so it waits on memory for most of a dozen objects per row; decoding each
 * partition just before writing it touches only fresh objects and a few contiguous
 * bytes. And the updates live in shared memory, so this runs on a flush thread
 * (flush-worker.ts) while the event loop goes on taking writes.
 */
import type { Partition } from '../model/partition.js';
import { tokenOfWords } from '../model/token.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import type { TableMetadata } from '../schema/metadata.js';
import { absorb } from './memtable.js';
import { FlatRow } from './flat-row.js';
import { decodeUpdate, readFlatRow, readUpdateHeader, updateHeader } from './mutation-decoder.js';
import { type ArenaContents, arenaBytes, forEachArenaUpdate } from './update-arena.js';

// Where each update lies, one record of STRIDE int32s per update (in write order), so
// that the sort and the merge, which visit updates in token order, read one cache line
// per update rather than one per field.
const STRIDE = 8;
const CHUNK = 0;
const START = 1;
const END = 2;
const KEY_START = 3;
const KEY_END = 4;
const HIGH = 5;
/** The low word as int32 (`>>> 0` gives it back unsigned). */
const LOW = 6;

export class UpdateTable {
  size = 0;
  fields = new Int32Array(1024 * STRIDE);

  push(chunk: number, start: number, end: number, keyStart: number, keyEnd: number, high: number, low: number): void {
    let at = this.size * STRIDE;
    if (at === this.fields.length) {
      const grown = new Int32Array(this.fields.length * 2);
      grown.set(this.fields);
      this.fields = grown;
    }
    const fields = this.fields;
    fields[at++] = chunk;
    fields[at++] = start;
    fields[at++] = end;
    fields[at++] = keyStart;
    fields[at++] = keyEnd;
    fields[at++] = high;
    fields[at] = low;
    this.size++;
  }
}

/** Updates a and b compared by (token, key), the keys read in place. */
function compareUpdates(chunks: readonly Buffer[], fields: Int32Array, a: number, b: number): number {
  const at = a * STRIDE;
  const bt = b * STRIDE;
  if (fields[at + HIGH] !== fields[bt + HIGH]) return fields[at + HIGH] < fields[bt + HIGH] ? -1 : 1;
  const aLow = fields[at + LOW] >>> 0;
  const bLow = fields[bt + LOW] >>> 0;
  if (aLow !== bLow) return aLow < bLow ? -1 : 1;
  return chunks[fields[at + CHUNK]].compare(chunks[fields[bt + CHUNK]], fields[bt + KEY_START], fields[bt + KEY_END], fields[at + KEY_START], fields[at + KEY_END]);
}

/** Below this many updates the sort packs (token high word, index) into one double. */
const PACKED_INDEX_LIMIT = 2 ** 21;

/** Where each update of the arena lies. */
export function locateUpdates(arena: ArenaContents): UpdateTable {
  const updates = new UpdateTable();
  forEachArenaUpdate(arena, (bytes, chunk, start, end, high, low) => {
    readUpdateHeader(bytes, start, end);
    updates.push(chunk, start, end, updateHeader.keyStart, updateHeader.keyEnd, high, low);
  });
  return updates;
}

/**
 * Update indexes in (token, key) order, each key's updates in write order. With fewer
 * than 2^21 updates, the token's high word and the index fit one exact double, which a
 * typed array sorts natively (several times faster than a sort calling back into
 * JavaScript); the rare runs sharing a high word are then put in order by the full
 * comparison. (`packing` false: always the comparison sort, for tests.)
 */
export function sortedOrder(chunks: readonly Buffer[], updates: UpdateTable, packing = true): Int32Array {
  const { size, fields } = updates;
  const order = new Int32Array(size);
  const full = (a: number, b: number): number => compareUpdates(chunks, fields, a, b) || a - b;
  if (!packing || size >= PACKED_INDEX_LIMIT) {
    for (let i = 0; i < size; i++) order[i] = i;
    return order.sort(full);
  }
  const packed = new Float64Array(size);
  for (let i = 0; i < size; i++) packed[i] = (fields[i * STRIDE + HIGH] + 2 ** 31) * PACKED_INDEX_LIMIT + i;
  packed.sort();
  for (let n = 0; n < size; n++) order[n] = packed[n] % PACKED_INDEX_LIMIT;
  // Runs sharing a high word, found in the packed values (read in order, not scattered).
  for (let n = 0; n < size; ) {
    const high = Math.floor(packed[n] / PACKED_INDEX_LIMIT);
    let stop = n + 1;
    while (stop < size && Math.floor(packed[stop] / PACKED_INDEX_LIMIT) === high) stop++;
    if (stop - n > 1) order.subarray(n, stop).sort(full);
    n = stop;
  }
  return order;
}

/** Updates whose bytes are touched together before they are decoded (see touch). */
const TOUCH_BATCH = 32;
const CACHE_LINE_BYTES = 64;
/** Where touch() leaves what it read: a store the compiler must keep, so the reads stay. */
let touched = 0;

/**
 * Reads one byte of every cache line of updates [from, to) of `sorted`. The updates lie
 * scattered over the arena in write order and are decoded in token order: decoding
 * them one by one waited on memory at the first byte of each. These reads do not
 * depend on one another, so the processor fetches the lines of a whole batch at once.
 */
function touch(chunks: readonly Buffer[], sorted: Int32Array, from: number, to: number): void {
  let sum = 0;
  for (let n = from; n < to; n++) {
    const at = n * STRIDE;
    const bytes = chunks[sorted[at + CHUNK]];
    const end = sorted[at + END];
    for (let position = sorted[at + START]; position < end; position += CACHE_LINE_BYTES) sum ^= bytes[position];
  }
  touched = sum;
}

/** The records of `fields` in `order`: the merge then reads them front to back. */
function inOrder(fields: Int32Array, order: Int32Array): Int32Array {
  const sorted = new Int32Array(order.length * STRIDE);
  for (let n = 0; n < order.length; n++) {
    const from = order[n] * STRIDE;
    const to = n * STRIDE;
    for (let f = 0; f < STRIDE; f++) sorted[to + f] = fields[from + f];
  }
  return sorted;
}

/**
 * The partitions the arena's updates make, merged and in order: what a flush of their
 * memtable writes. With `flat`, a key written once in one plain row comes as a FlatRow
 * (one reused instance, valid until the next item) instead of a decoded partition.
 */
export function partitionsFromUpdates(table: TableMetadata, arena: ArenaContents): Generator<Partition>;
export function partitionsFromUpdates(table: TableMetadata, arena: ArenaContents, flat: boolean): Generator<Partition | FlatRow>;
export function* partitionsFromUpdates(table: TableMetadata, arena: ArenaContents, flat = false): Generator<Partition | FlatRow> {
  const chunks = arenaBytes(arena);
  const updates = locateUpdates(arena);
  const size = updates.size;
  const sorted = inOrder(updates.fields, sortedOrder(chunks, updates));
  const pathComparatorFor = pathComparatorsOf(table);
  const flatRow = new FlatRow();
  let current: Partition | undefined;
  for (let n = 0; n < size; n++) {
    if (n % TOUCH_BATCH === 0) touch(chunks, sorted, n, Math.min(size, n + TOUCH_BATCH));
    const at = n * STRIDE;
    const sameKey = n > 0 && compareUpdates(chunks, sorted, n, n - 1) === 0;
    const bytes = chunks[sorted[at + CHUNK]];
    if (flat && !sameKey && (n + 1 === size || compareUpdates(chunks, sorted, n + 1, n) !== 0) && readFlatRow(bytes, sorted[at + START], sorted[at + END], flatRow)) {
      if (current !== undefined) yield current;
      current = undefined;
      flatRow.token = tokenOfWords(sorted[at + HIGH], sorted[at + LOW]);
      yield flatRow;
      continue;
    }
    const token = sameKey ? current!.token : tokenOfWords(sorted[at + HIGH], sorted[at + LOW]);
    const update = decodeUpdate(bytes, sorted[at + START], sorted[at + END], token);
    if (!sameKey && current !== undefined) yield current;
    current = absorb(table.comparator, pathComparatorFor, sameKey ? current : undefined, update.partition);
  }
  if (current !== undefined) yield current;
}
