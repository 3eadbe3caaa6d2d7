/**
 * Hinted handoff (lib/coordinator/hints.ts): in-process nodes over the memory
 * transport, the coordinator's hints in a real SystemStore, liveness switched by hand
 * in StaticClusterViews (what gossip would do) and time on a ManualClock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { HintService, type HintServiceOptions, registerHintReceiver } from '../../lib/coordinator/hints.js';
import { WriteTimeout } from '../../lib/errors.js';
import { ManualClock } from '../../lib/model/clock.js';
import type { Partition, PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { encodeMutation } from '../../lib/storage/mutation-codec.js';
import { SystemStore } from '../../lib/system/system-store.js';
import {
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

const write = (pk: number, value: string): PartitionUpdate[] => [update(pk, [[1, value]])];

const valuesOf = (partition: Partition | null): string[] =>
  (partition?.rows ?? []).map((row) => row.cells.get('v')!.value!.toString());

/** Host ids are UUIDs: the system store keys hints by them. */
const HOST_IDS = [
  '00000000-0000-4000-8000-000000000000',
  '11111111-1111-4111-8111-111111111111',
  '22222222-2222-4222-8222-222222222222',
];

/**
 * Three nodes, each owning a third of the ring; node 0 coordinates with a HintService
 * on a SystemStore in a temp dir. Other nodes answer HINT with registerHintReceiver,
 * unless `receive` replaces that handler.
 */
async function cluster(
  t: Test,
  options: {
    replication?: ReplicationStrategy;
    hints?: Partial<HintServiceOptions>;
    receive?: (node: ClusterNode) => void;
  } = {},
) {
  const network = new MemoryNetwork({ seed: 3 });
  const clock = new ManualClock();
  const endpoints = ringEndpoints(HOST_IDS.map((id) => ({ id })));
  const keyspace = eventsKeyspace(options.replication ?? { class: 'SimpleStrategy', replicationFactor: 3 });
  const nodes = endpoints.map((endpoint) => {
    const node = startNode(network, endpoint, endpoints);
    if (options.receive !== undefined && endpoint !== endpoints[0]) options.receive(node);
    else registerHintReceiver(node.transport, node.storage);
    return node;
  });
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-hints-'));
  let store = await SystemStore.open(join(dir, 'system'), { clusterName: 'Test Cluster' });
  const coordinator = nodes[0];
  const makeHints = () =>
    new HintService({
      store,
      transport: coordinator.transport,
      membership: coordinator.view,
      clock,
      ...options.hints,
    });
  let hints = makeHints();
  hints.start();
  const proxy = coordinatorOn(coordinator, (endpoint, updates) => hints.onReplicaMissed(endpoint, updates));
  t.teardown(async () => {
    await hints.stop();
    await store.close();
    for (const node of nodes) await node.transport.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    clock,
    keyspace,
    nodes,
    proxy,
    get hints() {
      return hints;
    },
    get store() {
      return store;
    },
    /** Marks node `index` up or down in every node's view. */
    setAlive(index: number, alive: boolean) {
      setAliveEverywhere(nodes, endpoints[index], alive);
    },
    /** The coordinator restarts its hint service and system store (user data stays). */
    async restartHints() {
      await hints.stop();
      await store.close();
      store = await SystemStore.open(join(dir, 'system'), { clusterName: 'Test Cluster' });
      hints = makeHints();
      hints.start();
    },
    async storedHints(index: number): Promise<number> {
      let count = 0;
      for await (const _ of store.hintsFor(endpoints[index].id)) count++;
      return count;
    },
    async localValues(index: number, pk: number): Promise<string[]> {
      return valuesOf(await readLocal(nodes[index], pk));
    },
  };
}

/**
 * Waits until every hint write the service accepted has reached the store (hint writes
 * land asynchronously): up to 10 s of wall clock, as a busy machine can be slow to run
 * them; the assertion after it says what was expected.
 */
async function settle(count: () => Promise<number>, expected: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await count()) !== expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

t.test('a hint is stored when a replica is down and replayed when it comes back UP', async (t) => {
  const c = await cluster(t);
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(7, 'seven'), 'ONE');
  await settle(() => c.storedHints(2), 1);
  t.equal(await c.storedHints(2), 1, 'one hint stored for the down replica');
  t.same(await c.localValues(2, 7), [], 'the down replica did not get the write');

  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.same(await c.localValues(2, 7), ['seven'], 'the replayed hint reached the replica');
  t.equal(await c.storedHints(2), 0, 'the delivered hint was deleted');
  t.same(c.hints.pending(), [], 'nothing pending');
});

