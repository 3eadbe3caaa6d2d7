/**
 * What RangeMovements moves where, over a fake membership and recording streams: the
 * sources and targets of bootstrap, decommission and removenode, their refusals, and
 * describering. Placement on the rings is checked against replication.ts directly, not
 * against the movement computation under test.
 */
import t from 'tap';
import type { EndpointDescription } from '../../lib/cluster/membership.js';
import type { HintHandOff } from '../../lib/repair/range-movements.js';
import { replicaPlacement } from '../../lib/cluster/replication.js';
import { type Endpoint, type TokenRange, rangeWidth, TokenRing } from '../../lib/cluster/ring.js';
import { RangeMovements, type RingMembership } from '../../lib/repair/range-movements.js';
import type { StreamStats } from '../../lib/repair/streaming.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { buildKeyspace, Schema } from '../../lib/schema/schema.js';
import type { BootstrapState, SystemStore } from '../../lib/system/system-store.js';
import { column, table } from './fixtures/schemas.js';

const endpoint = (name: string, tokens: bigint[]): Endpoint => ({ id: `id-${name}`, address: `${name}:7000`, dc: 'dc1', rack: 'r1', tokens });
const A = endpoint('a', [-6000n, 0n, 6000n]);
const B = endpoint('b', [-4000n, 2000n, 8000n]);
const C = endpoint('c', [-2000n, 4000n, 9000n]);
const D = endpoint('d', [-5000n, 3000n]);

class FakeMembership implements RingMembership {
  readonly down = new Set<string>();
  readonly statuses = new Map<string, string>();
  future: TokenRing | null = null;
  schemaVersion: string | null = null;
  private readonly tokenRing: TokenRing;
  constructor(
    readonly local: Endpoint,
    readonly endpoints: readonly Endpoint[],
  ) {
    this.tokenRing = new TokenRing(endpoints.filter((e) => e.tokens.length > 0 && e.id !== 'joining'));
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
  describe(): EndpointDescription[] {
    return this.endpoints.map((e) => ({
      id: e.id,
      address: e.address,
      dc: e.dc,
      rack: e.rack,
      status: this.down.has(e.id) ? 'DN' : 'UN',
      load: null,
      tokens: e.tokens.length,
      httpAddress: `http-${e.address}`,
      schemaVersion: this.schemaVersion,
    }));
  }
}

interface StreamCall {
  kind: 'pull' | 'push' | 'fetchInto';
  peer: string;
  sources: string[];
  tableId: string;
  ranges: readonly TokenRange[];
}

function recordingStreams(failFor: Set<string> = new Set()) {
  const calls: StreamCall[] = [];
  const record = async (call: StreamCall): Promise<StreamStats> => {
    if (failFor.has(call.peer)) throw new Error(`${call.peer} went away`);
    calls.push(call);
    return { partitions: call.ranges.length, bytes: 100 };
  };
  return {
    calls,
    failFor,
    streams: {
      pull: (peer: Endpoint, tableId: string, ranges: readonly TokenRange[]) => record({ kind: 'pull', peer: peer.id, sources: [], tableId, ranges }),
      push: (peer: Endpoint, tableId: string, ranges: readonly TokenRange[]) => record({ kind: 'push', peer: peer.id, sources: [], tableId, ranges }),
      fetchInto: (target: Endpoint, sources: readonly Endpoint[], tableId: string, ranges: readonly TokenRange[]) =>
        record({ kind: 'fetchInto', peer: target.id, sources: sources.map((s) => s.id).sort(), tableId, ranges }),
    },
  };
}

function harness(
  local: Endpoint,
  endpoints: readonly Endpoint[],
  replication: ReplicationStrategy,
  schemaWaitMs?: number,
  hints?: HintHandOff,
) {
  const membership = new FakeMembership(local, endpoints);
  const tables = new Map([['t', table({ keyspace: 'ks', name: 't', id: 'table-t', columns: [column('k', 'int', 'partition_key'), column('v', 'text')] })]]);
  const schema = { current: new Schema(new Map([['ks', buildKeyspace({ name: 'ks', replication, durableWrites: true }, tables)]])) } as unknown as SchemaManager;
  let state: BootstrapState = 'NEEDS_BOOTSTRAP';
  const system = {
    bootstrapState: () => state,
    setBootstrapState: async (next: BootstrapState) => void (state = next),
  } as unknown as SystemStore;
  const announced: string[] = [];
  const gossip = {
    announceLeaving: () => void announced.push('LEAVING'),
    announceLeft: () => void announced.push('LEFT'),
    announceRemoving: (address: string, hostId: string) => void announced.push(`removing ${address} ${hostId}`),
    announceRemoved: (address: string, hostId: string) => void announced.push(`removed ${address} ${hostId}`),
    stop: () => void announced.push('stop'),
  };
  const recorder = recordingStreams();
  const movements = new RangeMovements({
    membership,
    gossip,
    schema,
    system,
    streams: recorder.streams,
    schemaSync: { pullFromDisagreeing: async () => {} },
    ringDelayMs: 1_000,
    autoBootstrap: true,
    sleep: async () => {},
    schemaWaitMs,
    hints: () => hints,
  });
  return { membership, movements, schema, announced, calls: recorder.calls, failFor: recorder.failFor, state: () => state };
}

const SIMPLE_2: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: 2 };

