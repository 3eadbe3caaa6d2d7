import t from 'tap';
import fc from 'fast-check';
import { CqlSyntaxError } from '../../lib/errors.js';
import { parse, parseScript } from '../../lib/cql/parser.js';
import type { Literal } from '../../lib/schema/type.js';
import type { Statement, Term } from '../../lib/cql/ast.js';
import { propertyHolds } from '../helpers/property.js';

const stmt = (text: string): Statement => parse(text).statement;
const lit = (value: Literal): Term => ({ kind: 'literal', value });
const int = (text: string): Term => lit({ kind: 'integer', text });
const str = (text: string): Term => lit({ kind: 'string', text });
const bind = (index: number, name: string | null = null): Term => ({ kind: 'bind', index, name });
const type = (name: string, ...params: { name: string; params: unknown[] }[]) => ({ name, params });
const noUsing = { ttl: null, timestamp: null };

// ---- DDL ------------------------------------------------------------------------------

t.test('CREATE KEYSPACE with replication map and durable_writes', async (t) => {
  t.same(
    stmt(
      "CREATE KEYSPACE IF NOT EXISTS Ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3} AND durable_writes = true;",
    ),
    {
      kind: 'createKeyspace',
      name: 'ks',
      ifNotExists: true,
      properties: { replication: { class: 'SimpleStrategy', replication_factor: 3 }, durable_writes: true },
    },
  );
  t.same(stmt("create schema \"MyKs\" with replication = {'class': 'NetworkTopologyStrategy', 'DC1': 2}"), {
    kind: 'createKeyspace',
    name: 'MyKs',
    ifNotExists: false,
    properties: { replication: { class: 'NetworkTopologyStrategy', DC1: 2 } },
  });
});

t.test('ALTER and DROP KEYSPACE', async (t) => {
  t.same(stmt('ALTER KEYSPACE ks WITH durable_writes = false'), {
    kind: 'alterKeyspace',
    name: 'ks',
    properties: { durable_writes: false },
  });
  t.same(stmt('DROP KEYSPACE IF EXISTS ks'), { kind: 'dropKeyspace', name: 'ks', ifExists: true });
  t.same(stmt('drop keyspace ks'), { kind: 'dropKeyspace', name: 'ks', ifExists: false });
});

t.test('CREATE TABLE with composite partition key, clustering order and properties', async (t) => {
  t.same(
    stmt(`CREATE TABLE IF NOT EXISTS ks.events (
            tenant text, day date, ts timeuuid, seq int, payload blob, owner text STATIC,
            PRIMARY KEY ((tenant, day), ts, seq)
          ) WITH CLUSTERING ORDER BY (ts DESC, seq ASC)
            AND comment = 'audit' AND gc_grace_seconds = 3600 AND bloom_filter_fp_chance = 0.01
            AND compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 160}`),
    {
      kind: 'createTable',
      table: { keyspace: 'ks', name: 'events' },
      ifNotExists: true,
      columns: [
        { name: 'tenant', type: type('text'), isStatic: false },
        { name: 'day', type: type('date'), isStatic: false },
        { name: 'ts', type: type('timeuuid'), isStatic: false },
        { name: 'seq', type: type('int'), isStatic: false },
        { name: 'payload', type: type('blob'), isStatic: false },
        { name: 'owner', type: type('text'), isStatic: true },
      ],
      partitionKey: ['tenant', 'day'],
      clusteringKey: ['ts', 'seq'],
      clusteringOrder: [
        { column: 'ts', order: 'DESC' },
        { column: 'seq', order: 'ASC' },
      ],
      properties: {
        comment: 'audit',
        gc_grace_seconds: 3600,
        bloom_filter_fp_chance: 0.01,
        compaction: { class: 'LeveledCompactionStrategy', sstable_size_in_mb: 160 },
      },
      compactStorage: false,
    },
  );
});

t.test('CREATE TABLE with an inline primary key, COLUMNFAMILY and COMPACT STORAGE', async (t) => {
  t.match(stmt('CREATE COLUMNFAMILY t (k int PRIMARY KEY, v text) WITH COMPACT STORAGE'), {
    kind: 'createTable',
    table: { keyspace: null, name: 't' },
    partitionKey: ['k'],
    clusteringKey: [],
    compactStorage: true,
    properties: {},
  });
  t.match(stmt('CREATE TABLE t (k int, c int, PRIMARY KEY (k, c),)'), { partitionKey: ['k'], clusteringKey: ['c'] });
  t.match(stmt('CREATE TABLE t (k int, PRIMARY KEY ((k)))'), { partitionKey: ['k'], clusteringKey: [] });
  t.match(stmt('CREATE TABLE t (s int STATIC PRIMARY KEY)'), { columns: [{ name: 's', isStatic: true }], partitionKey: ['s'] });
  // No primary key is a semantic error for the schema layer, not a syntax error.
  t.match(stmt('CREATE TABLE t (k int)'), { partitionKey: [], clusteringKey: [] });
});

t.test('column types: native, collections, frozen, tuple and user-defined names', async (t) => {
  const created = stmt(
    'CREATE TABLE t (k INT PRIMARY KEY, a List<Text>, b set<frozen<map<int, list<bigint>>>>, c tuple<int, text, uuid>, d my_udt, e "Udt", f ks.addr, g frozen<tuple<int>>)',
  );
  t.same(
    created.kind === 'createTable' && created.columns.map((c) => c.type),
    [
      type('int'),
      type('list', type('text')),
      type('set', type('frozen', type('map', type('int'), type('list', type('bigint'))))),
      type('tuple', type('int'), type('text'), type('uuid')),
      type('my_udt'),
      type('Udt'),
      type('ks.addr'),
      type('frozen', type('tuple', type('int'))),
    ],
  );
  const natives = ['ascii', 'bigint', 'blob', 'boolean', 'counter', 'date', 'decimal', 'double', 'duration', 'float', 'inet', 'int', 'smallint', 'text', 'time', 'timestamp', 'timeuuid', 'tinyint', 'uuid', 'varchar', 'varint'];
  const all = stmt(`CREATE TABLE t (${natives.map((n) => `c_${n} ${n.toUpperCase()}`).join(', ')}, PRIMARY KEY (c_int))`);
  t.same(all.kind === 'createTable' && all.columns.map((c) => c.type.name), natives);
});

