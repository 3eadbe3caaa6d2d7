import t from 'tap';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { storageSuite } from './storage-suite.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

storageSuite(t, 'memory', async () => new MemoryStorageEngine());

t.test('memory: a closed engine refuses further work', async (t) => {
  const engine = new MemoryStorageEngine();
  const table = eventsTable();
  engine.openTable(table);
  await engine.close();
  const write = update(table, partitionOf(int(1), { rows: [row([int(1)], { marker: 1 })] }));
  await t.rejects(engine.apply([write]), /closed/);
  t.throws(() => engine.openTable(table), /closed/);
});
