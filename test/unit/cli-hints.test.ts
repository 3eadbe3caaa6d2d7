/**
 * `sibyl hints` end to end in one process: NodeAdmin lists the HintService's pending
 * hints with each target's address from gossip's Membership, the /v1/admin/hints route
 * serves them (only for a service that has hints), and the CLI prints them as a table
 * or JSON.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { PendingHintsEntry } from '../../lib/api/admin-service.js';
import { ApplicationState, type EndpointStateView } from '../../lib/cluster/endpoint-state.js';
import { Membership } from '../../lib/cluster/membership.js';
import type { PendingHints } from '../../lib/coordinator/hints.js';
import { NodeAdmin, type NodeAdminDeps } from '../../lib/node-admin.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { SystemStore } from '../../lib/system/system-store.js';
import { ADMIN_COMMANDS, type CommandIo } from '../../tools/commands/index.js';
import { adminApp, FakeAdmin } from './fixtures/admin.js';

const HOSTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
/** A node that left the cluster: its hints outlive its gossip state. */
const GONE = '44444444-4444-4444-8444-444444444444';
const address = (i: number) => `127.0.0.${i + 1}:7000`;

function stateOf(i: number): EndpointStateView {
  const states: [string, string][] = [
    [ApplicationState.HOST_ID, HOSTS[i]],
    [ApplicationState.DC, 'dc1'],
    [ApplicationState.RACK, 'rack1'],
    [ApplicationState.TOKENS, String(1000 * i)],
    [ApplicationState.STATUS, 'NORMAL'],
  ];
  return {
    heartbeat: { generation: 1_700_000_000, version: 1 },
    states: new Map(states.map(([name, value], version) => [name, { value, version: version + 1 }])),
  };
}

function nodeAdmin(extra: Partial<NodeAdminDeps>): NodeAdmin {
  return new NodeAdmin({
    engine: { diskBytes: () => 0 } as unknown as LsmStorageEngine,
    schema: {} as SchemaManager,
    system: { hostId: () => HOSTS[0], getTokens: () => [] } as unknown as SystemStore,
    dataDir: '/data',
    startedAtMs: 0,
    nowMs: () => 0,
    httpAddress: () => '127.0.0.1:8080',
    ...extra,
  });
}

t.test("hints lists each target's pending hints with its address as gossip knows it", async (t) => {
  const membership = new Membership(address(0), stateOf(0));
  membership.apply([
    { kind: 'joined', endpoint: address(1), state: stateOf(1) },
    { kind: 'joined', endpoint: address(2), state: stateOf(2) },
  ]);
  let pending: PendingHints[] = [
    { targetId: HOSTS[2], hints: 3, bytes: 300 },
    { targetId: GONE, hints: 1, bytes: 40 },
  ];
  const admin = nodeAdmin({ membership, hints: { pending: () => pending } });
  t.same(await admin.hints(), [
    { hostId: HOSTS[2], address: address(2), hints: 3, bytes: 300 },
    { hostId: GONE, address: null, hints: 1, bytes: 40 },
  ]);
  pending = [];
  t.same(await admin.hints(), [], 'read afresh on every call');
});

t.test('a node without a hint service or gossip holds no hints', async (t) => {
  t.same(await nodeAdmin({}).hints(), []);
  const withoutGossip = nodeAdmin({ hints: { pending: () => [{ targetId: HOSTS[1], hints: 2, bytes: 10 }] } });
  t.same(await withoutGossip.hints(), [{ hostId: HOSTS[1], address: null, hints: 2, bytes: 10 }]);
});

const TARGETS: PendingHintsEntry[] = [
  { hostId: HOSTS[1], address: address(1), hints: 12, bytes: 1_536 },
  { hostId: GONE, address: null, hints: 1, bytes: 80 },
];

/** The fake admin service with hints. */
class HintsAdmin extends FakeAdmin {
  targets: PendingHintsEntry[] = TARGETS;
  async hints(): Promise<PendingHintsEntry[]> {
    this.calls.push(['hints']);
    return this.targets;
  }
}

t.test('GET /v1/admin/hints answers the targets; a service without hints does not serve it', async (t) => {
  const admin = new HintsAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  const response = await app.inject({ method: 'GET', url: '/v1/admin/hints' });
  t.equal(response.statusCode, 200);
  t.same(response.json(), { targets: TARGETS });
  t.same(admin.calls, [['hints']]);

  const bare = adminApp(new FakeAdmin());
  t.teardown(() => bare.close());
  t.equal((await bare.inject({ method: 'GET', url: '/v1/admin/hints' })).statusCode, 404);
});

t.test('sibyl hints prints a table per target, "No pending hints." when none, and --json', async (t) => {
  const admin = new HintsAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const host = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const sibyl = async (...argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const io: CommandIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) };
    const code = await ADMIN_COMMANDS.find((c) => c.name === 'hints')!.run(argv, io);
    return { code, stdout, stderr };
  };

  t.same(await sibyl('-h', host), {
    code: 0,
    stdout:
      'Host ID                               Address         Pending hints  Size\n' +
      `${HOSTS[1]}  127.0.0.2:7000  12             1.5 KiB\n` +
      `${GONE}  ?               1              80 bytes\n`,
    stderr: '',
  });
  const json = await sibyl('-h', host, '--json');
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), TARGETS);

  admin.targets = [];
  t.same(await sibyl('--host', host), { code: 0, stdout: 'No pending hints.\n', stderr: '' });
  t.same(JSON.parse((await sibyl('-h', host, '--json')).stdout), []);

  const extra = await sibyl('-h', host, 'ks');
  t.equal(extra.code, 2);
  t.match(extra.stderr, /Unexpected argument 'ks'/);
});
