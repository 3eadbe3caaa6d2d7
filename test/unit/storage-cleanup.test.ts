/**
 * Cleanup (StorageEngine.cleanup): dropping the partitions of tokens a node no longer
 * replicates, on both engines; for the LSM engine also across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEngineOptions } from '../helpers/lsm-options.js';
import t, { type Test } from 'tap';
import { InvalidRequest } from '../../lib/errors.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { FULL_RANGE, type ReadFilter, type StorageEngine } from '../../lib/storage/engine.js';
import { LsmStorageEngine, type LsmEngineOptions } from '../../lib/storage/lsm/engine.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { NOW, eventsTable, int, intType, partitionOf, row, update } from './fixtures/tables.js';

const readAll: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: NOW };
const PARTITIONS = 200;
/** Keep the lower half of the ring. */
const keep = (token: bigint): boolean => token < 0n;
const tokenOf = (pk: number): bigint => murmur3Token(int(pk));
const keys = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Compaction only on request, so the SSTables a test sees are the ones it made. */
const lsmOptions = (dir: string): LsmEngineOptions =>
  testEngineOptions(new NodeFileSystem(), dir, { commitlogSync: 'periodic', autoCompaction: false });

interface Subject {
  engine: StorageEngine;
  /** The engine as it opens again from what the first one left (LSM only). */
  restart?(): Promise<StorageEngine>;
  /** Lets the engine put what it holds in several places (LSM: flush to an SSTable). */
  settle(): Promise<void>;
}

/** Writes three rows to each partition, `perMutation` partitions per mutation. */
async function writePartitions(engine: StorageEngine, table: TableMetadata, pks: readonly number[], ts = 1, perMutation = 1): Promise<void> {
  for (let i = 0; i < pks.length; i += perMutation) {
    await engine.apply(
      pks.slice(i, i + perMutation).map((pk) => {
        const rows = [0, 1, 2].map((ck) => row([int(ck)], { marker: ts, cells: { v: [ts, `v${pk}.${ck}`] } }));
        return update(table, partitionOf(int(pk), { rows }));
      }),
    );
  }
}

async function keysHeld(engine: StorageEngine, table: TableMetadata): Promise<number[]> {
  const held: number[] = [];
  for await (const partition of engine.table(table.id)!.scan(FULL_RANGE, readAll)) held.push(intType.deserialize(partition.key) as number);
  return held.sort((a, b) => a - b);
}

function cleanupSuite(name: string, open: (t: Test, table: TableMetadata) => Promise<Subject>): void {
  t.test(`${name}: cleanup drops exactly the partitions whose token fails keep`, async (t) => {
    const table = eventsTable();
    const subject = await open(t, table);
    const { engine } = subject;
    await writePartitions(engine, table, keys(0, PARTITIONS / 2));
    await subject.settle();
    await writePartitions(engine, table, keys(PARTITIONS / 2, PARTITIONS));
    const kept = keys(0, PARTITIONS).filter((pk) => keep(tokenOf(pk)));
    t.ok(kept.length > 50 && kept.length < PARTITIONS - 50, 'some partitions on each side');

    const result = await engine.cleanup(table.id, keep);
    t.equal(result.partitionsRemoved, PARTITIONS - kept.length);
    t.same(await keysHeld(engine, table), kept, 'only kept partitions remain');
    const sample = await engine.table(table.id)!.read(int(kept[0]), tokenOf(kept[0]), readAll);
    t.same(
      sample!.rows.map((r) => r.cells.get('v')!.value!.toString()),
      [0, 1, 2].map((ck) => `v${kept[0]}.${ck}`),
      'kept partitions are intact',
    );
    const removed = keys(0, PARTITIONS).find((pk) => !keep(tokenOf(pk)))!;
    t.equal(await engine.table(table.id)!.read(int(removed), tokenOf(removed), readAll), null, 'a removed partition reads as absent');

    const again = await engine.cleanup(table.id, keep);
    t.equal(again.partitionsRemoved, 0, 'a second cleanup finds nothing to remove');

    if (subject.restart !== undefined) {
      const reopened = await subject.restart();
      t.same(await keysHeld(reopened, table), kept, 'removed partitions stay gone after a restart');
    }
  });

  t.test(`${name}: writes concurrent with cleanup survive`, async (t) => {
    const table = eventsTable();
    const subject = await open(t, table);
    const { engine } = subject;
    // Enough partitions that cleanup takes several turns of the event loop.
    const existing = keys(0, 3000);
    await writePartitions(engine, table, existing, 1, 100);
    await subject.settle();
    const kept = existing.filter((pk) => keep(tokenOf(pk)));
    // New partitions and newer versions of existing ones, all of kept tokens.
    const fresh = keys(10_000, 10_200).filter((pk) => keep(tokenOf(pk)));
    let cleanedUp = false;
    const cleanup = engine.cleanup(table.id, keep).then(() => void (cleanedUp = true));
    await writePartitions(engine, table, fresh.slice(0, 1), 2);
    t.notOk(cleanedUp, 'the first write lands while cleanup runs');
    await writePartitions(engine, table, fresh.slice(1), 2);
    await writePartitions(engine, table, kept.slice(0, 20), 2);
    await cleanup;
    t.same(await keysHeld(engine, table), [...kept, ...fresh].sort((a, b) => a - b), 'every kept and concurrently written partition is there');
    const overwritten = await engine.table(table.id)!.read(int(kept[0]), tokenOf(kept[0]), readAll);
    t.equal(overwritten!.rows[0].cells.get('v')!.timestamp, 2, 'the concurrent overwrite won');
    if (subject.restart !== undefined) {
      const reopened = await subject.restart();
      t.same(await keysHeld(reopened, table), [...kept, ...fresh].sort((a, b) => a - b), 'and survive a restart');
    }
  });

  t.test(`${name}: cleanup of an unknown table is refused`, async (t) => {
    const table = eventsTable();
    const { engine } = await open(t, table);
    await t.rejects(engine.cleanup('no-such-table', keep), InvalidRequest);
  });
}

cleanupSuite('memory', async (_t, table) => {
  const engine = new MemoryStorageEngine();
  engine.openTable(table);
  return { engine, settle: async () => undefined };
});

cleanupSuite('lsm', async (t, table) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cleanup-'));
  const open = () => LsmStorageEngine.open(lsmOptions(dir), [table]);
  let engine = await open();
  t.teardown(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    engine,
    settle: () => engine.flush(table.id),
    restart: async () => {
      await engine.close();
      engine = await open();
      return engine;
    },
  };
});

t.test('lsm: cleanup rewrites the SSTables and reports their bytes before and after', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cleanup-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const table = eventsTable();
  const engine = await LsmStorageEngine.open(lsmOptions(dir), [table]);
  t.teardown(() => engine.close());
  await writePartitions(engine, table, keys(0, PARTITIONS));
  await engine.flush(table.id);
  const before = engine.stats(table.id).liveBytes;
  const result = await engine.cleanup(table.id, keep);
  t.equal(result.bytesBefore, before);
  t.equal(result.bytesAfter, engine.stats(table.id).liveBytes);
  t.ok(result.bytesAfter > 0 && result.bytesAfter < result.bytesBefore * 0.8, `bytes shrink: ${result.bytesBefore} → ${result.bytesAfter}`);
  const dropAll = await engine.cleanup(table.id, () => false);
  t.equal(dropAll.bytesAfter, 0, 'nothing is left when nothing is kept');
  t.equal(engine.stats(table.id).sstableCount, 0);
});