/** Every range of `calls`, each with the peer (and sources) of the call it came in. */
function rangesOf(calls: readonly StreamCall[]) {
  return calls.flatMap((call) => call.ranges.map((range) => ({ ...call, range })));
}

const replicaIds = (ring: TokenRing, token: bigint) => replicaPlacement(ring, SIMPLE_2).replicasFor(token).map((e) => e.id);

t.test('bootstrap pulls each range it gains from the replica that gives it up, and all of them', async (t) => {
  const { movements, calls, state } = harness({ ...D, tokens: [] }, [A, B, C], SIMPLE_2);
  const hooks = movements.bootstrapHooks();
  t.ok(hooks.needed, 'a node that never completed a bootstrap needs one');
  await hooks.run(D.tokens);
  t.equal(state(), 'IN_PROGRESS');
  const current = new TokenRing([A, B, C]);
  const future = new TokenRing([A, B, C, D]);
  let width = 0n;
  for (const { peer, range } of rangesOf(calls)) {
    t.ok(replicaIds(future, range.end).includes(D.id), `the new node replicates (${range.start}, ${range.end}]`);
    t.ok(replicaIds(current, range.end).includes(peer) && !replicaIds(future, range.end).includes(peer), `${peer} gives it up`);
    width += rangeWidth(range);
  }
  const gained = replicaPlacement(future, SIMPLE_2).rangesReplicatedBy(D.id).reduce((sum, r) => sum + rangeWidth(r), 0n);
  t.equal(width, gained, 'the pulled ranges cover everything the new node replicates');
  t.ok(calls.every((call) => call.kind === 'pull' && call.tableId === 'table-t'));
  await hooks.completed();
  t.equal(state(), 'COMPLETED');
  t.notOk(movements.bootstrapHooks().needed, 'a completed bootstrap is not run again');
});

t.test('with the replica that gives a range up down, bootstrap pulls it from every other live replica', async (t) => {
  const { movements, membership, calls } = harness({ ...D, tokens: [] }, [A, B, C], SIMPLE_2);
  membership.down.add(B.id);
  await movements.bootstrapHooks().run(D.tokens);
  const current = new TokenRing([A, B, C]);
  const future = new TokenRing([A, B, C, D]);
  const ranges = rangesOf(calls);
  t.ok(ranges.length > 0);
  t.notOk(ranges.some(({ peer }) => peer === B.id), 'nothing is pulled from the down node');
  for (const { peer, range } of ranges) {
    const losing = replicaIds(current, range.end).filter((id) => !replicaIds(future, range.end).includes(id));
    if (losing.includes(B.id)) {
      const sources = ranges.filter((other) => other.range.end === range.end).map((other) => other.peer).sort();
      t.same(sources, replicaIds(current, range.end).filter((id) => id !== B.id).sort(), `(${range.start}, ${range.end}] from the live replicas`);
    } else {
      t.ok(losing.includes(peer));
    }
  }
});

