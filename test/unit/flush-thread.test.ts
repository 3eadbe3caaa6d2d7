/**
 * The flush thread (lib/storage/flush-thread.ts): an SSTable written by the worker from
 * a memtable's update arena reads back whole; a failed flush rejects with its cause and
 * leaves the thread working; a closed thread refuses work; an engine whose thread
 * cannot run flushes on the event loop.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ServerError } from '../../lib/errors.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { encodeTable } from '../../lib/system/schema-codec.js';
import { FlushThread } from '../../lib/storage/flush-thread.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableReader } from '../../lib/storage/sstable/reader.js';
import { SILENT_LOGGER, testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();

function memtableOf(keys: number): Memtable {
  const memtable = new Memtable(table);
  for (let k = 0; k < keys; k += 10) {
    const updates = Array.from({ length: Math.min(10, keys - k) }, (_, i) =>
      update(table, partitionOf(int(k + i), { rows: [row([int(1)], { marker: 5, cells: { v: [5, `value ${k + i}`] } })] })),
    );
    const { bytes, bodies } = encodeMutationLocated(updates);
    updates.forEach((u, i) => memtable.apply(u.partition, bytes, bodies[2 * i], bodies[2 * i + 1]));
  }
  return memtable;
}

t.test('an SSTable written on the flush thread holds every partition; a failed flush names its cause', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-flush-thread-'));
  const thread = new FlushThread();
  t.teardown(async () => {
    await thread.close();
    await rm(dir, { recursive: true, force: true });
  });
  const memtable = memtableOf(250);
  const task = (into: string, generation: number) => ({
    keyspace: table.keyspace,
    table: encodeTable(table),
    dir: into,
    generation,
    expectedPartitions: memtable.partitionCount,
    updates: memtable.updates!.contents(),
  });

  // A file where the table's directory should be: the writer cannot start.
  const blocked = join(dir, 'blocked');
  await writeFile(blocked, 'not a directory');
  const failure = await thread.write(task(join(blocked, 'table'), 1)).catch((error: unknown) => error);
  t.ok(failure instanceof ServerError && /Flush failed/.test(failure.message), `rejected: ${String(failure)}`);

  const tableDir = join(dir, 'table');
  await thread.write(task(tableDir, 2));
  const reader = await SSTableReader.open(new NodeFileSystem(), tableDir, 2, table);
  t.teardown(() => reader.close());
  t.equal(reader.stats.partitionCount, 250, 'every partition written');
  let rows = 0;
  for await (const partition of reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) {
    for await (const _ of partition.rows([ALL_ROWS], false)) rows++;
  }
  t.equal(rows, 250, 'and every row');
  t.same((await readdir(tableDir)).filter((name) => name.includes('tmp')), [], 'no temporary file left');

  await thread.close();
  const closed = await thread.write(task(tableDir, 3)).catch((error: unknown) => error);
  t.ok(closed instanceof ServerError, 'a closed thread refuses work');
});

t.test('an engine whose flush thread cannot run flushes on the event loop instead, losing nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-flush-fallback-'));
  // A worker script that dies as it loads: the thread fails, not one flush.
  const broken = new FlushThread(new URL('data:text/javascript,throw new Error("no flush worker here")'));
  const warnings: string[] = [];
  const logger = { ...SILENT_LOGGER, warn: (_: unknown, message: string) => void warnings.push(message) };
  const options = testEngineOptions(new NodeFileSystem(), dir, { flushThread: broken, logger, autoCompaction: false });
  let engine = await LsmStorageEngine.open(options, [table]);
  t.teardown(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });
  engine.openTable(table);
  const updates = Array.from({ length: 20 }, (_, k) => update(table, partitionOf(int(k), { rows: [row([int(1)], { marker: 5, cells: { v: [5, `v${k}`] } })] })));
  await engine.apply(updates);
  await engine.flush(table.id);
  t.equal(engine.stats(table.id).sstableCount, 1, 'the flush went through on the event loop');
  t.match(warnings, [/flush thread failed/], 'and said why');
  await engine.apply([update(table, partitionOf(int(99), { rows: [row([int(1)], { marker: 6, cells: { v: [6, 'later'] } })] }))]);
  await engine.flush(table.id);
  t.equal(engine.stats(table.id).sstableCount, 2, 'later flushes too');
  await engine.close();
  engine = await LsmStorageEngine.open(testEngineOptions(new NodeFileSystem(), dir, { autoCompaction: false }), [table]);
  engine.openTable(table);
  t.equal(engine.stats(table.id).partitionsEstimate, 21, 'every partition is in the SSTables after a restart');
});
