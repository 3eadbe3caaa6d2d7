/**
 * A memtable's partitions rebuilt from the commit-log payloads it was built from
 * (payload-arena.ts), in (token, key) order, each merged exactly as the memtable merged
 * it (memtable.ts, absorb): what a flush writes, computed without the memtable.
 *
 * Why: a memtable's objects were allocated in write order and a flush visits them in
 * token order, so it waits on memory for most of a dozen objects per row; decoding each
 * partition just before writing it touches only fresh objects and a few contiguous
 * bytes. And the payloads live in shared memory, so this runs on a flush thread
 * (flush-worker.ts) while the event loop goes on taking writes.
 *
 * A payload is an encoded Mutation (mutation.proto): field 1, repeated, one
 * PartitionUpdate each, whose fields 1 and 2 are the table id and the key; each is
 * found by a scan of tags and lengths (forEachUpdate, readUpdateHeader) and decoded
 * where it lies (decodeUpdate).
 */
import type { Partition } from '../model/partition.js';
import { murmur3Token, tokenWords } from '../model/token.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import type { TableMetadata } from '../schema/metadata.js';
import { absorb } from './memtable.js';
import { decodeUpdate, forEachUpdate, readUpdateHeader, updateHeader } from './mutation-decoder.js';
import { type ArenaChunk, forEachPayload } from './payload-arena.js';

/** Where the updates of one table sit, as parallel columns (one entry per update, in write order). */
class UpdateLocations {
  size = 0;
  /** The keys' tokens, kept for decoding (computing one costs more than keeping it). */
  readonly tokens: bigint[] = [];
  payload = new Int32Array(1024);
  start = new Int32Array(1024);
  end = new Int32Array(1024);
  keyStart = new Int32Array(1024);
  keyEnd = new Int32Array(1024);
  high = new Int32Array(1024);
  low = new Uint32Array(1024);

  push(payload: number, start: number, end: number, keyStart: number, keyEnd: number, token: bigint): void {
    if (this.size === this.payload.length) this.grow();
    const i = this.size++;
    const [high, low] = tokenWords(token);
    this.tokens.push(token);
    this.payload[i] = payload;
    this.start[i] = start;
    this.end[i] = end;
    this.keyStart[i] = keyStart;
    this.keyEnd[i] = keyEnd;
    this.high[i] = high;
    this.low[i] = low;
  }

  private grow(): void {
    const grown = <T extends Int32Array | Uint32Array>(array: T): T => {
      const next = new (array.constructor as new (length: number) => T)(array.length * 2);
      next.set(array);
      return next;
    };
    this.payload = grown(this.payload);
    this.start = grown(this.start);
    this.end = grown(this.end);
    this.keyStart = grown(this.keyStart);
    this.keyEnd = grown(this.keyEnd);
    this.high = grown(this.high);
    this.low = grown(this.low);
  }
}

/** Whether bytes[start, end) equal `expected`: a JS loop, cheaper than a native call for an id's few bytes. */
function sameBytes(bytes: Buffer, start: number, end: number, expected: Buffer): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}

/** Finds every update of `tableId` in the payloads. */
function locate(payloads: readonly Buffer[], tableId: Buffer): UpdateLocations {
  const found = new UpdateLocations();
  for (let p = 0; p < payloads.length; p++) {
    const bytes = payloads[p];
    forEachUpdate(bytes, (start, end) => {
      readUpdateHeader(bytes, start, end);
      const { tableIdStart, tableIdEnd, keyStart, keyEnd } = updateHeader;
      if (!sameBytes(bytes, tableIdStart, tableIdEnd, tableId)) return;
      found.push(p, start, end, keyStart, keyEnd, murmur3Token(bytes.subarray(keyStart, keyEnd)));
    });
  }
  return found;
}

/** Updates a and b compared by (token, key), the keys read in place. */
function compareUpdates(payloads: readonly Buffer[], at: UpdateLocations, a: number, b: number): number {
  if (at.high[a] !== at.high[b]) return at.high[a] < at.high[b] ? -1 : 1;
  if (at.low[a] !== at.low[b]) return at.low[a] < at.low[b] ? -1 : 1;
  return payloads[at.payload[a]].compare(payloads[at.payload[b]], at.keyStart[b], at.keyEnd[b], at.keyStart[a], at.keyEnd[a]);
}

/** Update indexes in (token, key) order, each key's updates in write order. */
function sortedOrder(payloads: readonly Buffer[], at: UpdateLocations): Int32Array {
  const order = new Int32Array(at.size);
  for (let i = 0; i < at.size; i++) order[i] = i;
  return order.sort((a, b) => compareUpdates(payloads, at, a, b) || a - b);
}

/** The partitions of `table` the payloads hold, merged and in order: what a flush of their memtable writes. */
export function* partitionsFromPayloads(table: TableMetadata, chunks: readonly ArenaChunk[]): Generator<Partition> {
  const payloads: Buffer[] = [];
  forEachPayload(chunks, (payload) => payloads.push(payload));
  const at = locate(payloads, Buffer.from(table.id, 'utf8'));
  const order = sortedOrder(payloads, at);
  const pathComparatorFor = pathComparatorsOf(table);
  let current: Partition | undefined;
  let previous = -1;
  for (let n = 0; n < order.length; n++) {
    const i = order[n];
    const update = decodeUpdate(payloads[at.payload[i]], at.start[i], at.end[i], at.tokens[i]);
    const sameKey = previous >= 0 && compareUpdates(payloads, at, i, previous) === 0;
    if (!sameKey && current !== undefined) yield current;
    current = absorb(table.comparator, pathComparatorFor, sameKey ? current : undefined, update.partition);
    previous = i;
  }
  if (current !== undefined) yield current;
}