t.test('bootstrap fails when a range it gains has no live replica to stream from', async (t) => {
  const { movements, membership } = harness({ ...D, tokens: [] }, [A, B, C], { class: 'SimpleStrategy', replicationFactor: 1 });
  membership.down.add(A.id);
  membership.down.add(B.id);
  membership.down.add(C.id);
  await t.rejects(movements.bootstrapHooks().run(D.tokens), /no live replica to stream/);
});

t.test('decommission pushes each range it gives up to the node that takes it over, then leaves the ring', async (t) => {
  const { movements, calls, announced, state } = harness(A, [A, B, C, D], SIMPLE_2);
  const summary = await movements.decommission();
  t.same(summary.errors, []);
  const current = new TokenRing([A, B, C, D]);
  const future = new TokenRing([B, C, D]);
  let width = 0n;
  for (const { kind, peer, range } of rangesOf(calls)) {
    t.equal(kind, 'push');
    t.ok(replicaIds(current, range.end).includes(A.id), 'a range the leaving node replicates');
    t.ok(replicaIds(future, range.end).includes(peer) && !replicaIds(current, range.end).includes(peer), `${peer} takes it over`);
    width += rangeWidth(range);
  }
  const held = replicaPlacement(current, SIMPLE_2).rangesReplicatedBy(A.id).reduce((sum, r) => sum + rangeWidth(r), 0n);
  t.equal(width, held, 'every range it replicated went to its new replica');
  t.same(announced, ['LEAVING', 'LEFT', 'stop']);
  t.equal(state(), 'DECOMMISSIONED');
  t.ok(movements.decommissioned);
  await t.rejects(movements.decommission(), { code: 'Invalid' }, 'a node that left cannot leave again');
});

t.test('decommission refuses when the other nodes cannot hold the replication factor, or the node is not NORMAL', async (t) => {
  const full = harness(A, [A, B, C], { class: 'SimpleStrategy', replicationFactor: 3 });
  await t.rejects(full.movements.decommission(), /Not enough live nodes to maintain replication factor in keyspace ks \(RF = 3, N = 2\)/);
  t.same(full.announced, [], 'nothing was announced');
  const joining = harness(A, [A, B, C], SIMPLE_2);
  joining.membership.statuses.set(A.id, 'BOOT');
  await t.rejects(joining.movements.decommission(), /only a NORMAL node can be decommissioned/);
  const moving = harness(A, [A, B, C], SIMPLE_2);
  moving.membership.future = new TokenRing([A, B, C, D]);
  await t.rejects(moving.movements.decommission(), /Another node is joining/);
});

t.test('a decommission whose streams failed leaves the node LEAVING, and running it again resumes', async (t) => {
  const { movements, membership, failFor, announced, calls } = harness(A, [A, B, C, D], SIMPLE_2);
  failFor.add(B.id);
  const first = await movements.decommission();
  t.ok(first.errors.length > 0 && first.errors.every((error) => error.includes('b:7000')), 'the failed target is named');
  t.same(announced, ['LEAVING'], 'still LEAVING');
  t.notOk(movements.decommissioned);
  membership.statuses.set(A.id, 'LEAVING');
  failFor.clear();
  calls.length = 0;
  const second = await movements.decommission();
  t.same(second.errors, []);
  t.same(announced, ['LEAVING', 'LEFT', 'stop'], 'LEAVING is not announced twice');
  t.ok(calls.some((call) => call.peer === B.id), 'the second run pushed to the target that failed');
});

