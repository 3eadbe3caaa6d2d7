/**
 * The coordinator's write path while a node joins: pending replicas (in the view's
 * future ring, not yet in its ring) get every write, and blockFor grows by them as in
 * Cassandra, so acknowledged writes are on the replicas the range will have.
 */
import t, { type Test } from 'tap';
import { pendingReplicas } from '../../lib/cluster/pending-ranges.js';
import type { Endpoint } from '../../lib/cluster/ring.js';
import type { ClusterStorageProxy } from '../../lib/coordinator/cluster-proxy.js';
import { Unavailable, WriteTimeout } from '../../lib/errors.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import {
  ALL,
  type ClusterNode,
  coordinatorOn,
  eventsKeyspace,
  int,
  readLocal,
  ringEndpoints,
  setAliveEverywhere,
  startNode,
  table,
  update,
} from '../helpers/cluster.js';

interface Node extends ClusterNode {
  readonly proxy: ClusterStorageProxy;
  readonly missed: string[];
}

/**
 * Nodes for `hosts`; the last one is joining: every view's ring holds the others, its
 * future ring all of them.
 */
function joiningCluster(t: Test, hosts: readonly { id: string; dc?: string }[], replication: ReplicationStrategy) {
  const network = new MemoryNetwork({ seed: 11 });
  const all = ringEndpoints(hosts);
  const natural = all.slice(0, -1);
  const nodes: Node[] = all.map((endpoint) => {
    const node = startNode(network, endpoint, natural);
    node.view.setFutureRing(all);
    const missed: string[] = [];
    return { ...node, proxy: coordinatorOn(node, (replica) => void missed.push(replica.id)), missed };
  });
  t.teardown(async () => {
    for (const node of nodes) await node.transport.close();
  });
  const keyspace = eventsKeyspace(replication);
  const joiner = all[all.length - 1];
  const view = nodes[0].view;
  /** The first partition keys whose pending replicas are exactly `expected`. */
  const keysWithPending = (expected: readonly string[], count = 1): number[] => {
    const keys: number[] = [];
    for (let pk = 0; keys.length < count; pk++) {
      const pending = pendingReplicas(view.ring(), view.futureRing(), replication, murmur3Token(int(pk)));
      if (pending.map((e) => e.id).join() === expected.join()) keys.push(pk);
    }
    return keys;
  };
  return {
    network,
    nodes,
    keyspace,
    joiner,
    keysWithPending,
    setAlive: (endpoint: Endpoint, alive: boolean) => setAliveEverywhere(nodes, endpoint, alive),
    node: (id: string) => nodes.find((n) => n.endpoint.id === id)!,
  };
}

const rf3 = { class: 'SimpleStrategy', replicationFactor: 3 } as const;
const fourHosts = ['A', 'B', 'C', 'D'].map((id) => ({ id }));
const hasRow = async (node: ClusterNode, pk: number) => ((await readLocal(node, pk))?.rows.length ?? 0) > 0;

t.test('writes reach pending replicas', async (t) => {
  const c = joiningCluster(t, fourHosts, rf3);
  const [pending] = c.keysWithPending(['D']);
  const [notPending] = c.keysWithPending([]);
  await c.nodes[0].proxy.mutate(c.keyspace, [update(pending, [[1, 'p']]), update(notPending, [[1, 'n']])], 'ALL');
  t.ok(await hasRow(c.node('D'), pending), 'the joining node got the write of a range it gains');
  t.notOk(await hasRow(c.node('D'), notPending), 'and not one of a range it does not gain');
  for (const id of ['A', 'B', 'C']) t.ok(await hasRow(c.node(id), pending), `natural replica ${id} got it`);
});

