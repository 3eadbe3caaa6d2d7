/**
 * The cluster views, end to end but in one process:
 * - NodeAdmin answers status / ring / gossipinfo / getendpoints from gossip's Membership,
 *   or as a one-node cluster without it;
 * - the /v1/admin routes for them, over a fake service (served only when the service
 *   has them);
 * - `sibyl status|ring|gossipinfo|getendpoints` print nodetool's layouts and --json;
 * - `sibyl cluster create` lays out node configurations that loadConfig accepts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type {
  ClusterAdminService,
  ClusterStatus,
  GossipEndpointInfo,
  KeyEndpoints,
  RingEntry,
} from '../../lib/api/admin-service.js';
import { loadConfig } from '../../lib/config.js';
import { ApplicationState, type EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { Membership } from '../../lib/cluster/membership.js';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { TokenRing } from '../../lib/cluster/ring.js';
import { InvalidRequest } from '../../lib/errors.js';
import { compositeKey, murmur3Token } from '../../lib/model/token.js';
import { NodeAdmin, type NodeAdminDeps } from '../../lib/node-admin.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { buildKeyspace, buildTable, DEFAULT_TABLE_OPTIONS, Schema } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { SystemStore } from '../../lib/system/system-store.js';
import { ClusterError, createCluster, planCluster, readManifest } from '../../tools/cluster/local-cluster.js';
import type { CommandIo } from '../../tools/commands/index.js';
import { ADMIN_COMMANDS } from '../../tools/commands/index.js';
import { adminApp, FakeAdmin } from './fixtures/admin.js';

// ---- a schema and three nodes -------------------------------------------------------

const text = parseTypeName('text');
const int = parseTypeName('int');
const users = buildTable({
  keyspace: 'shop',
  name: 'users',
  columns: [
    { name: 'id', type: text, kind: 'partition_key' },
    { name: 'name', type: text, kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});
const events = buildTable({
  keyspace: 'shop',
  name: 'events',
  columns: [
    { name: 'tenant', type: text, kind: 'partition_key' },
    { name: 'day', type: int, kind: 'partition_key' },
    { name: 'v', type: text, kind: 'regular' },
  ],
  options: DEFAULT_TABLE_OPTIONS,
});
const SHOP_REPLICATION: ReplicationStrategy = { class: 'SimpleStrategy', replicationFactor: 2 };
const schema = new Schema(
  new Map([
    [
      'shop',
      buildKeyspace(
        { name: 'shop', replication: SHOP_REPLICATION, durableWrites: true },
        new Map([
          ['users', users],
          ['events', events],
        ]),
      ),
    ],
  ]),
);

const HOSTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
const TOKENS: bigint[][] = [
  [-6_000_000_000_000_000_000n, 1_000n],
  [-2_000_000_000_000_000_000n, 3_000_000_000_000_000_000n],
  [500n, 7_000_000_000_000_000_000n],
];
const address = (i: number) => `127.0.0.1:${7001 + i}`;

function stateOf(i: number): EndpointStateView {
  const states: [string, string][] = [
    [ApplicationState.HOST_ID, HOSTS[i]],
    [ApplicationState.DC, 'dc1'],
    [ApplicationState.RACK, `rack${i + 1}`],
    [ApplicationState.HTTP, `127.0.0.1:${8081 + i}`],
    [ApplicationState.LOAD, String(1024 * (i + 1))],
    [ApplicationState.TOKENS, TOKENS[i].join(',')],
    [ApplicationState.STATUS, 'NORMAL'],
  ];
  return {
    heartbeat: { generation: 1_700_000_000 + i, version: 10 + i },
    states: new Map(states.map(([name, value], version) => [name, { value, version: version + 1 }])),
  };
}

function deps(extra: Partial<NodeAdminDeps> = {}): NodeAdminDeps {
  return {
    engine: { diskBytes: () => 4096 } as unknown as LsmStorageEngine,
    schema: { current: schema } as SchemaManager,
    system: { hostId: () => HOSTS[0], getTokens: () => TOKENS[0] } as unknown as SystemStore,
    dataDir: '/data',
    startedAtMs: 1_700_000_000_000,
    nowMs: () => 1_700_000_100_000,
    httpAddress: () => '127.0.0.1:8081',
    ...extra,
  };
}

/** Node 1's view of a three-node cluster in which node 3 is down. */
function threeNodeAdmin(): NodeAdmin {
  const membership = new Membership(address(0), stateOf(0));
  membership.apply([
    { kind: 'joined', endpoint: address(1), state: stateOf(1) },
    { kind: 'joined', endpoint: address(2), state: stateOf(2) },
    { kind: 'up', endpoint: address(1) },
  ]);
  const gossip = {
    liveEndpoints: () => [address(1)],
    unreachableEndpoints: () => [address(2)],
    stateOf: (endpoint: string) => [0, 1, 2].map(stateOf)[[0, 1, 2].map(address).indexOf(endpoint)],
    hasHeardOf: () => true,
  };
  return new NodeAdmin(deps({ membership, gossip }));
}

