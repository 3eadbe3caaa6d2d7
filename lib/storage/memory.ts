/**
 * The in-memory storage engine: every table's partitions in process memory, nothing
 * on disk. It backs the foundation and the tests, and defines by example what the
 * durable engine must answer (both run test/unit/storage-suite.ts).
 *
 * Per table, partitions live in a Map keyed by their key bytes (point reads) and in
 * an index sorted by (token, key) (scans). Stored partitions are always purged
 * results of lib/model/merge.ts. Rows and cells are never mutated, and the store
 * keeps the update's own row and cell objects (callers must not change an update
 * after applying it). Only a stored partition's row array is changed in place, and
 * that array is private: readers get filterPartition's copies, so a partition
 * handed to a reader stays valid whatever is written afterwards.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InvalidRequest, ServerError } from '../errors.js';
import {
  applyUpdate,
  filterPartition,
  isEmptyPartition,
  mergePartitions,
  withoutDroppedColumns,
  type PathComparatorFor,
} from '../model/merge.js';
import { emptyPartition, type Partition, type PartitionUpdate } from '../model/partition.js';
import { compareKeys } from '../model/token.js';
import { firstIndex } from '../model/search.js';
import type { TableMetadata } from '../schema/metadata.js';
import { pathComparatorsOf } from '../schema/cell-paths.js';
import { piecesOf, type CleanupResult, type KeyRange, type PartitionPosition, type ReadFilter, type ScanOptions, type StorageEngine, type TableStore } from './engine.js';

/** Rows a scan hands out before letting the event loop run (async generators resume
 *  in microtasks, which alone would starve timers and I/O during a long scan). */
const SCAN_ROWS_PER_TURN_MAX = 1024;
/** Partitions cleanup looks at before letting the event loop run. */
const CLEANUP_PARTITIONS_PER_TURN_MAX = 1024;
/** Entries per block of the partition index; a full block splits in two. */
const INDEX_BLOCK_ENTRIES_MAX = 512;

const IN_PLACE = Object.freeze({ mutateStoredRows: true });

/** A partition's place in the sorted index. */
interface IndexEntry {
  readonly token: bigint;
  readonly key: Buffer;
  /** The key bytes as a string: the partition's Map key. */
  readonly id: string;
}

function idOf(key: Buffer): string {
  // latin1 maps each byte to one char: the cheapest exact string form of bytes.
  return key.toString('latin1');
}

/**
 * Partition keys sorted by (token, key), as a list of blocks so that inserting a new
 * key moves at most one block's entries rather than the whole table's. Keys are
 * removed one by one only by cleanup; a block it empties is dropped, and blocks are
 * otherwise left as small as it makes them (they only matter for insertion cost).
 */
class PartitionIndex {
  private blocks: IndexEntry[][] = [];

  clear(): void {
    this.blocks = [];
  }

  insert(entry: IndexEntry): void {
    const isAtOrAfter = (other: IndexEntry): boolean =>
      compareKeys(other.token, other.key, entry.token, entry.key) >= 0;
    if (this.blocks.length === 0) {
      this.blocks.push([entry]);
      return;
    }
    // The first block whose last entry sorts after the new one, else the last block.
    const b = Math.min(
      firstIndex(this.blocks, (block) => isAtOrAfter(block[block.length - 1])),
      this.blocks.length - 1,
    );
    const block = this.blocks[b];
    block.splice(firstIndex(block, isAtOrAfter), 0, entry);
    if (block.length > INDEX_BLOCK_ENTRIES_MAX) {
      this.blocks.splice(b + 1, 0, block.splice(block.length >>> 1));
    }
  }

  /** Removes the entry with `entry`'s (token, key), if there is one. */
  remove(entry: IndexEntry): void {
    const isAtOrAfter = (other: IndexEntry): boolean =>
      compareKeys(other.token, other.key, entry.token, entry.key) >= 0;
    const b = firstIndex(this.blocks, (block) => isAtOrAfter(block[block.length - 1]));
    if (b === this.blocks.length) return;
    const block = this.blocks[b];
    const i = firstIndex(block, isAtOrAfter);
    if (block[i].id !== entry.id) return;
    block.splice(i, 1);
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  /** The first entry where the monotone predicate holds, if any. */
  first(isAtOrAfter: (entry: IndexEntry) => boolean): IndexEntry | undefined {
    const b = firstIndex(this.blocks, (block) => isAtOrAfter(block[block.length - 1]));
    if (b === this.blocks.length) return undefined;
    const block = this.blocks[b];
    return block[firstIndex(block, isAtOrAfter)];
  }
}

/** True when `entry` is at or after the start of a range (see PartitionPosition). */
function afterStart(entry: IndexEntry, start: PartitionPosition, inclusive: boolean): boolean {
  if (start.key === null) return inclusive ? entry.token >= start.token : entry.token > start.token;
  const c = compareKeys(entry.token, entry.key, start.token, start.key);
  return inclusive ? c >= 0 : c > 0;
}

/** True when `entry` is at or before the end of a range (see PartitionPosition). */
function beforeEnd(entry: IndexEntry, end: PartitionPosition, inclusive: boolean): boolean {
  if (end.key === null) return inclusive ? entry.token <= end.token : entry.token < end.token;
  const c = compareKeys(entry.token, entry.key, end.token, end.key);
  return inclusive ? c <= 0 : c < 0;
}

class MemoryTableStore implements TableStore {
  private current: TableMetadata;
  private pathComparatorFor: PathComparatorFor;
  private readonly partitions = new Map<string, Partition>();
  private readonly index = new PartitionIndex();