t.test('non-reserved keywords work unquoted as column and table names', async (t) => {
  const names = ['key', 'value', 'ttl', 'timestamp', 'date', 'time', 'text', 'type', 'count', 'json', 'values', 'writetime', 'static', 'list', 'map', 'exists', 'contains', 'distinct', 'as', 'cast', 'filtering', 'clustering', 'compact', 'storage', 'frozen', 'tuple', 'keys', 'per', 'partition', 'group'];
  const created = stmt(`CREATE TABLE type (${names.map((n) => `${n} int`).join(', ')}, PRIMARY KEY (key, value))`);
  t.match(created, { table: { name: 'type' }, partitionKey: ['key'], clusteringKey: ['value'] });
  t.same(created.kind === 'createTable' && created.columns.map((c) => c.name), names);
  t.match(stmt('SELECT key, value, ttl, timestamp, count, json, distinct FROM values WHERE key = 1 AND exists = 2'), {
    distinct: false,
    json: false,
    table: { name: 'values' },
    selection: ['key', 'value', 'ttl', 'timestamp', 'count', 'json', 'distinct'].map((name) => ({ selector: { kind: 'column', name } })),
    where: [{ column: 'key' }, { column: 'exists' }],
  });
  t.match(stmt('INSERT INTO t (key, type, text) VALUES (1, 2, 3)'), { columns: ['key', 'type', 'text'] });
  t.match(stmt('UPDATE t SET ttl = 1, count = count + 1 WHERE key = 1 IF exists = 3'), {
    assignments: [{ kind: 'set', column: 'ttl' }, { kind: 'add', column: 'count' }],
    ifExists: false,
    conditions: [{ column: 'exists', op: '=' }],
  });
});

t.test('reserved keywords can be used when double-quoted', async (t) => {
  t.match(stmt('SELECT "select", "FROM" FROM "table" WHERE "where" = 1'), {
    table: { name: 'table' },
    selection: [{ selector: { name: 'select' } }, { selector: { name: 'FROM' } }],
    where: [{ column: 'where' }],
  });
});

t.test('ALTER TABLE actions', async (t) => {
  const intType = type('int');
  t.same(stmt('ALTER TABLE ks.t ADD c int'), {
    kind: 'alterTable',
    table: { keyspace: 'ks', name: 't' },
    action: { kind: 'add', columns: [{ name: 'c', type: intType, isStatic: false }] },
  });
  t.match(stmt('ALTER TABLE t ADD s int STATIC'), { action: { kind: 'add', columns: [{ name: 's', isStatic: true }] } });
  t.same(stmt('ALTER TABLE t ADD (c int, d list<text> static)'), {
    kind: 'alterTable',
    table: { keyspace: null, name: 't' },
    action: {
      kind: 'add',
      columns: [
        { name: 'c', type: intType, isStatic: false },
        { name: 'd', type: type('list', type('text')), isStatic: true },
      ],
    },
  });
  t.match(stmt('ALTER TABLE t DROP c'), { action: { kind: 'drop', columns: ['c'] } });
  t.match(stmt('ALTER TABLE t DROP (c, "D")'), { action: { kind: 'drop', columns: ['c', 'D'] } });
  t.same(stmt("ALTER COLUMNFAMILY t WITH comment = 'x' AND default_time_to_live = 10"), {
    kind: 'alterTable',
    table: { keyspace: null, name: 't' },
    action: { kind: 'with', properties: { comment: 'x', default_time_to_live: 10 } },
  });
  t.match(stmt('ALTER TABLE t RENAME a TO b AND c TO d'), {
    action: { kind: 'rename', renames: [['a', 'b'], ['c', 'd']] },
  });
  t.same(stmt('ALTER TABLE t ALTER c TYPE varchar'), {
    kind: 'alterTable',
    table: { keyspace: null, name: 't' },
    action: { kind: 'alterType', column: 'c', type: type('varchar') },
  });
});

t.test('DROP TABLE, TRUNCATE and USE', async (t) => {
  t.same(stmt('DROP TABLE IF EXISTS ks.t'), { kind: 'dropTable', table: { keyspace: 'ks', name: 't' }, ifExists: true });
  t.same(stmt('DROP COLUMNFAMILY t'), { kind: 'dropTable', table: { keyspace: null, name: 't' }, ifExists: false });
  t.same(stmt('TRUNCATE t'), { kind: 'truncate', table: { keyspace: null, name: 't' } });
  t.same(stmt('TRUNCATE TABLE ks.t'), { kind: 'truncate', table: { keyspace: 'ks', name: 't' } });
  t.same(stmt('USE "MyKs"'), { kind: 'use', keyspace: 'MyKs' });
  t.same(stmt('use MyKs;'), { kind: 'use', keyspace: 'myks' });
});

