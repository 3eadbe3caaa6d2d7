/**
 * Node 0's NodeAdmin over a gossip view of up to four nodes with fixed tokens, keyspace
 * shop (SimpleStrategy RF 2) holding table events: for tests of which partitions
 * cleanup keeps while ranges move.
 */
import { ApplicationState, type EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { Membership } from '../../lib/cluster/membership.js';
import { replicaPlacement } from '../../lib/cluster/replication.js';
import { type TokenRange, TokenRing } from '../../lib/cluster/ring.js';
import { seededRandom } from '../../lib/model/random.js';
import { NodeAdmin, type NodeAdminDeps } from '../../lib/node-admin.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { buildKeyspace, buildTable, DEFAULT_TABLE_OPTIONS, Schema } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { CleanupResult } from '../../lib/storage/engine.js';
import type { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { SystemStore } from '../../lib/system/system-store.js';

export const REPLICATION: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: 2 };
export const events = buildTable({
  keyspace: 'shop',
  name: 'events',
  columns: [
    { name: 'id', type: parseTypeName('int'), kind: 'partition_key' },
    { name: 'v', type: parseTypeName('text'), kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});
export const schema = new Schema(
  new Map([['shop', buildKeyspace({ name: 'shop', replication: REPLICATION, durableWrites: true }, new Map([['events', events]]))]]),
);
export const HOSTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444'];
export const TOKENS: bigint[][] = [
  [-6_000_000_000_000_000_000n, 1_000n],
  [-2_000_000_000_000_000_000n, 3_000_000_000_000_000_000n],
  [500n, 7_000_000_000_000_000_000n],
  [5_000_000_000_000_000_000n],
];
export const address = (i: number) => `127.0.0.1:${7001 + i}`;

/** Node i's gossip state with the given STATUS. */
export function stateOf(i: number, status: string): EndpointStateView {
  const states: [string, string][] = [
    [ApplicationState.HOST_ID, HOSTS[i]],
    [ApplicationState.DC, 'dc1'],
    [ApplicationState.RACK, 'rack1'],
    [ApplicationState.TOKENS, TOKENS[i].join(',')],
    [ApplicationState.STATUS, status],
  ];
  return {
    heartbeat: { generation: 1_700_000_000 + i, version: 10 },
    states: new Map(states.map(([name, value], version) => [name, { value, version: version + 1 }])),
  };
}

/** Node 0's NodeAdmin, node i in `statuses[i]`; its engine records the keep predicate cleanup is given. */
export function adminOf(statuses: readonly string[], gossip?: NodeAdminDeps['gossip']) {
  const membership = new Membership(address(0), stateOf(0, statuses[0]));
  membership.apply(statuses.slice(1).map((status, i) => ({ kind: 'joined' as const, endpoint: address(i + 1), state: stateOf(i + 1, status) })));
  const kept: ((token: bigint) => boolean)[] = [];
  const engine = {
    cleanup: async (_tableId: string, keep: (token: bigint) => boolean): Promise<CleanupResult> => {
      kept.push(keep);
      return { partitionsRemoved: 7, bytesBefore: 100, bytesAfter: 40 };
    },
  };
  const deps: NodeAdminDeps = {
    engine: engine as unknown as LsmStorageEngine,
    schema: { current: schema } as SchemaManager,
    system: { hostId: () => HOSTS[0], getTokens: () => TOKENS[0] } as unknown as SystemStore,
    dataDir: '/data',
    startedAtMs: 0,
    nowMs: () => 0,
    httpAddress: () => '127.0.0.1:8081',
    membership,
    gossip,
  };
  return { admin: new NodeAdmin(deps), kept, membership };
}

/** The token ring of the listed nodes. */
export const ringOf = (members: readonly number[]) =>
  new TokenRing(members.map((i) => ({ id: HOSTS[i], address: address(i), dc: 'dc1', rack: 'rack1', tokens: TOKENS[i] })));

export const replicatedByNode0 = (ring: TokenRing): TokenRange[] => replicaPlacement(ring, REPLICATION).rangesReplicatedBy(HOSTS[0]);

/** Tokens spread over the ring (from `seed`), plus every ring token and its neighbours (range edges). */
export function sampleTokens(seed: number): bigint[] {
  const random = seededRandom(seed);
  const tokens = TOKENS.flat().flatMap((token) => [token - 1n, token, token + 1n]);
  for (let i = 0; i < 2000; i++) tokens.push(BigInt(Math.floor((random() * 2 - 1) * 9.2e18)));
  return tokens;
}
