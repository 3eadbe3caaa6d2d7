/**
 * `sibyl cleanup`: which partitions NodeAdmin keeps (the ranges this node replicates,
 * now or as a pending replica), when it refuses, and the command end to end on a real
 * single node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ApplicationState, type EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { Membership } from '../../lib/cluster/membership.js';
import { replicaPlacement } from '../../lib/cluster/replication.js';
import { rangeContains, TokenRing } from '../../lib/cluster/ring.js';
import { loadConfig } from '../../lib/config.js';
import { InvalidRequest } from '../../lib/errors.js';
import { seededRandom } from '../../lib/model/random.js';
import { NodeAdmin, type NodeAdminDeps } from '../../lib/node-admin.js';
import { SibylNode } from '../../lib/node.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { buildKeyspace, buildTable, DEFAULT_TABLE_OPTIONS, Schema } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { CleanupResult } from '../../lib/storage/engine.js';
import type { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { SystemStore } from '../../lib/system/system-store.js';
import type { CommandIo } from '../../tools/commands/index.js';
import { ADMIN_COMMANDS } from '../../tools/commands/index.js';

// ---- NodeAdmin over a gossip view of three nodes -------------------------------------

const REPLICATION: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: 2 };
const events = buildTable({
  keyspace: 'shop',
  name: 'events',
  columns: [
    { name: 'id', type: parseTypeName('int'), kind: 'partition_key' },
    { name: 'v', type: parseTypeName('text'), kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});
const schema = new Schema(
  new Map([['shop', buildKeyspace({ name: 'shop', replication: REPLICATION, durableWrites: true }, new Map([['events', events]]))]]),
);
const HOSTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444'];
const TOKENS: bigint[][] = [
  [-6_000_000_000_000_000_000n, 1_000n],
  [-2_000_000_000_000_000_000n, 3_000_000_000_000_000_000n],
  [500n, 7_000_000_000_000_000_000n],
  [5_000_000_000_000_000_000n],
];
const address = (i: number) => `127.0.0.1:${7001 + i}`;

function stateOf(i: number, status: string): EndpointStateView {
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

/** Node 0's NodeAdmin; its engine records the keep predicate cleanup is given. */
function adminOf(statuses: readonly string[]) {
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
  };
  return { admin: new NodeAdmin(deps), kept };
}

const ringOf = (members: readonly number[]) =>
  new TokenRing(members.map((i) => ({ id: HOSTS[i], address: address(i), dc: 'dc1', rack: 'rack1', tokens: TOKENS[i] })));
const replicatedByNode0 = (ring: TokenRing) => replicaPlacement(ring, REPLICATION).rangesReplicatedBy(HOSTS[0]);

/** Tokens spread over the ring, plus every ring token and its neighbours (range edges). */
function sampleTokens(): bigint[] {
  const random = seededRandom(11);
  const tokens = TOKENS.flat().flatMap((token) => [token - 1n, token, token + 1n]);
  for (let i = 0; i < 2000; i++) tokens.push(BigInt(Math.floor((random() * 2 - 1) * 9.2e18)));
  return tokens;
}

t.test('cleanup keeps exactly the tokens of ranges this node replicates under the keyspace replication', async (t) => {
  const { admin, kept } = adminOf(['NORMAL', 'NORMAL', 'NORMAL']);
  const entries = await admin.cleanup();
  t.same(entries, [{ keyspace: 'shop', table: 'events', partitionsRemoved: 7, bytesBefore: 100, bytesAfter: 40 }]);
  const ranges = replicatedByNode0(ringOf([0, 1, 2]));
  t.ok(ranges.length > 0 && ranges.length < 6, 'node 0 replicates part of the ring');
  let keptCount = 0;
  for (const token of sampleTokens()) {
    const expected = ranges.some((range) => rangeContains(range, token));
    if (kept[0](token) !== expected) t.fail(`token ${token}: kept ${!expected}, expected ${expected}`);
    if (expected) keptCount++;
  }
  t.ok(keptCount > 0 && keptCount < 2000, 'some sampled tokens are kept, some dropped');
});

t.test('cleanup also keeps ranges this node is gaining as a pending replica', async (t) => {
  // Node 1 leaves: node 0 takes over some of its ranges and already receives their writes.
  const { admin, kept } = adminOf(['NORMAL', 'LEAVING', 'NORMAL']);
  await admin.cleanup('shop', ['events']);
  const now = replicatedByNode0(ringOf([0, 1, 2]));
  const future = replicatedByNode0(ringOf([0, 2]));
  const gained = sampleTokens().filter((token) => !now.some((r) => rangeContains(r, token)) && future.some((r) => rangeContains(r, token)));
  t.ok(gained.length > 0, 'node 0 gains ranges');
  t.ok(gained.every((token) => kept[0](token)), 'tokens of gained ranges are kept');
});

t.test('cleanup is refused while this node joins or leaves', async (t) => {
  for (const status of ['LEAVING', 'BOOT']) {
    const { admin, kept } = adminOf([status, 'NORMAL', 'NORMAL']);
    await t.rejects(admin.cleanup(), InvalidRequest, status);
    t.same(kept, [], 'nothing was cleaned');
  }
  const { admin } = adminOf(['NORMAL', 'NORMAL', 'NORMAL']);
  await t.rejects(admin.cleanup('nope'), new InvalidRequest("Keyspace 'nope' does not exist"));
});

// ---- the command on a real node --------------------------------------------------------

async function startNode(t: Test): Promise<SibylNode> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cleanup-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), httpAddress: '127.0.0.1', httpPort: 0, listenAddress: '127.0.0.1', storagePort: 0 } });
  const node = await SibylNode.start(config, { logger: false });
  t.teardown(() => node.stop());
  return node;
}

async function sibyl(name: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) };
  const code = await ADMIN_COMMANDS.find((c) => c.name === name)!.run(argv, io);
  return { code, stdout, stderr };
}

t.test('sibyl cleanup on a lone node keeps everything, lists user tables only and refuses unknown keyspaces', async (t) => {
  const node = await startNode(t);
  const cql = (query: string) => node.execute({ query, consistency: 'ONE' });
  await cql("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await cql('CREATE TABLE shop.events (id int PRIMARY KEY, v text)');
  for (let id = 0; id < 20; id++) await cql(`INSERT INTO shop.events (id, v) VALUES (${id}, 'v${id}')`);
  const host = node.httpAddress;

  const json = await sibyl('cleanup', '-h', host, '--json');
  t.equal(json.code, 0, json.stderr);
  const [entry, ...others] = JSON.parse(json.stdout) as { keyspace: string; table: string; partitionsRemoved: number; bytesAfter: number }[];
  t.same(others, [], 'system keyspaces are skipped');
  t.match(entry, { keyspace: 'shop', table: 'events', partitionsRemoved: 0 });
  t.ok(entry.bytesAfter > 0, 'the flushed data is on disk');

  const human = await sibyl('cleanup', '-h', host, 'shop', 'events');
  t.equal(human.code, 0);
  t.match(human.stdout, /^Keyspace\s+Table\s+Partitions removed\s+Size before\s+Size after\nshop\s+events\s+0\s/);
  t.equal((await sibyl('cleanup', '-h', host, 'system')).stdout, 'No user tables to clean up.\n');

  const unknown = await sibyl('cleanup', '-h', host, 'nope');
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /Keyspace 'nope' does not exist/);

  const rows = await cql('SELECT * FROM shop.events');
  t.equal(rows.kind === 'rows' ? rows.rows?.length : -1, 20, 'every row is still there');
});
