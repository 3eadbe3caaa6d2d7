/**
 * The /v1/admin/* plugin (lib/api/admin.ts) on a bare fastify with the server's error
 * mapping, against a fake AdminService: each route calls the service with the scope
 * it was given, malformed requests are refused before the service sees them, and typed
 * errors come back with their code and status.
 */
import t, { type Test } from 'tap';
import { CorruptSSTable } from '../../lib/errors.js';
import { adminApp, FakeAdmin, INFO, STATS } from './fixtures/admin.js';

function setup(t: Test) {
  const admin = new FakeAdmin();
  const app = adminApp(admin);
  t.teardown(() => app.close());
  return { admin, app };
}

t.test('flush and compact pass their scope to the service', async (t) => {
  const { admin, app } = setup(t);
  for (const [path, name] of [
    ['/v1/admin/flush', 'flush'],
    ['/v1/admin/compact', 'compact'],
  ]) {
    for (const [payload, args] of [
      [{}, [undefined, undefined]],
      [{ keyspace: 'shop' }, ['shop', undefined]],
      [{ keyspace: 'shop', tables: ['events', 'users'] }, ['shop', ['events', 'users']]],
    ] as const) {
      admin.calls.length = 0;
      const response = await app.inject({ method: 'POST', url: path, payload });
      t.equal(response.statusCode, 200, `${path} ${JSON.stringify(payload)}`);
      t.same(response.json(), { ok: true });
      t.same(admin.calls, [[name, ...args]]);
    }
  }
});

t.test('verify passes its scope and answers every table with its corrupt SSTables, 200 even when some are', async (t) => {
  const { admin, app } = setup(t);
  admin.corrupt = { users: [{ file: '/data/shop/users/sb-2-Data.db', message: 'Corrupted: chunk 0 fails its CRC32C check' }] };
  const all = await app.inject({ method: 'POST', url: '/v1/admin/verify' });
  t.equal(all.statusCode, 200);
  t.same(all.json(), {
    tables: [
      { keyspace: 'shop', table: 'events', sstables: 3, corrupt: [] },
      { keyspace: 'shop', table: 'users', sstables: 3, corrupt: admin.corrupt.users },
    ],
  });
  const some = await app.inject({ method: 'POST', url: '/v1/admin/verify', payload: { keyspace: 'shop', tables: ['events'] } });
  t.same(some.json(), { tables: [{ keyspace: 'shop', table: 'events', sstables: 3, corrupt: [] }] });
  t.same(admin.calls, [
    ['verify', undefined, undefined],
    ['verify', 'shop', ['events']],
  ]);
  const unknown = await app.inject({ method: 'POST', url: '/v1/admin/verify', payload: { keyspace: 'shop', tables: ['ghost'] } });
  t.equal(unknown.statusCode, 400);
  t.same(unknown.json(), { error: { code: 'Invalid', message: 'unconfigured table ghost' } });
  const malformed = await app.inject({ method: 'POST', url: '/v1/admin/verify', payload: { tables: ['events'] } });
  t.equal(malformed.statusCode, 400);
  t.same(malformed.json(), { error: { code: 'ProtocolError', message: "'tables' needs a 'keyspace'" } });
});

t.test('a POST without a body acts on every keyspace', async (t) => {
  const { admin, app } = setup(t);
  const response = await app.inject({ method: 'POST', url: '/v1/admin/flush' });
  t.equal(response.statusCode, 200);
  t.same(admin.calls, [['flush', undefined, undefined]]);
});

t.test('drain takes no scope', async (t) => {
  const { admin, app } = setup(t);
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/drain' })).statusCode, 200, 'no body');
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/drain', payload: {} })).statusCode, 200, 'empty object');
  t.same(admin.calls, [['drain'], ['drain']]);
  const scoped = await app.inject({ method: 'POST', url: '/v1/admin/drain', payload: { keyspace: 'shop' } });
  t.equal(scoped.statusCode, 400);
  t.same(scoped.json(), { error: { code: 'ProtocolError', message: "Unknown field 'keyspace' in request body" } });
  t.equal(admin.calls.length, 2, 'the refused drain did not reach the service');
});