t.test('property values: negative numbers, floats, booleans, unreserved words; keys lower-cased', async (t) => {
  t.match(stmt("ALTER TABLE t WITH Speculative_Retry = NONE AND x = -5 AND y = 1.5e2 AND z = false AND caching = {'keys': 'ALL', 'n': -1}"), {
    action: { properties: { speculative_retry: 'none', x: -5, y: 150, z: false, caching: { keys: 'ALL', n: -1 } } },
  });
  t.same(stmt('ALTER KEYSPACE ks WITH replication = {}'), { kind: 'alterKeyspace', name: 'ks', properties: { replication: {} } });
  // A key taken from user text is an own property, never the object's prototype.
  const altered = stmt('ALTER KEYSPACE ks WITH "__proto__" = 1');
  t.ok(altered.kind === 'alterKeyspace' && Object.hasOwn(altered.properties, '__proto__'));
  t.equal(Object.getPrototypeOf(altered.kind === 'alterKeyspace' && altered.properties), Object.prototype);
});

// ---- INSERT ---------------------------------------------------------------------------

t.test('INSERT with values, IF NOT EXISTS and USING TTL AND TIMESTAMP', async (t) => {
  t.same(parse("INSERT INTO ks.t (k, v) VALUES (1, 'a') IF NOT EXISTS USING TTL 86400 AND TIMESTAMP 1234567890123456;"), {
    statement: {
      kind: 'insert',
      table: { keyspace: 'ks', name: 't' },
      columns: ['k', 'v'],
      values: [int('1'), str('a')],
      json: null,
      ifNotExists: true,
      using: { ttl: int('86400'), timestamp: int('1234567890123456') },
    },
    markers: [],
  });
  t.match(stmt('INSERT INTO t (k) VALUES (1) USING TIMESTAMP ? AND TTL ?'), {
    using: { ttl: bind(1), timestamp: bind(0) },
  });
});

t.test('INSERT JSON with DEFAULT NULL or UNSET', async (t) => {
  t.same(stmt(`INSERT INTO t JSON '{"k": 1, "v": "it''s"}'`), {
    kind: 'insert',
    table: { keyspace: null, name: 't' },
    columns: [],
    values: [],
    json: str(`{"k": 1, "v": "it's"}`),
    jsonDefault: 'NULL',
    ifNotExists: false,
    using: noUsing,
  });
  t.match(stmt("INSERT INTO t JSON ? DEFAULT UNSET IF NOT EXISTS USING TTL 5"), {
    json: bind(0),
    jsonDefault: 'UNSET',
    ifNotExists: true,
    using: { ttl: int('5') },
  });
  t.match(stmt("INSERT INTO t JSON :doc DEFAULT NULL"), { json: bind(0, 'doc'), jsonDefault: 'NULL' });
});

t.test('every literal kind', async (t) => {
  const inserted = stmt(`INSERT INTO t (a) VALUES (
      'text', $$dollar 'quoted'$$, 42, -7, 3.25, -2e10, 1.5E-3, NaN, Infinity, -Infinity,
      true, FALSE, 123e4567-e89b-12d3-a456-426614174000, 0xCAFEbabe, 0x, 1h30m, -12mo3d, P1Y2M, PT1H, NULL,
      99999999999999999999999)`);
  t.same(inserted.kind === 'insert' && inserted.values, [
    str('text'),
    str("dollar 'quoted'"),
    int('42'),
    int('-7'),
    lit({ kind: 'float', text: '3.25' }),
    lit({ kind: 'float', text: '-2e10' }),
    lit({ kind: 'float', text: '1.5E-3' }),
    lit({ kind: 'float', text: 'NaN' }),
    lit({ kind: 'float', text: 'Infinity' }),
    lit({ kind: 'float', text: '-Infinity' }),
    lit({ kind: 'boolean', value: true }),
    lit({ kind: 'boolean', value: false }),
    lit({ kind: 'uuid', text: '123e4567-e89b-12d3-a456-426614174000' }),
    lit({ kind: 'hex', text: 'cafebabe' }),
    lit({ kind: 'hex', text: '' }),
    lit({ kind: 'duration', text: '1h30m' }),
    lit({ kind: 'duration', text: '-12mo3d' }),
    lit({ kind: 'duration', text: 'P1Y2M' }),
    lit({ kind: 'duration', text: 'PT1H' }),
    lit({ kind: 'null' }),
    int('99999999999999999999999'),
  ]);
});

t.test('collection and tuple literals are Term collections with Term leaves; {} is emptyBraces', async (t) => {
  const inserted = stmt("INSERT INTO t (a) VALUES ([1, 2], [], {'x', 'y'}, {'k': [1], 'j': ?}, {}, (1, 'a', (2, 3)), [{1: {}}])");
  t.same(inserted.kind === 'insert' && inserted.values, [
    { kind: 'list', items: [int('1'), int('2')] },
    { kind: 'list', items: [] },
    { kind: 'set', items: [str('x'), str('y')] },
    {
      kind: 'map',
      entries: [
        [str('k'), { kind: 'list', items: [int('1')] }],
        [str('j'), bind(0)],
      ],
    },
    lit({ kind: 'emptyBraces' }),
    { kind: 'tuple', items: [int('1'), str('a'), { kind: 'tuple', items: [int('2'), int('3')] }] },
    { kind: 'list', items: [{ kind: 'map', entries: [[int('1'), lit({ kind: 'emptyBraces' })]] }] },
  ]);
});

