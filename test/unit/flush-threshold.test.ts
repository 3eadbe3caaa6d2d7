/**
 * When the engine flushes for memory: once active memtables hold two thirds of
 * memtableSpaceBytes (not all of it: writers may run ahead to twice the space, and a
 * flush started earlier leaves them room while it runs), and not before.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();
const SPACE = 3 << 20;

t.test('the largest memtable is flushed once active memtables pass two thirds of the space', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-flush-at-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const engine = await LsmStorageEngine.open(
    testEngineOptions(new NodeFileSystem(), dir, { commitlogSync: 'periodic', memtableSpaceBytes: SPACE, autoCompaction: false }),
    [table],
  );
  t.teardown(() => engine.close());
  const store = engine.openTable(table) as unknown as { activeMemtable: { sizeBytes: number }; pendingFlushes(): readonly unknown[] };
  const flushBegun = () => store.pendingFlushes().length > 0 || engine.stats(table.id).sstableCount > 0;
  let key = 0;
  let before = 0;
  // Write batches until a flush begins, noting how full the active memtable was before the batch that began it.
  while (!flushBegun() && before <= SPACE) {
    before = store.activeMemtable.sizeBytes;
    const updates = Array.from({ length: 50 }, () => update(table, partitionOf(int(key++), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'.repeat(300)] } })] })));
    await engine.apply(updates);
  }
  // The flush runs on its own thread: wait (boundedly) for its SSTable.
  for (let i = 0; i < 1000 && engine.stats(table.id).sstableCount === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(before > 0.6 * SPACE, `no flush while active memtables held less (${before} of ${SPACE} bytes before the flushing write)`);
  t.ok(before <= (2 / 3) * SPACE + (64 << 10), 'the flush came once they passed two thirds');
  t.ok(engine.stats(table.id).sstableCount >= 1, 'and wrote an SSTable');
});
