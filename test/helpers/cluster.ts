/**
 * In-process cluster nodes for coordinator tests: each node has its own
 * MemoryStorageEngine holding ks.events, answers replica verbs on a MemoryNetwork
 * transport and sees the ring through a StaticClusterView whose liveness the test
 * switches by hand (what gossip would do).
 */
import type { Test } from 'tap';
import { StaticClusterView } from '../../lib/cluster/cluster-view.js';
import type { Endpoint } from '../../lib/cluster/ring.js';
import { ClusterStorageProxy, type ReplicaMissedHook } from '../../lib/coordinator/cluster-proxy.js';
import { ReplicaService } from '../../lib/coordinator/replica-verbs.js';
import { liveCell } from '../../lib/model/cell.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { emptyPartition, emptyRow, type Partition, type PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork, type MemoryTransport } from '../../lib/net/memory.js';
import type { KeyspaceMetadata, ReplicationStrategy, TableMetadata } from '../../lib/schema/metadata.js';
import { buildKeyspace, buildTable, DEFAULT_TABLE_OPTIONS } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';

export const NOW = 1_700_000_000;
export const intType = parseTypeName('int');
export const textType = parseTypeName('text');
export const int = (n: number): Buffer => intType.serialize(n);

/** ks.events (pk int, ck int, v text, PRIMARY KEY (pk, ck)): the table every node holds. */
export const table: TableMetadata = buildTable({
  keyspace: 'ks',
  name: 'events',
  columns: [
    { name: 'pk', type: intType, kind: 'partition_key' },
    { name: 'ck', type: intType, kind: 'clustering' },
    { name: 'v', type: textType, kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});

/** Keyspace ks holding `table`, replicated by `replication`. */
export const eventsKeyspace = (replication: ReplicationStrategy): KeyspaceMetadata =>
  buildKeyspace({ name: 'ks', replication, durableWrites: true }, new Map([['events', table]]));

/** Every row of a partition, live as of NOW. */
export const ALL: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: NOW };

/** One partition of `pk` with a row per [ck, value], written at `timestamp`. */
export function update(pk: number, rows: readonly (readonly [number, string])[], timestamp = 1000): PartitionUpdate {
  const key = int(pk);
  const partition = emptyPartition(key, murmur3Token(key));
  for (const [ck, value] of rows) {
    const row = emptyRow([int(ck)]);
    row.cells.set('v', liveCell(timestamp, Buffer.from(value), 0, NOW));
    partition.rows.push(row);
  }
  return { tableId: table.id, partition };
}

/** Evenly spread tokens: node `index` of `nodes` holds `vnodes` tokens interleaved with the others'. */
export function tokensFor(index: number, nodes: number, vnodes = 1): bigint[] {
  const step = 2n ** 64n / BigInt(nodes * vnodes);
  return Array.from({ length: vnodes }, (_, v) => -(2n ** 63n) + step * BigInt(v * nodes + index + 1) - 1n);
}

/** An endpoint per host at 127.0.0.(i+1):7000, in rack1 of its dc (dc1 unless named), owning an even share of the ring. */
export function ringEndpoints(hosts: readonly { id: string; dc?: string }[], vnodes = 1): Endpoint[] {
  return hosts.map((host, i) => ({
    id: host.id,
    address: `127.0.0.${i + 1}:7000`,
    dc: host.dc ?? 'dc1',
    rack: 'rack1',
    tokens: tokensFor(i, hosts.length, vnodes),
  }));
}

export interface ClusterNode {
  readonly endpoint: Endpoint;
  readonly storage: MemoryStorageEngine;
  readonly transport: MemoryTransport;
  readonly view: StaticClusterView;
}

/** Joins `endpoint` to `network` as a replica of `table`; its view of `endpoints` starts with everyone UP. */
export function startNode(network: MemoryNetwork, endpoint: Endpoint, endpoints: readonly Endpoint[]): ClusterNode {
  const storage = new MemoryStorageEngine();
  storage.openTable(table);
  const transport = network.join(endpoint.address);
  new ReplicaService(storage).register(transport);
  return { endpoint, storage, transport, view: new StaticClusterView(endpoint, endpoints) };
}

/**
 * A coordinator on `node` with short timeouts, so tests of unanswered replicas stay quick;
 * a test that needs an answer in time despite a stalled machine passes a longer read timeout.
 */
export function coordinatorOn(
  node: ClusterNode,
  onReplicaMissed: ReplicaMissedHook,
  options: { scanPagePartitionsMax?: number; readTimeoutMs?: number } = {},
): ClusterStorageProxy {
  return new ClusterStorageProxy({
    view: node.view,
    transport: node.transport,
    storage: node.storage,
    writeTimeoutMs: 200,
    readTimeoutMs: options.readTimeoutMs ?? 200,
    onReplicaMissed,
    scanPagePartitionsMax: options.scanPagePartitionsMax,
  });
}

/** Marks `endpoint` up or down in every node's view. */
export function setAliveEverywhere(nodes: readonly ClusterNode[], endpoint: Endpoint, alive: boolean): void {
  for (const node of nodes) node.view.setAlive(endpoint.id, alive);
}

/** What `node`'s own storage holds for partition `pk` (no coordinator, so no repair). */
export const readLocal = (node: ClusterNode, pk: number): Promise<Partition | null> =>
  node.storage.table(table.id)!.read(int(pk), murmur3Token(int(pk)), ALL);

/**
 * `count` replicas of ks.events (host-0, host-1 …) on a new MemoryNetwork seeded with
 * `seed`, each owning an even share of the ring; their transports close at teardown.
 */
export function replicas(t: Test, count: number, seed: number, vnodes = 1): { network: MemoryNetwork; nodes: ClusterNode[] } {
  const network = new MemoryNetwork({ seed });
  const endpoints = ringEndpoints(Array.from({ length: count }, (_, i) => ({ id: `host-${i}` })), vnodes);
  const nodes = endpoints.map((endpoint) => startNode(network, endpoint, endpoints));
  t.teardown(async () => {
    for (const node of nodes) await node.transport.close();
  });
  return { network, nodes };
}

/** Row tombstones for rows `cks` of partition `pk`, deleted at `timestamp`. */
export function rowDeletions(pk: number, cks: Iterable<number>, timestamp: number): PartitionUpdate {
  const key = int(pk);
  const partition = emptyPartition(key, murmur3Token(key));
  for (const ck of cks) {
    const row = emptyRow([int(ck)]);
    row.deletion = { markedForDeleteAt: timestamp, localDeletionTime: NOW };
    partition.rows.push(row);
  }
  return { tableId: table.id, partition };
}