t.test('blockFor grows by the pending replicas: QUORUM with RF 3 and one pending needs 3 acks', async (t) => {
  const c = joiningCluster(t, fourHosts, rf3);
  const [pending] = c.keysWithPending(['D']);
  const [notPending] = c.keysWithPending([]);
  // B and D are cut off but believed alive: only A and C can ack.
  c.network.isolate(c.node('B').endpoint.address);
  c.network.isolate(c.joiner.address);
  const error = await c.nodes[0].proxy.mutate(c.keyspace, [update(pending, [[1, 'a']])], 'QUORUM').catch((e: unknown) => e);
  t.ok(error instanceof WriteTimeout, 'two acks are not enough');
  t.same((error as WriteTimeout).details(), { consistency: 'QUORUM', received: 2, blockFor: 3, writeType: 'SIMPLE' });
  await t.resolves(c.nodes[0].proxy.mutate(c.keyspace, [update(notPending, [[1, 'a']])], 'QUORUM'), 'without a pending replica, two acks make a QUORUM');
});

t.test('Unavailable counts pending replicas, and a pending ack counts toward the level', async (t) => {
  const c = joiningCluster(t, fourHosts, rf3);
  const [pk] = c.keysWithPending(['D']);
  const coordinator = c.nodes[0].proxy;
  c.setAlive(c.node('B').endpoint, false);
  c.setAlive(c.node('C').endpoint, false);
  const error = await coordinator.mutate(c.keyspace, [update(pk, [[1, 'a']])], 'QUORUM').catch((e: unknown) => e);
  t.ok(error instanceof Unavailable);
  t.match((error as Unavailable).details(), { consistency: 'QUORUM', required: 3, alive: 2 });
  t.notOk(await hasRow(c.node('D'), pk), 'an Unavailable write sent nothing');

  c.setAlive(c.node('C').endpoint, true);
  await coordinator.mutate(c.keyspace, [update(pk, [[1, 'b']])], 'QUORUM');
  t.ok(await hasRow(c.node('D'), pk), 'A, C and the pending D make the three acks');
});

t.test('a missed pending replica is hinted', async (t) => {
  const c = joiningCluster(t, fourHosts, rf3);
  const [pk] = c.keysWithPending(['D']);
  c.setAlive(c.joiner, false);
  await c.nodes[0].proxy.mutate(c.keyspace, [update(pk, [[1, 'a']])], 'QUORUM');
  t.same(c.nodes[0].missed, ['D'], 'the down pending replica went to the hint hook');
  // ANY is met by one write or hint, pending replicas or not.
  await c.nodes[0].proxy.mutate(c.keyspace, [update(pk, [[1, 'b']])], 'ANY');
  t.same(c.nodes[0].missed, ['D', 'D']);
});

t.test('a pending replica counts toward its own dc only (LOCAL_QUORUM, EACH_QUORUM)', async (t) => {
  const hosts = [{ id: 'A' }, { id: 'B' }, { id: 'C' }, { id: 'E', dc: 'dc2' }, { id: 'D', dc: 'dc2' }];
  const c = joiningCluster(t, hosts, { class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3, dc2: 1 } });
  const [pk] = c.keysWithPending(['D']);
  c.network.isolate(c.joiner.address);
  const coordinator = c.nodes[0].proxy;
  await t.resolves(coordinator.mutate(c.keyspace, [update(pk, [[1, 'a']])], 'LOCAL_QUORUM'), 'LOCAL_QUORUM in dc1 does not wait for the pending replica of dc2');
  const error = await coordinator.mutate(c.keyspace, [update(pk, [[1, 'b']])], 'EACH_QUORUM').catch((e: unknown) => e);
  t.ok(error instanceof WriteTimeout, 'EACH_QUORUM needs dc2 quorum (1) plus its pending replica');
  t.match((error as WriteTimeout).details(), { received: 3, blockFor: 4 });
});

t.test('reads use natural replicas only', async (t) => {
  const c = joiningCluster(t, fourHosts, rf3);
  const [pk] = c.keysWithPending(['D']);
  await c.nodes[0].proxy.mutate(c.keyspace, [update(pk, [[1, 'a']])], 'ALL');
  c.setAlive(c.joiner, false);
  const result = await c.nodes[0].proxy.read(c.keyspace, table, int(pk), murmur3Token(int(pk)), ALL, 'ALL');
  t.equal(result?.rows.length, 1, 'ALL is the three natural replicas');
});