const RING = new TokenRing(TOKENS.map((tokens, i) => ({ id: HOSTS[i], address: address(i), dc: 'dc1', rack: `rack${i + 1}`, tokens })));

t.test('status lists every endpoint with up/down, state, load, tokens and raw ownership summing to 1', async (t) => {
  const status = await threeNodeAdmin().clusterStatus();
  t.equal(status.keyspace, null);
  t.same(
    status.endpoints.map((e) => [e.status, e.address, e.httpAddress, e.load, e.tokens, e.hostId, e.dc, e.rack]),
    [
      ['UN', address(0), '127.0.0.1:8081', 4096, 2, HOSTS[0], 'dc1', 'rack1'], // local load is measured, not gossiped
      ['UN', address(1), '127.0.0.1:8082', 2048, 2, HOSTS[1], 'dc1', 'rack2'],
      ['DN', address(2), '127.0.0.1:8083', 3072, 2, HOSTS[2], 'dc1', 'rack3'],
    ],
  );
  status.endpoints.forEach((e, i) => t.equal(e.owns, RING.ownership(HOSTS[i])));
  t.ok(Math.abs(status.endpoints.reduce((sum, e) => sum + e.owns, 0) - 1) < 1e-9);
});

t.test('status for a keyspace shows effective ownership, summing to the replication factor', async (t) => {
  const status = await threeNodeAdmin().clusterStatus('shop');
  t.equal(status.keyspace, 'shop');
  t.ok(Math.abs(status.endpoints.reduce((sum, e) => sum + e.owns, 0) - 2) < 1e-9);
  await t.rejects(threeNodeAdmin().clusterStatus('nope'), new InvalidRequest("Keyspace 'nope' does not exist"));
});

t.test('ring lists every token in ascending order with its owner', async (t) => {
  const ring = await threeNodeAdmin().ring();
  const sorted = TOKENS.flat().sort((a, b) => (a < b ? -1 : 1));
  t.same(
    ring.map((e) => e.token),
    sorted.map(String),
  );
  for (const entry of ring) t.equal(entry.hostId, RING.ownerOf(BigInt(entry.token)).id);
  t.equal(ring.find((e) => e.hostId === HOSTS[2])!.status, 'DN');
});

t.test('gossipinfo shows every known endpoint with generation, heartbeat and versioned states', async (t) => {
  const infos = await threeNodeAdmin().gossipInfo();
  t.same(
    infos.map((i) => [i.address, i.alive, i.generation, i.heartbeat]),
    [
      [address(0), true, 1_700_000_000, 10],
      [address(1), true, 1_700_000_001, 11],
      [address(2), false, 1_700_000_002, 12],
    ],
  );
  t.same(infos[1].states.find((s) => s.name === 'HOST_ID'), { name: 'HOST_ID', value: HOSTS[1], version: 1 });
  t.same(
    infos[0].states.map((s) => s.name),
    ['DC', 'HOST_ID', 'HTTP', 'LOAD', 'RACK', 'STATUS', 'TOKENS'],
    'states sorted by name',
  );
});

t.test('getendpoints names the natural replicas of the key, primary first', async (t) => {
  const admin = threeNodeAdmin();
  for (const key of ['alice', 'bob', '42', '']) {
    const answer = await admin.endpoints('shop', 'users', key);
    const token = murmur3Token(Buffer.from(key));
    t.equal(answer.token, token.toString());
    t.same(
      answer.replicas.map((r) => r.hostId),
      naturalReplicas(RING, SHOP_REPLICATION, token).map((e) => e.id),
      key,
    );
    t.equal(answer.replicas.length, 2);
  }
});

