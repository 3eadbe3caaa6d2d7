/**
 * The decommission, removenode and describering routes and CLI commands, over a fake
 * AdminService: request shapes, answers, and how failed streams end the command.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { MovementSummary, TokenRangeDescription } from '../../lib/api/admin-service.js';
import { InvalidRequest } from '../../lib/errors.js';
import { ADMIN_COMMANDS, type CommandIo } from '../../tools/commands/index.js';
import { adminApp, FakeAdmin } from './fixtures/admin.js';

const MOVED: MovementSummary = { tables: [{ keyspace: 'shop', table: 'events', ranges: 4, partitions: 120, bytes: 5000 }], errors: [] };
const RANGE: TokenRangeDescription = {
  startToken: '-100',
  endToken: '200',
  endpoints: ['10.0.0.1:7000', '10.0.0.2:7000'],
  rpcEndpoints: ['10.0.0.1:8080', null],
  endpointDetails: [
    { host: '10.0.0.1:7000', datacenter: 'dc1', rack: 'r1' },
    { host: '10.0.0.2:7000', datacenter: 'dc1', rack: 'r2' },
  ],
  pendingEndpoints: ['10.0.0.3:7000'],
};

class RingChangeAdmin extends FakeAdmin {
  summary: MovementSummary = MOVED;
  async decommission(): Promise<MovementSummary> {
    this.calls.push(['decommission']);
    return this.summary;
  }
  async removeNode(hostId: string): Promise<MovementSummary> {
    this.calls.push(['removeNode', hostId]);
    return this.summary;
  }
  async describeRing(keyspace: string): Promise<TokenRangeDescription[]> {
    this.calls.push(['describeRing', keyspace]);
    if (keyspace !== 'shop') throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    return [RANGE];
  }
}

const command = (name: string) => ADMIN_COMMANDS.find((c) => c.name === name)!;

function capture(): CommandIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (text: string) => void (io.out += text), stderr: (text: string) => void (io.err += text) };
  return io;
}

t.test('the routes pass their arguments and answer what the service returns', async (t) => {
  const admin = new RingChangeAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  const decommissioned = await app.inject({ method: 'POST', url: '/v1/admin/decommission' });
  t.equal(decommissioned.statusCode, 200, 'no body is an empty one');
  t.same(decommissioned.json(), MOVED);
  const removed = await app.inject({ method: 'POST', url: '/v1/admin/removenode', payload: { hostId: 'abc' } });
  t.same(removed.json(), MOVED);
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/removenode', payload: {} })).statusCode, 400, 'removenode needs a hostId');
  const ring = await app.inject({ method: 'GET', url: '/v1/admin/describering/shop' });
  t.same(ring.json(), { keyspace: 'shop', ranges: [RANGE] });
  const unknown = await app.inject({ method: 'GET', url: '/v1/admin/describering/nope' });
  t.equal(unknown.statusCode, 400);
  t.equal(unknown.json().error.message, "Keyspace 'nope' does not exist");
  t.same(admin.calls, [['decommission'], ['removeNode', 'abc'], ['describeRing', 'shop'], ['describeRing', 'nope']]);
});

t.test('the commands print what moved, and exit 1 naming the ranges when streams failed', async (t) => {
  const admin = new RingChangeAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const host = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  let io = capture();
  t.equal(await command('decommission').run(['-h', host], io), 0);
  t.match(io.out, /shop\s+events\s+4\s+120\s+4\.88 KiB/);
  t.match(io.out, /Decommissioned/);

  io = capture();
  t.equal(await command('removenode').run(['-h', host, '--json', 'abc'], io), 0);
  t.same(JSON.parse(io.out), MOVED);
  io = capture();
  t.equal(await command('removenode').run(['-h', host], io), 2, 'removenode without a host id is a usage error');

  admin.summary = { tables: [], errors: ['shop.events: 2 ranges to /10.0.0.2:7000: it is down'] };
  io = capture();
  t.equal(await command('decommission').run(['-h', host, '--json'], io), 1);
  t.match(io.err, /stays LEAVING[\s\S]*10\.0\.0\.2:7000: it is down/);
  t.same(JSON.parse(io.out).error.errors, admin.summary.errors, 'the failed ranges under --json');
  io = capture();
  t.equal(await command('removenode').run(['-h', host, 'abc'], io), 1);
  t.match(io.err, /abc was not removed/);

  io = capture();
  t.equal(await command('describering').run(['-h', host, 'shop'], io), 0);
  t.equal(
    io.out,
    'Keyspace: shop\nTokenRange:\n' +
      '\tTokenRange(start_token:-100, end_token:200, endpoints:[10.0.0.1:7000, 10.0.0.2:7000], rpc_endpoints:[10.0.0.1:8080, ?], ' +
      'endpoint_details:[EndpointDetails(host:10.0.0.1:7000, datacenter:dc1, rack:r1), EndpointDetails(host:10.0.0.2:7000, datacenter:dc1, rack:r2)], ' +
      'pending_endpoints:[10.0.0.3:7000])\n',
  );
});
