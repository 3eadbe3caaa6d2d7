/**
 * Saved peers (lib/cluster/saved-peers.ts, Cassandra's system.peers): every peer that
 * owns tokens is saved as gossip reports it and deleted once it left, was removed or was
 * replaced; a restarted node loads them DOWN, in generation 0, so it coordinates over the
 * whole ring before gossip has caught up (a QUORUM write whose replicas are not yet seen
 * UP is Unavailable, not acknowledged by the wrong nodes), and real gossip supersedes them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import t, { type Test } from 'tap';
import { ApplicationState, type EndpointStateMessage } from '../../lib/cluster/endpoint-state.js';
import { Gossiper, SAVED_GENERATION, type GossipEvent, type GossipMessage } from '../../lib/cluster/gossip.js';
import { Membership } from '../../lib/cluster/membership.js';
import { replicaPlacement } from '../../lib/cluster/replication.js';
import { PeerRecorder, type PeerStore, savedPeerStates } from '../../lib/cluster/saved-peers.js';
import { ClusterStorageProxy } from '../../lib/coordinator/cluster-proxy.js';
import { ConfigurationError, Unavailable } from '../../lib/errors.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { type PeerRecord, SystemStore } from '../../lib/system/system-store.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { ALL, eventsKeyspace, table, update } from '../helpers/cluster.js';
import { address, GossipCluster, hostId, NUM_TOKENS } from '../helpers/gossip-cluster.js';

const GENERATION = 1_700_000_000;
const A = '10.0.0.1:7000';
const B = '10.0.0.2:7000';

/** Peer records in memory, counting the writes. */
class MemoryPeerStore implements PeerStore {
  readonly records = new Map<string, PeerRecord>();
  writes = 0;

  async updatePeers(save: readonly PeerRecord[], remove: readonly string[]): Promise<void> {
    this.writes++;
    for (const peer of save) this.records.set(peer.hostId, peer);
    for (const id of remove) this.records.delete(id);
  }

  list(): PeerRecord[] {
    return [...this.records.values()];
  }
}

function peerRecord(n: number, tokens: bigint[], status = 'NORMAL'): PeerRecord {
  return {
    hostId: hostId(n),
    address: address(n),
    httpAddress: `10.0.0.${n}:8080`,
    dc: 'dc1',
    rack: 'rack1',
    tokens,
    status,
    schemaVersion: 'schema-1',
  };
}

function gossiper(localEndpoint: string): Gossiper {
  return new Gossiper({ localEndpoint, generation: GENERATION, seeds: [], random: () => 0, localStates: [[ApplicationState.STATUS, 'NORMAL']] });
}

function ack2(...states: EndpointStateMessage[]): GossipMessage {
  return { kind: 'GossipDigestAck2', states };
}

const realStateOfB = (heartbeat: number, status = 'NORMAL'): EndpointStateMessage => ({
  endpoint: B,
  heartbeat: { generation: GENERATION + 5, version: heartbeat },
  states: [
    { name: 'HOST_ID', value: hostId(2), version: 1 },
    { name: 'DC', value: 'dc1', version: 2 },
    { name: 'RACK', value: 'rack1', version: 3 },
    { name: 'TOKENS', value: '10,20', version: 4 },
    { name: 'STATUS', value: status, version: 5 },
  ],
});

/** Peer records of every node, kept across restarts like their system stores. */
function recordingCluster(t: Test): { cluster: GossipCluster; stores: Map<number, MemoryPeerStore>; start(n: number): Promise<void> } {
  const cluster = new GossipCluster();
  t.teardown(() => cluster.closeAll());
  const stores = new Map<number, MemoryPeerStore>();
  const start = async (n: number) => {
    let store = stores.get(n);
    if (store === undefined) stores.set(n, (store = new MemoryPeerStore()));
    const service = cluster.start(n, { peers: { saved: store.list(), store } });
    let ready = false;
    void service.ready.then(() => (ready = true));
    await cluster.roundsUntil(() => ready, 40);
  };
  return { cluster, stores, start };
}

// ---------------------------------------------------------------------------------------
// The system store.

