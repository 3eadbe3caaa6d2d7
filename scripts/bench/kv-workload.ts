/**
 * What the storage and repair benchmarks share: the table bench.kv (blob key, blob
 * value), its deterministic rows, and the options of an LSM engine tuned for bulk load.
 */
import { randomBytes } from 'node:crypto';
import { liveCell } from '../../lib/model/cell.js';
import { SystemClock } from '../../lib/model/clock.js';
import { emptyPartition, emptyRow, type PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { buildTable, DEFAULT_TABLE_OPTIONS } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { LsmEngineOptions } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';

export const clock = new SystemClock();
const silent = { info() {}, warn() {}, error() {} };
const blob = parseTypeName('blob');

export const table: TableMetadata = buildTable({
  keyspace: 'bench',
  name: 'kv',
  columns: [
    { name: 'k', type: blob, kind: 'partition_key' },
    { name: 'v', type: blob, kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});

/** Deterministic 16-byte keys (so every store gets the same data) from an index. */
export function keyOf(i: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(0x5eed, 0);
  key.writeUInt32BE(i, 12);
  key.writeUInt32BE((i * 2654435761) >>> 0, 8);
  return key;
}

/** Values: 100-byte windows of a random pool at scattered offsets, so they differ per
 *  row and do not compress (every store gets the same value for the same key). */
const POOL = randomBytes(1 << 20);
export function valueOf(i: number): Buffer {
  const offset = ((i * 7919) >>> 0) % (POOL.length - 100);
  return POOL.subarray(offset, offset + 100);
}

/** Row i of bench.kv, written at the given time. */
export function updateOf(i: number, nowMicros: number, nowSeconds: number): PartitionUpdate {
  const key = keyOf(i);
  const partition = emptyPartition(key, murmur3Token(key));
  const row = emptyRow([]);
  row.liveness = { timestamp: nowMicros, ttl: 0, localDeletionTime: 0x7fffffff };
  row.cells.set('v', liveCell(nowMicros, valueOf(i), 0, nowSeconds));
  partition.rows.push(row);
  return { tableId: table.id, partition };
}

/** A silent engine on the real file system: periodic commit log, no compaction throttle. */
export function engineOptions(dataDir: string, overrides: Partial<LsmEngineOptions> = {}): LsmEngineOptions {
  return {
    fs: new NodeFileSystem(),
    dataDir,
    clock,
    logger: silent,
    commitlogSync: 'periodic',
    commitlogSyncPeriodMs: 10_000,
    commitlogGroupWindowMs: 15,
    commitlogSegmentBytes: 32 << 20,
    commitlogTotalSpaceBytes: 8 * 2 ** 30,
    memtableSpaceBytes: 128 << 20,
    compactionThroughputBytes: 0,
    ...overrides,
  };
}
