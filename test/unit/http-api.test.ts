/**
 * The HTTP API over real sockets (listen on port 0, fetch), against a fake CQL service:
 * the v1 request contract, the error catalogue's statuses and body shape, /health and
 * /docs. End-to-end tests with the real executor live elsewhere.
 */
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { HealthStatus } from '../../lib/api/health.js';
import { createHttpServer, type HttpServerOptions } from '../../lib/api/server.js';
import type { CqlRequest, CqlResult, CqlService } from '../../lib/cql/request.js';
import {
  AlreadyExists,
  ConfigurationError,
  CorruptSSTable,
  CqlSyntaxError,
  InvalidRequest,
  Overloaded,
  ReadTimeout,
  ServerError,
  Unauthorized,
  Unavailable,
  WriteTimeout,
} from '../../lib/errors.js';

const ROWS: CqlResult = {
  kind: 'rows',
  columns: [
    { name: 'id', type: 'int' },
    { name: 'tags', type: 'map<text, int>' },
    { name: 'weird "name"', type: 'list<text>' },
  ],
  rows: [
    { id: 1, tags: { a: 1, 'b"c': 2 }, 'weird "name"': ['x', null] },
    { id: 2, tags: null, 'weird "name"': [] },
  ],
  pagingState: null,
  warnings: ['Aggregation query used without partition key'],
};

/** What each query makes the fake service throw; the query text names the case. */
const ERRORS: Record<string, () => Error> = {
  syntax: () => new CqlSyntaxError("line 1:7 no viable alternative at input 'FORM'", 1, 7, 'FORM'),
  invalid: () => new InvalidRequest('unconfigured table users'),
  exists: () => new AlreadyExists('Cannot add existing keyspace "ks"', 'ks'),
  config: () => new ConfigurationError('Unknown replication strategy'),
  unauthorized: () => new Unauthorized('User anonymous has no SELECT permission'),
  unavailable: () => new Unavailable('QUORUM', 2, 1),
  overloaded: () => new Overloaded('Too many in-flight requests'),
  'write timeout': () => new WriteTimeout('QUORUM', 1, 2, 'SIMPLE'),
  'read timeout': () => new ReadTimeout('ALL', 2, 3, true),
  'server error': () => new ServerError('assertion failed: memtable ordered'),
  corrupt: () => new CorruptSSTable('Checksum mismatch in chunk at offset 4096', '/data/ks/t/nb-1-Data.db'),
  bug: () => new TypeError("Cannot read properties of undefined (reading 'x')"),
};

class FakeCql implements CqlService {
  readonly requests: CqlRequest[] = [];
  async execute(request: CqlRequest): Promise<CqlResult> {
    this.requests.push(request);
    if (Object.hasOwn(ERRORS, request.query)) throw ERRORS[request.query]();
    if (request.query === 'reject with a string') return Promise.reject('not an Error');
    if (request.query.startsWith('SELECT')) return ROWS;
    if (request.query === 'USE ks') return { kind: 'set_keyspace', keyspace: 'ks' };
    if (request.query === 'CREATE TABLE') {
      return { kind: 'schema_change', change: 'CREATED', target: 'TABLE', keyspace: 'ks', table: 't' };
    }
    return { kind: 'void' };
  }
}

interface Served {
  url: string;
  cql: FakeCql;
  errorsLogged: unknown[];
}

/** A logger that keeps error-level entries, so tests can see what the server logs. */
function capturingLogger(errorsLogged: unknown[]) {
  const ignore = () => {};
  const logger = {
    level: 'info',
    fatal: ignore,
    error: (...args: unknown[]) => void errorsLogged.push(args[0]),
    warn: ignore,
    info: ignore,
    debug: ignore,
    trace: ignore,
    silent: ignore,
    child: () => logger,
  };
  return logger;
}