t.test('getendpoints reads a composite key as a:b with each component typed', async (t) => {
  const admin = threeNodeAdmin();
  const answer = await admin.endpoints('shop', 'events', 'acme:20');
  const key = compositeKey([Buffer.from('acme'), int.serialize(20)]);
  t.equal(answer.token, murmur3Token(key).toString());
  await t.rejects(admin.endpoints('shop', 'events', 'acme'), InvalidRequest, 'too few components');
  await t.rejects(admin.endpoints('shop', 'events', 'acme:x'), { message: "Cannot parse 'x' as int for partition key column day" });
  await t.rejects(admin.endpoints('shop', 'nope', 'a'), new InvalidRequest('unconfigured table nope'));
  await t.rejects(admin.endpoints('nope', 'users', 'a'), new InvalidRequest("Keyspace 'nope' does not exist"));
});

t.test('without gossip a node answers as a one-node cluster from its own facts', async (t) => {
  const admin = new NodeAdmin(deps({ listenAddress: '127.0.0.1:7000', dc: 'dc9', rack: 'r9' }));
  const status = await admin.clusterStatus('shop');
  t.same(status.endpoints, [
    { status: 'UN', address: '127.0.0.1:7000', httpAddress: '127.0.0.1:8081', load: 4096, tokens: 2, owns: 1, hostId: HOSTS[0], dc: 'dc9', rack: 'r9' },
  ]);
  t.same(
    (await admin.ring()).map((e) => [e.token, e.hostId, e.owns]),
    TOKENS[0].map((token) => [String(token), HOSTS[0], 1]),
  );
  t.same((await admin.endpoints('shop', 'users', 'x')).replicas.map((r) => r.address), ['127.0.0.1:7000']);
  const [gossip] = await admin.gossipInfo();
  t.equal(gossip.address, '127.0.0.1:7000');
  t.same(gossip.states.find((s) => s.name === 'TOKENS')?.value, TOKENS[0].join(','));

  const tokenless = new NodeAdmin(deps({ system: { hostId: () => HOSTS[0], getTokens: () => [] } as unknown as SystemStore }));
  t.equal((await tokenless.clusterStatus()).endpoints[0].owns, 1, 'a lone node without tokens holds everything');
  t.same(await tokenless.ring(), []);
  t.equal((await tokenless.endpoints('shop', 'users', 'x')).replicas.length, 1);
});

// ---- routes over a fake service, and the CLI against them ---------------------------

const STATUS: ClusterStatus = {
  keyspace: null,
  endpoints: [
    { status: 'UN', address: '127.0.0.1:7000', httpAddress: '127.0.0.1:8080', load: 12_595, tokens: 16, owns: 1 / 3, hostId: HOSTS[0], dc: 'dc1', rack: 'rack1' },
    { status: 'DN', address: '127.0.0.2:7000', httpAddress: null, load: null, tokens: 16, owns: 1 / 3, hostId: HOSTS[1], dc: 'dc1', rack: 'rack1' },
    { status: 'UJ', address: '127.0.0.3:7000', httpAddress: '127.0.0.3:8080', load: 0, tokens: 16, owns: 1 / 3, hostId: HOSTS[2], dc: 'dc2', rack: 'r2' },
  ],
};
const RING_ENTRIES: RingEntry[] = [
  { token: '-9000', address: '127.0.0.1:7000', hostId: HOSTS[0], dc: 'dc1', rack: 'rack1', status: 'UN', load: 2048, owns: 0.5 },
  { token: '42', address: '127.0.0.2:7000', hostId: HOSTS[1], dc: 'dc1', rack: 'rack1', status: 'DL', load: null, owns: 0.5 },
];
const GOSSIP: GossipEndpointInfo[] = [
  {
    address: '127.0.0.1:7000',
    alive: true,
    generation: 1_700_000_000,
    heartbeat: 57,
    states: [
      { name: 'STATUS', value: 'NORMAL', version: 3 },
      { name: 'TOKENS', value: '1,2,3', version: 2 },
    ],
  },
  { address: '127.0.0.2:7000', alive: false, generation: 1_700_000_005, heartbeat: 9, states: [] },
];

