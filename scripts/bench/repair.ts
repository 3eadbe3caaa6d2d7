/**
 * `npm run bench:repair`: anti-entropy repair of 3 replicas (RF 3), in one process.
 *
 * Three nodes, each with the durable LSM engine in a temp dir, its own system state
 * and the real RepairService and StreamService, talk over the in-memory transport
 * (lib/net/memory.ts: no TCP, so the numbers are repair's own work — validation scans,
 * tree comparison, streaming through the write path — not the loopback's). Each node
 * holds 16 vnodes (48 ranges). ROWS rows (one 100-byte value per partition) are loaded
 * straight into each replica's storage in batches of BATCH and flushed, then:
 *
 *  (a) repair with no differences: time and bytes streamed, which must be 0;
 *  (b) DIFFER_PERCENT of the rows are written to two replicas only (as writes at ONE
 *      while the third was cut off with hints disabled); node 1, the replica that
 *      missed them, repairs: time, bytes streamed, the encoded size of the differing
 *      rows (sibyl.Mutation bytes, the form streaming sends), and their ratio (target
 *      ≤ 10×). The repair pulls the rows from both other replicas, then pushes the
 *      union back to both (see lib/repair/repair-session.ts), so about 4 copies of each
 *      differing leaf travel;
 *  (c) repair again: the replicas must now agree (bytes streamed 0).
 *
 * Flags: --rows N (1000000) --batch N (1000) --differ PERCENT (1) --dir DIR (a temp
 *        dir, removed afterwards)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StaticClusterView } from '../../lib/cluster/cluster-view.js';
import type { Endpoint } from '../../lib/cluster/ring.js';
import type { PartitionUpdate } from '../../lib/model/partition.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { RepairService, type RepairProgress } from '../../lib/repair/repair-service.js';
import { StreamService } from '../../lib/repair/streaming.js';
import { MemorySchemaStore, SchemaManager } from '../../lib/schema/manager.js';
import { buildKeyspace } from '../../lib/schema/schema.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { encodeMutation } from '../../lib/storage/mutation-codec.js';
import { SystemStore } from '../../lib/system/system-store.js';
import { clock, engineOptions, table, updateOf } from './kv-workload.js';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '1000' },
    differ: { type: 'string', default: '1' },
    dir: { type: 'string' },
  },
});
const ROWS = Number(flags.rows);
const BATCH = Number(flags.batch);
const DIFFER_PERCENT = Number(flags.differ);
const NODES = 3;
const VNODES = 16;

/** Every replica writes a row with the same timestamp, so equal rows hash equal. */
const WRITTEN_AT_MICROS = 1_700_000_000_000_000;
const WRITTEN_AT_SECONDS = 1_700_000_000;

/** Row i as every replica writes it. */
const rowOf = (i: number): PartitionUpdate => updateOf(i, WRITTEN_AT_MICROS, WRITTEN_AT_SECONDS);

/** Rows the first replica misses in (b): DIFFER_PERCENT of them, spread over the ring. */
const differs = (i: number) => i % Math.round(100 / DIFFER_PERCENT) === 0;

interface BenchNode {
  readonly storage: LsmStorageEngine;
  readonly system: SystemStore;
  readonly repairs: RepairService;
}

function endpoints(): Endpoint[] {
  const step = 2n ** 64n / BigInt(NODES * VNODES);
  return Array.from({ length: NODES }, (_, n) => ({
    id: `00000000-0000-4000-8000-00000000000${n + 1}`,
    address: `127.0.0.${n + 1}:7000`,
    dc: 'datacenter1',
    rack: 'rack1',
    tokens: Array.from({ length: VNODES }, (_, v) => -(2n ** 63n) + step * BigInt(v * NODES + n + 1) - 1n),
  }));
}

async function startNode(root: string, network: MemoryNetwork, endpoint: Endpoint, all: readonly Endpoint[], index: number): Promise<BenchNode> {
  const storage = await LsmStorageEngine.open(
    engineOptions(join(root, `node${index + 1}`), { memtableSpaceBytes: 64 << 20, fileCacheBytes: 32 << 20 }),
    [table],
  );
  storage.openTable(table);
  const schema = await SchemaManager.open(new MemorySchemaStore());
  await schema.apply((current) =>
    current.withKeyspace(
      buildKeyspace({ name: 'bench', replication: { class: 'SimpleStrategy', replicationFactor: 3 }, durableWrites: true }, new Map([['kv', table]])),
    ),
  );
  const system = await SystemStore.open(join(root, `node${index + 1}`, 'system'), { clusterName: 'bench' });
  const transport = network.join(endpoint.address);
  const view = new StaticClusterView(endpoint, all);
  const streams = new StreamService({ transport, storage, view, clock, throughputBytesPerSecond: 0 });
  streams.register();
  const repairs = new RepairService({
    view,
    transport,
    storage,
    schema,
    system,
    streams,
    clock,
    partitionsEstimate: (tableId) => storage.stats(tableId).partitionsEstimate,
  });
  repairs.register();
  return { storage, system, repairs };
}