t.test('function calls, casts and negation of non-literals', async (t) => {
  const inserted = stmt('INSERT INTO t (a) VALUES (now(), uuid(), toTimestamp(now()), blobAsText(0x41), (bigint) ?, (frozen<list<int>>) [1], -?, -abs(?), "MyFn"(1, 2), system.now())');
  t.same(inserted.kind === 'insert' && inserted.values, [
    { kind: 'function', name: 'now', args: [] },
    { kind: 'function', name: 'uuid', args: [] },
    { kind: 'function', name: 'totimestamp', args: [{ kind: 'function', name: 'now', args: [] }] },
    { kind: 'function', name: 'blobastext', args: [lit({ kind: 'hex', text: '41' })] },
    { kind: 'cast', type: type('bigint'), term: bind(0) },
    { kind: 'cast', type: type('frozen', type('list', type('int'))), term: { kind: 'list', items: [int('1')] } },
    { kind: 'negate', term: bind(1) },
    { kind: 'negate', term: { kind: 'function', name: 'abs', args: [bind(2)] } },
    { kind: 'function', name: 'MyFn', args: [int('1'), int('2')] },
    { kind: 'function', name: 'system.now', args: [] },
  ]);
});

// ---- bind markers ---------------------------------------------------------------------

t.test('bind markers are indexed in order of appearance, named and positional mixed', async (t) => {
  const parsed = parse('UPDATE t USING TTL ? SET a = :a, b = ?, m[?] = :A WHERE k = :a AND c IN ? IF d = ?');
  t.same(parsed.markers, [{ name: null }, { name: 'a' }, { name: null }, { name: null }, { name: 'a' }, { name: 'a' }, { name: null }, { name: null }]);
  t.match(parsed.statement, {
    using: { ttl: bind(0) },
    assignments: [
      { column: 'a', value: bind(1, 'a') },
      { column: 'b', value: bind(2) },
      { kind: 'setElement', element: bind(3), value: bind(4, 'a') },
    ],
    where: [
      { kind: 'compare', value: bind(5, 'a') },
      { kind: 'in', values: bind(6) },
    ],
    conditions: [{ value: bind(7) }],
  });
  t.same(parse('SELECT * FROM t WHERE k = :"CaseKept"').markers, [{ name: 'CaseKept' }]);
});

// ---- UPDATE ---------------------------------------------------------------------------

t.test('UPDATE assignments of every form', async (t) => {
  t.same(
    stmt("UPDATE ks.t USING TIMESTAMP 5 AND TTL 10 SET a = 1, c = c + 2, l = [0] + l, d = d - {'x'}, e += 3, f -= ?, m['k'] = 'v', n = n + -1 WHERE k = 1"),
    {
      kind: 'update',
      table: { keyspace: 'ks', name: 't' },
      using: { ttl: int('10'), timestamp: int('5') },
      assignments: [
        { kind: 'set', column: 'a', value: int('1') },
        { kind: 'add', column: 'c', value: int('2') },
        { kind: 'prepend', column: 'l', value: { kind: 'list', items: [int('0')] } },
        { kind: 'subtract', column: 'd', value: { kind: 'set', items: [str('x')] } },
        { kind: 'add', column: 'e', value: int('3') },
        { kind: 'subtract', column: 'f', value: bind(0) },
        { kind: 'setElement', column: 'm', element: str('k'), value: str('v') },
        { kind: 'add', column: 'n', value: int('-1') },
      ],
      where: [{ kind: 'compare', column: 'k', op: '=', value: int('1') }],
      ifExists: false,
      conditions: [],
    },
  );
  // `c -1` is subtraction, not a column followed by the literal -1.
  t.match(stmt('UPDATE t SET c = c -1 WHERE k = 1'), { assignments: [{ kind: 'subtract', column: 'c', value: int('1') }] });
  t.match(stmt('UPDATE t SET "C" = "C" + 1 WHERE k = 1'), { assignments: [{ kind: 'add', column: 'C' }] });
});

t.test('UPDATE and DELETE conditions: IF EXISTS and IF cond AND …', async (t) => {
  t.match(stmt('UPDATE t SET a = 1 WHERE k = 1 IF EXISTS'), { ifExists: true, conditions: [] });
  t.same(
    stmt("UPDATE t SET a = 1 WHERE k = 1 IF a = 2 AND b != null AND m['x'] > 3 AND c IN (1, 2) AND d IN ? AND l[0] IN (4)"),
    {
      kind: 'update',
      table: { keyspace: null, name: 't' },
      using: noUsing,
      assignments: [{ kind: 'set', column: 'a', value: int('1') }],
      where: [{ kind: 'compare', column: 'k', op: '=', value: int('1') }],
      ifExists: false,
      conditions: [
        { column: 'a', element: null, op: '=', value: int('2') },
        { column: 'b', element: null, op: '!=', value: lit({ kind: 'null' }) },
        { column: 'm', element: str('x'), op: '>', value: int('3') },
        { column: 'c', element: null, op: 'IN', value: [int('1'), int('2')] },
        { column: 'd', element: null, op: 'IN', value: bind(0) },
        { column: 'l', element: int('0'), op: 'IN', value: [int('4')] },
      ],
    },
  );
  t.match(stmt('DELETE FROM t WHERE k = 1 IF EXISTS'), { ifExists: true });
  t.match(stmt('DELETE FROM t WHERE k = 1 IF v = 3'), { ifExists: false, conditions: [{ column: 'v', op: '=' }] });
});

// ---- DELETE ---------------------------------------------------------------------------

t.test('DELETE rows, columns and collection elements', async (t) => {
  t.same(stmt('DELETE FROM ks.t USING TIMESTAMP 99 WHERE k = 1 AND c > 2'), {
    kind: 'delete',
    table: { keyspace: 'ks', name: 't' },
    targets: [],
    using: { ttl: null, timestamp: int('99') },
    where: [
      { kind: 'compare', column: 'k', op: '=', value: int('1') },
      { kind: 'compare', column: 'c', op: '>', value: int('2') },
    ],
    ifExists: false,
    conditions: [],
  });
  t.match(stmt("DELETE a, m['k'], l[0] FROM t WHERE k = 1"), {
    targets: [
      { column: 'a', element: null },
      { column: 'm', element: str('k') },
      { column: 'l', element: int('0') },
    ],
  });
});