t.test('a hint stays stored while the replica cannot acknowledge it', async (t) => {
  const c = await cluster(t, { hints: { deliveryTimeoutMs: 50 } });
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(1, 'one'), 'ONE');
  await settle(() => c.storedHints(2), 1);
  // Gossip says UP but the replica is unreachable: the hint must survive the failed replay.
  await c.nodes[2].transport.close();
  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.equal(await c.storedHints(2), 1, 'the unacknowledged hint is kept');
  t.same(c.hints.pending(), [{ targetId: HOST_IDS[2], hints: 1, bytes: encodeMutation(write(1, 'one')).length }]);
});

t.test('no hint beyond max_hint_window', async (t) => {
  const c = await cluster(t, { hints: { maxHintWindowMs: 60_000 } });
  c.setAlive(2, false);
  c.clock.advanceMillis(59_000);
  await c.proxy.mutate(c.keyspace, write(1, 'inside'), 'ONE');
  c.clock.advanceMillis(2_000);
  await c.proxy.mutate(c.keyspace, write(2, 'outside'), 'ONE');
  t.equal(c.hints.onReplicaMissed(c.nodes[2].endpoint, write(3, 'late')), false, 'the hook refuses once the window has passed');
  await settle(() => c.storedHints(2), 1);
  t.equal(await c.storedHints(2), 1, 'only the write inside the window was hinted');
  t.equal(c.hints.pending()[0]?.hints, 1);

  // Back up and down again: the window starts over.
  c.setAlive(2, true);
  c.setAlive(2, false);
  t.equal(c.hints.onReplicaMissed(c.nodes[2].endpoint, write(4, 'again')), true, 'a new outage is hinted again');
});

t.test('CL ANY accepts a stored hint as an ack when every replica is down', async (t) => {
  const replication: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: 2 };
  const withHints = await cluster(t, { replication });
  // A key the coordinator does not replicate, so every replica is remote.
  const ring = withHints.nodes[0].view.ring();
  let pk = 0;
  while (naturalReplicas(ring, replication, murmur3Token(int(pk))).some((r) => r.id === HOST_IDS[0])) pk++;
  withHints.setAlive(1, false);
  withHints.setAlive(2, false);
  await withHints.proxy.mutate(withHints.keyspace, write(pk, 'any'), 'ANY');
  // Both hint writes are under way at once and may land in either order: wait for both.
  const storedForBoth = async () => (await withHints.storedHints(1)) + (await withHints.storedHints(2));
  await settle(storedForBoth, 2);
  t.equal(await storedForBoth(), 2, 'a hint per replica');

  const disabled = await cluster(t, { replication, hints: { enabled: false } });
  disabled.setAlive(1, false);
  disabled.setAlive(2, false);
  await t.rejects(disabled.proxy.mutate(disabled.keyspace, write(pk, 'any'), 'ANY'), WriteTimeout, 'without hints ANY gets no ack');
});

