/**
 * Review of saved peers (lib/cluster/gossip.ts addSavedEndpoint / injectState): what a
 * node that knows a peer only from its saved record tells the rest of the cluster.
 */
import t from 'tap';
import { ApplicationState, type EndpointStateMessage } from '../../lib/cluster/endpoint-state.js';
import { Gossiper, type GossipMessage } from '../../lib/cluster/gossip.js';
import { Membership } from '../../lib/cluster/membership.js';
import { savedPeerStates } from '../../lib/cluster/saved-peers.js';
import type { PeerRecord } from '../../lib/system/system-store.js';

const GENERATION = 1_700_000_000;
const A = '10.0.0.1:7000';
const B = '10.0.0.2:7000';
const C = '10.0.0.3:7000';
const B_ID = '00000000-0000-4000-8000-000000000002';

function gossiper(localEndpoint: string, generation = GENERATION): Gossiper {
  return new Gossiper({ localEndpoint, generation, seeds: [], random: () => 0, localStates: [[ApplicationState.STATUS, 'NORMAL']] });
}

const savedB: PeerRecord = {
  hostId: B_ID,
  address: B,
  httpAddress: '10.0.0.2:8080',
  dc: 'dc1',
  rack: 'rack1',
  tokens: [10n, 20n],
  status: 'NORMAL',
  schemaVersion: 'schema-1',
};

/** B's real state as a node that saw it running knows it: a process started before A's restart. */
const realStateOfB: EndpointStateMessage = {
  endpoint: B,
  heartbeat: { generation: GENERATION - 100, version: 9 },
  states: [
    { name: 'HOST_ID', value: B_ID, version: 1 },
    { name: 'DC', value: 'dc1', version: 2 },
    { name: 'RACK', value: 'rack1', version: 3 },
    { name: 'TOKENS', value: '10,20', version: 4 },
    { name: 'STATUS', value: 'NORMAL', version: 5 },
  ],
};

/** One full syn → ack → ack2 exchange from `from` to `to`, events applied to each side's membership. */
function exchange(from: Gossiper, fromMembership: Membership, to: Gossiper, toMembership: Membership, nowMs: number): void {
  const syn = from.tick(nowMs).send.find((envelope) => envelope.to === to.localEndpoint)?.message as GossipMessage | undefined;
  const message: GossipMessage = syn ?? {
    kind: 'GossipDigestSyn',
    clusterName: from.clusterName,
    // tick() picked no target (no live peer yet): build the syn it would send.
    digests: (from as unknown as { digests(): never }).digests(),
  };
  const ack = to.receive(from.localEndpoint, message, nowMs);
  toMembership.apply(ack.events);
  for (const envelope of ack.send) {
    const reply = from.receive(to.localEndpoint, envelope.message, nowMs + 1);
    fromMembership.apply(reply.events);
    for (const back of reply.send) toMembership.apply(to.receive(from.localEndpoint, back.message, nowMs + 2).events);
  }
}

t.test('removenode from a node that knows the dead peer only from its saved record keeps its tokens and host id on the other nodes', async (t) => {
  // C saw B running before; B is dead now. A restarted (B known only as saved) and runs removenode for B at once.
  const c = gossiper(C, GENERATION - 50);
  const cMembership = new Membership(C, c.stateOf(C)!);
  cMembership.apply(c.receive('10.0.0.9:7000', { kind: 'GossipDigestAck2', states: [realStateOfB] }, 1000).events);
  t.ok(cMembership.ring().endpoints.some((endpoint) => endpoint.id === B_ID), 'C has B in its ring');

  const a = gossiper(A);
  const aMembership = new Membership(A, a.stateOf(A)!);
  aMembership.apply(a.addSavedEndpoint(B, savedPeerStates(savedB)));
  aMembership.apply(a.injectState(B, ApplicationState.STATUS, `removing,${B_ID}`));
  t.equal(aMembership.statusOf(B_ID), 'removing', 'A sees B being removed');

  exchange(a, aMembership, c, cMembership, 2000);
  exchange(c, cMembership, a, aMembership, 3000);

  const cState = c.stateOf(B);
  t.equal(cState?.heartbeat.generation, GENERATION, "C took A's announcement (a higher generation)");
  t.equal(cState?.states.get(ApplicationState.STATUS)?.value, `removing,${B_ID}`);
  // What removenode relies on everywhere: B is still an owner (leaving) until its ranges are re-replicated.
  t.equal(cState?.states.get(ApplicationState.HOST_ID)?.value, B_ID, "C still knows B's host id");
  t.equal(cState?.states.get(ApplicationState.TOKENS)?.value, '10,20', "C still knows B's tokens");
  t.equal(cMembership.statusOf(B_ID), 'removing', 'C sees B being removed, by host id');
  t.ok(cMembership.ring().endpoints.some((endpoint) => endpoint.id === B_ID), 'B stays in C\'s ring as a leaving owner');
});