// ---- BATCH ----------------------------------------------------------------------------

t.test('BATCH: types, USING TIMESTAMP, optional semicolons, markers across statements', async (t) => {
  const parsed = parse(`BEGIN BATCH USING TIMESTAMP 7
      INSERT INTO t (k, v) VALUES (?, ?);
      UPDATE t SET v = ? WHERE k = ?
      DELETE FROM t WHERE k = :k;
    APPLY BATCH;`);
  t.same(parsed.markers, [{ name: null }, { name: null }, { name: null }, { name: null }, { name: 'k' }]);
  t.match(parsed.statement, {
    kind: 'batch',
    type: 'LOGGED',
    using: { ttl: null, timestamp: int('7') },
    statements: [
      { kind: 'insert', values: [bind(0), bind(1)] },
      { kind: 'update', assignments: [{ value: bind(2) }], where: [{ value: bind(3) }] },
      { kind: 'delete', where: [{ value: bind(4, 'k') }] },
    ],
  });
  t.match(stmt('BEGIN UNLOGGED BATCH INSERT INTO t (k) VALUES (1) APPLY BATCH'), { type: 'UNLOGGED', using: noUsing });
  t.match(stmt('begin counter batch update t set c = c + 1 where k = 1; apply batch'), { type: 'COUNTER' });
  t.same(stmt('BEGIN BATCH APPLY BATCH'), { kind: 'batch', type: 'LOGGED', using: noUsing, statements: [] });
});

// ---- SELECT ---------------------------------------------------------------------------

t.test('SELECT * with every clause', async (t) => {
  t.same(
    stmt('SELECT * FROM ks.t WHERE k = 1 AND c >= 2 GROUP BY k, c ORDER BY c DESC, d PER PARTITION LIMIT 3 LIMIT 10 ALLOW FILTERING;'),
    {
      kind: 'select',
      table: { keyspace: 'ks', name: 't' },
      distinct: false,
      json: false,
      selection: null,
      where: [
        { kind: 'compare', column: 'k', op: '=', value: int('1') },
        { kind: 'compare', column: 'c', op: '>=', value: int('2') },
      ],
      groupBy: ['k', 'c'],
      orderBy: [
        { column: 'c', order: 'DESC' },
        { column: 'd', order: 'ASC' },
      ],
      perPartitionLimit: int('3'),
      limit: int('10'),
      allowFiltering: true,
    },
  );
  t.match(stmt('SELECT * FROM t LIMIT ? '), { limit: bind(0), where: [], groupBy: [], orderBy: [], allowFiltering: false });
});

t.test('SELECT JSON and DISTINCT', async (t) => {
  t.match(stmt('SELECT JSON * FROM t'), { json: true, distinct: false, selection: null });
  t.match(stmt('SELECT DISTINCT k FROM t'), { json: false, distinct: true, selection: [{ selector: { kind: 'column', name: 'k' } }] });
  t.match(stmt('SELECT JSON DISTINCT k, json FROM t'), {
    json: true,
    distinct: true,
    selection: [{ selector: { name: 'k' } }, { selector: { name: 'json' } }],
  });
  t.match(stmt('SELECT json AS j FROM t'), { json: false, selection: [{ selector: { name: 'json' }, alias: 'j' }] });
});

t.test('selectors: columns, aliases, WRITETIME, TTL, COUNT, functions, CAST and terms', async (t) => {
  const selected = stmt(
    'SELECT k AS "Key", WRITETIME(v), ttl(v) AS t, COUNT(*), count(1) AS n, count(v), token(k, c), toTimestamp(ts), blobAsText(b), CAST(v AS text), cast(count(*) as bigint), now(), 42, ?, dateOf(now()) FROM t',
  );
  t.same(selected.kind === 'select' && selected.selection, [
    { selector: { kind: 'column', name: 'k' }, alias: 'Key' },
    { selector: { kind: 'writetime', column: 'v' }, alias: null },
    { selector: { kind: 'ttl', column: 'v' }, alias: 't' },
    { selector: { kind: 'countRows' }, alias: null },
    { selector: { kind: 'countRows' }, alias: 'n' },
    { selector: { kind: 'function', name: 'count', args: [{ kind: 'column', name: 'v' }] }, alias: null },
    { selector: { kind: 'function', name: 'token', args: [{ kind: 'column', name: 'k' }, { kind: 'column', name: 'c' }] }, alias: null },
    { selector: { kind: 'function', name: 'totimestamp', args: [{ kind: 'column', name: 'ts' }] }, alias: null },
    { selector: { kind: 'function', name: 'blobastext', args: [{ kind: 'column', name: 'b' }] }, alias: null },
    { selector: { kind: 'cast', selector: { kind: 'column', name: 'v' }, type: type('text') }, alias: null },
    { selector: { kind: 'cast', selector: { kind: 'countRows' }, type: type('bigint') }, alias: null },
    { selector: { kind: 'function', name: 'now', args: [] }, alias: null },
    { selector: { kind: 'term', term: int('42') }, alias: null },
    { selector: { kind: 'term', term: bind(0) }, alias: null },
    { selector: { kind: 'function', name: 'dateof', args: [{ kind: 'function', name: 'now', args: [] }] }, alias: null },
  ]);
});

