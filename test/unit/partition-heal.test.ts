/**
 * Writes during a partition converge after it heals (issue 4): three in-process nodes
 * over the memory transport, RF 3, each a coordinator with its own hinted handoff
 * (a HintService on a real SystemStore) and a StaticClusterView whose liveness the test
 * switches as the failure detector would. Node C is cut off from A and B; each side
 * keeps taking the writes its consistency level allows, hints pile up for the other
 * side, and once the partition heals and the views see everyone UP, hint replay alone
 * (no read repair, no anti-entropy) brings every replica to the same data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ClusterStorageProxy } from '../../lib/coordinator/cluster-proxy.js';
import type { ConsistencyName } from '../../lib/coordinator/consistency.js';
import { HintService, registerHintReceiver } from '../../lib/coordinator/hints.js';
import { Unavailable } from '../../lib/errors.js';
import { ManualClock } from '../../lib/model/clock.js';
import type { Partition, PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { SystemStore } from '../../lib/system/system-store.js';
import {
  ALL,
  type ClusterNode,
  coordinatorOn,
  eventsKeyspace,
  int,
  readLocal,
  ringEndpoints,
  startNode,
  table,
  update,
} from '../helpers/cluster.js';

const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 3 });

/** Row ck=1 of partition `pk` set to `value`, written at `timestamp` (microseconds). */
const write = (pk: number, value: string, timestamp: number): PartitionUpdate[] => [update(pk, [[1, value]], timestamp)];

const valueOf = (partition: Partition | null): string | null => partition?.rows[0]?.cells.get('v')?.value?.toString() ?? null;

/** Host ids are UUIDs: the system store keys hints by them. */
const HOST_IDS = [
  'aaaaaaaa-0000-4000-8000-000000000000',
  'bbbbbbbb-1111-4111-8111-111111111111',
  'cccccccc-2222-4222-8222-222222222222',
];

interface Node extends ClusterNode {
  readonly name: string;
  readonly store: SystemStore;
  readonly hints: HintService;
  readonly proxy: ClusterStorageProxy;
}