t.test('peer records round-trip through a restart: replaced by host id, deleted, damaged ones refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-peers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const system = join(dir, 'system');
  const options = { clusterName: 'Test Cluster' };
  let store = await SystemStore.open(system, options);
  await store.updatePeers([peerRecord(2, [-(2n ** 63n), 5n]), peerRecord(3, [7n])], []);
  await store.updatePeers([{ ...peerRecord(2, [6n], 'LEAVING'), address: '10.0.0.9:7000' }], [hostId(3)]);
  await store.close();

  store = await SystemStore.open(system, options);
  t.same(await store.peers(), [{ ...peerRecord(2, [6n], 'LEAVING'), address: '10.0.0.9:7000' }], 'the newest record of each host id, none of the deleted');
  await store.close();

  const db = new Level<string, unknown>(system, { valueEncoding: 'json' });
  await db.sublevel<string, unknown>('peers', { valueEncoding: 'json' }).put(hostId(4), { hostId: hostId(4), address: 'x', tokens: ['1'] });
  await db.close();
  store = await SystemStore.open(system, options);
  t.teardown(() => store.close());
  await t.rejects(store.peers(), ConfigurationError, 'a record without its fields stops loading, naming it');
});

// ---------------------------------------------------------------------------------------
// The Gossiper alone.

t.test('a saved peer is known DOWN in generation 0, and its first real state is a first sighting, not proof of life', async (t) => {
  const a = gossiper(A);
  const loaded = a.addSavedEndpoint(B, savedPeerStates(peerRecord(2, [10n, 20n])));
  t.match(loaded, [{ kind: 'joined', endpoint: B }]);
  t.equal(a.stateOf(B)?.heartbeat.generation, SAVED_GENERATION);
  t.notOk(a.isAlive(B), 'DOWN until gossip proves it running');
  t.same(a.unreachableEndpoints(), [B], 'so gossip rounds try it now and then');
  t.notOk(a.hasHeardOf(B), 'gossip has not spoken of it');
  t.same(a.addSavedEndpoint(B, []), [], 'loaded once');
  t.same(a.addSavedEndpoint(A, []), [], 'never the local endpoint');

  // Second hand, the state may be that of a process that died since: not UP yet.
  const first = a.receive('10.0.0.3:7000', ack2(realStateOfB(7)), 1000).events;
  t.same(first.map((event) => event.kind), ['joined'], 'the real state replaces the saved one');
  t.equal(a.stateOf(B)?.heartbeat.generation, GENERATION + 5);
  t.ok(a.hasHeardOf(B));
  t.notOk(a.isAlive(B));
  const next = a.receive('10.0.0.3:7000', ack2({ ...realStateOfB(8), states: [] }), 2000).events;
  t.same(next.map((event) => event.kind), ['up'], 'a newer heartbeat shows it running');
});

t.test('an answer meant for the previous process of this node is not taken for a first sighting', async (t) => {
  const ringFacts: [string, string][] = [
    [ApplicationState.HOST_ID, hostId(2)],
    [ApplicationState.DC, 'dc1'],
    [ApplicationState.RACK, 'rack1'],
    [ApplicationState.TOKENS, '10,20'],
    [ApplicationState.STATUS, 'NORMAL'],
  ];
  const b = new Gossiper({ localEndpoint: B, generation: GENERATION + 5, seeds: [], random: () => 0, localStates: ringFacts });
  // A's previous process knew B up to its current version and said so in its last syn;
  // B answers with the newer heartbeat only, and the link delivers the answer to A's new
  // process (a transport queues messages across a reconnect). A chaos run saw the
  // result: a state without HOST_ID, TOKENS or STATUS, never completed (digests compare
  // maximum versions), the peer out of the ring for good and its saved record deleted.
  const digest = { endpoint: B, generation: GENERATION + 5, maxVersion: b.stateOf(B)!.heartbeat.version };
  b.tick(1000);
  const [stale] = b.receive(A, { kind: 'GossipDigestSyn', clusterName: b.clusterName, digests: [digest] }, 1000).send;
  t.match(stale.message, { kind: 'GossipDigestAck', states: [{ endpoint: B, states: [], since: digest.maxVersion }] }, 'a delta');

  const fresh = gossiper(A);
  t.same(fresh.receive(B, stale.message, 1001).events, [], 'nothing learned from it');
  t.equal(fresh.stateOf(B), undefined, 'B stays unknown to a node that never heard of it');

  const restarted = gossiper(A);
  const membership = new Membership(A, restarted.stateOf(A)!);
  membership.apply(restarted.addSavedEndpoint(B, savedPeerStates(peerRecord(2, [10n, 20n]))));
  const tokensOfB = () => membership.ring().endpoints.find((e) => e.id === hostId(2))?.tokens;
  membership.apply(restarted.receive(B, stale.message, 1001).events);
  t.equal(restarted.stateOf(B)?.heartbeat.generation, SAVED_GENERATION, 'the saved state stays');
  t.same(tokensOfB(), [10n, 20n], 'and B in the ring with its saved tokens');

  // The next round's digest names B in generation 0: B answers with its whole state.
  const syn = restarted.tick(2000).send.find((envelope) => envelope.to === B);
  t.ok(syn, 'the unreachable B gets a syn');
  for (const reply of b.receive(A, syn!.message, 2000).send) membership.apply(restarted.receive(B, reply.message, 2001).events);
  t.equal(restarted.stateOf(B)?.heartbeat.generation, GENERATION + 5, 'the real state replaced the saved one');
  for (const [name, value] of ringFacts) t.equal(restarted.stateOf(B)?.states.get(name)?.value, value, `with its ${name}`);
  t.same(tokensOfB(), [10n, 20n], 'B owns its tokens');
});

