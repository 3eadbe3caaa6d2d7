/**
 * Review of 8861761 / 4a7f14c: what a memtable holds against what it accounts
 * (Memtable.sizeBytes, which drives flushes and back-pressure).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { testEngineOptions } from '../helpers/lsm-options.js';
import t, { type Test } from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { decodeMutation, encodeMutation, encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { eventsTable, int, makeTable, intType, textType, partitionOf, row, update } from './fixtures/tables.js';


async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review-memory-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a key written twice accounts at least the objects it then holds (as a memtable without payloads does)', async (t) => {
  const columns = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const table = makeTable({ partitionKey: [['pk', intType]], clustering: [['ck', intType]], regular: columns.map((c) => [c, textType]) });
  const wide = (k: number): Partition =>
    partitionOf(int(k), { rows: [row([int(1)], { cells: Object.fromEntries(columns.map((c) => [c, [1, 'x']])) })] });
  const narrow = (k: number): Partition => partitionOf(int(k), { rows: [row([int(1)], { cells: { c0: [2, 'y'] } })] });

  const asBytes = new Memtable(table);
  const asObjects = new Memtable(table);
  for (let k = 0; k < 20_000; k++) {
    for (const make of [wide, narrow]) {
      const { bytes, bodies } = encodeMutationLocated([update(table, make(k))]);
      asBytes.apply(make(k), bytes, bodies[0], bodies[1]);
      asObjects.apply(make(k));
    }
  }
  // asBytes holds the same merged objects as asObjects (the first write decoded by the
  // second), plus the payloads: it cannot honestly account less.
  t.ok(
    asBytes.sizeBytes >= asObjects.sizeBytes,
    `accounted with payloads ${asBytes.sizeBytes} B, without ${asObjects.sizeBytes} B`,
  );
});

t.test('one small write to each of a few tables does not flush anything', async (t) => {
  const dir = await tempDir(t);
  const tables = Array.from({ length: 12 }, (_, i) => eventsTable({ name: `events${i}` }));
  const engine = await LsmStorageEngine.open(
    // Room for thousands of such rows.
    testEngineOptions(new NodeFileSystem(), dir, { memtableSpaceBytes: 8 << 20, autoCompaction: false, flushThread: false }),
    tables,
  );
  for (const table of tables) {
    await engine.apply([update(table, partitionOf(int(1), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'] } })] }))]);
  }
  const accounted = tables.reduce((sum, table) => sum + engine.stats(table.id).memtableBytes, 0);
  await engine.close(); // waits for flushes under way
  const written = (await readdir(dir, { recursive: true })).filter((name) => String(name).endsWith('-TOC.db'));
  t.ok(accounted < 1 << 20, `12 one-row memtables account ${accounted} B`);
  t.same(written, [], 'no SSTable flushed for 12 rows');
});

/** A replica's MUTATION: the update decoded from a large receive buffer (views, not copies), applied as LsmStorageEngine.apply does. */
function receiveInto(memtable: Memtable, table: ReturnType<typeof eventsTable>, key: number, copyKey: boolean): WeakRef<ArrayBufferLike> {
  const encoded = encodeMutation([update(table, partitionOf(int(key), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'] } })] }))]);
  const received = Buffer.alloc(8 << 20);
  encoded.copy(received, 0);
  const weak = new WeakRef(received.buffer);
  const [decoded] = decodeMutation(received.subarray(0, encoded.length));
  const partition = copyKey ? { ...decoded.partition, key: Buffer.from(decoded.partition.key) } : decoded.partition;
  const { bytes, bodies } = encodeMutationLocated([{ tableId: decoded.tableId, partition }]);
  memtable.apply(partition, bytes, bodies[0], bodies[1]);
  return weak;
}

t.test('a memtable does not keep the buffer a write was decoded from alive', async (t) => {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  const table = eventsTable();
  const memtable = new Memtable(table);
  // Control: the same write with its key copied out of the receive buffer.
  const control = receiveInto(memtable, table, 1, true);
  const weak = receiveInto(memtable, table, 2, false);
  // The decoder keeps the last buffer it read: make it read another.
  decodeMutation(encodeMutation([update(table, partitionOf(int(8)))]));
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(memtable.partitionCount, 2);
  t.equal(control.deref(), undefined, 'with the key copied, the receive buffer is collected');
  t.equal(weak.deref(), undefined, `an 8 MiB receive buffer is kept alive by a memtable accounting ${memtable.sizeBytes} B`);
});
