/**
 * A flushed memtable's arena memory goes to new memtables (UpdateArena.recycle), but
 * only once nothing can read it: what reads handed out never changes, and a scan that
 * holds the memtable keeps its memory until it is done.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { recycledChunksHeld } from '../../lib/storage/update-arena.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();
const FILTER: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: 1_700_000_000 };
/** Rows enough for several full-size (1 MiB) arena chunks. */
const ROWS = 12_000;

/** `generation` tells the rows of one load from another's: every value names it. */
async function load(engine: LsmStorageEngine, generation: string): Promise<void> {
  for (let k = 0; k < ROWS; k += 500) {
    const updates = [];
    for (let i = k; i < k + 500; i++) {
      updates.push(update(table, partitionOf(int(i), { rows: [row([int(1)], { marker: 1, cells: { v: [1, `${generation}-${i}-`.padEnd(200, 'x')] } })] })));
    }
    await engine.apply(updates);
  }
}

const valueOf = (p: Partition | null) => p?.rows[0]?.cells.get('v')?.value?.toString() ?? 'absent';

t.test("a flushed memtable's memory is reused only once nothing reads it, and what reads took stays intact", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-recycle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const engine = await LsmStorageEngine.open(testEngineOptions(new NodeFileSystem(), dir, { commitlogSync: 'periodic', autoCompaction: false }), [table]);
  t.teardown(() => engine.close());
  const store = engine.openTable(table);
  await load(engine, 'first');

  // Taken from the memtable: point reads, and a scan left open half-way.
  const held = await Promise.all([3, 500, 7777].map((i) => store.read(int(i), murmur3Token(int(i)), FILTER)));
  const heldKeys = held.map((p) => Buffer.from(p!.key));
  const scan = store.scan({ start: null, startInclusive: true, end: null, endInclusive: true }, FILTER)[Symbol.asyncIterator]();
  // Each row scanned as [key, value]: a value must be a whole one of its own key.
  const scanned: [number, string][] = [];
  const take = (p: Partition) => scanned.push([p.key.readInt32BE(0), valueOf(p)]);
  for (let i = 0; i < 100; i++) take((await scan.next()).value as Partition);

  const before = recycledChunksHeld();
  await engine.flush(table.id);
  t.equal(recycledChunksHeld(), before, 'not recycled while the scan holds the memtable');
  await load(engine, 'second'); // a new memtable, written over whatever memory it got
  for (let i = 0; i < ROWS - 100; i++) {
    const next = await scan.next();
    if (next.done) break;
    take(next.value as Partition);
  }
  await scan.return!(undefined);
  t.equal(new Set(scanned.map(([key]) => key)).size, ROWS, 'the scan saw every row once');
  // Rows scanned after the second load may be its (a scan sees writes after its position).
  const whole = (key: number, value: string) => ['first', 'second'].some((g) => value === `${g}-${key}-`.padEnd(200, 'x'));
  const broken = scanned.filter(([key, value]) => !whole(key, value));
  t.same(broken.slice(0, 3), [], 'every value scanned is whole and its own key\'s');
  t.ok(scanned.slice(0, 100).every(([, v]) => v.startsWith('first-')), 'those before the flush from the first load');

  t.ok(recycledChunksHeld() > before, 'once the scan is done, the memory is recycled');
  const recycled = recycledChunksHeld();
  // Point reads of the second memtable, whose chunks the third load takes first.
  const heldSecond = await Promise.all([4, 600, 9999].map((i) => store.read(int(i), murmur3Token(int(i)), FILTER)));
  await engine.flush(table.id); // the second memtable goes too, nothing holding it...
  const afterFlush = recycledChunksHeld();
  t.ok(afterFlush > recycled, `at once (${recycled} -> ${afterFlush} chunks)`);
  await load(engine, 'third'); // ...and the third takes recycled memory
  t.ok(recycledChunksHeld() < afterFlush, `a new memtable took recycled chunks (${afterFlush} -> ${recycledChunksHeld()})`);

  t.same(held.map(valueOf), [3, 500, 7777].map((i) => `first-${i}-`.padEnd(200, 'x')), 'point reads taken before keep their values');
  t.same(held.map((p) => p!.key), heldKeys, 'and their keys');
  t.same(heldSecond.map(valueOf), [4, 600, 9999].map((i) => `second-${i}-`.padEnd(200, 'x')), 'so do those of memory reused since');
  t.same(heldSecond.map((p) => p!.key.readInt32BE(0)), [4, 600, 9999]);
  for (const i of [0, 3, 500, ROWS - 1]) {
    t.equal(valueOf(await store.read(int(i), murmur3Token(int(i)), FILTER)), `third-${i}-`.padEnd(200, 'x'), `row ${i} reads its latest value`);
  }
});