class FakeClusterAdmin extends FakeAdmin implements ClusterAdminService {
  async clusterStatus(keyspace?: string): Promise<ClusterStatus> {
    this.calls.push(['clusterStatus', keyspace]);
    if (keyspace !== undefined && keyspace !== 'shop') throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    return keyspace === undefined ? STATUS : { ...STATUS, keyspace };
  }
  async ring(keyspace?: string): Promise<RingEntry[]> {
    this.calls.push(['ring', keyspace]);
    return RING_ENTRIES;
  }
  async gossipInfo(): Promise<GossipEndpointInfo[]> {
    this.calls.push(['gossipInfo']);
    return GOSSIP;
  }
  async endpoints(keyspace: string, table: string, key: string): Promise<KeyEndpoints> {
    this.calls.push(['endpoints', keyspace, table, key]);
    return {
      keyspace,
      table,
      key,
      token: '-123',
      replicas: [
        { address: '127.0.0.2:7000', hostId: HOSTS[1], dc: 'dc1', rack: 'rack1', httpAddress: null },
        { address: '127.0.0.1:7000', hostId: HOSTS[0], dc: 'dc1', rack: 'rack1', httpAddress: '127.0.0.1:8080' },
      ],
    };
  }
}

function setup(t: Test) {
  const admin = new FakeClusterAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  return { admin, app };
}

t.test('the cluster routes pass their parameters to the service and return every field', async (t) => {
  const { admin, app } = setup(t);
  const status = await app.inject({ method: 'GET', url: '/v1/admin/status?keyspace=shop' });
  t.equal(status.statusCode, 200);
  t.same(status.json(), { ...STATUS, keyspace: 'shop' });
  t.same((await app.inject({ method: 'GET', url: '/v1/admin/ring' })).json(), { tokens: RING_ENTRIES });
  t.same((await app.inject({ method: 'GET', url: '/v1/admin/gossipinfo' })).json(), { endpoints: GOSSIP });
  const endpoints = await app.inject({ method: 'GET', url: '/v1/admin/endpoints?keyspace=shop&table=events&key=acme%3A20' });
  t.equal(endpoints.statusCode, 200);
  t.equal(endpoints.json().replicas.length, 2);
  t.same(admin.calls, [
    ['clusterStatus', 'shop'],
    ['ring', undefined],
    ['gossipInfo'],
    ['endpoints', 'shop', 'events', 'acme:20'],
  ]);
});

t.test('malformed cluster requests are refused before the service sees them', async (t) => {
  const { admin, app } = setup(t);
  const missing = await app.inject({ method: 'GET', url: '/v1/admin/endpoints?keyspace=shop&table=events' });
  t.equal(missing.statusCode, 400);
  t.equal(missing.json().error.code, 'ProtocolError');
  t.equal((await app.inject({ method: 'GET', url: '/v1/admin/status?bogus=1' })).statusCode, 400);
  t.same(admin.calls, []);
  const unknown = await app.inject({ method: 'GET', url: '/v1/admin/status?keyspace=nope' });
  t.equal(unknown.statusCode, 400);
  t.same(unknown.json(), { error: { code: 'Invalid', message: "Keyspace 'nope' does not exist" } });
});

t.test('a service without the cluster views does not serve their routes', async (t) => {
  const app = adminApp(new FakeAdmin());
  t.teardown(() => app.close());
  for (const path of ['/v1/admin/status', '/v1/admin/ring', '/v1/admin/gossipinfo']) {
    t.equal((await app.inject({ method: 'GET', url: path })).statusCode, 404, path);
  }
});

