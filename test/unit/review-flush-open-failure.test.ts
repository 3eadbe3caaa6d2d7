/**
 * Review of 4a7f14c: SSTableWriter.finish() now marks the writer 'finished' before it
 * opens the SSTable (finishFiles), so when the open fails abort() throws an assertion
 * instead of removing the files, and a flush whose SSTable could not be opened (worker
 * path or in-thread) leaves a complete SSTable on disk that is not live: the retry
 * writes the same data again under a new generation and the orphan comes back at the
 * next start.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEngineOptions } from '../helpers/lsm-options.js';
import t, { type Test } from 'tap';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';


/** The real file system, failing the next read of a Statistics component (as EMFILE would). */
class FlakyOpenFileSystem extends NodeFileSystem {
  failNextStatisticsRead = false;
  override readFile(path: string): Promise<Buffer> {
    if (this.failNextStatisticsRead && path.endsWith('-Statistics.db')) {
      this.failNextStatisticsRead = false;
      return Promise.reject(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
    }
    return super.readFile(path);
  }
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review-open-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function tocFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) if (String(entry).endsWith('-TOC.db')) found.push(String(entry));
  return found;
}

t.test('a writer whose finish() failed to open the SSTable can still be aborted, removing its files', async (t) => {
  const dir = await tempDir(t);
  const fs = new FlakyOpenFileSystem();
  const table = eventsTable();
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: 1, level: 0 });
  await writer.append(partitionOf(int(1), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'] } })] }));
  fs.failNextStatisticsRead = true;
  await t.rejects(writer.finish(), /EMFILE/);
  const aborted = await writer.abort().then(
    () => null,
    (error: unknown) => error,
  );
  t.equal(aborted, null, `abort() after a failed finish(): ${String(aborted)}`);
  t.same(await readdir(dir), [], 'nothing of the SSTable left');
});

for (const flushThread of [true, false]) {
  t.test(`a flush whose SSTable cannot be opened leaves no SSTable behind (flush thread ${flushThread ? 'on' : 'off'})`, async (t) => {
    const dir = await tempDir(t);
    const fs = new FlakyOpenFileSystem();
    const table = eventsTable();
    const options = testEngineOptions(fs, dir, { autoCompaction: false, flushThread });
    let engine = await LsmStorageEngine.open(options, [table]);
    await engine.apply([update(table, partitionOf(int(1), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'] } })] }))]);
    fs.failNextStatisticsRead = true;
    await t.rejects(engine.flush(table.id));
    await engine.flush(table.id);
    t.equal(engine.stats(table.id).sstableCount, 1, 'the retry made one live SSTable');
    t.equal((await tocFiles(dir)).length, 1, `SSTables on disk: ${(await tocFiles(dir)).join(', ')}`);
    await engine.close();
    engine = await LsmStorageEngine.open(options, [table]);
    t.teardown(() => engine.close());
    t.equal(engine.stats(table.id).sstableCount, 1, 'after a restart, still one SSTable');
  });
}