  constructor(metadata: TableMetadata) {
    this.current = metadata;
    this.pathComparatorFor = pathComparatorsOf(metadata);
  }

  get metadata(): TableMetadata {
    return this.current;
  }

  setMetadata(metadata: TableMetadata): void {
    this.current = metadata;
    this.pathComparatorFor = pathComparatorsOf(metadata);
  }

  apply(update: Partition): void {
    const id = idOf(update.key);
    const stored = this.partitions.get(id);
    const comparator = this.current.comparator;
    if (stored === undefined) {
      // Merging into an empty partition purges whatever the update shadows itself.
      const empty = emptyPartition(update.key, update.token);
      const created = mergePartitions(comparator, empty, update, this.pathComparatorFor);
      if (isEmptyPartition(created)) return;
      this.partitions.set(id, created);
      this.index.insert({ token: created.token, key: created.key, id });
      return;
    }
    // The stored row arrays never leave this store (reads return filtered copies), so
    // small updates may splice into them instead of copying a wide partition's rows.
    this.partitions.set(id, applyUpdate(comparator, stored, update, this.pathComparatorFor, IN_PLACE));
  }

  clear(): void {
    this.partitions.clear();
    this.index.clear();
  }

  async read(key: Buffer, _token: bigint, filter: ReadFilter): Promise<Partition | null> {
    const stored = this.partitions.get(idOf(key));
    return stored === undefined ? null : this.view(stored, filter);
  }

  async *scan(range: KeyRange, filter: ReadFilter, options: ScanOptions = {}): AsyncIterable<Partition> {
    // Walk by position, not over a snapshot: after each partition look up the next
    // key strictly after it, so writes, truncates and drops between steps are seen
    // and never invalidate the walk.
    const { start, startInclusive, end, endInclusive } = range;
    let entry =
      start === null ? this.index.first(() => true) : this.index.first((e) => afterStart(e, start, startInclusive));
    let rowsSinceTurn = 0;
    while (entry !== undefined && (end === null || beforeEnd(entry, end, endInclusive))) {
      const stored = this.partitions.get(entry.id);
      if (stored !== undefined) {
        const partition = this.view(stored, filter);
        // Held whole here anyway: pieces only keep the contract.
        yield* piecesOf(partition, options.rowsPerPiece ?? Infinity);
        rowsSinceTurn += partition.rows.length + 1;
        if (rowsSinceTurn >= SCAN_ROWS_PER_TURN_MAX) {
          rowsSinceTurn = 0;
          await nextTurn();
        }
      }
      const last = entry;
      entry = this.index.first((e) => compareKeys(e.token, e.key, last.token, last.key) > 0);
    }
  }

  /** Drops the partitions whose token fails `keep`; returns how many. */
  async cleanup(keep: (token: bigint) => boolean): Promise<number> {
    // Walks by position like scan, so writes between turns never invalidate the walk.
    let removed = 0;
    let sinceTurn = 0;
    let entry = this.index.first(() => true);
    while (entry !== undefined) {
      const current = entry;
      if (!keep(current.token)) {
        if (this.partitions.delete(current.id)) removed++;
        this.index.remove(current);
      }
      entry = this.index.first((e) => compareKeys(e.token, e.key, current.token, current.key) > 0);
      if (++sinceTurn === CLEANUP_PARTITIONS_PER_TURN_MAX) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
    return removed;
  }

  private view(stored: Partition, filter: ReadFilter): Partition {
    const metadata = this.current;
    return filterPartition(metadata.comparator, withoutDroppedColumns(stored, metadata.droppedColumns), filter);
  }
}

export class MemoryStorageEngine implements StorageEngine {
  private readonly stores = new Map<string, MemoryTableStore>();
  private closed = false;

  openTable(metadata: TableMetadata): TableStore {
    this.checkOpen();
    const existing = this.stores.get(metadata.id);
    if (existing !== undefined) {
      existing.setMetadata(metadata);
      return existing;
    }
    const store = new MemoryTableStore(metadata);
    this.stores.set(metadata.id, store);
    return store;
  }

  table(tableId: string): TableStore | undefined {
    return this.stores.get(tableId);
  }

  async dropTable(tableId: string): Promise<void> {
    this.checkOpen();
    // Clearing (not just forgetting) the store ends scans still walking it.
    this.stores.get(tableId)?.clear();
    this.stores.delete(tableId);
  }

  async truncate(tableId: string): Promise<void> {
    this.checkOpen();
    this.stores.get(tableId)?.clear();
  }

  /** Nothing is on disk, so the byte counts are 0. */
  async cleanup(tableId: string, keep: (token: bigint) => boolean): Promise<CleanupResult> {
    this.checkOpen();
    const store = this.stores.get(tableId);
    if (store === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    return { partitionsRemoved: await store.cleanup(keep), bytesBefore: 0, bytesAfter: 0 };
  }

  async apply(updates: readonly PartitionUpdate[]): Promise<void> {
    this.checkOpen();
    // Resolve every table first, so a mutation naming an unknown table changes nothing.
    const stores = updates.map((update) => {
      const store = this.stores.get(update.tableId);
      if (store === undefined) throw new InvalidRequest(`Unknown table id ${update.tableId}`);
      return store;
    });
    // Synchronous from here on: no other operation interleaves with one mutation.
    for (let i = 0; i < updates.length; i++) stores[i].apply(updates[i].partition);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const store of this.stores.values()) store.clear();
    this.stores.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new ServerError('Storage engine is closed');
  }
}