t.test('tablestats returns every field of every entry', async (t) => {
  const { admin, app } = setup(t);
  const all = await app.inject({ method: 'GET', url: '/v1/admin/tablestats' });
  t.equal(all.statusCode, 200);
  const { memtableCells: _cells, compactionsRunning: _running, ...withoutOptional } = STATS;
  t.same(all.json(), { tables: [STATS, { ...withoutOptional, table: 'users' }] });
  t.strictSame(Object.keys(all.json().tables[1]).sort(), Object.keys(withoutOptional).sort(), 'absent optional fields stay absent');
  await app.inject({ method: 'GET', url: '/v1/admin/tablestats?keyspace=shop&table=events' });
  await app.inject({ method: 'GET', url: '/v1/admin/tablestats?keyspace=shop&table=events&table=users' });
  t.same(admin.calls, [
    ['tableStats', undefined, undefined],
    ['tableStats', 'shop', ['events']],
    ['tableStats', 'shop', ['events', 'users']],
  ]);
});

t.test('info returns the node description', async (t) => {
  const { app } = setup(t);
  const response = await app.inject({ method: 'GET', url: '/v1/admin/info' });
  t.equal(response.statusCode, 200);
  t.same(response.json(), INFO);
});

t.test('malformed requests are refused as ProtocolErrors before the service sees them', async (t) => {
  const { admin, app } = setup(t);
  const cases: [string, string, unknown, string][] = [
    ['POST', '/v1/admin/flush', { keyspace: 5 }, "Field 'keyspace' must be of type string"],
    ['POST', '/v1/admin/flush', { keyspace: 'shop', tables: 'events' }, "Field 'tables' must be of type array"],
    ['POST', '/v1/admin/compact', { tables: ['events'] }, "'tables' needs a 'keyspace'"],
    ['POST', '/v1/admin/compact', { keyspace: 'shop', force: true }, "Unknown field 'force' in request body"],
    ['POST', '/v1/admin/flush', [], 'Request body must be a JSON object'],
    ['GET', '/v1/admin/tablestats?table=events', undefined, "'tables' needs a 'keyspace'"],
    ['GET', '/v1/admin/tablestats?keyspace=shop&verbose=1', undefined, "Unknown field 'verbose' in request body"],
  ];
  for (const [method, url, payload, message] of cases) {
    const response = await app.inject({ method: method as 'GET' | 'POST', url, payload: payload as object | undefined });
    t.equal(response.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}`);
    t.same(response.json(), { error: { code: 'ProtocolError', message } }, message);
  }
  const invalidJson = await app.inject({
    method: 'POST',
    url: '/v1/admin/flush',
    headers: { 'content-type': 'application/json' },
    payload: '{"keyspace":',
  });
  t.same(invalidJson.json(), { error: { code: 'ProtocolError', message: 'Request body is not valid JSON' } });
  t.same(admin.calls, []);
});

t.test('unknown keyspaces and tables are Invalid (400) with Cassandra\'s words', async (t) => {
  const { app } = setup(t);
  const keyspace = await app.inject({ method: 'POST', url: '/v1/admin/flush', payload: { keyspace: 'nope' } });
  t.equal(keyspace.statusCode, 400);
  t.same(keyspace.json(), { error: { code: 'Invalid', message: "Keyspace 'nope' does not exist" } });
  const table = await app.inject({ method: 'GET', url: '/v1/admin/tablestats?keyspace=shop&table=ghost' });
  t.equal(table.statusCode, 400);
  t.same(table.json(), { error: { code: 'Invalid', message: 'unconfigured table ghost' } });
});

t.test('typed errors from the service keep their code, status and details', async (t) => {
  const { admin, app } = setup(t);
  admin.failure = new CorruptSSTable('Checksum mismatch in chunk at offset 4096', '/data/shop/events/nb-1-Data.db');
  const corrupt = await app.inject({ method: 'POST', url: '/v1/admin/compact', payload: {} });
  t.equal(corrupt.statusCode, 500);
  t.same(corrupt.json(), {
    error: { code: 'CorruptSSTable', message: 'Checksum mismatch in chunk at offset 4096', file: '/data/shop/events/nb-1-Data.db' },
  });
  admin.failure = new TypeError('boom');
  const bug = await app.inject({ method: 'GET', url: '/v1/admin/info' });
  t.equal(bug.statusCode, 500);
  t.same(bug.json(), { error: { code: 'ServerError', message: 'boom' } });
});