t.test('a first real state of another host at the address keeps nothing of the saved one', async (t) => {
  const a = gossiper(A);
  const membership = new Membership(A, a.stateOf(A)!);
  membership.apply(a.addSavedEndpoint(B, savedPeerStates(peerRecord(2, [10n, 20n]))));
  const replacement = { ...realStateOfB(7), states: [{ name: ApplicationState.HOST_ID, value: hostId(9), version: 1 }] };
  membership.apply(a.receive('10.0.0.3:7000', ack2(replacement), 1000).events);
  t.equal(a.stateOf(B)?.states.get(ApplicationState.TOKENS), undefined, 'the saved tokens are not carried over to another host');
  t.notOk(membership.ring().endpoints.some((e) => e.id === hostId(2) || e.id === hostId(9)), 'neither owns tokens yet');
});

t.test('a saved state never spreads to other nodes', async (t) => {
  const a = gossiper(A);
  a.addSavedEndpoint(B, savedPeerStates(peerRecord(2, [10n])));
  const c = gossiper('10.0.0.3:7000');
  // a's syn (meant for the unreachable B) names B in generation 0: c asks for it and gets nothing.
  const syn = a.tick(1000).send[0].message;
  t.same(syn.kind === 'GossipDigestSyn' && syn.digests.find((digest) => digest.endpoint === B), { endpoint: B, generation: SAVED_GENERATION, maxVersion: SAVED_GENERATION });
  const ack = c.receive(A, syn, 1000);
  for (const envelope of ack.send) {
    const reply = a.receive('10.0.0.3:7000', envelope.message, 1001);
    for (const back of reply.send) c.receive(A, back.message, 1002);
  }
  t.ok(c.stateOf(A), 'c learned a');
  t.equal(c.stateOf(B), undefined, 'but not what a only saved');
});

t.test('removenode speaks for a saved-only peer in a generation above any of its processes before this start', async (t) => {
  const a = gossiper(A);
  a.addSavedEndpoint(B, savedPeerStates(peerRecord(2, [10n])));
  const events = a.injectState(B, ApplicationState.STATUS, `removed,${hostId(2)}`);
  t.match(events, [{ kind: 'state-changed', endpoint: B, name: 'STATUS' }]);
  t.equal(a.stateOf(B)?.heartbeat.generation, GENERATION, "this node's own generation, not 1");
  // What other nodes still gossip of the dead process (an older generation) does not undo it.
  const stale = a.receive('10.0.0.3:7000', ack2({ ...realStateOfB(9), heartbeat: { generation: GENERATION - 100, version: 9 } }), 1000);
  t.same(stale.events, []);
  t.equal(a.stateOf(B)?.states.get('STATUS')?.value, `removed,${hostId(2)}`);
});

// ---------------------------------------------------------------------------------------
// Membership and the recorder.

