/**
 * A write the memtable refuses must not reach the commit log: the writer is told the
 * write failed, and a logged record would be replayed at the next start, throwing the
 * same way, so the node would no longer start. The engine applies to the memtables
 * first (here a row whose clustering the table's comparator cannot read throws there).
 */
import t from 'tap';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();

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
  let reopened: LsmStorageEngine | null = null;
  try {
    reopened = await LsmStorageEngine.open(options, [table]);
    t.pass('the node starts again');
  } catch (error) {
    t.fail(`the node does not start: ${String(error)}`);
  } finally {
    await reopened?.close();
  }
});
