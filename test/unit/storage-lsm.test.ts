/**
 * The durable engine: the shared storage contract (with the memtable alone, and with
 * a flush after every write so reads merge SSTables), then what only durability adds:
 * restart, crash recovery, truncation, compaction, corruption.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEngineOptions } from '../helpers/lsm-options.js';
import t, { type Test } from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { ManualClock } from '../../lib/model/clock.js';
import { NOW, deletion, eventsTable, int, intType, makeTable, partitionOf, row, textType, update } from './fixtures/tables.js';
import { storageSuite } from './storage-suite.js';


const options = testEngineOptions;

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-lsm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const readAll: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: NOW };
const FULL = { start: null, startInclusive: true, end: null, endInclusive: true };

storageSuite(t, 'lsm, memtables only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-lsm-suite-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return LsmStorageEngine.open(options(new NodeFileSystem(), dir), []);
});

storageSuite(t, 'lsm, flushing after every write', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-lsm-suite-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A memtable budget of one byte flushes every write: reads merge many SSTables.
  return LsmStorageEngine.open(options(new NodeFileSystem(), dir, { memtableSpaceBytes: 1, commitlogSync: 'periodic' }), []);
});

storageSuite(t, 'lsm on the fault-injecting file system, flushing often', async () =>
  LsmStorageEngine.open(options(new FaultInjectingFileSystem(), '/data', { memtableSpaceBytes: 2048 }), []),
);

async function writeRows(engine: LsmStorageEngine, table: TableMetadata, key: number, from: number, to: number, ts = 1): Promise<void> {
  for (let ck = from; ck < to; ck++) {
    await engine.apply([update(table, partitionOf(int(key), { rows: [row([int(ck)], { marker: ts, cells: { v: [ts, `v${ck}`] } })] }))]);
  }
}

t.test('data and flushed SSTables survive a restart', async (t) => {
  const dir = await tempDir(t);
  const fs = new NodeFileSystem();
  const table = eventsTable();
  let engine = await LsmStorageEngine.open(options(fs, dir), [table]);
  await writeRows(engine, table, 1, 0, 50);
  await engine.flush(table.id);
  await writeRows(engine, table, 1, 50, 100);
  t.equal(engine.stats(table.id).sstableCount, 1);
  await engine.close();
  engine = await LsmStorageEngine.open(options(fs, dir), [table]);
  const p = await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll);
  t.equal(p?.rows.length, 100, 'flushed and replayed rows are all there');
  await engine.close();
});

t.test('batch mode: every acknowledged write survives a crash', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  let engine = await LsmStorageEngine.open(options(fs, '/data'), [table]);
  const acked: number[] = [];
  const writes: Promise<void>[] = [];
  let firstAck!: () => void;
  const someAcked = new Promise<void>((resolve) => (firstAck = resolve));
  for (let ck = 0; ck < 200; ck++) {
    writes.push(
      engine
        .apply([update(table, partitionOf(int(ck % 7), { rows: [row([int(ck)], { marker: 1, cells: { v: [1, `v${ck}`] } })] }))])
        .then(() => {
          acked.push(ck);
          firstAck();
        }),
    );
    if (ck === 120) void engine.flush(table.id).catch(() => undefined);
  }
  // Crash once writes are being acknowledged (others may still be in flight). Not after a
  // fixed 5 ms: timers count from the event loop's cached clock, which the loop above
  // leaves behind by as long as it ran: on a slow machine such a timer can fire before
  // the commit log's first write, with nothing acknowledged. The long timer only bounds
  // a hang.
  let hang: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(writes), someAcked, new Promise((resolve) => (hang = setTimeout(resolve, 10_000)))]);
  clearTimeout(hang);
  fs.crash();
  engine = await LsmStorageEngine.open(options(fs, '/data'), [table]);
  const present = new Set<number>();
  for (let key = 0; key < 7; key++) {
    const p = await engine.table(table.id)!.read(int(key), partitionOf(int(key)).token, readAll);
    for (const r of p?.rows ?? []) present.add(r.clustering[0].readInt32BE(0));
  }
  t.ok(acked.length > 0, 'some writes were acknowledged before the crash');
  t.same(acked.filter((ck) => !present.has(ck)), [], 'no acknowledged write is lost');
  await engine.close();
});

t.test('truncate survives a restart and replay does not resurrect truncated rows', async (t) => {
  const dir = await tempDir(t);
  const fs = new NodeFileSystem();
  const table = eventsTable();
  const other = eventsTable({ name: 'other' });
  let engine = await LsmStorageEngine.open(options(fs, dir), [table, other]);
  await writeRows(engine, table, 1, 0, 10);
  await writeRows(engine, other, 1, 0, 10);
  await engine.flush(table.id);
  await writeRows(engine, table, 1, 10, 20);
  await engine.truncate(table.id);
  await writeRows(engine, table, 2, 0, 3);
  await engine.close();
  engine = await LsmStorageEngine.open(options(fs, dir), [table, other]);
  t.equal(await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll), null);
  t.equal((await engine.table(table.id)!.read(int(2), partitionOf(int(2)).token, readAll))?.rows.length, 3);
  t.equal((await engine.table(other.id)!.read(int(1), partitionOf(int(1)).token, readAll))?.rows.length, 10);
  await engine.close();
});

t.test('compaction under concurrent writes keeps every row and reduces SSTables', async (t) => {
  const dir = await tempDir(t);
  const fs = new NodeFileSystem();
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(options(fs, dir, { commitlogSync: 'periodic', autoCompaction: true }), [table]);
  for (let round = 0; round < 8; round++) {
    await writeRows(engine, table, round % 3, round * 25, round * 25 + 25);
    await engine.flush(table.id);
  }
  const compaction = engine.compactAll(table.id);
  const during = writeRows(engine, table, 5, 0, 100);
  await Promise.all([compaction, during]);
  await engine.quiesce();
  t.ok(engine.stats(table.id).sstableCount <= 2, `few SSTables left (${engine.stats(table.id).sstableCount})`);
  let total = 0;
  for (const key of [0, 1, 2, 5]) total += (await engine.table(table.id)!.read(int(key), partitionOf(int(key)).token, readAll))?.rows.length ?? 0;
  t.equal(total, 300);
  await engine.close();
});

t.test('a restart with many SSTables opens them all and reads across them', async (t) => {
  const dir = await tempDir(t);
  const fs = new NodeFileSystem();
  const table = eventsTable();
  let engine = await LsmStorageEngine.open(options(fs, dir, { autoCompaction: false, commitlogSync: 'periodic' }), [table]);
  for (let round = 0; round < 40; round++) {
    await writeRows(engine, table, round % 4, round * 5, round * 5 + 5);
    await engine.flush(table.id);
  }
  t.equal(engine.stats(table.id).sstableCount, 40);
  await engine.close();
  engine = await LsmStorageEngine.open(options(fs, dir, { autoCompaction: false }), [table]);
  t.equal(engine.stats(table.id).sstableCount, 40, 'every SSTable is back');
  let rows = 0;
  for (let key = 0; key < 4; key++) rows += (await engine.table(table.id)!.read(int(key), partitionOf(int(key)).token, readAll))?.rows.length ?? 0;
  t.equal(rows, 200);
  let scanned = 0;
  for await (const p of engine.table(table.id)!.scan({ start: null, startInclusive: true, end: null, endInclusive: true }, readAll)) scanned += p.rows.length;
  t.equal(scanned, 200, 'a scan merges all of them');
  await engine.close();
});

t.test('a corrupted SSTable chunk fails reads of that table only, naming the file', async (t) => {
  const dir = await tempDir(t);
  const fs = new NodeFileSystem();
  const table = eventsTable();
  const other = eventsTable({ name: 'other' });
  let engine = await LsmStorageEngine.open(options(fs, dir, { autoCompaction: false }), [table, other]);
  await writeRows(engine, table, 1, 0, 20);
  await writeRows(engine, other, 1, 0, 20);
  await engine.flush(table.id);
  await engine.flush(other.id);
  await engine.close();
  const { readdir, readFile, writeFile } = await import('node:fs/promises');
  const tableDir = join(dir, 'data', table.keyspace, `${table.name}-${table.id.replaceAll('-', '')}`);
  const dataFile = (await readdir(tableDir)).find((f) => f.endsWith('-Data.db'))!;
  const bytes = await readFile(join(tableDir, dataFile));
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await writeFile(join(tableDir, dataFile), bytes);
  engine = await LsmStorageEngine.open(options(fs, dir, { autoCompaction: false }), [table, other]);
  await t.rejects(engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll), { code: 'CorruptSSTable', file: join(tableDir, dataFile) });
  t.equal((await engine.table(other.id)!.read(int(1), partitionOf(int(1)).token, readAll))?.rows.length, 20, 'the other table still reads');
  await engine.close();
});

t.test('a failed flush loses nothing: the next flush writes the older memtable first', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  let engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  await writeRows(engine, table, 1, 0, 5);
  fs.failNextWrite(/sb-\d+-Data\.db/);
  await t.rejects(engine.flush(table.id), 'the flush fails');
  await writeRows(engine, table, 2, 0, 5);
  await engine.flush(table.id);
  fs.crash();
  engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  t.equal((await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll))?.rows.length, 5, 'rows of the failed flush');
  t.equal((await engine.table(table.id)!.read(int(2), partitionOf(int(2)).token, readAll))?.rows.length, 5);
  await engine.close();
});

t.test('truncate wins over a flush and a compaction racing with it, and over readers holding SSTables', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  let engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  for (let round = 0; round < 3; round++) {
    await writeRows(engine, table, round, 0, 3);
    await engine.flush(table.id);
  }
  await writeRows(engine, table, 9, 0, 3);
  // A scan that holds the current SSTables while truncate runs.
  const scan = engine.table(table.id)!.scan(FULL, readAll)[Symbol.asyncIterator]();
  await scan.next();
  await Promise.all([engine.truncate(table.id), engine.flush(table.id), engine.compactAll(table.id).catch(() => undefined)]);
  let rows = 0;
  for await (const p of engine.table(table.id)!.scan(FULL, readAll)) rows += p.rows.length;
  t.equal(rows, 0, 'nothing readable after truncate');
  fs.crash();
  engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  rows = 0;
  for await (const p of engine.table(table.id)!.scan(FULL, readAll)) rows += p.rows.length;
  t.equal(rows, 0, 'nothing comes back after a crash and restart');
  await engine.close();
});

t.test('truncate stops a running compaction of the table before it takes the table\'s generations', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  // A slow compaction: ~100 KB at 8 KiB/s would take over ten seconds.
  const slow = { autoCompaction: false, compactionThroughputBytes: 8 * 1024 };
  let engine = await LsmStorageEngine.open(options(fs, '/data', slow), [table]);
  for (let round = 0; round < 3; round++) {
    const updates = Array.from({ length: 1000 }, (_, k) =>
      update(table, partitionOf(int(round * 1000 + k), { rows: [row([int(0)], { marker: 1, cells: { v: [1, `value ${k}`] } })] })),
    );
    await engine.apply(updates);
    await engine.flush(table.id);
  }
  let compactionEnded = false;
  const compaction = engine.compactAll(table.id).finally(() => (compactionEnded = true));
  while (!engine.stats(table.id).compactionRunning) await new Promise((resolve) => setTimeout(resolve, 5));
  await engine.truncate(table.id);
  // Ended with the truncation, not seconds later: it writes nothing after it.
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(compactionEnded, 'the compaction has ended when the truncation is done');
  await compaction;
  t.notOk(engine.stats(table.id).compactionRunning, 'the stats show no compaction running');
  t.equal(engine.stats(table.id).sstableCount, 0, 'no SSTable is left, the compaction\'s output included');
  t.equal(await engine.table(table.id)!.read(int(5), partitionOf(int(5)).token, readAll), null);
  fs.crash();
  engine = await LsmStorageEngine.open(options(fs, '/data', slow), [table]);
  t.equal(engine.stats(table.id).sstableCount, 0, 'nothing comes back after a crash and restart');
  await engine.close();
});

t.test('a mutation the commit log refuses changes nothing', async (t) => {
  const dir = await tempDir(t);
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(options(new NodeFileSystem(), dir, { commitlogSegmentBytes: 64 * 1024 }), [table]);
  const huge = update(table, partitionOf(int(1), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'.repeat(40_000)] } })] }));
  await t.rejects(engine.apply([huge]), { code: 'Invalid', message: /too large/ });
  t.equal(await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll), null);
  await engine.close();
});

t.test('a compaction keeps a tombstone past gc grace while an SSTable outside it holds older data of its partition', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const base = eventsTable();
  // Size-tiered with no minimum size: the four small SSTables make a bucket, the big
  // first one (the older data) stays out of it.
  const table = {
    ...base,
    options: { ...base.options, gcGraceSeconds: 0, compaction: { class: 'SizeTieredCompactionStrategy' as const, options: { min_sstable_size: '0' } } },
  };
  const clock = new ManualClock();
  const engine = await LsmStorageEngine.open(options(fs, '/data', { clock }), [table]);
  const bulk = Array.from({ length: 400 }, (_, k) =>
    update(table, partitionOf(int(1000 + k), { rows: [row([int(0)], { marker: 1, cells: { v: [1, `padding ${k}`.repeat(8)] } })] })),
  );
  await engine.apply([update(table, partitionOf(int(1), { rows: [row([int(0)], { marker: 1, cells: { v: [1, 'deleted later'] } })] })), ...bulk]);
  await engine.flush(table.id);
  await engine.apply([update(table, partitionOf(int(1), { deletion: deletion(2, clock.nowSeconds()) }))]);
  await engine.flush(table.id);
  clock.advanceSeconds(10); // the tombstone is past gc grace (0 s)
  for (let k = 2; k <= 4; k++) {
    await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: 3, cells: { v: [3, 'small'] } })] }))]);
    await engine.flush(table.id);
  }
  await engine.quiesce();
  t.equal(engine.stats(table.id).sstableCount, 2, 'the four small SSTables were compacted into one, the big one left out');
  const read = await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll);
  t.same(read?.rows ?? [], [], 'the deleted row does not come back');
  t.equal(read?.deletion?.markedForDeleteAt, 2, 'the tombstone is kept: the big SSTable still holds what it deletes');
  await engine.close();
});

t.test('a flush frees the commit-log segments holding only flushed data', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(options(fs, '/data', { commitlogSegmentBytes: 64 * 1024, autoCompaction: false }), [table]);
  const value = 'x'.repeat(1000);
  for (let k = 0; k < 300; k++) {
    await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: 1, cells: { v: [1, value] } })] }))]);
  }
  const before = (await fs.readdir('/data/commitlog')).length;
  t.ok(before >= 4, `${before} segments hold 300 KB of writes`);
  await engine.flush(table.id);
  const after = (await fs.readdir('/data/commitlog')).length;
  t.ok(after <= 1, `${after} segment left after the flush (the one being written)`);
  await engine.close();
});

t.test('commit-log space over commitlog_total_space makes the tables holding the oldest segment flush', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(
    options(fs, '/data', { commitlogSegmentBytes: 64 * 1024, commitlogTotalSpaceBytes: 4 * 64 * 1024, memtableSpaceBytes: 256 << 20, autoCompaction: false }),
    [table],
  );
  const value = 'x'.repeat(1000);
  let mostSegments = 0;
  for (let k = 0; k < 1000; k++) {
    await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: 1, cells: { v: [1, value] } })] }))]);
    if (k % 50 === 0) mostSegments = Math.max(mostSegments, (await fs.readdir('/data/commitlog')).length);
  }
  // The pressure flushes run in the background: wait for them (bounded).
  for (let i = 0; i < 500 && engine.stats(table.id).sstableCount === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(engine.stats(table.id).sstableCount > 0, `${engine.stats(table.id).sstableCount} SSTables flushed without being asked, the memtable far from full`);
  t.ok(mostSegments <= 8, `at most ${mostSegments} segments of 64 KiB for 1 MB written`);
  await engine.close();
});

t.test('drain flushes every table, leaves nothing to replay and refuses later writes', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const tables = [eventsTable(), eventsTable()];
  let engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), tables);
  for (const table of tables) await writeRows(engine, table, 1, 0, 5);
  await engine.drain();
  for (const table of tables) {
    t.equal(engine.stats(table.id).sstableCount, 1, 'flushed');
    t.equal(engine.stats(table.id).memtableBytes, 0, 'nothing left in memory');
  }
  await t.rejects(engine.apply([update(tables[0], partitionOf(int(2), { rows: [row([int(0)], { marker: 1 })] }))]), /drained/);
  await engine.close();
  fs.crash();
  engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), tables);
  for (const table of tables) {
    t.equal(engine.stats(table.id).sstableCount, 1, 'the SSTable survives a crash after the drain');
    t.equal(engine.stats(table.id).memtableBytes, 0, 'and the commit log has nothing left to replay');
    t.equal((await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll))?.rows.length, 5);
  }
  await engine.close();
});

t.test('table statistics: counts, bytes live and held by readers, bloom checks, latencies', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 20; k++) await writeRows(engine, table, round * 100 + k, 0, 2);
    await engine.flush(table.id);
  }
  let stats = engine.stats(table.id);
  t.equal(stats.sstableCount, 3);
  t.equal(stats.compactionsPending, 0, 'three SSTables: below min_threshold');
  await writeRows(engine, table, 999, 0, 2);
  await engine.flush(table.id);
  t.equal(engine.stats(table.id).compactionsPending, 1, 'a fourth: one size-tiered compaction due (automatic ones are off)');
  stats = engine.stats(table.id);
  t.equal(stats.sstableCount, 4);
  t.equal(stats.partitionsEstimate, 61);
  t.equal(stats.writeLatency.count, 122, 'one write latency per apply');
  t.equal(stats.totalBytes, stats.liveBytes, 'nothing retired yet');
  const store = engine.table(table.id)!;
  for (let k = 0; k < 20; k++) await store.read(int(k), partitionOf(int(k)).token, readAll);
  for (let k = 0; k < 50; k++) await store.read(int(5000 + k), partitionOf(int(5000 + k)).token, readAll);
  stats = engine.stats(table.id);
  t.equal(stats.readLatency.count, 70, 'one read latency per read');
  t.ok(stats.bloomChecks >= 20, `${stats.bloomChecks} bloom checks`);
  t.ok(stats.bloomFalsePositives <= stats.bloomChecks - 20, `${stats.bloomFalsePositives} false positives: every present key was found`);
  // A scan holding the four SSTables while a compaction replaces them.
  const scan = store.scan(FULL, readAll)[Symbol.asyncIterator]();
  await scan.next();
  const liveBefore = stats.liveBytes;
  const compacted = engine.compactAll(table.id);
  while (engine.stats(table.id).sstableCount !== 1) await new Promise((resolve) => setTimeout(resolve, 5));
  stats = engine.stats(table.id);
  t.equal(stats.totalBytes, stats.liveBytes + liveBefore, 'total counts the replaced SSTables the scan still reads');
  await scan.return?.(undefined);
  await compacted;
  stats = engine.stats(table.id);
  t.equal(stats.totalBytes, stats.liveBytes, 'freed once the scan is done');
  t.equal(stats.compactionsPending, 0, 'nothing left to compact');
  await engine.close();
});

t.test('a read of a one-row partition stops at SSTables older than every column it found, and only then', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = makeTable({ name: 'kv', partitionKey: [['k', intType]], regular: [['v', textType], ['w', textType]] });
  const engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  const put = (k: number, ts: number, cells: Record<string, [number, string]>, marker: number | undefined = ts) =>
    engine.apply([update(table, partitionOf(int(k), { rows: [row([], { marker, cells })] }))]);
  const store = engine.table(table.id)!;
  const read = async (k: number) => {
    const before = engine.stats(table.id).bloomChecks;
    const partition = await store.read(int(k), partitionOf(int(k)).token, readAll);
    const row = partition!.rows[0];
    return { v: row.cells.get('v')?.value?.toString(), w: row.cells.get('w')?.value?.toString(), consulted: engine.stats(table.id).bloomChecks - before };
  };
  // Key 1: whole rows at 1, 2, 3. Key 2: the newest lacks w. Key 3: tied at 2 in the two
  // newest SSTables, the older value greater.
  for (const ts of [1, 2, 3]) {
    await put(1, ts, { v: [ts, `v${ts}`], w: [ts, `w${ts}`] });
    await put(2, ts, ts === 3 ? { v: [ts, `v${ts}`] } : { v: [ts, `v${ts}`], w: [ts, `w${ts}`] });
    const tied = ts === 1 ? 1 : 2;
    await put(3, tied, { v: [tied, ts === 1 ? 'old' : ts === 2 ? 'b' : 'a'], w: [tied, 'w'] });
    await engine.flush(table.id);
  }
  t.same(await read(1), { v: 'v3', w: 'w3', consulted: 2 }, 'the oldest SSTable is not consulted: the newest row supersedes it');
  t.same(await read(2), { v: 'v3', w: 'w2', consulted: 3 }, 'a column the newest row lacks comes from an older SSTable');
  t.same(await read(3), { v: 'b', w: 'w', consulted: 3 }, 'a tie is not a stop: the greater value wins');
  await put(1, 9, { v: [9, 'v9'], w: [9, 'w9'] });
  t.same(await read(1), { v: 'v9', w: 'w9', consulted: 1 }, 'a row in the memtable newer than every SSTable: one bloom check, no search');
  // An older SSTable with a tombstone is read on: the result (and the digest replicas
  // compare) keeps the superseded partition deletion whatever the SSTables' layout.
  await engine.apply([update(table, partitionOf(int(4), { rows: [row([], { marker: 1, cells: { v: [1, 'a'] } })] }))]);
  await engine.flush(table.id);
  await engine.apply([update(table, partitionOf(int(4), { deletion: deletion(5) }))]);
  await engine.flush(table.id);
  await put(4, 10, { v: [10, 'b'], w: [10, 'c'] });
  const four = await store.read(int(4), partitionOf(int(4)).token, readAll);
  t.equal(four?.deletion?.markedForDeleteAt, 5, 'the superseded partition deletion is in the result');
  t.equal(four?.rows[0].cells.get('v')?.value?.toString(), 'b');
  await engine.close();
});

t.test('a partition with clustering rows reads every SSTable that may hold it', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(options(fs, '/data', { autoCompaction: false }), [table]);
  for (const ts of [1, 2, 3]) {
    await writeRows(engine, table, 1, ts - 1, ts, ts);
    await engine.flush(table.id);
  }
  const before = engine.stats(table.id).bloomChecks;
  const partition = await engine.table(table.id)!.read(int(1), partitionOf(int(1)).token, readAll);
  t.equal(partition!.rows.length, 3, 'a row from each SSTable');
  t.equal(engine.stats(table.id).bloomChecks - before, 3);
  await engine.close();
});