/** A gossip view of an endpoint: every state at version 1. */
const view = (generation: number, states: Record<string, string>) => ({
  heartbeat: { generation, version: 1 },
  states: new Map(Object.entries(states).map(([name, value]) => [name, { value, version: 1 }])),
});

/** Membership of local node l:1 (whose state is `local`) with a recorder over a store in memory; `apply` feeds events and waits for the write. */
function recorded(local: Record<string, string>) {
  const membership = new Membership('l:1', view(100, local));
  const store = new MemoryPeerStore();
  const recorder = new PeerRecorder({ membership, store, saved: [] });
  const apply = async (...events: GossipEvent[]) => {
    membership.apply(events);
    recorder.changed();
    await recorder.flushed();
  };
  return { membership, store, recorder, apply };
}

t.test('records follow membership: owners saved, LEFT deleted, a replaced host id dropped, nothing rewritten unchanged', async (t) => {
  const owner = (id: string, status: string, tokens: string) => ({ HOST_ID: id, DC: 'dc1', RACK: 'r1', STATUS: status, TOKENS: tokens, HTTP: 'h:8080', SCHEMA: 's1' });
  const { store, recorder, apply } = recorded(owner('h-l', 'NORMAL', '0'));
  await apply(
    { kind: 'joined', endpoint: 'a:1', state: view(200, owner('h-a', 'NORMAL', '100,200')) },
    { kind: 'joined', endpoint: 'b:1', state: view(300, owner('h-b', 'BOOT', '300')) },
  );
  t.same(store.list(), [{ hostId: 'h-a', address: 'a:1', httpAddress: 'h:8080', dc: 'dc1', rack: 'r1', tokens: [100n, 200n], status: 'NORMAL', schemaVersion: 's1' }], 'an owner, not a joining node nor this one');
  t.equal(store.writes, 1);

  recorder.changed();
  await recorder.flushed();
  t.equal(store.writes, 1, 'nothing changed: nothing written');

  await apply({ kind: 'state-changed', endpoint: 'b:1', name: 'STATUS', value: { value: 'NORMAL', version: 2 } });
  await apply({ kind: 'state-changed', endpoint: 'a:1', name: 'STATUS', value: { value: 'LEAVING', version: 2 } });
  t.same(store.list().map((peer) => [peer.hostId, peer.status]), [['h-a', 'LEAVING'], ['h-b', 'NORMAL']]);

  await apply({ kind: 'state-changed', endpoint: 'a:1', name: 'STATUS', value: { value: 'LEFT', version: 3 } });
  t.same(store.list().map((peer) => peer.hostId), ['h-b'], 'LEFT: deleted');

  // A new node at b's address (a replacement): the old host id goes, the new one is saved.
  await apply({ kind: 'restarted', endpoint: 'b:1', state: view(400, owner('h-c', 'NORMAL', '300')) });
  t.same(store.list().map((peer) => peer.hostId), ['h-c'], 'the replaced host id is dropped');
  await apply({ kind: 'state-changed', endpoint: 'b:1', name: 'STATUS', value: { value: 'removed,h-c', version: 2 } });
  t.same(store.list(), [], 'removed: deleted');
});

t.test('a peer out of the ring for a while keeps its record; one whose tokens other hosts took does not', async (t) => {
  const owner = (id: string, tokens: string) => ({ HOST_ID: id, DC: 'dc1', RACK: 'r1', STATUS: 'NORMAL', TOKENS: tokens });
  const { membership, store, apply } = recorded(owner('h-l', '0'));
  await apply({ kind: 'joined', endpoint: 'a:1', state: view(200, owner('h-a', '100,200')) });
  t.same(store.list().map((peer) => peer.hostId), ['h-a']);

  // A state without ring facts (gossip's own bugs, a doubt): out of the ring, not gone.
  await apply({ kind: 'restarted', endpoint: 'a:1', state: view(201, { HOST_ID: 'h-a' }) });
  t.notOk(membership.ring().endpoints.some((endpoint) => endpoint.id === 'h-a'), 'out of the ring');
  t.same(store.list().map((peer) => peer.hostId), ['h-a'], 'the record stays for the next start');
  t.same(store.list()[0].tokens, [100n, 200n], 'as it was last seen owning tokens');

  // Another host, started later, took every one of its tokens (a replacement elsewhere).
  await apply({ kind: 'joined', endpoint: 'b:1', state: view(300, owner('h-b', '100,200')) });
  t.same(store.list().map((peer) => peer.hostId), ['h-b'], 'replaced: deleted, the new owner saved');
});

