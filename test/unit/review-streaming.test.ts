/**
 * Review findings on streaming (lib/repair/streaming.ts): rules a stream must keep that
 * streaming.test.ts did not check.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { StaticClusterView } from '../../lib/cluster/cluster-view.js';
import { ManualClock } from '../../lib/model/clock.js';
import { MIN_TOKEN, murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { StreamService } from '../../lib/repair/streaming.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { ALL, int, NOW, readLocal, ringEndpoints, startNode, table, update, type ClusterNode } from '../helpers/cluster.js';

/** A receiver whose commit log takes mutations of at most about 32 KiB (half a 64 KiB segment). */
async function smallCommitLogEngine(t: Test): Promise<LsmStorageEngine> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review-stream-'));
  const engine = await LsmStorageEngine.open(
    {
      fs: new NodeFileSystem(),
      dataDir: dir,
      clock: new ManualClock(NOW * 1000),
      logger: { info() {}, warn() {}, error() {} },
      commitlogSync: 'periodic',
      commitlogSyncPeriodMs: 10_000,
      commitlogGroupWindowMs: 2,
      commitlogSegmentBytes: 64 << 10,
      commitlogTotalSpaceBytes: 64 << 20,
      memtableSpaceBytes: 64 << 20,
      compactionThroughputBytes: 0,
      autoCompaction: false,
    },
    [table],
  );
  t.teardown(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });
  return engine;
}

function streamsOn(node: Pick<ClusterNode, 'transport' | 'view'>, storage: StorageEngine): StreamService {
  const streams = new StreamService({
    transport: node.transport,
    storage,
    view: node.view,
    clock: new ManualClock(NOW * 1000),
    throughputBytesPerSecond: 0,
    chunkTimeoutMs: 5_000,
    // Chunks well within the receiver's commit-log mutation limit, as configured nodes have them.
    chunkBytesMax: 16 << 10,
  });
  streams.register();
  return streams;
}

/** A wide partition, written a row at a time as a client would: about 200 KiB in all. */
async function writeWidePartition(node: ClusterNode, pk: number, rows: number): Promise<void> {
  for (let ck = 0; ck < rows; ck++) await node.storage.apply([update(pk, [[ck, 'x'.repeat(100)]])]);
}

async function twoNodes(t: Test) {
  const network = new MemoryNetwork({ seed: 5 });
  const endpoints = ringEndpoints([{ id: 'host-a' }, { id: 'host-b' }]);
  const a = startNode(network, endpoints[0], endpoints);
  const lsm = await smallCommitLogEngine(t);
  const bTransport = network.join('127.0.0.9:7000');
  const b = { transport: bTransport, view: new StaticClusterView({ ...endpoints[1], address: '127.0.0.9:7000' }, endpoints) };
  t.teardown(() => Promise.all([a.transport.close(), bTransport.close()]));
  return { a, b, lsm, aStreams: streamsOn(a, a.storage), bStreams: streamsOn(b, lsm) };
}

const wholeRing = [{ start: MIN_TOKEN, end: MIN_TOKEN }];

t.test('a partition wider than one commit-log mutation can still be pulled', async (t) => {
  const { a, lsm, bStreams } = await twoNodes(t);
  await writeWidePartition(a, 7, 2000);
  const stats = await bStreams.pull(a.endpoint, table.id, wholeRing);
  t.equal(stats.partitions, 1);
  const copied = await lsm.table(table.id)!.read(int(7), murmur3Token(int(7)), ALL);
  t.equal(copied?.rows.length, 2000, 'every row arrived');
  t.equal((await readLocal(a, 7))?.rows.length, 2000);
});

t.test('a partition wider than one commit-log mutation can still be pushed', async (t) => {
  const { a, b, lsm, aStreams } = await twoNodes(t);
  await writeWidePartition(a, 8, 2000);
  const stats = await aStreams.push({ id: b.view.local.id, address: b.transport.address }, table.id, wholeRing);
  t.equal(stats.partitions, 1);
  const copied = await lsm.table(table.id)!.read(int(8), murmur3Token(int(8)), ALL);
  t.equal(copied?.rows.length, 2000, 'every row arrived');
});