async function cluster(t: Test) {
  const network = new MemoryNetwork({ seed: 11 });
  const clock = new ManualClock();
  const endpoints = ringEndpoints(HOST_IDS.map((id) => ({ id })));
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-partition-'));
  const nodes: Node[] = [];
  t.teardown(async () => {
    for (const node of nodes) await node.hints.stop();
    for (const node of nodes) await node.store.close();
    for (const node of nodes) await node.transport.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const [i, endpoint] of endpoints.entries()) {
    const node = startNode(network, endpoint, endpoints);
    registerHintReceiver(node.transport, node.storage);
    const store = await SystemStore.open(join(dir, `node${i}`, 'system'), { clusterName: 'Test Cluster' });
    // Live targets with hints are retried often, so a replay that raced a hint write finishes soon.
    const hints = new HintService({ store, transport: node.transport, membership: node.view, clock, dispatchIntervalMs: 50 });
    hints.start();
    const proxy = coordinatorOn(node, hints.onReplicaMissed);
    nodes.push({ ...node, name: 'ABC'[i], store, hints, proxy });
  }
  return {
    network,
    nodes,
    async storedHints(on: Node, target: Node): Promise<number> {
      let count = 0;
      for await (const _ of on.store.hintsFor(target.endpoint.id)) count++;
      return count;
    },
    async localValue(node: Node, pk: number): Promise<string | null> {
      return valueOf(await readLocal(node, pk));
    },
    async read(node: Node, pk: number, consistency: ConsistencyName): Promise<string | null> {
      return valueOf(await node.proxy.read(keyspace, table, int(pk), murmur3Token(int(pk)), ALL, consistency));
    },
  };
}

/** Polls `condition` (hint writes land asynchronously) for up to 10 s of wall clock: a busy machine can be slow. */
async function eventually(condition: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test('writes during a partition converge after it heals', async (t) => {
  const c = await cluster(t);
  const [a, b, cNode] = c.nodes;
  const majority = [a, b];

  // Before the partition: a write every replica acknowledged.
  await a.proxy.mutate(keyspace, write(0, 'before', 1000), 'ALL');

  // C is cut off; each side's failure detector convicts the other.
  c.network.partition([cNode.endpoint.address], majority.map((node) => node.endpoint.address));
  for (const node of majority) node.view.setAlive(cNode.endpoint.id, false);
  for (const node of majority) cNode.view.setAlive(node.endpoint.id, false);

  /** What each key must read once the cluster converged: the latest acknowledged write. */
  const expected = new Map<number, string>([[0, 'before']]);
  // The majority side takes QUORUM writes through either node.
  for (let pk = 1; pk <= 10; pk++) {
    const coordinator = pk % 2 === 0 ? a : b;
    await coordinator.proxy.mutate(keyspace, write(pk, `${coordinator.name}-${pk}`, 2000), 'QUORUM');
    expected.set(pk, `${coordinator.name}-${pk}`);
  }
  // The minority side cannot make a quorum, but takes ONE.
  await t.rejects(cNode.proxy.mutate(keyspace, write(20, 'lost', 2000), 'QUORUM'), Unavailable, 'C alone cannot make a quorum');
  await cNode.proxy.mutate(keyspace, write(21, 'C-21', 2000), 'ONE');
  expected.set(21, 'C-21');
  // Both sides write key 30 and key 31: the later timestamp wins wherever it was written.
  await a.proxy.mutate(keyspace, write(30, 'A-30-old', 3000), 'QUORUM');
  await cNode.proxy.mutate(keyspace, write(30, 'C-30-new', 4000), 'ONE');
  expected.set(30, 'C-30-new');
  await cNode.proxy.mutate(keyspace, write(31, 'C-31-old', 3000), 'ONE');
  await b.proxy.mutate(keyspace, write(31, 'B-31-new', 4000), 'QUORUM');
  expected.set(31, 'B-31-new');

  // While partitioned the sides differ: the hints are all that carry the writes across.
  t.equal(await c.localValue(cNode, 1), null, 'C did not see the majority writes');
  t.equal(await c.localValue(a, 21), null, 'A did not see the minority write');
  t.equal(await c.localValue(a, 20), null, 'the write refused as Unavailable was not applied anywhere');
  const hintsFor = async (on: Node, target: Node) => c.storedHints(on, target);
  const stored = await eventually(
    async () =>
      (await hintsFor(a, cNode)) === 6 && // keys 2, 4, 6, 8, 10, 30
      (await hintsFor(b, cNode)) === 6 && // keys 1, 3, 5, 7, 9, 31
      (await hintsFor(cNode, a)) === 3 && // keys 21, 30, 31
      (await hintsFor(cNode, b)) === 3,
  );
  t.ok(stored, 'each coordinator stored a hint per write for each replica it could not reach');
  t.same(
    a.hints.pending().map(({ targetId, hints }) => [targetId, hints]),
    [[cNode.endpoint.id, 6]],
  );

  // Heal; gossip would now see everyone UP, and that starts the replays.
  c.network.heal();
  for (const node of majority) node.view.setAlive(cNode.endpoint.id, true);
  for (const node of majority) cNode.view.setAlive(node.endpoint.id, true);
  // Joins the replays already under way.
  await Promise.all([a.hints.replay(cNode.endpoint.id), b.hints.replay(cNode.endpoint.id)]);
  await Promise.all(majority.map((node) => cNode.hints.replay(node.endpoint.id)));

  for (const node of c.nodes) t.same(node.hints.pending(), [], `${node.name} has no hints left`);
  for (const [on, target] of [
    [a, cNode],
    [b, cNode],
    [cNode, a],
    [cNode, b],
  ] as const) {
    t.equal(await hintsFor(on, target), 0, `${on.name}'s hints for ${target.name} were delivered and deleted`);
  }
  // Local storage first: a read at ALL would repair what replay missed and hide it.
  for (const node of c.nodes) {
    const local = await Promise.all([...expected.keys()].map(async (pk) => [pk, await c.localValue(node, pk)] as const));
    t.same(new Map(local), expected, `${node.name}'s own storage holds every acknowledged write, newest value per key`);
  }
  for (const node of c.nodes) {
    const read = await Promise.all([...expected.keys()].map(async (pk) => [pk, await c.read(node, pk, 'ALL')] as const));
    t.same(new Map(read), expected, `reads at ALL through ${node.name} return the same data`);
  }
});

t.test('a replica that missed writes while partitioned stays behind until it is seen UP', async (t) => {
  const c = await cluster(t);
  const [a, b, cNode] = c.nodes;
  c.network.partition([cNode.endpoint.address], [a.endpoint.address, b.endpoint.address]);
  a.view.setAlive(cNode.endpoint.id, false);
  b.view.setAlive(cNode.endpoint.id, false);
  await a.proxy.mutate(keyspace, write(1, 'one', 1000), 'QUORUM');
  t.ok(await eventually(async () => (await c.storedHints(a, cNode)) === 1), 'the hint is stored');

  // The network heals, but until the failure detector sees C UP nothing is replayed.
  c.network.heal();
  await new Promise((resolve) => setTimeout(resolve, 120));
  t.equal(await c.localValue(cNode, 1), null, 'no replay to a replica still considered down');
  t.same(
    a.hints.pending().map(({ targetId, hints }) => [targetId, hints]),
    [[cNode.endpoint.id, 1]],
    'the hint is still pending',
  );

  a.view.setAlive(cNode.endpoint.id, true);
  await a.hints.replay(cNode.endpoint.id);
  t.equal(await c.localValue(cNode, 1), 'one', 'replayed once seen UP');
});