t.test('the CLI commands', async (t) => {
  const { admin, app } = setup(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const host = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const sibyl = async (name: string, ...argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const io: CommandIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) };
    const code = await ADMIN_COMMANDS.find((c) => c.name === name)!.run(argv, io);
    return { code, stdout, stderr };
  };

  t.test('status prints nodetool status per datacenter', async (t) => {
    const { code, stdout } = await sibyl('status', '-h', host);
    t.equal(code, 0);
    t.equal(
      stdout,
      'Datacenter: dc1\n' +
        '===============\n' +
        'Status=Up/Down\n' +
        '|/ State=Normal/Leaving/Joining/Moving\n' +
        '--  Address         Load      Tokens  Owns   Host ID                               Rack\n' +
        `UN  127.0.0.1:7000  12.3 KiB  16      33.3%  ${HOSTS[0]}  rack1\n` +
        `DN  127.0.0.2:7000  ?         16      33.3%  ${HOSTS[1]}  rack1\n` +
        '\n' +
        'Datacenter: dc2\n' +
        '===============\n' +
        'Status=Up/Down\n' +
        '|/ State=Normal/Leaving/Joining/Moving\n' +
        '--  Address         Load     Tokens  Owns   Host ID                               Rack\n' +
        `UJ  127.0.0.3:7000  0 bytes  16      33.3%  ${HOSTS[2]}  r2\n`,
    );
    const effective = await sibyl('status', '-h', host, 'shop');
    t.match(effective.stdout, /Owns \(effective\)/);
    const json = await sibyl('status', '-h', host, '--json');
    t.same(JSON.parse(json.stdout), STATUS);
    const failed = await sibyl('status', '-h', host, 'nope');
    t.same(failed, { code: 1, stdout: '', stderr: "sibyl status: Keyspace 'nope' does not exist\n" });
  });

  t.test('ring prints every token with its owner, the last token first', async (t) => {
    const { code, stdout } = await sibyl('ring', '-h', host);
    t.equal(code, 0);
    t.equal(
      stdout,
      'Datacenter: dc1\n' +
        '===============\n' +
        'Address         Rack   Status  State    Load   Owns   Token\n' +
        '                                                      42\n' +
        '127.0.0.1:7000  rack1  Up      Normal   2 KiB  50.0%  -9000\n' +
        '127.0.0.2:7000  rack1  Down    Leaving  ?      50.0%  42\n',
    );
    t.same(JSON.parse((await sibyl('ring', '-h', host, '--json')).stdout), RING_ENTRIES);
  });

  t.test('gossipinfo prints NAME:VERSION:VALUE per state, tokens hidden', async (t) => {
    const { code, stdout } = await sibyl('gossipinfo', '-h', host);
    t.equal(code, 0);
    t.equal(
      stdout,
      '/127.0.0.1:7000\n  generation:1700000000\n  heartbeat:57\n  STATUS:3:NORMAL\n  TOKENS:2:<hidden>\n' +
        '/127.0.0.2:7000 (down)\n  generation:1700000005\n  heartbeat:9\n',
    );
    t.same(JSON.parse((await sibyl('gossipinfo', '-h', host, '--json')).stdout), GOSSIP);
  });

  t.test('getendpoints prints one replica address per line and needs three arguments', async (t) => {
    admin.calls.length = 0;
    t.same(await sibyl('getendpoints', '-h', host, 'shop', 'events', 'acme:20'), {
      code: 0,
      stdout: '127.0.0.2:7000\n127.0.0.1:7000\n',
      stderr: '',
    });
    t.same(admin.calls, [['endpoints', 'shop', 'events', 'acme:20']]);
    const json = JSON.parse((await sibyl('getendpoints', '-h', host, '--json', 'shop', 'users', 'x')).stdout);
    t.equal(json.token, '-123');
    const short = await sibyl('getendpoints', '-h', host, 'shop', 'users');
    t.equal(short.code, 2);
    t.match(short.stderr, /Expected KEYSPACE TABLE KEY/);
  });
});

// ---- local cluster layout -----------------------------------------------------------

t.test('a local cluster plan gives every node distinct ports on 127.0.0.1, or its own loopback address', async (t) => {
  const plan = planCluster({ nodes: 3, basePort: 9000, loopbackPerNode: false });
  t.same(
    plan.nodes.map((n) => [n.name, n.http, n.listen]),
    [
      ['node1', '127.0.0.1:9000', '127.0.0.1:9001'],
      ['node2', '127.0.0.1:9002', '127.0.0.1:9003'],
      ['node3', '127.0.0.1:9004', '127.0.0.1:9005'],
    ],
  );
  const loopback = planCluster({ nodes: 2, basePort: 9000, loopbackPerNode: true });
  t.same(
    loopback.nodes.map((n) => [n.http, n.listen]),
    [
      ['127.0.0.1:9000', '127.0.0.1:9001'],
      ['127.0.0.2:9000', '127.0.0.2:9001'],
    ],
  );
  t.throws(() => planCluster({ nodes: 0, basePort: 9000, loopbackPerNode: false }), ClusterError);
  t.throws(() => planCluster({ nodes: 3, basePort: 65533, loopbackPerNode: false }), ClusterError);
});

t.test('create writes a configuration per node that loadConfig accepts, seeds = node1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const plan = planCluster({ nodes: 2, basePort: 9100, loopbackPerNode: false });
  await createCluster(dir, plan);
  t.same(await readManifest(dir), plan);
  const config = loadConfig({ file: join(dir, 'node2', 'sibyl.yaml') });
  t.equal(config.dataDir, join(dir, 'node2', 'data'));
  t.same([config.httpAddress, config.httpPort, config.listenAddress, config.storagePort], ['127.0.0.1', 9102, '127.0.0.1', 9103]);
  t.same(config.seeds, ['127.0.0.1:9101']);
  await t.rejects(createCluster(dir, plan), new ClusterError(`A cluster already exists in ${dir}`));
});