t.test('changes arriving during a write are coalesced into one next write', async (t) => {
  const membership = new Membership('l:1', { heartbeat: { generation: 1, version: 1 }, states: new Map() });
  const writes: number[] = [];
  let release!: () => void;
  const store: PeerStore = {
    updatePeers: async (save) => {
      writes.push(save.length);
      if (writes.length === 1) await new Promise<void>((resolve) => (release = resolve));
    },
  };
  const recorder = new PeerRecorder({ membership, store, saved: [] });
  const owner = (n: number) =>
    ({
      kind: 'joined',
      endpoint: `n${n}:1`,
      state: {
        heartbeat: { generation: 10 + n, version: 1 },
        states: new Map(Object.entries({ HOST_ID: `h-${n}`, DC: 'd', RACK: 'r', STATUS: 'NORMAL', TOKENS: String(n) }).map(([k, v]) => [k, { value: v, version: 1 }])),
      },
    }) as const;
  membership.apply([owner(1)]);
  recorder.changed();
  await new Promise((resolve) => setImmediate(resolve));
  for (let n = 2; n <= 20; n++) {
    membership.apply([owner(n)]);
    recorder.changed();
  }
  release();
  await recorder.flushed();
  t.same(writes, [1, 19], 'one write under way, then one for everything that came meanwhile');
});

// ---------------------------------------------------------------------------------------
// Over gossip: a restart.

t.test('a node restarted while its peers are down knows the whole ring, sees the peers DOWN, and refuses QUORUM writes it cannot place', async (t) => {
  const { cluster, stores, start } = recordingCluster(t);
  for (const n of [1, 2, 3]) await start(n);
  await cluster.converge();
  for (const n of [1, 2, 3]) await cluster.node(n).peersSaved();
  t.same(
    stores.get(1)!.list().map((peer) => [peer.hostId, peer.address, peer.status, peer.tokens]),
    [2, 3].map((m) => [hostId(m), address(m), 'NORMAL', cluster.persisted.get(m)]),
    'node 1 saved both peers with their tokens',
  );
  const writesBefore = stores.get(1)!.writes;
  await cluster.rounds(5);
  t.equal(stores.get(1)!.writes, writesBefore, 'gossip rounds that change nothing write nothing');
  const fullRing = cluster.node(1).membership.ring();

  for (const n of [1, 2, 3]) await cluster.stop(n);
  cluster.clock.advanceMillis(10_000);
  await start(1);
  const restarted = cluster.node(1);
  const ring = restarted.membership.ring();
  t.equal(ring.size, 3 * NUM_TOKENS, 'every vnode of the cluster, not only its own');
  const byId = (endpoints: readonly { id: string; tokens: readonly bigint[] }[]) => new Map(endpoints.map((e) => [e.id, e.tokens]));
  t.same(byId(ring.endpoints), byId(fullRing.endpoints), 'the same endpoints with the same tokens');
  t.notOk(restarted.membership.isAlive(hostId(2)), 'node 2 is DOWN until gossip proves otherwise');
  t.notOk(restarted.membership.isAlive(hostId(3)));
  t.same(restarted.membership.describe().map((d) => d.status), ['UN', 'DN', 'DN']);

  // RF 1: a key node 2 owns. Over a ring of node 1 alone, node 1 would take (and ack) it.
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 1 });
  let pk = 0;
  while (replicaPlacement(ring, keyspace.replication).replicasFor(update(pk, []).partition.token)[0].id !== hostId(2)) pk++;
  const storage = new MemoryStorageEngine();
  storage.openTable(table);
  const proxy = new ClusterStorageProxy({
    view: restarted.membership,
    transport: new MemoryNetwork({ seed: 1 }).join(address(1)),
    storage,
    writeTimeoutMs: 200,
    readTimeoutMs: 200,
  });
  const written = update(pk, [[1, 'x']]);
  await t.rejects(proxy.mutate(keyspace, [written], 'QUORUM'), Unavailable, 'Unavailable, not a wrong ack');
  t.equal(await storage.table(table.id)!.read(written.partition.key, written.partition.token, ALL), null, 'nothing written locally');

  // The peers come back: gossip supersedes the saved states and they are UP.
  let seen = false;
  void restarted.savedPeersSeen(60_000).then(() => (seen = true));
  await start(2);
  await start(3);
  // Every saved state is in generation 0, and the codec must let such digests through.
  await cluster.converge();
  await cluster.rounds(1);
  t.ok(seen, 'savedPeersSeen resolves once every saved peer is UP');
  t.ok(restarted.gossiper.hasHeardOf(address(2)));
  t.ok(restarted.membership.isAlive(hostId(2)));
});

