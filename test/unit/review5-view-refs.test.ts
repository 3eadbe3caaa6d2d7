/**
 * An SSTable replaced while reads run is deleted only once the last read using it is
 * done, and exactly then; one replaced while nothing reads it goes at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition } from '../../lib/model/partition.js';
import { compareKeys } from '../../lib/model/token.js';
import { LsmTableStore } from '../../lib/storage/lsm/table.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableReader } from '../../lib/storage/sstable/reader.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { eventsTable, int, partitionOf, row } from './fixtures/tables.js';

const fs = new NodeFileSystem();
const table = eventsTable();
const filter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: 1_700_000_000 } as never;

async function sstable(dir: string, generation: number, keys: number[], ts: number): Promise<SSTableReader> {
  const ps: Partition[] = keys.map((k) => partitionOf(int(k), { rows: [row([int(1)], { marker: ts, cells: { v: [ts, `g${generation}`] } })] }));
  ps.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
  const writer = await SSTableWriter.create(fs, dir, generation, table, { expectedPartitions: ps.length, level: 0 });
  for (const p of ps) await writer.append(p);
  return writer.finish();
}

t.test('a replaced SSTable outlives the reads using it and no longer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review5-view-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = await sstable(dir, 1, [1, 2, 3], 10);
  const b = await sstable(dir, 2, [4, 5], 20);
  const store = new LsmTableStore(table, [a, b], (e) => t.fail(String(e)));
  const exists = (g: number) => fs.exists(join(dir, `${g}`)).then(() => SSTableReader.open(fs, dir, g, table).then((r) => (r.close(), true), () => false));
  // Two reads in flight on the view holding a.
  const first = store.read(int(1), partitionOf(int(1)).token, filter);
  const second = store.read(int(2), partitionOf(int(2)).token, filter);
  const c = await sstable(dir, 3, [1, 2, 3], 30);
  let deleted = false;
  const replaced = store.replace([a], [c]).then(() => (deleted = true));
  // A flush completes meanwhile: another view change.
  store.switchMemtable();
  const [r1, r2] = await Promise.all([first, second]);
  t.ok(r1 !== null && r2 !== null, 'the reads in flight found their rows');
  await replaced;
  t.ok(deleted, 'deleted once they are done');
  t.notOk(await exists(1), 'a is gone');
  t.ok(await exists(2), 'b stays');
  const again = await store.read(int(1), partitionOf(int(1)).token, filter);
  t.equal(again?.rows[0].cells.get('v')?.value?.toString(), 'g3', 'reads now see c');
  // Nothing reading: c goes at once.
  const d = await sstable(dir, 4, [1], 40);
  await store.replace([c], [d]);
  t.notOk(await exists(3), 'c deleted at once');
  await store.close();
});