t.test('WHERE relations of every form', async (t) => {
  const selected = stmt(`SELECT * FROM t WHERE a = 1 AND b < 2 AND c <= 3 AND d > 4 AND e >= 5 AND f != 6
      AND g IN (1, 2) AND h IN ? AND i IN () AND (j, k) > (1, 2) AND (j, k) <= ?
      AND (l, m) IN ((1, 2), (3, 4)) AND (l, m) IN ? AND token(a, b) > token(?, ?) AND TOKEN(a) <= -9223372036854775808
      AND s CONTAINS 'x' AND mp CONTAINS KEY 'y' AND mp['z'] = 7`);
  t.same(selected.kind === 'select' && selected.where, [
    { kind: 'compare', column: 'a', op: '=', value: int('1') },
    { kind: 'compare', column: 'b', op: '<', value: int('2') },
    { kind: 'compare', column: 'c', op: '<=', value: int('3') },
    { kind: 'compare', column: 'd', op: '>', value: int('4') },
    { kind: 'compare', column: 'e', op: '>=', value: int('5') },
    { kind: 'compare', column: 'f', op: '!=', value: int('6') },
    { kind: 'in', column: 'g', values: [int('1'), int('2')] },
    { kind: 'in', column: 'h', values: bind(0) },
    { kind: 'in', column: 'i', values: [] },
    { kind: 'tupleCompare', columns: ['j', 'k'], op: '>', value: { kind: 'tuple', items: [int('1'), int('2')] } },
    { kind: 'tupleCompare', columns: ['j', 'k'], op: '<=', value: bind(1) },
    {
      kind: 'tupleIn',
      columns: ['l', 'm'],
      values: [
        { kind: 'tuple', items: [int('1'), int('2')] },
        { kind: 'tuple', items: [int('3'), int('4')] },
      ],
    },
    { kind: 'tupleIn', columns: ['l', 'm'], values: bind(2) },
    { kind: 'token', columns: ['a', 'b'], op: '>', value: { kind: 'function', name: 'token', args: [bind(3), bind(4)] } },
    { kind: 'token', columns: ['a'], op: '<=', value: int('-9223372036854775808') },
    { kind: 'contains', column: 's', key: false, value: str('x') },
    { kind: 'contains', column: 'mp', key: true, value: str('y') },
    { kind: 'elementCompare', column: 'mp', element: str('z'), op: '=', value: int('7') },
  ]);
});

// ---- lexical matters seen through the parser -----------------------------------------

t.test('keywords are case-insensitive, identifiers lower-cased unless quoted', async (t) => {
  t.same(stmt('sElEcT Foo, "Bar" fRoM Ks.TaBlE1 WhErE Foo = 1'), stmt('SELECT foo, "Bar" FROM ks.table1 WHERE foo = 1'));
  t.match(stmt('select "Foo""Bar" from t'), { selection: [{ selector: { name: 'Foo"Bar' } }] });
});

t.test('comments and line breaks anywhere between tokens', async (t) => {
  t.same(
    stmt(`-- leading comment
      SELECT /* inline */ a // trailing
      FROM t -- another
      WHERE a = 1; /* after the semicolon */`),
    stmt('SELECT a FROM t WHERE a = 1'),
  );
});

t.test('parseScript splits statements on semicolons, each with its own markers', async (t) => {
  const parsed = parseScript(`
    CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
    USE ks;;
    BEGIN BATCH INSERT INTO t (k) VALUES (?); INSERT INTO t (k) VALUES (?); APPLY BATCH;
    SELECT * FROM t WHERE k = ?
  `);
  t.same(
    parsed.map((p) => p.statement.kind),
    ['createKeyspace', 'use', 'batch', 'select'],
  );
  t.same(
    parsed.map((p) => p.markers.length),
    [0, 0, 2, 1],
  );
  t.match(parsed[3]!.statement, { where: [{ value: bind(0) }] });
  t.same(parseScript('  -- nothing here\n ; ;'), []);
  let error: CqlSyntaxError | undefined;
  try {
    parseScript('USE a\nUSE b');
  } catch (caught) {
    if (caught instanceof CqlSyntaxError) error = caught;
  }
  if (error === undefined) throw new Error('expected a CqlSyntaxError');
  t.same([error.line, error.column, error.token], [2, 1, 'USE']);
  t.match(error.message, "line 2:1 mismatched input 'USE' expecting ';'");
});

// ---- errors ---------------------------------------------------------------------------