async function serve(t: Test, options: Partial<HttpServerOptions> = {}): Promise<Served> {
  const cql = new FakeCql();
  const errorsLogged: unknown[] = [];
  const app = createHttpServer({
    cql,
    logger: capturingLogger(errorsLogged),
    bodyLimit: 4096,
    maxStatementLength: 200,
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, cql, errorsLogged };
}

async function post(url: string, body: unknown, init: { raw?: string; contentType?: string } = {}) {
  const response = await fetch(`${url}/v1/cql`, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json' },
    body: init.raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

t.test('a statement returns 200 with the CqlResult in the v1 field names', async (t) => {
  const { url } = await serve(t);
  const rows = await post(url, { query: 'SELECT * FROM ks.t' });
  t.equal(rows.status, 200);
  t.same(rows.body, ROWS, 'rows with arbitrary column names and nested values come back intact');
  t.same((await post(url, { query: 'INSERT' })).body, { kind: 'void' });
  t.same((await post(url, { query: 'USE ks' })).body, { kind: 'set_keyspace', keyspace: 'ks' });
  t.same((await post(url, { query: 'CREATE TABLE' })).body, {
    kind: 'schema_change',
    change: 'CREATED',
    target: 'TABLE',
    keyspace: 'ks',
    table: 't',
  });
});

t.test('every field of the v1 request reaches the CQL service unchanged', async (t) => {
  const { url, cql } = await serve(t);
  const request = {
    query: 'INSERT INTO t (k, v) VALUES (?, ?)',
    params: [1, { nested: ['x'] }],
    keyspace: 'ks',
    consistency: 'LOCAL_QUORUM',
    serialConsistency: 'LOCAL_SERIAL',
    pageSize: 100,
    pagingState: 'AAEC',
    timestamp: 1_700_000_000_000_000,
  };
  t.equal((await post(url, request)).status, 200);
  t.same(cql.requests[0], request);
  t.equal((await post(url, { query: 'INSERT', params: { k: 1 } })).status, 200, 'named params are an object');
});

t.test('requests outside the v1 contract are 400 ProtocolError naming the problem', async (t) => {
  const { url, cql } = await serve(t);
  const cases: [unknown, RegExp][] = [
    [{ query: 'SELECT', querry: 'x' }, /^Unknown field 'querry' in request body$/],
    [{ params: [] }, /^Missing required field 'query'$/],
    [{ query: 5 }, /^Field 'query' must be of type string$/],
    [{ query: 'SELECT', pageSize: '10' }, /^Field 'pageSize' must be of type integer$/],
    [{ query: 'SELECT', pageSize: 0 }, /^Field 'pageSize' must be >= 1$/],
    [{ query: 'SELECT', timestamp: 1.5 }, /^Field 'timestamp' must be of type integer$/],
    [{ query: 'SELECT', params: 'x' }, /^Field 'params' must be of type array or object$/],
    [{ query: 'SELECT', consistency: 'TWELVE' }, /^Field 'consistency' must be one of ANY, ONE, .*LOCAL_SERIAL$/],
    [{ query: 'SELECT', serialConsistency: 'QUORUM' }, /^Field 'serialConsistency' must be one of SERIAL, LOCAL_SERIAL$/],
    [['SELECT'], /^Request body must be a JSON object$/],
  ];
  for (const [body, message] of cases) {
    const response = await post(url, body);
    t.equal(response.status, 400, JSON.stringify(body));
    t.equal(response.body.error.code, 'ProtocolError');
    t.match(response.body.error.message, message);
    t.same(Object.keys(response.body), ['error'], 'the body holds only the error');
  }
  t.equal(cql.requests.length, 0, 'nothing invalid reached the CQL layer');
});

t.test('malformed or empty JSON is 400 ProtocolError, a non-JSON content type 415', async (t) => {
  const { url } = await serve(t);
  const malformed = await post(url, null, { raw: '{"query": "SELECT' });
  t.equal(malformed.status, 400);
  t.same(malformed.body, { error: { code: 'ProtocolError', message: 'Request body is not valid JSON' } });
  const poisoned = await post(url, null, { raw: '{"query": "SELECT", "__proto__": {"x": 1}}' });
  t.equal(poisoned.status, 400, 'prototype poisoning is refused');
  t.equal(poisoned.body.error.code, 'ProtocolError');
  const empty = await post(url, null, { raw: '' });
  t.equal(empty.status, 400);
  t.match(empty.body.error.message, /^Request body is empty/);
  const text = await post(url, null, { raw: 'SELECT 1', contentType: 'text/plain' });
  t.equal(text.status, 415);
  t.same(text.body.error, {
    code: 'ProtocolError',
    message: "Unsupported content type 'text/plain' (expected application/json)",
  });
});

t.test('a body over max_request_body_size is 413 ProtocolError with the limit', async (t) => {
  const { url, cql } = await serve(t, { bodyLimit: 1024, maxStatementLength: 10_000 });
  const response = await post(url, { query: `SELECT '${'x'.repeat(2000)}'` });
  t.equal(response.status, 413);
  t.same(response.body, {
    error: { code: 'ProtocolError', message: 'Request is too big: exceeds maximum allowed length 1024 bytes', limit: 1024 },
  });
  t.equal(cql.requests.length, 0);
  t.equal((await post(url, { query: 'SELECT 1' })).status, 200, 'the server keeps serving');
});

t.test('a statement over max_statement_length is 400 Invalid, one at the limit passes', async (t) => {
  const { url } = await serve(t, { maxStatementLength: 50 });
  const tooLong = await post(url, { query: `SELECT ${'x'.repeat(44)}` });
  t.equal(tooLong.status, 400);
  t.same(tooLong.body, { error: { code: 'Invalid', message: 'Statement too long (51 > 50 characters)' } });
  t.equal((await post(url, { query: `SELECT ${'x'.repeat(43)}` })).status, 200);
});

t.test('each error class maps to its status with code, message and details', async (t) => {
  const { url, errorsLogged } = await serve(t);
  const expected: [string, number, Record<string, unknown>][] = [
    ['syntax', 400, { code: 'SyntaxError', line: 1, column: 7, token: 'FORM' }],
    ['invalid', 400, { code: 'Invalid' }],
    ['exists', 400, { code: 'AlreadyExists', keyspace: 'ks' }],
    ['config', 400, { code: 'ConfigurationError' }],
    ['unauthorized', 401, { code: 'Unauthorized' }],
    ['unavailable', 503, { code: 'Unavailable', consistency: 'QUORUM', required: 2, alive: 1 }],
    ['overloaded', 503, { code: 'Overloaded' }],
    ['write timeout', 504, { code: 'WriteTimeout', consistency: 'QUORUM', received: 1, blockFor: 2, writeType: 'SIMPLE' }],
    ['read timeout', 504, { code: 'ReadTimeout', consistency: 'ALL', received: 2, blockFor: 3, dataPresent: true }],
    ['server error', 500, { code: 'ServerError' }],
    ['corrupt', 500, { code: 'CorruptSSTable', file: '/data/ks/t/nb-1-Data.db' }],
    ['bug', 500, { code: 'ServerError', message: "Cannot read properties of undefined (reading 'x')" }],
    ['reject with a string', 500, { code: 'ServerError' }],
  ];
  for (const [query, status, error] of expected) {
    const response = await post(url, { query });
    t.equal(response.status, status, query);
    const thrown = query in ERRORS ? ERRORS[query]() : undefined;
    t.same(response.body, { error: { message: thrown?.message ?? response.body.error.message, ...error } }, query);
    t.type(response.body.error.message, 'string');
  }
  t.equal(errorsLogged.length, 4, 'server-side failures (500s) are logged, client and availability errors are not');
  t.equal((await post(url, { query: 'SELECT 1' })).status, 200, 'the process survives every error');
});

t.test('an unknown path is 404 in the same error shape', async (t) => {
  const { url } = await serve(t);
  const response = await fetch(`${url}/v1/nope`);
  t.equal(response.status, 404);
  t.same(await response.json(), { error: { code: 'ProtocolError', message: 'No such endpoint: GET /v1/nope' } });
});

t.test('/health is 200 ok while serving, 503 with the state otherwise, and CQL is refused', async (t) => {
  let status: HealthStatus = 'starting';
  const { url, cql } = await serve(t, { status: () => status });
  let health = await fetch(`${url}/health`);
  t.equal(health.status, 503);
  t.same(await health.json(), { status: 'starting' });
  const refused = await fetch(`${url}/v1/cql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'SELECT 1' }),
  });
  t.equal(refused.status, 503);
  t.equal(refused.headers.get('connection'), 'close', 'the connection is closed so the node can stop');
  t.equal(((await refused.json()) as { error: { code: string } }).error.code, 'Overloaded');
  t.equal(cql.requests.length, 0);

  status = 'ok';
  health = await fetch(`${url}/health`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });
  t.equal((await post(url, { query: 'SELECT 1' })).status, 200);

  status = 'stopping';
  health = await fetch(`${url}/health`);
  t.equal(health.status, 503);
  t.same(await health.json(), { status: 'stopping' });
});

t.test('/docs/json is an OpenAPI document describing /v1/cql', async (t) => {
  const { url } = await serve(t);
  const response = await fetch(`${url}/docs/json`);
  t.equal(response.status, 200);
  const document = (await response.json()) as { openapi: string; paths: Record<string, any> };
  t.match(document.openapi, /^3\./);
  t.ok(document.paths['/v1/cql']?.post, 'POST /v1/cql is documented');
  t.ok(document.paths['/health']?.get, 'GET /health is documented');
  const body = document.paths['/v1/cql'].post.requestBody.content['application/json'].schema;
  t.same(body.required, ['query']);
  t.equal(body.additionalProperties, false);
  t.equal((await fetch(`${url}/docs`, { redirect: 'manual' })).status < 400, true, 'the UI is served');
});
