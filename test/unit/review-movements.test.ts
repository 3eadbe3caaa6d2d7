/**
 * Review findings on ring changes: each test names a rule a database must keep while
 * ranges move (cleanup, decommission, removenode), over fakes of the membership, gossip,
 * system state and streams.
 */
import t from 'tap';
import { ApplicationState } from '../../lib/cluster/endpoint-state.js';
import { type Endpoint, rangeContains, type TokenRange, TokenRing } from '../../lib/cluster/ring.js';
import { RangeMovements, type RingMembership } from '../../lib/repair/range-movements.js';
import type { StreamStats } from '../../lib/repair/streaming.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import { buildKeyspace, Schema } from '../../lib/schema/schema.js';
import type { BootstrapState, SystemStore } from '../../lib/system/system-store.js';
import { address, adminOf, events, REPLICATION, replicatedByNode0, ringOf, sampleTokens } from '../helpers/admin-ring.js';

t.test('cleanup judges each partition against the ring as it is then: ranges this node starts gaining meanwhile are kept', async (t) => {
  // The engine applies the predicate later: after a flush, behind queued compactions, through a long rewrite.
  const { admin, kept, membership } = adminOf(['NORMAL', 'NORMAL', 'NORMAL']);
  await admin.cleanup('shop');
  // Before the rewrite reaches the partitions, node 1 starts to decommission: node 0
  // becomes a pending replica of some of its ranges and node 1 pushes their data here.
  membership.apply([{ kind: 'state-changed', endpoint: address(1), name: ApplicationState.STATUS, value: { value: 'LEAVING', version: 50 } }]);
  const now = replicatedByNode0(ringOf([0, 1, 2]));
  const future = replicatedByNode0(ringOf([0, 2]));
  const gained = sampleTokens(5).filter((token) => !now.some((r) => rangeContains(r, token)) && future.some((r) => rangeContains(r, token)));
  t.ok(gained.length > 0, 'node 0 gains ranges from the leaving node');
  const dropped = gained.filter((token) => !kept[0](token));
  t.same(dropped.length, 0, `data streamed into gained ranges survives cleanup (${dropped.length} of ${gained.length} sampled tokens would be deleted)`);
});

// ---- RangeMovements over fakes ----------------------------------------------------------

const A: Endpoint = { id: 'id-a', address: 'a:7000', dc: 'dc1', rack: 'r1', tokens: [-6000n, 0n, 6000n] };
const B: Endpoint = { id: 'id-b', address: 'b:7000', dc: 'dc1', rack: 'r1', tokens: [-4000n, 2000n, 8000n] };
const C: Endpoint = { id: 'id-c', address: 'c:7000', dc: 'dc1', rack: 'r1', tokens: [-2000n, 4000n, 9000n] };
const D: Endpoint = { id: 'id-d', address: 'd:7000', dc: 'dc1', rack: 'r1', tokens: [-5000n, 3000n] };

class FakeMembership implements RingMembership {
  readonly down = new Set<string>();
  readonly statuses = new Map<string, string>();
  future: TokenRing | null = null;
  private readonly tokenRing: TokenRing;
  constructor(
    readonly local: Endpoint,
    readonly endpoints: readonly Endpoint[],
  ) {
    this.tokenRing = new TokenRing(endpoints);
  }
  ring(): TokenRing {
    return this.tokenRing;
  }
  futureRing(): TokenRing | null {
    return this.future;
  }
  isAlive(id: string): boolean {
    return !this.down.has(id);
  }
  statusOf(id: string): string | null {
    return this.statuses.get(id) ?? (this.endpointOf(id) === undefined ? null : 'NORMAL');
  }
  endpointOf(id: string): Endpoint | undefined {
    return [...this.endpoints, this.local].find((e) => e.id === id);
  }
  describe(): never[] {
    return [];
  }
}