/** [statement, line, column, token]: where the parser must point, 1-based. */
const INVALID: [string, number, number, string][] = [
  ['SELECT * FORM t', 1, 10, 'FORM'],
  ['SELECT * FROM t extra', 1, 17, 'extra'],
  ['SELEC * FROM t', 1, 1, 'SELEC'],
  ['', 1, 1, '<EOF>'],
  [';', 1, 1, ';'],
  ['SELECT FROM t', 1, 8, 'FROM'],
  ['SELECT * FROM', 1, 14, '<EOF>'],
  ['SELECT * FROM select', 1, 15, 'select'],
  ['SELECT * FROM t WHERE', 1, 22, '<EOF>'],
  ['SELECT * FROM t WHERE a', 1, 24, '<EOF>'],
  ['SELECT * FROM t WHERE a == 1', 1, 26, '='],
  ['SELECT * FROM t WHERE a = b', 1, 27, 'b'],
  ['SELECT * FROM t WHERE (a, b) != (1, 2)', 1, 30, '!='],
  ['SELECT * FROM t WHERE token(k) != 5', 1, 32, '!='],
  ["SELECT * FROM t LIMIT 'x'", 1, 23, "'x'"],
  ['SELECT * FROM t LIMIT 1.5', 1, 23, '1.5'],
  ['SELECT * FROM t ALLOW', 1, 22, '<EOF>'],
  ['SELECT * FROM t ORDER c', 1, 23, 'c'],
  ['SELECT * FROM t PER PARTITION 5', 1, 31, '5'],
  ['SELECT a, FROM t', 1, 11, 'FROM'],
  ['SELECT a AS FROM t', 1, 13, 'FROM'],
  ['SELECT writetime(1) FROM t', 1, 18, '1'],
  ['SELECT cast(a text) FROM t', 1, 15, 'text'],
  ['SELECT * FROM t WHERE a IN 1', 1, 28, '1'],
  ['SELECT * FROM t WHERE a IN (1, 2', 1, 33, '<EOF>'],
  ['SELECT * FROM ks.', 1, 18, '<EOF>'],
  ['SELECT * FROM t;;', 1, 17, ';'],
  ['SELECT * FROM t WHERE a = 1 AND', 1, 32, '<EOF>'],
  ["SELECT * FROM t WHERE a = 'abc", 1, 27, "'"],
  ['SELECT * FROM t /* comment', 1, 17, '/*'],
  ['SELECT a FROM t WHERE a = 1 @', 1, 29, '@'],
  ['SELECT "" FROM t', 1, 8, '""'],
  ['SELECT "abc FROM t', 1, 8, '"'],
  ['SELECT * FROM t WHERE a = $$abc', 1, 27, '$$'],
  ["SELECT * FROM t WHERE a = - 'x'", 1, 29, "'x'"],
  ['SELECT * FROM t WHERE a CONTAINS', 1, 33, '<EOF>'],
  ['SELECT * FROM t WHERE a = :select', 1, 28, 'select'],
  ['SELECT * FROM t WHERE a = 1h30', 1, 29, '30'],
  ['SELECT * FROM t WHERE a = [1,,2]', 1, 30, ','],
  ['SELECT * FROM t WHERE a = (int ?', 1, 28, 'int'],
  ['INSERT INTO t (a, b) VALUES 1, 2', 1, 29, '1'],
  ['INSERT INTO t (a) VALUE (1)', 1, 19, 'VALUE'],
  ['INSERT t (a) VALUES (1)', 1, 8, 't'],
  ['INSERT INTO t a VALUES (1)', 1, 15, 'a'],
  ['INSERT INTO t (a) VALUES (1) IF EXISTS', 1, 33, 'EXISTS'],
  ['INSERT INTO t (a) VALUES (1) USING TTL', 1, 39, '<EOF>'],
  ["INSERT INTO t (a) VALUES (1) USING TTL 'x'", 1, 40, "'x'"],
  ['INSERT INTO t (a) VALUES (1) USING TIMESTAMP 1 AND TIMESTAMP 2', 1, 52, 'TIMESTAMP'],
  ['INSERT INTO t (a) VALUES (1) USING FOO 1', 1, 36, 'FOO'],
  ['INSERT INTO t (a) VALUES ([1, 2)', 1, 32, ')'],
  ['INSERT INTO t (a) VALUES ({1: 2, 3})', 1, 35, '}'],
  ['INSERT INTO t (a) VALUES ()', 1, 27, ')'],
  ['INSERT INTO t (a) VALUES (foo)', 1, 27, 'foo'],
  ['INSERT INTO t JSON 5', 1, 20, '5'],
  ["INSERT INTO t JSON '{}' DEFAULT 1", 1, 33, '1'],
  ['INSERT INTO t (select) VALUES (1)', 1, 16, 'select'],
  ['INSERT INTO t (a) VALUES (1) USING TTL 1 IF NOT EXISTS', 1, 42, 'IF'],
  ['UPDATE t SET WHERE a = 1', 1, 14, 'WHERE'],
  ['UPDATE t SET a = 1', 1, 19, '<EOF>'],
  ['UPDATE t SET a = b + 1 WHERE k = 1', 1, 18, 'b'],
  ['UPDATE t SET a = 1 + b WHERE k = 1', 1, 22, 'b'],
  ['UPDATE t SET a += WHERE k = 1', 1, 19, 'WHERE'],
  ['UPDATE t SET a[1 = 2 WHERE k = 1', 1, 18, '='],
  ['UPDATE t USING TTL 5 AND SET a = 1 WHERE k = 1', 1, 26, 'SET'],
  ['UPDATE t SET a = 1 WHERE k = 1 IF NOT EXISTS', 1, 35, 'NOT'],
  ['UPDATE t SET a = 1 WHERE k = 1 IF', 1, 34, '<EOF>'],
  ['DELETE FROM t', 1, 14, '<EOF>'],
  ['DELETE a b FROM t WHERE k = 1', 1, 10, 'b'],
  ['DELETE FROM t USING TTL 5 WHERE k = 1', 1, 21, 'TTL'],
  ['DELETE a[ FROM t WHERE k = 1', 1, 11, 'FROM'],
  ['BEGIN BATCH SELECT * FROM t APPLY BATCH', 1, 13, 'SELECT'],
  ['BEGIN BATCH INSERT INTO t (a) VALUES (1)', 1, 41, '<EOF>'],
  ['BEGIN LOGGED BATCH APPLY BATCH', 1, 7, 'LOGGED'],
  ['BEGIN BATCH USING TTL 5 APPLY BATCH', 1, 19, 'TTL'],
  ['BEGIN BATCH APPLY', 1, 18, '<EOF>'],
  ['CREATE KEYSPACE ks', 1, 19, '<EOF>'],
  ["CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': }", 1, 89, '}'],
  ["CREATE KEYSPACE ks WITH replication = {'a': 1} AND replication = {'b': 2}", 1, 52, 'replication'],
  ['CREATE KEYSPACE IF EXISTS ks WITH a = 1', 1, 20, 'EXISTS'],
  ['CREATE TABLE t ()', 1, 17, ')'],
  ['CREATE TABLE t (a int PRIMARY KEY, b)', 1, 37, ')'],
  ['CREATE TABLE t (a list<int, int> PRIMARY KEY)', 1, 27, ','],
  ['CREATE TABLE t (a map<int> PRIMARY KEY)', 1, 26, '>'],
  ['CREATE TABLE t (a int, PRIMARY KEY a)', 1, 36, 'a'],
  ['CREATE TABLE t (a int, PRIMARY KEY ((a), ))', 1, 42, ')'],
  ['CREATE TABLE t (a int PRIMARY KEY) WITH CLUSTERING ORDER BY (a)', 1, 63, ')'],
  ['CREATE TABLE t (a int PRIMARY KEY) WITH COMPACT', 1, 48, '<EOF>'],
  ['CREATE TABLE t (a int PRIMARY KEY) WITH', 1, 40, '<EOF>'],
  ['CREATE TABLE t (a int PRIMARY KEY, PRIMARY KEY (a))', 1, 36, 'PRIMARY'],
  ['CREATE TABLE t (a int PRIMARY KEY', 1, 34, '<EOF>'],
  ['CREATE TABLE t (a int STATIC STATIC)', 1, 30, 'STATIC'],
  ['CREATE TABLE t (a select PRIMARY KEY)', 1, 19, 'select'],
  ['CREATE INDEX i ON t (a)', 1, 8, 'INDEX'],
  ['CREATE TABLE t (a frozen PRIMARY KEY)', 1, 26, 'PRIMARY'],
  ['ALTER TABLE t ADD', 1, 18, '<EOF>'],
  ['ALTER TABLE t FOO a', 1, 15, 'FOO'],
  ['ALTER TABLE t RENAME a b', 1, 24, 'b'],
  ['ALTER TABLE t ALTER a int', 1, 23, 'int'],
  ['ALTER TABLE t DROP (a, )', 1, 24, ')'],
  ['ALTER KEYSPACE ks replication = {}', 1, 19, 'replication'],
  ['DROP ks', 1, 6, 'ks'],
  ['DROP TABLE IF NOT EXISTS t', 1, 15, 'NOT'],
  ['DROP KEYSPACE', 1, 14, '<EOF>'],
  ['TRUNCATE', 1, 9, '<EOF>'],
  ['USE', 1, 4, '<EOF>'],
  ['USE ks extra', 1, 8, 'extra'],
  ['SELECT * FROM t WHERE\n  a = 1\n  AND b ~ 2', 3, 9, '~'],
  ["SELECT *\nFROM t\nWHERE a = 'x\ny' AND", 4, 7, '<EOF>'],
  ['/* multi\nline */ SELECT * FROM t WHERE a = 1 -- note\n  LIMT 5', 3, 3, 'LIMT'],
  ['INSERT INTO t (a)\n\tVALUES\n\t\t(1,\n\t\t 2,,)', 4, 6, ','],
];

