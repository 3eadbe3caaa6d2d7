/**
 * Ring changes as membership sees them: joining (UJ) endpoints in the future ring only,
 * leaving (UL) ones in the ring but not the future ring, LEFT and removed ones in
 * neither; and removenode's injected state spreading through gossip without the
 * removed node ever being marked UP again.
 */
import t, { type Test } from 'tap';
import type { EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { Gossiper, type GossipEvent } from '../../lib/cluster/gossip.js';
import { Membership } from '../../lib/cluster/membership.js';
import { ServerError } from '../../lib/errors.js';
import { address, GossipCluster, hostId, NUM_TOKENS } from '../helpers/gossip-cluster.js';

function view(generation: number, states: Record<string, string>): EndpointStateView {
  return {
    heartbeat: { generation, version: 1 },
    states: new Map(Object.entries(states).map(([name, value]) => [name, { value, version: 1 }])),
  };
}

const member = (id: string, status: string, tokens: string) => ({ HOST_ID: id, DC: 'dc1', RACK: 'r1', STATUS: status, TOKENS: tokens });

let version = 10;
const changed = (endpoint: string, name: string, value: string): GossipEvent => ({
  kind: 'state-changed',
  endpoint,
  name,
  value: { value, version: ++version },
});

/** This node (NORMAL at 0), a:1 NORMAL at 100, and b:1 as given; a and b UP. */
function membershipWith(b: Record<string, string>): Membership {
  const membership = new Membership('l:1', view(100, member('h-l', 'NORMAL', '0')));
  membership.apply([
    { kind: 'joined', endpoint: 'a:1', state: view(200, member('h-a', 'NORMAL', '100')) },
    { kind: 'joined', endpoint: 'b:1', state: view(300, b) },
    { kind: 'up', endpoint: 'a:1' },
    { kind: 'up', endpoint: 'b:1' },
  ]);
  return membership;
}

const ringIds = (ring: { endpoints: readonly { id: string }[] } | null) => ring?.endpoints.map((e) => e.id).sort() ?? null;
const statusIn = (membership: Membership, endpoint: string) =>
  membership.describe().find((d) => d.address === endpoint)?.status;

t.test('a joining endpoint (BOOT with tokens) is in the future ring only, listed UJ', async (t) => {
  const membership = membershipWith(member('h-b', 'BOOT', '50,150'));
  t.same(ringIds(membership.ring()), ['h-a', 'h-l']);
  t.same(ringIds(membership.futureRing()), ['h-a', 'h-b', 'h-l']);
  t.same(membership.futureRing()?.endpoint('h-b')?.tokens, [50n, 150n]);
  t.equal(membership.statusOf('h-b'), 'BOOT');
  t.same(membership.endpointOf('h-b')?.tokens, [50n, 150n], 'its announced tokens are known');
  t.match(membership.describe().find((d) => d.id === 'h-b'), { status: 'UJ', tokens: 2 }, 'listed joining with its tokens');
  membership.apply([{ kind: 'down', endpoint: 'b:1' }]);
  t.equal(statusIn(membership, 'b:1'), 'DJ');
  t.ok(membership.futureRing()?.endpoint('h-b'), 'a DOWN joining node still has its pending ranges');

  membership.apply([changed('b:1', 'STATUS', 'NORMAL')]);
  t.same(ringIds(membership.ring()), ['h-a', 'h-b', 'h-l'], 'NORMAL: in the ring');
  t.equal(membership.futureRing(), null, 'nothing moves any more');
});

t.test('a BOOT endpoint without tokens moves nothing', async (t) => {
  const membership = membershipWith(member('h-b', 'BOOT', ''));
  t.equal(membership.futureRing(), null);
  t.equal(statusIn(membership, 'b:1'), 'UJ');
  t.equal(membership.statusOf('h-b'), 'BOOT');
});

t.test('a leaving endpoint stays in the ring and is not in the future ring, listed UL', async (t) => {
  const membership = membershipWith(member('h-b', 'NORMAL', '50'));
  const ring = membership.ring();
  membership.apply([changed('b:1', 'STATUS', 'LEAVING')]);
  t.equal(membership.ring(), ring, 'the ring object (and the placements cached on it) survives');
  t.same(ringIds(membership.futureRing()), ['h-a', 'h-l']);
  t.equal(statusIn(membership, 'b:1'), 'UL');
  t.equal(membership.statusOf('h-b'), 'LEAVING');
  membership.apply([{ kind: 'down', endpoint: 'b:1' }]);
  t.equal(statusIn(membership, 'b:1'), 'DL');
});

t.test('LEFT and removed endpoints are in neither ring and not listed, but still known', async (t) => {
  for (const status of ['LEFT', 'removed,h-b']) {
    const membership = membershipWith(member('h-b', 'LEAVING', '50'));
    membership.apply([changed('b:1', 'STATUS', status)]);
    t.same(ringIds(membership.ring()), ['h-a', 'h-l'], status);
    t.equal(membership.futureRing(), null);
    t.equal(statusIn(membership, 'b:1'), undefined, 'not listed by status');
    t.equal(membership.statusOf('h-b'), status.split(',')[0]);
    t.same(membership.endpointOf('h-b')?.tokens, [50n]);
  }
  t.equal(membershipWith(member('h-b', 'NORMAL', '50')).statusOf('h-unknown'), null);
});

t.test('the rings are derived once per change that touches them', async (t) => {
  const membership = membershipWith(member('h-b', 'BOOT', '50'));
  const ring = membership.ring();
  const future = membership.futureRing();
  t.equal(membership.ring(), ring);
  t.equal(membership.futureRing(), future);
  membership.apply([changed('a:1', 'LOAD', '123'), changed('a:1', 'SCHEMA', 's2'), { kind: 'down', endpoint: 'a:1' }]);
  t.equal(membership.ring(), ring, 'load, schema and liveness leave the ring');
  t.equal(membership.futureRing(), future, 'and the future ring');
  membership.apply([changed('a:1', 'STATUS', 'NORMAL')]);
  t.equal(membership.ring(), ring, 'a re-announced status that changes nothing keeps both');
  t.equal(membership.futureRing(), future);
});

t.test('schemaVersionOf answers what an endpoint last gossiped, by host id', async (t) => {
  const membership = membershipWith(member('h-b', 'NORMAL', '50'));
  t.equal(membership.schemaVersionOf('h-b'), null, 'nothing gossiped yet');
  membership.apply([changed('b:1', 'SCHEMA', 'v-1')]);
  t.equal(membership.schemaVersionOf('h-b'), 'v-1');
  t.equal(membership.schemaVersionOf('h-unknown'), null);
});

t.test('a joining claim on a token an owner holds is ignored', async (t) => {
  const membership = membershipWith(member('h-b', 'BOOT', '100,150'));
  t.same(membership.futureRing()?.endpoint('h-a')?.tokens, [100n], 'the owner keeps its token');
  t.same(membership.futureRing()?.endpoint('h-b')?.tokens, [150n]);
});

// ---------------------------------------------------------------------------------------
// The Gossiper alone.

const GENERATION = 1_700_000_000;

function gossiper(endpoint: string, seed: string): Gossiper {
  return new Gossiper({ localEndpoint: endpoint, generation: GENERATION, seeds: [seed], random: () => 0, localStates: [['STATUS', 'NORMAL']] });
}

/** One syn → ack → ack2 exchange started by `from` (whose only seed is `to`); the events each side saw. */
function exchange(from: Gossiper, to: Gossiper, nowMs: number): GossipEvent[] {
  const events: GossipEvent[] = [];
  let inFlight = from.tick(nowMs).send.map((envelope) => ({ ...envelope, sender: from }));
  while (inFlight.length > 0) {
    const next: typeof inFlight = [];
    for (const { to: target, message, sender } of inFlight) {
      const receiver = target === from.localEndpoint ? from : to;
      const output = receiver.receive(sender.localEndpoint, message, nowMs);
      events.push(...output.events);
      next.push(...output.send.map((envelope) => ({ ...envelope, sender: receiver })));
    }
    inFlight = next;
  }
  return events;
}

t.test('an injected state reaches a node that heard a later heartbeat of the dead endpoint', async (t) => {
  const a = gossiper('a:1', 'b:1');
  const b = gossiper('b:1', 'a:1');
  const dead = (heartbeat: number) => ({
    kind: 'GossipDigestAck2' as const,
    states: [
      {
        endpoint: 'c:1',
        heartbeat: { generation: GENERATION, version: heartbeat },
        states: [
          { name: 'HOST_ID', value: 'h-c', version: 1 },
          { name: 'STATUS', value: 'NORMAL', version: 2 },
        ],
      },
    ],
  });
  a.receive('x:1', dead(5), 0);
  b.receive('x:1', dead(500), 0);
  t.throws(() => a.injectState('a:1', 'STATUS', 'x'), ServerError, 'not for the local endpoint');
  t.throws(() => a.injectState('unknown:1', 'STATUS', 'x'), ServerError, 'not for an unknown endpoint');
  const local = a.injectState('c:1', 'STATUS', 'removed,h-c');
  t.match(local, [{ kind: 'state-changed', endpoint: 'c:1', name: 'STATUS', value: { value: 'removed,h-c' } }]);
  t.equal(a.stateOf('c:1')!.heartbeat.generation, GENERATION + 1, 'spoken for in the next generation');

  const events = [...exchange(b, a, 1000), ...exchange(a, b, 2000)];
  t.equal(b.stateOf('c:1')!.states.get('STATUS')?.value, 'removed,h-c', 'b took it despite its higher version');
  t.notOk(events.some((e) => e.kind === 'up' && e.endpoint === 'c:1'), 'and nobody marked c UP');
  t.notOk(b.isAlive('c:1'));
});

// ---------------------------------------------------------------------------------------
// Over gossip.

async function fourNodes(t: Test): Promise<GossipCluster> {
  const cluster = new GossipCluster();
  t.teardown(() => cluster.closeAll());
  for (let n = 1; n <= 4; n++) await cluster.startNormal(n);
  await cluster.converge();
  return cluster;
}

t.test('removenode: the injected removed state spreads and the removed node is never marked UP', async (t) => {
  const cluster = await fourNodes(t);
  const ups: string[] = [];
  await cluster.stop(4);
  const others = [1, 2, 3];
  await cluster.roundsUntil(() => others.every((n) => !cluster.node(n).membership.isAlive(hostId(4))), 60);

  t.throws(() => cluster.node(1).announceRemoved(address(4), hostId(3)), ServerError, 'the host id must match the address');
  cluster.node(1).announceRemoved(address(4), hostId(4));
  t.equal(cluster.node(1).membership.statusOf(hostId(4)), 'removed', 'the removing node knows at once');
  for (const n of others) {
    cluster.node(n).membership.onChange(() => {
      if (cluster.node(n).membership.isAlive(hostId(4))) ups.push(`node ${n}`);
    });
  }
  const rounds = await cluster.roundsUntil(
    () => others.every((n) => cluster.node(n).membership.statusOf(hostId(4)) === 'removed'),
    20,
  );
  t.comment(`removed everywhere after ${rounds} rounds`);
  for (const n of others) {
    const membership = cluster.node(n).membership;
    t.equal(membership.ring().endpoint(hostId(4)), undefined, `node ${n}: out of the ring`);
    t.equal(membership.ring().size, 3 * NUM_TOKENS);
    t.equal(membership.futureRing(), null);
    t.notOk(membership.describe().some((d) => d.id === hostId(4)), `node ${n}: not listed`);
  }

  // A heartbeat of the dead process (its own generation, a newer version) is no proof of
  // life for a removed node: removenode's state supersedes that generation.
  const gossiper = cluster.node(2).gossiper;
  const stale = gossiper.stateOf(address(4))!;
  const output = gossiper.receive(
    address(3),
    {
      kind: 'GossipDigestAck2',
      states: [{ endpoint: address(4), heartbeat: { ...stale.heartbeat, version: stale.heartbeat.version + 1000 }, states: [] }],
    },
    cluster.clock.nowMillis(),
  );
  t.notOk(output.events.some((e) => e.kind === 'up'), 'no UP for a newer heartbeat of a removed node');
  t.notOk(gossiper.isAlive(address(4)));
  await cluster.rounds(5);
  t.same(ups, [], 'no node ever saw it UP');

  // A restart is a new generation, a new life: it comes back with its own status.
  cluster.clock.advanceMillis(5000);
  cluster.start(4);
  const backEverywhere = () =>
    others.every((n) => cluster.node(n).membership.isAlive(hostId(4)) && cluster.node(n).membership.statusOf(hostId(4)) === 'NORMAL');
  await cluster.roundsUntil(backEverywhere, 30).catch(() => 0);
  t.ok(backEverywhere(), 'a restarted removed node is UP and NORMAL again');
});

t.test('decommission: LEAVING is seen as UL, then LEFT takes it out everywhere while it still gossips', async (t) => {
  const cluster = await fourNodes(t);
  const leaver = cluster.node(3);
  leaver.announceLeaving();
  t.throws(() => leaver.announceLeaving(), ServerError, 'leaving twice is refused');
  const others = [1, 2, 4];
  await cluster.roundsUntil(() => others.every((n) => statusIn(cluster.node(n).membership, address(3)) === 'UL'), 20);
  for (const n of others) {
    const membership = cluster.node(n).membership;
    t.ok(membership.ring().endpoint(hostId(3)), `node ${n}: still in the ring while it streams`);
    t.same(ringIds(membership.futureRing()), [1, 2, 4].map(hostId).sort(), `node ${n}: not in the future ring`);
  }

  leaver.announceLeft();
  await cluster.roundsUntil(() => others.every((n) => cluster.node(n).membership.statusOf(hostId(3)) === 'LEFT'), 20);
  // It keeps gossiping a few rounds so LEFT spreads; nobody takes that for a live member.
  await cluster.rounds(3);
  for (const n of others) {
    const membership = cluster.node(n).membership;
    t.equal(membership.ring().endpoint(hostId(3)), undefined, `node ${n}: out of the ring`);
    t.equal(membership.futureRing(), null);
    t.equal(statusIn(membership, address(3)), undefined, `node ${n}: not listed`);
    t.notOk(membership.isAlive(hostId(3)), `node ${n}: not UP though it still gossips`);
  }
});

t.test('removenode: a REMOVING node keeps its ranges, is never UP, and the nodes gaining them are pending replicas', async (t) => {
  const cluster = await fourNodes(t);
  await cluster.stop(4);
  const others = [1, 2, 3];
  await cluster.roundsUntil(() => others.every((n) => !cluster.node(n).membership.isAlive(hostId(4))), 60);
  const ups: string[] = [];
  for (const n of others) {
    cluster.node(n).membership.onChange(() => {
      if (cluster.node(n).membership.isAlive(hostId(4))) ups.push(`node ${n}`);
    });
  }
  cluster.node(1).announceRemoving(address(4), hostId(4));
  await cluster.roundsUntil(() => others.every((n) => cluster.node(n).membership.statusOf(hostId(4)) === 'removing'), 20);
  for (const n of others) {
    const membership = cluster.node(n).membership;
    t.ok(membership.ring().endpoint(hostId(4)), `node ${n}: still an owner while its ranges are fetched`);
    t.equal(membership.futureRing()?.endpoint(hostId(4)), undefined, `node ${n}: gone from the future ring`);
    t.equal(membership.futureRing()?.size, 3 * NUM_TOKENS, `node ${n}: the future ring is the other three`);
    t.equal(membership.describe().find((d) => d.id === hostId(4))?.status, 'DL', `node ${n}: listed DL`);
  }
  cluster.node(1).announceRemoved(address(4), hostId(4));
  await cluster.roundsUntil(() => others.every((n) => cluster.node(n).membership.statusOf(hostId(4)) === 'removed'), 20);
  for (const n of others) t.equal(cluster.node(n).membership.ring().endpoint(hostId(4)), undefined, `node ${n}: out of the ring`);
  t.same(ups, [], 'never marked UP on the way');
});
