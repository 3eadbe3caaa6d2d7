/**
 * A write the memtable refuses must not reach the commit log: the writer is told the
 * write failed, and a logged record would be replayed at the next start, throwing the
 * same way, so the node would no longer start. The engine applies to the memtables
 * first (here a row whose clustering the table's comparator cannot read throws there).
 */
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();
const FILTER: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: 1_700_000_000 };

t.test('a write that fails in the memtable is not in the commit log (the node starts again)', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const options = testEngineOptions(fs, '/data', { commitlogSync: 'batch' });
  const engine = await LsmStorageEngine.open(options, [table]);
  // Two rows, the second with an empty clustering value: the int comparator throws on it.
  const bad = partitionOf(int(1), {
    rows: [row([int(1)], { marker: 1, cells: { v: [1, 'a'] } }), row([Buffer.alloc(0)], { marker: 1, cells: { v: [1, 'b'] } })],
  });
  await t.rejects(engine.apply([update(table, bad)]), 'the write fails');
  await engine.apply([update(table, partitionOf(int(2), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'ok'] } })] }))]);
  fs.crash();
  // Refusing the replayed record would make open() reject, failing the test here.
  const reopened = await LsmStorageEngine.open(options, [table]);
  t.teardown(() => reopened.close());
  const store = reopened.table(table.id)!;
  const read = (key: number) => store.read(int(key), murmur3Token(int(key)), FILTER);
  t.ok(await read(2), 'the node starts again, with the acknowledged write');
  t.equal(await read(1), null, 'and nothing of the refused one');
});