t.test('invalid statements fail with SyntaxError at the offending token', async (t) => {
  t.ok(INVALID.length >= 60, `${INVALID.length} cases`);
  for (const [text, line, column, token] of INVALID) {
    let caught: unknown;
    try {
      parse(text);
    } catch (error) {
      caught = error;
    }
    if (!(caught instanceof CqlSyntaxError)) {
      t.fail(`expected a CqlSyntaxError for ${JSON.stringify(text)}, got ${String(caught)}`);
      continue;
    }
    t.equal(caught.code, 'SyntaxError');
    t.same([caught.line, caught.column, caught.token], [line, column, token], JSON.stringify(text));
    t.ok(caught.message.startsWith(`line ${line}:${column} `), caught.message);
  }
});

t.test('error messages read like Cassandra', async (t) => {
  const messageOf = (text: string): string => {
    try {
      parse(text);
    } catch (error) {
      return (error as Error).message;
    }
    return 'parsed';
  };
  t.equal(messageOf('SELECT * FORM t'), "line 1:10 mismatched input 'FORM' expecting K_FROM");
  t.equal(messageOf('INSERT INTO t (a) 1'), "line 1:19 mismatched input '1' expecting K_VALUES");
  t.equal(messageOf('INSERT INTO t (a) VALUES 1'), "line 1:26 mismatched input '1' expecting '('");
  t.equal(messageOf('SELECT * FROM t extra'), "line 1:17 missing EOF at 'extra'");
  t.equal(messageOf('FOO'), "line 1:1 no viable alternative at input 'FOO'");
  t.equal(messageOf('SELECT * FROM t WHERE'), "line 1:22 no viable alternative at input '<EOF>'");
  t.equal(messageOf('UPDATE t SET a = b - 1 WHERE k = 1'), 'line 1:18 Only expressions of the form X = X - <value> are supported.');
  t.equal(messageOf('CREATE TABLE t (k int PRIMARY KEY) WITH comment = 1 AND Comment = 2'), "line 1:57 Multiple definition for property 'comment'");
});

t.test('random token soup never throws anything but CqlSyntaxError', async (t) => {
  const words = ['SELECT', 'INSERT', 'INTO', 'UPDATE', 'SET', 'WHERE', 'FROM', '*', '(', ')', '[', ']', '{', '}', ',', ';', '=', '+', '-', ':', '?', 'a', 'b', '1', "'s'", 'AND', 'IN', 'VALUES', 'token', 'count', 'BEGIN', 'BATCH', 'APPLY', 'CREATE', 'TABLE', 'int', 'PRIMARY', 'KEY', '<', '>', 'map', 'IF', 'EXISTS'];
  propertyHolds(t, fc.check(
    fc.property(fc.array(fc.constantFrom(...words), { maxLength: 25 }), (parts) => {
      try {
        parse(parts.join(' '));
        return true;
      } catch (error) {
        return error instanceof CqlSyntaxError && error.line === 1 && error.column >= 1;
      }
    }),
    { numRuns: 2000 },
  ), 'the property holds');
});