async function load(nodes: readonly BenchNode[], include: (i: number) => boolean): Promise<number> {
  let rows = 0;
  for (let i = 0; i < ROWS; i += BATCH) {
    const batch: number[] = [];
    for (let j = i; j < Math.min(ROWS, i + BATCH); j++) if (include(j)) batch.push(j);
    if (batch.length === 0) continue;
    for (const node of nodes) await node.storage.apply(batch.map(rowOf));
    rows += batch.length;
  }
  for (const node of nodes) await node.storage.flush(table.id);
  return rows;
}

/** Encoded size of the differing rows, batched as streaming batches them. */
function differingBytes(): number {
  let bytes = 0;
  let batch: PartitionUpdate[] = [];
  for (let i = 0; i < ROWS; i++) {
    if (!differs(i)) continue;
    batch.push(rowOf(i));
    if (batch.length === BATCH) {
      bytes += encodeMutation(batch).length;
      batch = [];
    }
  }
  if (batch.length > 0) bytes += encodeMutation(batch).length;
  return bytes;
}

interface RepairRun {
  progress: RepairProgress;
  seconds: number;
}

async function repairOn(node: BenchNode): Promise<RepairRun> {
  const started = performance.now();
  const progress = await node.repairs.wait(node.repairs.start({ keyspace: 'bench' }));
  if (progress.state !== 'succeeded') throw new Error(`repair ${progress.state}: ${progress.errors.join('; ')}`);
  return { progress, seconds: (performance.now() - started) / 1000 };
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

/** One line of the results table; `differing` is the encoded size of the differing rows, null when there are none. */
function resultRow(label: string, { progress, seconds }: RepairRun, differing: number | null): string[] {
  return [
    label,
    `${seconds.toFixed(1)} s`,
    String(progress.rangesDiffering),
    String(progress.partitionsStreamed),
    mib(progress.bytesStreamed),
    differing === null ? '0' : mib(differing),
    differing === null ? '-' : `${(progress.bytesStreamed / differing).toFixed(2)}x`,
  ];
}

async function main(): Promise<void> {
  const root = flags.dir ?? (await mkdtemp(join(tmpdir(), 'sibyl-bench-repair-')));
  const network = new MemoryNetwork();
  const ring = endpoints();
  const nodes: BenchNode[] = [];
  const results: string[][] = [];
  try {
    for (const [i, endpoint] of ring.entries()) nodes.push(await startNode(root, network, endpoint, ring, i));
    let started = performance.now();
    const common = await load(nodes, (i) => !differs(i));
    const loadSeconds = (performance.now() - started) / 1000;
    console.log(`loaded ${common} rows into each of ${NODES} replicas in ${loadSeconds.toFixed(1)} s`);

    const same = await repairOn(nodes[0]);
    results.push(resultRow('(a) no differences', same, null));
    if (same.progress.bytesStreamed !== 0) throw new Error('replicas that agree streamed data: the benchmark is broken');

    started = performance.now();
    const missed = await load(nodes.slice(1), differs);
    console.log(`wrote ${missed} rows (${DIFFER_PERCENT}%) to two replicas only in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const differing = differingBytes();
    const diverged = await repairOn(nodes[0]);
    results.push(resultRow(`(b) ${DIFFER_PERCENT}% missing on one replica`, diverged, differing));

    const after = await repairOn(nodes[0]);
    results.push(resultRow('(c) again, after (b)', after, null));
    if (after.progress.bytesStreamed !== 0) throw new Error('replicas still differ after repair');
  } finally {
    for (const node of nodes) {
      await node.storage.close();
      await node.system.close();
    }
    if (flags.dir === undefined) await rm(root, { recursive: true, force: true });
  }
  const header = ['repair', 'time', 'ranges differing', 'partitions streamed', 'bytes streamed', 'differing data', 'streamed / differing'];
  const widths = header.map((h, i) => Math.max(h.length, ...results.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`${ROWS} rows, ${NODES} replicas (RF 3, ${VNODES} vnodes each, in-memory transport), repair on node 1 (all its ranges)`);
  console.log(line(header));
  for (const r of results) console.log(line(r));
  console.log('targets: (a) and (c) stream nothing; (b) streamed / differing <= 10x');
}

await main();
