/**
 * A mutation the commit log refuses (too large for it, at half a segment, or any write
 * once the log has failed) changes nothing: not the memtable's data, and not its
 * memory either. A mutation of one table is encoded straight into its memtable's
 * arena (UpdateArena.reserve), so the log is asked first; otherwise each refusal would
 * leave its reserved space counted as bytes of a memtable holding no data, which no
 * flush frees, and a writer to any other table would wait for memory forever.
 */
import t from 'tap';
import { InvalidRequest } from '../../lib/errors.js';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const big = eventsTable({ name: 'big' });
const other = eventsTable({ name: 'other' });

/** A mutation of ~600 KiB: over the log's limit with 1 MiB segments (~512 KiB), under an arena chunk (1 MiB). */
function oversized(key: number) {
  return [update(big, partitionOf(int(key), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'.repeat(600 << 10)] } })] }))];
}

t.test('a mutation the commit log refuses leaves no memtable memory behind', async (t) => {
  const engine = await LsmStorageEngine.open(
    testEngineOptions(new FaultInjectingFileSystem(), '/data', { commitlogSegmentBytes: 1 << 20, memtableSpaceBytes: 2 << 20 }),
    [big, other],
  );
  t.teardown(() => engine.close());
  for (let i = 0; i < 10; i++) await t.rejects(engine.apply(oversized(i)), InvalidRequest, 'refused: too large for the log');
  const stats = engine.stats(big.id);
  t.equal(stats.partitionsEstimate, 0, 'nothing was written');
  t.ok(stats.memtableBytes < 1 << 20, `memtable bytes of an empty memtable stay small (are ${stats.memtableBytes})`);
});

t.test('after refused mutations, a small write to another table is not held back for memory forever', async (t) => {
  const engine = await LsmStorageEngine.open(
    testEngineOptions(new FaultInjectingFileSystem(), '/data', { commitlogSegmentBytes: 1 << 20, memtableSpaceBytes: 2 << 20 }),
    [big, other],
  );
  t.teardown(() => engine.close());
  for (let i = 0; i < 10; i++) await t.rejects(engine.apply(oversized(i)), InvalidRequest);
  const small = engine.apply([update(other, partitionOf(int(1), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'a'] } })] }))]);
  const outcome = await Promise.race([small.then(() => 'acknowledged'), new Promise((r) => setTimeout(r, 1500, 'still waiting after 1.5 s'))]);
  t.equal(outcome, 'acknowledged');
});

t.test('writes refused by a failed commit log leave no memtable memory behind', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const engine = await LsmStorageEngine.open(testEngineOptions(fs, '/data', { commitlogSync: 'batch' }), [big, other]);
  t.teardown(() => engine.close().catch(() => undefined));
  const write = (key: number) =>
    engine.apply([update(other, partitionOf(int(key), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'y'.repeat(4000)] } })] }))]);
  fs.failNextWrite(/commitlog/);
  await t.rejects(write(0), 'the log fails (say, ENOSPC)');
  const before = engine.stats(other.id).memtableBytes;
  for (let i = 1; i <= 2000; i++) await write(i).catch(() => undefined);
  const after = engine.stats(other.id).memtableBytes;
  t.ok(after - before < 1 << 20, `2000 refused writes of 4 KB add ${after - before} memtable bytes`);
});