t.test('replay is throttled to hinted_handoff_throttle bytes per second', async (t) => {
  const rate = 1000;
  const arrivals: { atMs: number; bytes: number }[] = [];
  let clock: ManualClock | undefined;
  const c = await cluster(t, {
    hints: {
      throttleBytesPerSecond: rate,
      sleep: async (ms) => clock!.advanceMillis(Math.ceil(ms)),
    },
    receive: (node) => {
      node.transport.onMessage('HINT', (_from, payload) => {
        arrivals.push({ atMs: clock!.nowMillis(), bytes: payload.length });
      });
    },
  });
  clock = c.clock;
  c.setAlive(2, false);
  for (let pk = 0; pk < 12; pk++) await c.proxy.mutate(c.keyspace, write(pk, 'x'.repeat(50 + pk)), 'ONE');
  await settle(() => c.storedHints(2), 12);
  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);

  t.equal(arrivals.length, 12, 'every hint was delivered');
  const first = arrivals[0];
  let sentBefore = 0;
  for (const arrival of arrivals) {
    // Pacing: a hint leaves only once the bytes sent before it fit in `rate` × elapsed.
    const elapsed = arrival.atMs - first.atMs;
    t.ok(sentBefore <= (rate * elapsed) / 1000, `${sentBefore} bytes had been sent before +${elapsed} ms`);
    sentBefore += arrival.bytes;
  }
  const elapsed = arrivals.at(-1)!.atMs - first.atMs;
  const paced = sentBefore - arrivals.at(-1)!.bytes;
  t.ok(elapsed >= (paced * 1000) / rate, `replay took ${elapsed} ms for ${sentBefore} bytes`);
});

t.test('pending() counts hints and bytes per target', async (t) => {
  const c = await cluster(t);
  c.setAlive(1, false);
  c.setAlive(2, false);
  let bytes = 0;
  for (let pk = 0; pk < 3; pk++) {
    const updates = write(pk, `v${pk}`);
    bytes += encodeMutation(updates).length;
    await c.proxy.mutate(c.keyspace, updates, 'ONE');
  }
  t.same(c.hints.pending(), [
    { targetId: HOST_IDS[1], hints: 3, bytes },
    { targetId: HOST_IDS[2], hints: 3, bytes },
  ]);
  c.setAlive(1, true);
  await c.hints.replay(HOST_IDS[1]);
  t.same(c.hints.pending(), [{ targetId: HOST_IDS[2], hints: 3, bytes }], 'the replayed target has none left');
});

t.test('hints beyond hintsBytesMax for a target are refused', async (t) => {
  const size = encodeMutation(write(0, 'v0')).length;
  const c = await cluster(t, { hints: { hintsBytesMax: size * 2 } });
  c.setAlive(2, false);
  const accepted = [0, 1, 2].map((pk) => c.hints.onReplicaMissed(c.nodes[2].endpoint, write(pk, `v${pk}`)));
  t.same(accepted, [true, true, false]);
  t.same(c.hints.pending(), [{ targetId: HOST_IDS[2], hints: 2, bytes: size * 2 }]);
});

t.test('hints left by a previous run are counted and replayed', async (t) => {
  const c = await cluster(t);
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(5, 'five'), 'ONE');
  c.clock.advanceMillis(1);
  await c.restartHints();
  // A replay of a down target only waits for the count of stored hints.
  await c.hints.replay(HOST_IDS[2]);
  t.equal(c.hints.pending()[0]?.hints, 1, 'the stored hint is counted after the restart');
  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.same(await c.localValues(2, 5), ['five']);
  t.same(c.hints.pending(), []);
});

t.test('a hint older than the smallest gc_grace_seconds of its tables is deleted unsent', async (t) => {
  const c = await cluster(t, { hints: { gcGraceSecondsOf: () => 60 } });
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(1, 'young'), 'ONE');
  c.clock.advanceMillis(61_000);
  await c.proxy.mutate(c.keyspace, write(2, 'fresh'), 'ONE');
  await settle(() => c.storedHints(2), 2);
  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.same(await c.localValues(2, 1), [], 'the expired hint was not delivered: it could resurrect purged deletions');
  t.same(await c.localValues(2, 2), ['fresh'], 'the hint within gc_grace_seconds was delivered');
  t.equal(await c.storedHints(2), 0, 'both hints are gone from the store');
  t.same(c.hints.pending(), []);
});

