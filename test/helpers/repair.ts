/**
 * In-process replicas for repair tests: the nodes of test/helpers/cluster.ts (memory
 * storage holding ks.events, replica verbs on a MemoryNetwork, a StaticClusterView)
 * plus what repair needs on each: a schema with ks.events, system state in a temp
 * dir, a StreamService and a RepairService, verbs registered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoint } from '../../lib/cluster/ring.js';
import { emptyPartition, emptyRow, type Partition, type PartitionUpdate } from '../../lib/model/partition.js';
import { MAX_TOKEN, MIN_TOKEN, murmur3Token } from '../../lib/model/token.js';
import { SystemClock } from '../../lib/model/clock.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { partitionDigest } from '../../lib/repair/digest.js';
import { RepairService, type RepairProgress } from '../../lib/repair/repair-service.js';
import { StreamService } from '../../lib/repair/streaming.js';
import { validate } from '../../lib/repair/validation.js';
import { MemorySchemaStore, SchemaManager } from '../../lib/schema/manager.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { SystemStore } from '../../lib/system/system-store.js';
import { eventsKeyspace, int, NOW, readLocal, ringEndpoints, startNode, table, type ClusterNode } from './cluster.js';

export interface RepairNode extends ClusterNode {
  readonly repairs: RepairService;
  readonly streams: StreamService;
  readonly system: SystemStore;
}

export interface RepairCluster {
  readonly network: MemoryNetwork;
  readonly nodes: readonly RepairNode[];
  readonly endpoints: readonly Endpoint[];
}

export interface RepairClusterOptions {
  nodes?: number;
  vnodes?: number;
  replicationFactor?: number;
  /** The partition estimate every node sizes its trees with. */
  partitionsEstimate?: number;
  validationTimeoutMs?: number;
  /** Nodes (by index) whose VALIDATION handler the test registers itself. */
  unregistered?: readonly number[];
}

/**
 * A cluster of `nodes` replicas (default 3, 4 vnodes each, RF 3) ready to repair; its
 * system stores live in a temp dir removed at teardown.
 */
export async function repairCluster(
  t: { teardown(fn: () => Promise<void> | void): void },
  options: RepairClusterOptions = {},
): Promise<RepairCluster> {
  const count = options.nodes ?? 3;
  const replication: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: options.replicationFactor ?? 3 };
  const network = new MemoryNetwork();
  const endpoints = ringEndpoints(
    Array.from({ length: count }, (_, i) => ({ id: `00000000-0000-4000-8000-00000000000${i + 1}` })),
    options.vnodes ?? 4,
  );
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-repair-'));
  const nodes: RepairNode[] = [];
  t.teardown(async () => {
    for (const node of nodes) {
      await node.transport.close();
      await node.system.close();
    }
    await rm(dir, { recursive: true, force: true });
  });
  const clock = new SystemClock();
  for (const [i, endpoint] of endpoints.entries()) {
    const node = startNode(network, endpoint, endpoints);
    const schema = await SchemaManager.open(new MemorySchemaStore());
    await schema.apply((current) => current.withKeyspace(eventsKeyspace(replication)));
    const system = await SystemStore.open(join(dir, `node${i}`), { clusterName: 'Test Cluster' });
    const streams = new StreamService({ transport: node.transport, storage: node.storage, view: node.view, clock, throughputBytesPerSecond: 0 });
    streams.register();
    const repairs = new RepairService({
      view: node.view,
      transport: node.transport,
      storage: node.storage,
      schema,
      system,
      streams,
      clock,
      partitionsEstimate: () => options.partitionsEstimate ?? 64,
      ...(options.validationTimeoutMs === undefined ? {} : { validationTimeoutMs: options.validationTimeoutMs }),
    });
    if (!options.unregistered?.includes(i)) repairs.register();
    nodes.push({ ...node, repairs, streams, system });
  }
  return { network, nodes, endpoints };
}

/**
 * Applies the updates `make` builds to the given replicas' storage only, as writes at
 * ONE reach only the live replicas. Each replica gets its own objects: storage keeps them.
 */
export async function writeTo(nodes: readonly RepairNode[], make: () => PartitionUpdate[]): Promise<void> {
  for (const node of nodes) await node.storage.apply(make());
}

/** A row tombstone for (pk, ck) at `timestamp`. */
export function deleteRow(pk: number, ck: number, timestamp: number): PartitionUpdate {
  const key = int(pk);
  const partition = emptyPartition(key, murmur3Token(key));
  const row = emptyRow([int(ck)]);
  row.deletion = { markedForDeleteAt: timestamp, localDeletionTime: NOW };
  partition.rows.push(row);
  return { tableId: table.id, partition };
}

/** Runs a repair on `node` to its end. */
export async function repairOn(node: RepairNode, options: Parameters<RepairService['start']>[0] = { keyspace: 'ks' }): Promise<RepairProgress> {
  return node.repairs.wait(node.repairs.start(options));
}

/** Digest of what `node` holds for `pk` locally (null when nothing). */
export async function localDigest(node: RepairNode, pk: number): Promise<string | null> {
  const partition = await readLocal(node, pk);
  return partition === null ? null : partitionDigest(partition).toString('hex');
}

/** The root of `node`'s Merkle tree of ks.events over the whole ring. */
export async function ringRoot(node: RepairNode, depth = 8): Promise<string> {
  const tree = await validate(node.storage.table(table.id)!, { start: MIN_TOKEN, end: MAX_TOKEN }, depth, NOW);
  return tree.root().toString('hex');
}

/** The live values of partition `pk` as "ck=value" strings, in clustering order. */
export function liveValues(partition: Partition | null): string[] {
  if (partition === null) return [];
  return partition.rows
    .filter((row) => row.cells.get('v')?.value != null)
    .map((row) => `${row.clustering[0].readInt32BE(0)}=${row.cells.get('v')!.value!.toString()}`);
}
