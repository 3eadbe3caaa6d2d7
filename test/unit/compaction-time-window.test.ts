/**
 * Time-window compaction in the engine: flushed SSTables end up one per closed window,
 * the newest window compacts size-tiered, and an SSTable of expired TTL data is dropped
 * by the passing of time alone (the engine's periodic compaction check), taking no live
 * data with it, and never while it may shadow older data.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { isLive } from '../../lib/model/cell.js';
import { ManualClock } from '../../lib/model/clock.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { LsmTableStore } from '../../lib/storage/lsm/table.js';
import { windowStart } from '../../lib/storage/compaction/twcs.js';
import { parseTimeWindowOptions } from '../../lib/storage/compaction/options.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { NOW, eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const MINUTE = 60;
const MICROS = 1_000_000;

function timeWindowTable(options: Record<string, string>, gcGraceSeconds = 0): TableMetadata {
  const base = eventsTable();
  return {
    ...base,
    options: {
      ...base.options,
      gcGraceSeconds,
      compaction: { class: 'TimeWindowCompactionStrategy', options: { compaction_window_unit: 'MINUTES', compaction_window_size: '1', ...options } },
    },
  };
}

const readAll = (nowSeconds: number): ReadFilter => ({ slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds });

async function readValue(engine: LsmStorageEngine, table: TableMetadata, key: number, nowSeconds: number): Promise<string | null> {
  const partition = await engine.table(table.id)!.read(int(key), partitionOf(int(key)).token, readAll(nowSeconds));
  const cell = partition?.rows[0]?.cells.get('v');
  // Storage hands back expired cells too (they shadow like tombstones); CQL hides them.
  return cell !== undefined && isLive(cell, nowSeconds) ? cell.value!.toString() : null;
}

t.test('flushes of closed windows are compacted into one SSTable per window; the newest window waits for min_threshold', async (t) => {
  const table = timeWindowTable({ min_threshold: '4' });
  const clock = new ManualClock();
  const engine = await LsmStorageEngine.open(testEngineOptions(new FaultInjectingFileSystem(), '/data', { clock }), [table]);
  t.teardown(() => engine.close());
  // Windows -3, -2, -1 (closed) and 0 (newest), two flushes each, writes timestamped in them.
  let key = 0;
  for (const window of [-3, -2, -1, 0]) {
    for (let flush = 0; flush < 2; flush++) {
      for (let i = 0; i < 20; i++) {
        const timestamp = (NOW + window * MINUTE) * MICROS + flush * 1000 + i;
        key++;
        await engine.apply([update(table, partitionOf(int(key), { rows: [row([int(0)], { marker: timestamp, cells: { v: [timestamp, `value ${key}`] } })] }))]);
      }
      await engine.flush(table.id);
    }
  }
  await engine.quiesce();
  const store = engine.table(table.id) as LsmTableStore;
  const windows = store.sstables.map((s) => windowStart(s.stats.maxTimestamp, parseTimeWindowOptions(table.options.compaction.options)));
  const start = (w: number) => Math.floor((NOW + w * MINUTE) / MINUTE) * MINUTE;
  t.same(
    [...windows].sort((a, b) => a - b),
    [start(-3), start(-2), start(-1), start(0), start(0)],
    'one SSTable for each closed window, the two flushes of the newest left as they are',
  );
  for (let k = 1; k <= key; k++) t.equal(await readValue(engine, table, k, NOW), `value ${k}`, `key ${k}`);
});

t.test('an SSTable whose data all expired is dropped when time passes, with no flush to set it off', async (t) => {
  const table = timeWindowTable({ expired_sstable_check_frequency_seconds: '60' });
  const clock = new ManualClock();
  const engine = await LsmStorageEngine.open(
    testEngineOptions(new FaultInjectingFileSystem(), '/data', { clock, compactionCheckIntervalMs: 10 }),
    [table],
  );
  t.teardown(() => engine.close());
  // Ten minutes ago, rows with a 60 s TTL (the fixtures expire them at NOW + ttl);
  // then live rows without one.
  for (let k = 1; k <= 20; k++) {
    const timestamp = (NOW - 10 * MINUTE) * MICROS + k;
    await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: timestamp, ttl: 60, cells: { v: [timestamp, `expiring ${k}`] } })] }))]);
  }
  await engine.flush(table.id);
  for (let k = 101; k <= 120; k++) {
    const timestamp = NOW * MICROS + k;
    await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: timestamp, cells: { v: [timestamp, `live ${k}`] } })] }))]);
  }
  await engine.flush(table.id);
  await engine.quiesce();
  t.equal(engine.stats(table.id).sstableCount, 2, 'nothing expired yet: both SSTables stay');
  t.equal(await readValue(engine, table, 1, NOW), 'expiring 1');

  clock.advanceSeconds(2 * MINUTE); // past the TTL, gc grace 0, and the check frequency
  const deadline = Date.now() + 5000;
  while (engine.stats(table.id).sstableCount !== 1 && Date.now() < deadline) await sleep(20);
  await engine.quiesce();
  t.equal(engine.stats(table.id).sstableCount, 1, 'the expired SSTable is gone');
  const now = clock.nowSeconds();
  for (let k = 1; k <= 20; k++) t.equal(await readValue(engine, table, k, now), null, `expired key ${k}`);
  for (let k = 101; k <= 120; k++) t.equal(await readValue(engine, table, k, now), `live ${k}`, `live key ${k}`);
});

t.test('an expired SSTable that may shadow older data elsewhere is kept', async (t) => {
  const table = timeWindowTable({ expired_sstable_check_frequency_seconds: '0' });
  const clock = new ManualClock();
  const engine = await LsmStorageEngine.open(
    testEngineOptions(new FaultInjectingFileSystem(), '/data', { clock, compactionCheckIntervalMs: 10 }),
    [table],
  );
  t.teardown(() => engine.close());
  // Old live data first, then an expiring overwrite of the same keys with newer timestamps.
  for (const [age, ttl, text] of [[20, 0, 'old'], [10, 60, 'expiring']] as const) {
    for (let k = 1; k <= 20; k++) {
      const timestamp = (NOW - age * MINUTE) * MICROS + k;
      await engine.apply([update(table, partitionOf(int(k), { rows: [row([int(0)], { marker: timestamp, ttl, cells: { v: [timestamp, `${text} ${k}`] } })] }))]);
    }
    await engine.flush(table.id);
  }
  await engine.quiesce();
  const store = engine.table(table.id) as LsmTableStore;
  const generations = store.sstables.map((s) => s.generation);
  clock.advanceSeconds(2 * MINUTE);
  await sleep(200); // twenty periodic checks
  await engine.quiesce();
  // Compacting it would be safe (the purge keeps what shadows older data), only useless,
  // again at every check.
  t.same(store.sstables.map((s) => s.generation), generations, 'not even rewritten');
  // An expired cell is a tombstone at its timestamp: it still hides the older value,
  // so dropping its SSTable would bring that value back.
  t.equal(engine.stats(table.id).sstableCount, 2, 'both kept');
  const now = clock.nowSeconds();
  for (let k = 1; k <= 20; k++) t.equal(await readValue(engine, table, k, now), null, `key ${k} stays deleted`);
});