t.test('no hint is stored for a table with gc_grace_seconds 0', async (t) => {
  const c = await cluster(t, { hints: { gcGraceSecondsOf: () => 0 } });
  c.setAlive(2, false);
  t.equal(c.hints.onReplicaMissed(c.nodes[2].endpoint, write(1, 'one')), false, 'refused');
  t.same(c.hints.pending(), []);
});

t.test('hints of a table that no longer exists are deleted unsent', async (t) => {
  let tableExists = true;
  const c = await cluster(t, { hints: { gcGraceSecondsOf: () => (tableExists ? 864_000 : undefined) } });
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(1, 'one'), 'ONE');
  await settle(() => c.storedHints(2), 1);
  tableExists = false;
  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.equal(await c.storedHints(2), 0);
  t.same(await c.localValues(2, 1), []);
});

t.test('hints for an endpoint that left the ring or was removed are deleted', async (t) => {
  const c = await cluster(t);
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(1, 'one'), 'ONE');
  await c.proxy.mutate(c.keyspace, write(2, 'two'), 'ONE');
  await settle(() => c.storedHints(2), 2);
  // What gossip's Membership reports once removenode announced the endpoint removed.
  Object.assign(c.nodes[0].view, { statusOf: (id: string) => (id === HOST_IDS[2] ? 'removed' : 'NORMAL') });
  c.setAlive(1, true); // any change makes the service look again
  await settle(() => c.storedHints(2), 0);
  t.equal(await c.storedHints(2), 0, 'nobody will take them');
  t.same(c.hints.pending(), [], 'and they are not reported pending');
});

t.test('hints wait for the target to hold this node’s schema: a replica behind on it would drop them unapplied', async (t) => {
  // Node 2 was down while the table was created and written to; when it comes back UP,
  // gossip says so before its schema pull has brought the table.
  let node2HasTable = false;
  const c = await cluster(t, {
    hints: { schemaAgrees: (id) => id !== HOST_IDS[2] || node2HasTable },
  });
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(7, 'seven'), 'ONE');
  await settle(() => c.storedHints(2), 1);
  await c.nodes[2].storage.dropTable(table.id);

  c.setAlive(2, true);
  await c.hints.replay(HOST_IDS[2]);
  t.equal(await c.storedHints(2), 1, 'the hint is kept while node 2’s schema differs');

  c.nodes[2].storage.openTable(table);
  node2HasTable = true;
  await c.hints.replay(HOST_IDS[2]);
  t.same(await c.localValues(2, 7), ['seven'], 'once the schemas agree the hint is applied');
  t.equal(await c.storedHints(2), 0);
});

t.test('after a restart, hints for a target that left the ring meanwhile are found and deleted', async (t) => {
  const c = await cluster(t);
  c.setAlive(2, false);
  await c.proxy.mutate(c.keyspace, write(1, 'one'), 'ONE');
  await settle(() => c.storedHints(2), 1);
  await c.hints.stop();
  // The coordinator comes back to a ring without node 2, which was removed meanwhile.
  const { StaticClusterView } = await import('../../lib/cluster/cluster-view.js');
  const rest = c.nodes.filter((_, i) => i !== 2).map((node) => node.endpoint);
  const view = Object.assign(new StaticClusterView(c.nodes[0].endpoint, rest), {
    statusOf: (id: string) => (id === HOST_IDS[2] ? 'removed' : 'NORMAL'),
  });
  const restarted = new HintService({ store: c.store, transport: c.nodes[0].transport, membership: view, clock: c.clock });
  restarted.start();
  t.teardown(() => restarted.stop());
  await settle(() => c.storedHints(2), 0);
  t.equal(await c.storedHints(2), 0, 'the removed target’s hints are gone');
});