t.test('removenode has the nodes that gain a dead node\'s ranges fetch them from the remaining live replicas', async (t) => {
  const { movements, membership, calls, announced } = harness(A, [A, B, C, D], SIMPLE_2);
  await t.rejects(movements.removeNode(A.id), /Cannot remove self/);
  await t.rejects(movements.removeNode('nobody'), /Host ID not found/);
  await t.rejects(movements.removeNode(C.id), /is alive/);
  membership.down.add(C.id);
  const summary = await movements.removeNode(C.id);
  t.same(summary.errors, []);
  const current = new TokenRing([A, B, C, D]);
  const future = new TokenRing([A, B, D]);
  let width = 0n;
  for (const { kind, peer, sources, range } of rangesOf(calls)) {
    t.equal(kind, 'fetchInto');
    t.ok(replicaIds(future, range.end).includes(peer) && !replicaIds(current, range.end).includes(peer), `${peer} gains it`);
    t.same(sources, replicaIds(current, range.end).filter((id) => id !== C.id).sort(), 'from the remaining replicas');
    width += rangeWidth(range);
  }
  const lost = replicaPlacement(current, SIMPLE_2).rangesReplicatedBy(C.id).reduce((sum, r) => sum + rangeWidth(r), 0n);
  t.equal(width, lost, 'every range of the dead node is re-replicated');
  t.same(announced, [`removing ${C.address} ${C.id}`, `removed ${C.address} ${C.id}`], 'REMOVING while fetching, then removed');
});

t.test('removenode leaves the dead node in the ring when a range could not be re-replicated', async (t) => {
  const { movements, membership, failFor, announced } = harness(A, [A, B, C, D], SIMPLE_2);
  membership.down.add(C.id);
  failFor.add(B.id);
  const summary = await movements.removeNode(C.id);
  t.ok(summary.errors.length > 0);
  t.same(announced, [`removing ${C.address} ${C.id}`], 'still REMOVING, not removed: run it again');
});

t.test('describering lists each range with its replicas and, while a node joins, the pending ones', async (t) => {
  const { movements, membership } = harness(A, [A, B, C], SIMPLE_2);
  const ring = new TokenRing([A, B, C]);
  const ranges = movements.describeRing('ks');
  t.equal(ranges.length, ring.size);
  for (const [i, range] of ranges.entries()) {
    t.equal(range.endToken, ring.tokenAt(i).toString());
    const replicas = replicaPlacement(ring, SIMPLE_2).replicasAt(i);
    t.same(range.endpoints, replicas.map((e) => e.address));
    t.same(range.rpcEndpoints, replicas.map((e) => `http-${e.address}`));
    t.same(range.endpointDetails[0], { host: replicas[0].address, datacenter: 'dc1', rack: 'r1' });
    t.same(range.pendingEndpoints, []);
  }
  membership.future = new TokenRing([A, B, C, D]);
  const pending = movements.describeRing('ks').filter((range) => range.pendingEndpoints.length > 0);
  t.ok(pending.length > 0 && pending.every((range) => range.pendingEndpoints.join() === D.address), 'the joining node is pending where it gains');
  t.throws(() => movements.describeRing('nope'), /Keyspace 'nope' does not exist/);
});

t.test('a joining node waits for the schema the ring owners hold, and gives up after the bound', async (t) => {
  const { movements, membership, schema } = harness({ ...D, tokens: [] }, [A, B, C], SIMPLE_2, 300);
  await t.rejects(movements.bootstrapHooks().prepare(), /did not get the cluster's schema within 300 ms/);
  membership.schemaVersion = schema.current.version;
  await t.resolves(movements.bootstrapHooks().prepare(), 'prepared once every live owner has the local schema version');
});

t.test('a decommissioning node delivers the hints it holds before it leaves', async (t) => {
  const held = new Map([[B.id, 2], [C.id, 1]]);
  const order: string[] = [];
  let announcedSoFar: readonly string[] = [];
  const hints: HintHandOff = {
    pending: () => [...held].filter(([, count]) => count > 0).map(([targetId, count]) => ({ targetId, hints: count })),
    replay: async (targetId) => {
      order.push(`replay ${targetId} ${announcedSoFar.includes('LEFT') ? 'after' : 'before'} LEFT`);
      held.set(targetId, 0);
    },
  };
  const { movements, announced } = harness(A, [A, B, C, D], SIMPLE_2, undefined, hints);
  announcedSoFar = announced;
  await movements.decommission();
  t.same(order.sort(), [`replay ${B.id} before LEFT`, `replay ${C.id} before LEFT`], 'every target with hints was replayed, before LEFT');
  t.same(hints.pending(), [], 'nothing left behind');
  t.same(announced, ['LEAVING', 'LEFT', 'stop'], 'and then it left');
});