t.test('savedPeersSeen: at once without saved peers, after the bound when they stay down', async (t) => {
  const { cluster, start } = recordingCluster(t);
  await start(1);
  await start(2);
  await cluster.converge();
  await cluster.node(1).peersSaved();
  let alone = false;
  void cluster.node(2).savedPeersSeen(5_000).then(() => (alone = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(alone, 'node 2 started with no saved peer: no wait');

  await cluster.stop(2);
  await cluster.stop(1);
  await start(1);
  let seen = false;
  void cluster.node(1).savedPeersSeen(3_000).then(() => (seen = true));
  await cluster.rounds(2);
  t.notOk(seen, 'node 2 is down: still waiting');
  await cluster.rounds(2);
  t.ok(seen, 'but not past the bound');
});

t.test('saved peers that were not owners are not loaded, and their records are deleted', async (t) => {
  const store = new MemoryPeerStore();
  await store.updatePeers([peerRecord(2, [10n], 'LEFT'), peerRecord(3, [20n], 'BOOT'), peerRecord(4, [30n]), peerRecord(1, [40n])], []);
  const cluster = new GossipCluster();
  t.teardown(() => cluster.closeAll());
  const node = cluster.start(1, { peers: { saved: store.list(), store } });
  t.equal(node.gossiper.stateOf(address(2)), undefined, 'LEFT: not loaded');
  t.equal(node.gossiper.stateOf(address(3)), undefined, 'BOOT: not loaded');
  t.ok(node.gossiper.stateOf(address(4)), 'NORMAL: loaded');
  t.ok(node.membership.ring().endpoint(hostId(4)), 'in the ring');
  t.equal(node.membership.ring().endpoint(hostId(2)), undefined);
  await node.peersSaved();
  t.same(store.list().map((peer) => peer.hostId), [hostId(4)], 'only the loaded owner stays saved');
});

t.test('over gossip: LEAVING and LEFT are saved and deleted on every node, removenode deletes too', async (t) => {
  const { cluster, stores, start } = recordingCluster(t);
  for (const n of [1, 2, 3, 4]) await start(n);
  await cluster.converge();
  cluster.node(3).announceLeaving();
  await cluster.roundsUntil(() => [1, 2, 4].every((n) => cluster.node(n).membership.statusOf(hostId(3)) === 'LEAVING'), 20);
  for (const n of [1, 2, 4]) await cluster.node(n).peersSaved();
  for (const n of [1, 2, 4]) t.equal(stores.get(n)!.records.get(hostId(3))?.status, 'LEAVING', `node ${n} saved LEAVING`);
  cluster.node(3).announceLeft();
  await cluster.roundsUntil(() => [1, 2, 4].every((n) => cluster.node(n).membership.statusOf(hostId(3)) === 'LEFT'), 20);
  await cluster.stop(3);
  await cluster.stop(4);
  await cluster.roundsUntil(() => [1, 2].every((n) => !cluster.node(n).membership.isAlive(hostId(4))), 60);
  cluster.node(1).announceRemoved(address(4), hostId(4));
  await cluster.roundsUntil(() => cluster.node(2).membership.statusOf(hostId(4)) === 'removed', 20);
  for (const n of [1, 2]) {
    await cluster.node(n).peersSaved();
    const other = n === 1 ? 2 : 1;
    t.same(stores.get(n)!.list().map((peer) => peer.hostId), [hostId(other)], `node ${n} keeps only the remaining peer`);
  }
});
