/**
 * The v1 HTTP contract end to end: a real node (real executor, memory storage) on a
 * free port, driven by real HTTP requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../lib/config.js';
import { SibylNode } from '../../lib/node.js';

t.test('CQL over HTTP: schema, writes with params, typed values, paging and typed errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-http-cql-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = await SibylNode.start(loadConfig({ flags: { dataDir: join(dir, 'data'), httpAddress: '127.0.0.1', httpPort: 0, storagePort: 0 } }), {
    logger: false,
  });
  t.teardown(() => node.stop());
  const cql = async (body: Record<string, unknown>) => {
    const response = await fetch(`http://${node.httpAddress}/v1/cql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  t.same(
    (await cql({ query: "CREATE KEYSPACE app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" })).body,
    { kind: 'schema_change', change: 'CREATED', target: 'KEYSPACE', keyspace: 'app' },
  );
  const created = await cql({
    query: 'CREATE TABLE events (id uuid, at timestamp, n bigint, tags set<text>, attrs map<int, text>, data blob, PRIMARY KEY (id, at))',
    keyspace: 'app',
  });
  t.equal(created.status, 200);
  const id = '6ab09bec-e68e-48d9-a5f8-97e6fb4c9b47';
  for (let i = 0; i < 7; i++) {
    const insert = await cql({
      query: 'INSERT INTO app.events (id, at, n, tags, attrs, data) VALUES (?, ?, ?, ?, ?, ?)',
      params: [id, 1_700_000_000_000 + i * 1000, String(2n ** 62n + BigInt(i)), ['b', 'a'], { 1: 'one' }, '0xcafe'],
      consistency: 'QUORUM',
    });
    t.same(insert, { status: 200, body: { kind: 'void' } });
  }
  const page1 = await cql({ query: 'SELECT * FROM events WHERE id = :id', params: { id }, keyspace: 'app', pageSize: 5 });
  t.equal(page1.status, 200);
  t.equal(page1.body.kind, 'rows');
  t.same(page1.body.columns.map((c: { name: string }) => c.name), ['id', 'at', 'attrs', 'data', 'n', 'tags']);
  t.same(page1.body.rows[0], {
    id,
    at: '2023-11-14T22:13:20.000Z',
    attrs: { 1: 'one' },
    data: '0xcafe',
    n: (2n ** 62n).toString(),
    tags: ['a', 'b'],
  });
  t.equal(page1.body.rows.length, 5);
  t.type(page1.body.pagingState, 'string');
  const page2 = await cql({ query: 'SELECT * FROM events WHERE id = :id', params: { id }, keyspace: 'app', pageSize: 5, pagingState: page1.body.pagingState });
  t.equal(page2.body.rows.length, 2);
  t.equal(page2.body.pagingState, null);

  const syntax = await cql({ query: 'SELEC * FROM app.events' });
  t.equal(syntax.status, 400);
  t.match(syntax.body.error, { code: 'SyntaxError', line: 1, column: 1, token: 'SELEC' });
  const invalid = await cql({ query: 'SELECT * FROM app.nope' });
  t.same(invalid, { status: 400, body: { error: { code: 'Invalid', message: 'unconfigured table nope' } } });
  const exists = await cql({ query: "CREATE KEYSPACE app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" });
  t.match(exists, { status: 400, body: { error: { code: 'AlreadyExists', keyspace: 'app' } } });
  const unavailable = await cql({ query: 'SELECT * FROM app.events', consistency: 'TWO' });
  t.match(unavailable, { status: 503, body: { error: { code: 'Unavailable', consistency: 'TWO', required: 2, alive: 1 } } });
  const badValue = await cql({ query: 'SELECT * FROM app.events WHERE id = ?', params: ['not-a-uuid'] });
  t.match(badValue, { status: 400, body: { error: { code: 'Invalid' } } });
  t.equal((await fetch(`http://${node.httpAddress}/health`)).status, 200, 'the node is still serving');
});
