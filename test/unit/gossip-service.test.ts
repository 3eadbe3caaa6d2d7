import t from 'tap';
import { ApplicationState, type EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { decodeGossipMessage, encodeGossipMessage, gossipVerb } from '../../lib/cluster/gossip-codec.js';
import { GossipService } from '../../lib/cluster/gossip-service.js';
import type { GossipMessage } from '../../lib/cluster/gossip.js';
import { Membership } from '../../lib/cluster/membership.js';
import { ProtocolError } from '../../lib/errors.js';
import { ManualClock } from '../../lib/model/clock.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { address, GossipCluster, hostId, ManualScheduler, NUM_TOKENS } from '../helpers/gossip-cluster.js';

/** Five nodes started one after another (as operators add nodes), each NORMAL before the next. */
async function fiveNodeCluster(): Promise<GossipCluster> {
  const cluster = new GossipCluster();
  for (let n = 1; n <= 5; n++) await cluster.startNormal(n);
  // Converged: every node has all five in its ring and sees them all UP (a node heard of
  // second hand is UP only once a newer state of it arrives).
  const everyoneSeesFive = () =>
    [...cluster.nodes.values()].every(
      (node) => node.membership.ring().endpoints.length === 5 && [1, 2, 3, 4, 5].every((m) => node.membership.isAlive(hostId(m))),
    );
  await cluster.roundsUntil(everyoneSeesFive, 40);
  return cluster;
}

function isAliveEverywhere(cluster: GossipCluster, n: number, alive: boolean): boolean {
  for (const [m, node] of cluster.nodes) {
    if (m !== n && node.membership.isAlive(hostId(n)) !== alive) return false;
  }
  return true;
}

t.test('gossip converges: every ring holds all five endpoints with the tokens each chose', async (t) => {
  const cluster = await fiveNodeCluster();
  for (const [n, node] of cluster.nodes) {
    const ring = node.membership.ring();
    t.equal(ring.size, 5 * NUM_TOKENS, `node ${n} sees every vnode`);
    let owned = 0;
    for (let m = 1; m <= 5; m++) {
      const endpoint = ring.endpoint(hostId(m));
      t.ok(endpoint, `node ${n} knows node ${m}`);
      t.same(endpoint?.tokens, cluster.persisted.get(m), `node ${n} has node ${m}'s persisted tokens`);
      t.equal(endpoint?.address, address(m));
      t.equal(node.membership.isAlive(hostId(m)), true, `node ${n} sees node ${m} UP`);
      owned += ring.ownership(hostId(m));
    }
    t.ok(Math.abs(owned - 1) < 1e-9, `ownership on node ${n} sums to 1 (${owned})`);
    const described = node.membership.describe();
    t.same(
      described.map((d) => [d.address, d.status, d.tokens, d.httpAddress]),
      [1, 2, 3, 4, 5].map((m) => [address(m), 'UN', NUM_TOKENS, `10.0.0.${m}:8080`]),
    );
  }
  // Balanced allocation, not random tokens: no node owns more than twice another.
  const ring = cluster.nodes.get(1)!.membership.ring();
  const shares = [1, 2, 3, 4, 5].map((m) => ring.ownership(hostId(m)));
  t.ok(Math.max(...shares) < 2 * Math.min(...shares), `shares are balanced: ${shares.map((s) => s.toFixed(3))}`);
});

t.test('an isolated node is convicted DOWN by every peer, and seen UP again after the partition heals', async (t) => {
  const cluster = await fiveNodeCluster();
  let changes = 0;
  cluster.nodes.get(1)!.membership.onChange(() => changes++);
  cluster.network.isolate(address(5));
  // The failure detector needs phi > 8: some 18 s of silence at 1 s heartbeats.
  for (let i = 0; i < 10; i++) await cluster.round();
  t.ok(isAliveEverywhere(cluster, 5, true), 'still UP 10 s into the silence');
  const rounds = await cluster.roundsUntil(() => isAliveEverywhere(cluster, 5, false), 50);
  // Heartbeats arrive at most once per round, so the mean interval is at least 1 s and
  // phi = PHI_FACTOR * silence / mean cannot pass 8 before 18.4 s.
  t.ok(rounds + 10 >= 18, `convicted after ${rounds + 10} s, not before the phi bound`);
  t.equal(cluster.nodes.get(1)!.membership.describe()[4].status, 'DN');
  t.ok(changes > 0, 'onChange listeners heard the conviction');
  t.equal(cluster.nodes.get(5)!.membership.isAlive(hostId(5)), true, 'a node always sees itself alive');

  cluster.network.heal();
  await cluster.roundsUntil(() => isAliveEverywhere(cluster, 5, true), 30);
  t.equal(cluster.nodes.get(1)!.membership.describe()[4].status, 'UN');
  t.equal(cluster.nodes.get(1)!.membership.ring().endpoints.length, 5, 'liveness never changes the ring');
});

t.test('a restarted node (new generation, same host id and tokens) replaces its old state everywhere', async (t) => {
  const cluster = await fiveNodeCluster();
  const oldGeneration = cluster.nodes.get(3)!.gossiper.stateOf(address(3))!.heartbeat.generation;
  await cluster.stop(3);
  await cluster.round();
  cluster.clock.advanceMillis(5000);
  const restarted = cluster.start(3, { httpAddress: '10.0.0.3:9090' });
  t.same(restarted.membership.local.tokens, cluster.persisted.get(3), 'it comes back with its persisted tokens');
  const newGeneration = restarted.gossiper.stateOf(address(3))!.heartbeat.generation;
  t.ok(newGeneration > oldGeneration, 'a restart has a higher generation');

  const replacedEverywhere = () =>
    [...cluster.nodes].every(
      ([n, node]) =>
        n === 3 ||
        (node.gossiper.stateOf(address(3))?.heartbeat.generation === newGeneration &&
          node.membership.isAlive(hostId(3)) &&
          node.membership.describe().find((d) => d.address === address(3))?.httpAddress === '10.0.0.3:9090'),
    );
  await cluster.roundsUntil(replacedEverywhere, 30);
  for (const node of cluster.nodes.values()) {
    const ring = node.membership.ring();
    t.equal(ring.size, 5 * NUM_TOKENS);
    t.same(ring.endpoint(hostId(3))?.tokens, cluster.persisted.get(3), 'same tokens, same ranges');
  }
});

t.test('a schema version set locally reaches every node', async (t) => {
  const cluster = await fiveNodeCluster();
  cluster.nodes.get(2)!.setLocalState(ApplicationState.SCHEMA, 'schema-2');
  const schemaOfNode2Everywhere = () =>
    [...cluster.nodes.values()].every(
      (node) => node.membership.describe().find((d) => d.address === address(2))?.schemaVersion === 'schema-2',
    );
  const rounds = await cluster.roundsUntil(schemaOfNode2Everywhere, 20);
  t.ok(rounds <= 20, `spread in ${rounds} rounds`);
});

t.test('gossip messages survive encoding, and garbage is a ProtocolError', async (t) => {
  const state = {
    endpoint: '10.0.0.1:7000',
    heartbeat: { generation: 1_700_000_000, version: 42 },
    states: [
      { name: 'TOKENS', value: '-9223372036854775808,0,42', version: 3 },
      { name: 'STATUS', value: 'NORMAL', version: 40 },
    ],
    since: 0,
  };
  const messages: GossipMessage[] = [
    {
      kind: 'GossipDigestSyn',
      clusterName: 'Test Cluster',
      digests: [
        { endpoint: '10.0.0.1:7000', generation: 1_700_000_000, maxVersion: 42 },
        { endpoint: '[::1]:7000', generation: 1_700_000_001, maxVersion: 0 },
        // A saved peer not yet heard of: generation 0.
        { endpoint: '10.0.0.4:7000', generation: 0, maxVersion: 0 },
      ],
    },
    { kind: 'GossipDigestSyn', clusterName: 'Other', digests: [] },
    { kind: 'GossipDigestAck', requests: [{ endpoint: '10.0.0.2:7000', generation: 5, maxVersion: 0 }], states: [state] },
    { kind: 'GossipDigestAck', requests: [], states: [] },
    // A delta: only the versions above 41 (gossip.ts applies it only to a copy holding 41).
    { kind: 'GossipDigestAck2', states: [state, { ...state, endpoint: '10.0.0.3:7000', states: [], since: 41 }] },
  ];
  for (const message of messages) {
    t.strictSame(decodeGossipMessage(gossipVerb(message), encodeGossipMessage(message)), message, message.kind);
  }
  t.throws(() => decodeGossipMessage('GOSSIP_SYN', Uint8Array.from([0xff, 0xff, 0xff])), ProtocolError);
  const noHeartbeat = encodeGossipMessage({
    kind: 'GossipDigestAck2',
    states: [{ endpoint: 'x:1', states: [] } as unknown as typeof state],
  });
  t.throws(() => decodeGossipMessage('GOSSIP_ACK2', noHeartbeat), ProtocolError, 'a state without heartbeat is refused');
  const savedState = encodeGossipMessage({ kind: 'GossipDigestAck2', states: [{ ...state, heartbeat: { generation: 0, version: 0 } }] });
  t.throws(() => decodeGossipMessage('GOSSIP_ACK2', savedState), ProtocolError, 'a state in generation 0 (a saved one) is refused');
});

t.test('tokens are announced only once persisted: a node that cannot save them stays out of the ring', async (t) => {
  const network = new MemoryNetwork();
  const scheduler = new ManualScheduler();
  const options = {
    clock: new ManualClock(),
    seeds: [address(1)],
    dc: 'dc1',
    rack: 'rack1',
    httpAddress: 'h:8080',
    schemaVersion: 'schema-1',
    numTokens: NUM_TOKENS,
    initialTokens: null,
    scheduler,
  };
  const seed = new GossipService({ ...options, transport: network.join(address(1)), hostId: hostId(1), persistTokens: async () => {} });
  seed.start();
  const failing = new GossipService({
    ...options,
    transport: network.join(address(2)),
    hostId: hostId(2),
    persistTokens: async () => {
      throw new Error('disk full');
    },
  });
  failing.start();
  for (let i = 0; i < 10; i++) {
    scheduler.fire();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await t.rejects(failing.ready, /disk full/);
  t.same(failing.membership.local.tokens, [], 'no tokens taken locally');
  t.equal(seed.membership.ring().endpoint(hostId(2)), undefined, 'the seed never sees it own a range');
  t.equal(seed.membership.describe().find((d) => d.address === address(2))?.status, 'UJ', 'it is seen still joining');
  t.equal(seed.membership.ring().endpoints.length, 1, 'the seed allocated at once and owns the ring');
});

function view(generation: number, states: Record<string, string>): EndpointStateView {
  return {
    heartbeat: { generation, version: 1 },
    states: new Map(Object.entries(states).map(([name, value]) => [name, { value, version: 1 }])),
  };
}

t.test('conflicting claims in gossip: the endpoint started last keeps the host id and the token', async (t) => {
  const local = view(100, { HOST_ID: 'h-local', DC: 'dc1', RACK: 'r1', STATUS: 'NORMAL', TOKENS: '0' });
  const membership = new Membership('l:1', local);
  const member = (id: string, tokens: string) => ({ HOST_ID: id, DC: 'dc1', RACK: 'r1', STATUS: 'NORMAL', TOKENS: tokens });
  membership.apply([
    { kind: 'joined', endpoint: 'a:1', state: view(200, member('h-a', '10,20')) },
    { kind: 'joined', endpoint: 'b:1', state: view(300, member('h-b', '20,30')) },
    // h-a moved to a new address and restarted there: the old address no longer speaks for it.
    { kind: 'joined', endpoint: 'c:1', state: view(400, member('h-a', '40')) },
  ]);
  const ring = membership.ring();
  t.same(ring.endpoint('h-b')?.tokens, [20n, 30n], 'the newer node keeps token 20');
  t.same(ring.endpoint('h-a')?.address, 'c:1', 'the newer address owns the host id');
  t.same(ring.endpoint('h-a')?.tokens, [40n]);
  t.equal(membership.isAlive('h-a'), false, 'heard of second hand: not alive until gossip says UP');
  membership.apply([{ kind: 'up', endpoint: 'c:1' }]);
  t.equal(membership.isAlive('h-a'), true);
  t.equal(membership.ring(), membership.ring(), 'the ring is cached between changes');
  membership.apply([{ kind: 'state-changed', endpoint: 'b:1', name: 'LOAD', value: { value: '1000', version: 2 } }]);
  t.equal(membership.ring(), ring, 'a LOAD change does not rebuild the ring');
  membership.apply([{ kind: 'state-changed', endpoint: 'b:1', name: 'STATUS', value: { value: 'LEFT', version: 3 } }]);
  t.equal(membership.ring().endpoint('h-b'), undefined, 'a LEFT node leaves the ring');
});