function movementsHarness(local: Endpoint, endpoints: readonly Endpoint[], options: { sleep?: (ms: number) => Promise<void> } = {}) {
  const membership = new FakeMembership(local, endpoints);
  const tables = new Map([['events', events]]);
  const ks = buildKeyspace({ name: 'shop', replication: REPLICATION, durableWrites: true }, tables);
  const movementSchema = { current: new Schema(new Map([['shop', ks]])) } as unknown as SchemaManager;
  let state: BootstrapState = 'COMPLETED';
  const system = {
    bootstrapState: () => state,
    setBootstrapState: async (next: BootstrapState) => void (state = next),
  } as unknown as SystemStore;
  const announced: string[] = [];
  const stateWhenAnnounced = new Map<string, BootstrapState>();
  const gossip = {
    announceLeaving: () => void announced.push('LEAVING'),
    announceLeft: () => {
      announced.push('LEFT');
      stateWhenAnnounced.set('LEFT', state);
    },
    announceRemoving: (addr: string, hostId: string) => void announced.push(`removing ${addr} ${hostId}`),
    announceRemoved: (addr: string, hostId: string) => void announced.push(`removed ${addr} ${hostId}`),
    stop: () => void announced.push('stop'),
  };
  const pulled: TokenRange[] = [];
  const stream = async (ranges: readonly TokenRange[]): Promise<StreamStats> => ({ partitions: ranges.length, bytes: 1 });
  const movements = new RangeMovements({
    membership,
    gossip,
    schema: movementSchema,
    system,
    streams: {
      pull: async (_p, _t, ranges) => {
        pulled.push(...ranges);
        return stream(ranges);
      },
      push: async (_p, _t, ranges) => stream(ranges),
      fetchInto: async (_p, _s, _t, ranges) => stream(ranges),
    },
    schemaSync: { pullFromDisagreeing: async () => {} },
    ringDelayMs: 1,
    autoBootstrap: true,
    sleep: options.sleep ?? (async () => {}),
  });
  return { membership, movements, announced, stateWhenAnnounced, pulled, state: () => state };
}

t.test('a node that announced LEFT has already made DECOMMISSIONED durable, so a crash right after cannot let it rejoin with stale data', async (t) => {
  const { movements, announced, stateWhenAnnounced } = movementsHarness(A, [A, B, C, D]);
  const summary = await movements.decommission();
  t.same(summary.errors, []);
  t.ok(announced.includes('LEFT'));
  t.equal(stateWhenAnnounced.get('LEFT'), 'DECOMMISSIONED', 'the system state said DECOMMISSIONED when LEFT went out');
});

t.test('a node does not bootstrap while another node is leaving: the ranges it would own once that one has left would never reach it', async (t) => {
  // B is decommissioning (LEAVING: in the ring, not in the future ring) when D joins.
  const { membership, movements, pulled } = movementsHarness({ ...D, tokens: [] }, [A, B, C]);
  membership.statuses.set(B.id, 'LEAVING');
  membership.future = new TokenRing([A, C, D]);
  await t.rejects(movements.bootstrapHooks().run(D.tokens), /leaving/i, 'bootstrap refused while B leaves');
  t.same(pulled, [], 'and nothing was streamed to it');
});

t.test('removenode waits while another node joins or leaves, but ends the dead node\'s own unfinished leave', async (t) => {
  // C is dead while B decommissions: B pushes to the replicas of the ring without B
  // (C among them), removenode would fetch for the ring without C: what changes hands
  // in both reaches nobody.
  const busy = movementsHarness(A, [A, B, C, D]);
  busy.membership.down.add(C.id);
  busy.membership.statuses.set(B.id, 'LEAVING');
  busy.membership.future = new TokenRing([A, C, D]);
  await t.rejects(busy.movements.removeNode(C.id), /is joining or leaving the ring/);
  t.notOk(busy.announced.some((a) => a.startsWith('removed')), 'C stays in the ring');

  // B died while leaving: removing B itself is what settles the ring.
  const own = movementsHarness(A, [A, B, C, D]);
  own.membership.down.add(B.id);
  own.membership.statuses.set(B.id, 'LEAVING');
  own.membership.future = new TokenRing([A, C, D]);
  const summary = await own.movements.removeNode(B.id);
  t.same(summary.errors, []);
  t.ok(own.announced.includes(`removed ${B.address} ${B.id}`));
});
