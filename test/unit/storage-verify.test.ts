/**
 * nodetool verify's job, engine-level: LsmStorageEngine.verify reads every live SSTable
 * of a table against its checksums, lists every corrupt one (not just the first) while
 * the node goes on serving, holds each SSTable it reads so that a compaction replacing
 * it cannot delete its files under it, and spends compaction_throughput's budget.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { LsmTableStore } from '../../lib/storage/lsm/table.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { HEADER_BYTES } from '../../lib/storage/sstable/format.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { NOW, eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const readAll: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: NOW };

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeRows(engine: LsmStorageEngine, table: TableMetadata, key: number, count: number): Promise<void> {
  for (let ck = 0; ck < count; ck++) {
    await engine.apply([update(table, partitionOf(int(key), { rows: [row([int(ck)], { marker: 1, cells: { v: [1, `v${ck}`] } })] }))]);
  }
}

/** An engine whose table `events` has two flushed SSTables (generations 1 and 2) and `other` one. */
async function engineWithSSTables(t: Test) {
  const dir = await tempDir(t);
  const table = eventsTable();
  const other = eventsTable({ name: 'other' });
  const engine = await LsmStorageEngine.open(testEngineOptions(new NodeFileSystem(), dir, { autoCompaction: false, flushThread: false }), [table, other]);
  t.teardown(() => engine.close());
  for (const key of [1, 2]) {
    await writeRows(engine, table, key, 20);
    await engine.flush(table.id);
  }
  await writeRows(engine, other, 1, 20);
  await engine.flush(other.id);
  const tableDir = join(dir, 'data', table.keyspace, `${table.name}-${table.id.replaceAll('-', '')}`);
  const component = (generation: number, name: string) => join(tableDir, `sb-${generation}-${name}.db`);
  return { engine, table, other, component };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

t.test('verify reads every SSTable of a table and finds nothing wrong in intact ones', async (t) => {
  const { engine, table, other } = await engineWithSSTables(t);
  t.equal(engine.stats(table.id).sstableCount, 2);
  t.same(await engine.verify(table.id), { sstables: 2, corrupt: [] });
  t.same(await engine.verify(other.id), { sstables: 1, corrupt: [] });
  await t.rejects(engine.verify('no-such-table'), { code: 'Invalid' });
});

t.test('verify lists every corrupt SSTable, goes on past the first, and the node keeps serving', async (t) => {
  const { engine, table, other, component } = await engineWithSSTables(t);
  // One byte of the oldest SSTable's data flipped: its chunk fails its CRC32C.
  const data = await readFile(component(1, 'Data'));
  data[Math.floor(data.length / 2)] ^= 0xff;
  await writeFile(component(1, 'Data'), data);

  const first = await engine.verify(table.id);
  t.equal(first.sstables, 2, 'the SSTable after the corrupt one is verified too');
  t.same(first.corrupt.map((c) => c.file), [component(1, 'Data')], 'exactly the corrupted file');
  t.match(first.corrupt[0].message, /fails its CRC32C check/);

  // Every chunk of the newer one still passes its own CRC: only its Digest can tell.
  await writeFile(component(2, 'Digest'), await readFile(component(1, 'Digest')));
  const both = await engine.verify(table.id);
  t.equal(both.sstables, 2);
  t.same(both.corrupt.map((c) => c.file), [component(1, 'Data'), component(2, 'Data')], 'both, oldest first');
  t.match(both.corrupt[1].message, /does not match .*sb-2-Digest\.db/);

  t.same(await engine.verify(other.id), { sstables: 1, corrupt: [] }, 'the other table verifies clean');
  t.equal((await engine.table(other.id)!.read(int(1), partitionOf(int(1)).token, readAll))?.rows.length, 20, 'the other table still reads');
  await writeRows(engine, other, 2, 5);
  await engine.flush(other.id);
  t.same(await engine.verify(other.id), { sstables: 2, corrupt: [] }, 'and still writes and flushes');
});

t.test('verify holds the SSTable it reads: a compaction replacing it deletes its files only afterwards', async (t) => {
  const { engine, table, component } = await engineWithSSTables(t);
  const throttle = engine.throttle;
  const consume = throttle.consume.bind(throttle);
  // The first read verify asks the throttle for (SSTable 1's first chunk) waits for the test.
  let resume!: () => void;
  let gate: Promise<void> | null = new Promise<void>((resolve) => (resume = resolve));
  let paused!: () => void;
  const pausedThere = new Promise<void>((resolve) => (paused = resolve));
  throttle.consume = async (bytes, signal) => {
    const wait = gate;
    gate = null;
    if (wait !== null) {
      paused();
      await wait;
    }
    return consume(bytes, signal);
  };

  const verifying = engine.verify(table.id);
  await pausedThere;
  await engine.compactAll(table.id);
  await (engine.table(table.id) as LsmTableStore).settleDeletions();
  t.equal(engine.stats(table.id).sstableCount, 1, 'compacted into one SSTable');
  t.ok(await exists(component(1, 'Data')), 'the SSTable being verified is still on disk');
  t.notOk(await exists(component(2, 'Data')), 'the other input is deleted at once');

  resume();
  t.same(await verifying, { sstables: 1, corrupt: [] }, 'it verifies; the one compacted away before its turn is skipped');
  await (engine.table(table.id) as LsmTableStore).settleDeletions();
  t.notOk(await exists(component(1, 'Data')), 'once verified, the replaced SSTable is deleted');
  t.same(await engine.verify(table.id), { sstables: 1, corrupt: [] }, 'the compacted SSTable verifies');
});

t.test('verify spends the compaction throttle: every stored chunk of every data file', async (t) => {
  const { engine, table, component } = await engineWithSSTables(t);
  let consumed = 0;
  const consume = engine.throttle.consume.bind(engine.throttle);
  engine.throttle.consume = (bytes, signal) => {
    consumed += bytes;
    return consume(bytes, signal);
  };
  await engine.verify(table.id);
  const chunkBytes = async (generation: number) => (await readFile(component(generation, 'Data'))).length - HEADER_BYTES;
  t.equal(consumed, (await chunkBytes(1)) + (await chunkBytes(2)));
});
