/**
 * `npm run bench:storage`: sibyl's storage engine against classic-level (LevelDB), in
 * one run, on the same data and machine.
 *
 * 1. Load: ROWS rows (16-byte keys, 100-byte values) in batches of BATCH rows —
 *    engine.apply of BATCH partition updates (periodic commit log) vs a classic-level
 *    batch of BATCH puts, each into a fresh store, ROUNDS times, the two taking turns
 *    at going first; each store flushed and compacted before the next load starts.
 *    The best rows/s of each and their ratio (this machine's speed drifts by 10-20%
 *    within a minute: one load each would measure the drift as much as the stores);
 *    bytes on disk of the first round's stores, which the next steps read.
 * 2. Point reads: READS random keys, CONCURRENCY in flight, on both. Reads/s, ratio.
 * 3. Range scan: SCAN consecutive rows from a random start on both (token order for
 *    sibyl, key order for LevelDB: each store's natural order).
 * 4. Group commit: 64 concurrent writers of single-row mutations for a fixed count, in
 *    group mode and in periodic mode; the ratio.
 * 5. p99 write latency of single-row writes while a major compaction runs, against the
 *    p99 of the same writes with no compaction.
 *
 * sibyl reads through its shared chunk cache (file_cache_size, 256 MiB by default);
 * LevelDB through its block cache (8 MiB default) and the OS page cache.
 *
 * Flags: --rows N (1000000) --reads N (200000) --scan N (10000) --batch N (1000)
 *        --concurrency N (64) --rounds N (3) --dir DIR (a temp dir, removed afterwards)
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClassicLevel } from 'classic-level';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { LatencyHistogram } from '../../lib/storage/lsm/latency.js';
import { clock, engineOptions, keyOf, table, updateOf, valueOf } from './kv-workload.js';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    reads: { type: 'string', default: '200000' },
    scan: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string' },
  },
});
const ROWS = Number(flags.rows);
const READS = Number(flags.reads);
const SCAN = Number(flags.scan);
const BATCH = Number(flags.batch);
const CONCURRENCY = Number(flags.concurrency);
const ROUNDS = Number(flags.rounds);

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await duBytes(path) : (await stat(path)).size;
  }
  return total;
}

/** Runs `op(i)` for i in [0, count) with `concurrency` in flight; returns ops/s. */
async function concurrently(count: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Loads ROWS rows into a fresh engine in `dir`: the engine (flushed, quiet) and rows/s. */
async function loadSibyl(dir: string): Promise<{ engine: LsmStorageEngine; rowsPerSecond: number }> {
  const engine = await LsmStorageEngine.open(engineOptions(dir), [table]);
  engine.openTable(table);
  const started = performance.now();
  for (let i = 0; i < ROWS; i += BATCH) {
    const micros = clock.nowMicros();
    const seconds = clock.nowSeconds();
    const updates: PartitionUpdate[] = [];
    for (let j = i; j < Math.min(ROWS, i + BATCH); j++) updates.push(updateOf(j, micros, seconds));
    await engine.apply(updates);
  }
  const rowsPerSecond = ROWS / ((performance.now() - started) / 1000);
  await engine.flush(table.id);
  await engine.quiesce();
  return { engine, rowsPerSecond };
}

/** The same rows into a fresh LevelDB in `dir`: the database (compacted) and rows/s. */
async function loadLevel(dir: string): Promise<{ level: ClassicLevel<Buffer, Buffer>; rowsPerSecond: number }> {
  const level = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await level.open();
  const started = performance.now();
  for (let i = 0; i < ROWS; i += BATCH) {
    const ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
    for (let j = i; j < Math.min(ROWS, i + BATCH); j++) ops.push({ type: 'put', key: keyOf(j), value: valueOf(j) });
    await level.batch(ops);
  }
  const rowsPerSecond = ROWS / ((performance.now() - started) / 1000);
  await level.compactRange(keyOf(0), Buffer.alloc(16, 0xff)).catch(() => undefined);
  return { level, rowsPerSecond };
}

const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const root = flags.dir ?? (await mkdtemp(join(tmpdir(), 'sibyl-bench-storage-')));
  const results: [string, string, string, string][] = [];
  try {
    // ---- 1. load ----
    let engine: LsmStorageEngine | undefined;
    let level: ClassicLevel<Buffer, Buffer> | undefined;
    let sibylWrite = 0;
    let levelWrite = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 === 0 ? ['sibyl', 'level'] : ['level', 'sibyl']) {
        const dir = join(root, `${which}-${round}`);
        if (which === 'sibyl') {
          const loaded = await loadSibyl(dir);
          sibylWrite = Math.max(sibylWrite, loaded.rowsPerSecond);
          if (round === 0) engine = loaded.engine;
          else await loaded.engine.close();
        } else {
          const loaded = await loadLevel(dir);
          levelWrite = Math.max(levelWrite, loaded.rowsPerSecond);
          if (round === 0) level = loaded.level;
          else await loaded.level.close();
        }
        if (round > 0) await rm(dir, { recursive: true, force: true });
      }
    }
    if (engine === undefined || level === undefined) throw new Error('--rounds must be at least 1');
    results.push([`writes (rows/s, best of ${ROUNDS})`, rate(sibylWrite), rate(levelWrite), (sibylWrite / levelWrite).toFixed(2)]);
    const sibylBytes = await duBytes(join(root, 'sibyl-0', 'data'));
    const levelBytes = await duBytes(join(root, 'level-0'));
    results.push(['bytes on disk', mib(sibylBytes), mib(levelBytes), (sibylBytes / levelBytes).toFixed(2)]);

    // ---- 2. point reads ----
    const store = engine.table(table.id)!;
    const picks = Array.from({ length: READS }, () => Math.floor(Math.random() * ROWS));
    const filter: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: clock.nowSeconds() };
    let missing = 0;
    const sibylRead = await concurrently(READS, CONCURRENCY, async (i) => {
      const key = keyOf(picks[i]);
      if ((await store.read(key, murmur3Token(key), filter)) === null) missing++;
    });
    const levelRead = await concurrently(READS, CONCURRENCY, async (i) => {
      if ((await level.get(keyOf(picks[i]))) === undefined) missing++;
    });
    if (missing > 0) throw new Error(`${missing} reads found nothing: the benchmark is broken`);
    results.push(['point reads (reads/s)', rate(sibylRead), rate(levelRead), (sibylRead / levelRead).toFixed(2)]);

    // ---- 3. range scan ----
    const startKey = keyOf(Math.floor(Math.random() * ROWS));
    let started = performance.now();
    let scanned = 0;
    for await (const _ of store.scan(
      { start: { token: murmur3Token(startKey), key: null }, startInclusive: true, end: null, endInclusive: true },
      filter,
    )) {
      if (++scanned >= SCAN) break;
    }
    const sibylScan = scanned / ((performance.now() - started) / 1000);
    started = performance.now();
    let levelScanned = 0;
    for await (const _ of level.iterator({ gte: startKey, limit: SCAN })) levelScanned++;
    const levelScan = levelScanned / ((performance.now() - started) / 1000);
    results.push([`range scan of ${SCAN} (rows/s)`, rate(sibylScan), rate(levelScan), (sibylScan / levelScan).toFixed(2)]);
    await level.close();

    // ---- 5. p99 write latency during a compaction ----
    const writeLatency = async (count: number): Promise<number> => {
      const histogram = new LatencyHistogram();
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await engine.apply([updateOf(ROWS + i, clock.nowMicros(), clock.nowSeconds())]);
        histogram.record(performance.now() - t0);
      }
      return histogram.percentile(0.99);
    };
    // Several SSTables to compact: overwrite a slice of the data in a few flushes.
    for (let round = 0; round < 4; round++) {
      const updates: PartitionUpdate[] = [];
      for (let j = round; j < ROWS; j += 8) updates.push(updateOf(j, clock.nowMicros(), clock.nowSeconds()));
      for (let j = 0; j < updates.length; j += BATCH) await engine.apply(updates.slice(j, j + BATCH));
      await engine.flush(table.id);
    }
    await engine.quiesce();
    const quietP99 = await writeLatency(5000);
    const compaction = engine.compactAll(table.id);
    let duringCount = 0;
    const histogram = new LatencyHistogram();
    let compacting = true;
    void compaction.finally(() => (compacting = false));
    while (compacting) {
      const t0 = performance.now();
      await engine.apply([updateOf(2 * ROWS + duringCount++, clock.nowMicros(), clock.nowSeconds())]);
      histogram.record(performance.now() - t0);
    }
    await compaction;
    results.push([
      'p99 single-row write latency (ms)',
      `${histogram.percentile(0.99).toFixed(2)} during compaction`,
      `${quietP99.toFixed(2)} without`,
      (histogram.percentile(0.99) / quietP99).toFixed(2),
    ]);
    await engine.close();

    // ---- 4. group commit vs periodic, 64 concurrent writers ----
    const GROUP_WRITES = 20_000;
    const modes: Record<string, number> = {};
    for (const mode of ['periodic', 'group'] as const) {
      const e = await LsmStorageEngine.open(engineOptions(join(root, `sibyl-${mode}`), { commitlogSync: mode, commitlogGroupWindowMs: 2 }), [table]);
      modes[mode] = await concurrently(GROUP_WRITES, 64, (i) => e.apply([updateOf(i, clock.nowMicros(), clock.nowSeconds())]));
      await e.close();
    }
    results.push(['64 writers: group vs periodic (writes/s)', rate(modes.group), rate(modes.periodic), (modes.group / modes.periodic).toFixed(2)]);
  } finally {
    if (flags.dir === undefined) await rm(root, { recursive: true, force: true });
  }
  const header: [string, string, string, string] = ['measure', 'sibyl', 'classic-level / baseline', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...results.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`${ROWS} rows, ${READS} reads (${CONCURRENCY} in flight), batches of ${BATCH}`);
  console.log(line(header));
  for (const r of results) console.log(line(r));
  console.log('targets: writes >= 1.0, point reads >= 0.5, group/periodic >= 0.5');
}

await main();
