import t from 'tap';
import { cqlHarness } from '../helpers/cql.js';

t.test('schema statements create, alter and drop keyspaces and tables', async (t) => {
  const h = await cqlHarness();
  t.match(await h.q('CREATE TABLE t (k int PRIMARY KEY, v text)'), { kind: 'schema_change', change: 'CREATED', target: 'TABLE', table: 't' });
  await t.rejects(h.q('CREATE TABLE t (k int PRIMARY KEY)'), { code: 'AlreadyExists' });
  t.same(await h.q('CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)'), { kind: 'void' });
  await t.rejects(h.q("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"), { code: 'AlreadyExists' });
  await t.rejects(h.q("CREATE KEYSPACE k2 WITH replication = {'class': 'Bogus'}"), { code: 'ConfigurationError' });
  await t.rejects(h.q("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy'}"), { code: 'ConfigurationError' });
  await t.rejects(h.q('CREATE TABLE t2 (k int, v int)'), { code: 'Invalid' });
  await t.rejects(h.q('CREATE TABLE t2 (k int PRIMARY KEY, v int) WITH nonsense = 1'), { code: 'ConfigurationError' });
  await t.rejects(
    h.q("CREATE TABLE t2 (k int PRIMARY KEY) WITH compaction = {'class': 'SizeTieredCompactionStrategy', 'bogus': 1}"),
    { code: 'ConfigurationError', message: /bogus/ },
  );
  await h.q("CREATE TABLE t3 (k int PRIMARY KEY) WITH compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 10}");
  await h.q('ALTER TABLE t ADD extra int');
  await h.q('INSERT INTO t (k, v, extra) VALUES (1, ?, 5)', ['one']);
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, extra: 5, v: 'one' }]);
  await h.q('ALTER TABLE t DROP extra');
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, v: 'one' }]);
  // Re-adding a dropped column must not resurrect the values it held.
  await h.q('ALTER TABLE t ADD extra int');
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, extra: null, v: 'one' }]);
  await h.q('ALTER TABLE t WITH default_time_to_live = 10');
  await h.q('TRUNCATE t');
  t.same(await h.rows('SELECT * FROM t'), []);
  t.match(await h.q('DROP TABLE t'), { kind: 'schema_change', change: 'DROPPED' });
  await t.rejects(h.q('SELECT * FROM t'), { code: 'Invalid', message: /unconfigured table t/ });
  t.same(await h.q('DROP TABLE IF EXISTS t'), { kind: 'void' });
  t.match(await h.q('USE ks'), { kind: 'set_keyspace', keyspace: 'ks' });
  await t.rejects(h.q('USE nope'), { code: 'Invalid' });
  await t.rejects(h.q('DROP KEYSPACE system'), { code: 'Invalid' });
  t.match(await h.q('DROP KEYSPACE ks'), { kind: 'schema_change', change: 'DROPPED', target: 'KEYSPACE' });
  await t.rejects(h.q('SELECT * FROM ks.t'), { code: 'Invalid' });
});

t.test('last write wins by USING TIMESTAMP, whatever the arrival order', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int PRIMARY KEY, v text)');
  await h.q("INSERT INTO t (k, v) VALUES (1, 'new') USING TIMESTAMP 2000");
  await h.q("INSERT INTO t (k, v) VALUES (1, 'old') USING TIMESTAMP 1000");
  t.same(await h.rows('SELECT v, WRITETIME(v) FROM t WHERE k = 1'), [{ v: 'new', 'writetime(v)': '2000' }]);
  // On a timestamp tie the greater value wins, so replicas converge.
  await h.q("INSERT INTO t (k, v) VALUES (1, 'zzz') USING TIMESTAMP 2000");
  t.same(await h.rows('SELECT v FROM t WHERE k = 1'), [{ v: 'zzz' }]);
  // A delete at an older timestamp does not shadow newer data; a tie deletes.
  await h.q('DELETE FROM t USING TIMESTAMP 1999 WHERE k = 1');
  t.same(await h.rows('SELECT v FROM t WHERE k = 1'), [{ v: 'zzz' }]);
  await h.q('DELETE v FROM t USING TIMESTAMP 2000 WHERE k = 1');
  t.same(await h.rows('SELECT v FROM t WHERE k = 1'), [{ v: null }], 'the row marker keeps the row');
  await h.q('DELETE FROM t USING TIMESTAMP 2000 WHERE k = 1');
  t.same(await h.rows('SELECT v FROM t WHERE k = 1'), []);
  // The request-level timestamp applies when the statement has none.
  await h.q("INSERT INTO t (k, v) VALUES (2, 'x')", undefined, { timestamp: 5 });
  t.same(await h.rows('SELECT WRITETIME(v) FROM t WHERE k = 2'), [{ 'writetime(v)': '5' }]);
});

t.test('TTL expires cells and rows at the injected clock', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int PRIMARY KEY, a int, b int)');
  await h.q('INSERT INTO t (k, a) VALUES (1, 1) USING TTL 100');
  await h.q('UPDATE t USING TTL 1000 SET b = 2 WHERE k = 1');
  t.same(await h.rows('SELECT k, a, b, TTL(a), TTL(b) FROM t'), [{ k: 1, a: 1, b: 2, 'ttl(a)': 100, 'ttl(b)': 1000 }]);
  h.clock.advanceSeconds(99);
  t.same(await h.rows('SELECT TTL(a) FROM t'), [{ 'ttl(a)': 1 }]);
  h.clock.advanceSeconds(1);
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, a: null, b: 2 }], 'a and the row marker expired; b keeps the row');
  h.clock.advanceSeconds(900);
  t.same(await h.rows('SELECT * FROM t'), [], 'everything expired');
  await t.rejects(h.q('INSERT INTO t (k, a) VALUES (1, 1) USING TTL -1'), { code: 'Invalid', message: /greater or equal to 0/ });
  await t.rejects(h.q('INSERT INTO t (k, a) VALUES (1, 1) USING TTL 700000000'), { code: 'Invalid', message: /too large/ });
  await h.q('ALTER TABLE t WITH default_time_to_live = 5');
  await h.q('INSERT INTO t (k, a) VALUES (2, 2)');
  t.same(await h.rows('SELECT TTL(a) FROM t WHERE k = 2'), [{ 'ttl(a)': 5 }], 'default_time_to_live applies');
  h.clock.advanceSeconds(5);
  t.same(await h.rows('SELECT * FROM t WHERE k = 2'), []);
});

t.test('tombstones shadow data: partition, range, row and cell deletions', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))');
  for (let c = 0; c < 10; c++) await h.q('INSERT INTO t (k, c, v) VALUES (1, ?, ?)', [c, c * 10]);
  await h.q('DELETE FROM t WHERE k = 1 AND c = 0');
  await h.q('DELETE FROM t WHERE k = 1 AND c >= 3 AND c < 6');
  await h.q('DELETE v FROM t WHERE k = 1 AND c = 9');
  t.same((await h.rows('SELECT c, v FROM t WHERE k = 1')).map((r) => [r.c, r.v]), [
    [1, 10], [2, 20], [6, 60], [7, 70], [8, 80], [9, null],
  ]);
  // A write older than the range tombstone stays hidden; a newer one shows.
  const ts = Number((await h.rows('SELECT WRITETIME(v) FROM t WHERE k = 1 AND c = 1'))[0]['writetime(v)']);
  await h.q('INSERT INTO t (k, c, v) VALUES (1, 4, 44) USING TIMESTAMP ?', [ts - 10]);
  t.same(await h.rows('SELECT v FROM t WHERE k = 1 AND c = 4'), []);
  await h.q('INSERT INTO t (k, c, v) VALUES (1, 4, 45)');
  t.same(await h.rows('SELECT v FROM t WHERE k = 1 AND c = 4'), [{ v: 45 }]);
  await h.q('DELETE FROM t WHERE k = 1');
  t.same(await h.rows('SELECT * FROM t WHERE k = 1'), []);
  await h.q('INSERT INTO t (k, c, v) VALUES (1, 1, 1) USING TIMESTAMP 1');
  t.same(await h.rows('SELECT * FROM t WHERE k = 1'), [], 'the partition tombstone shadows older writes');
});

t.test('clustering order, slices, ORDER BY, IN and tuple slices', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, a int, b text, v int, PRIMARY KEY (k, a, b)) WITH CLUSTERING ORDER BY (a DESC, b ASC)');
  for (const a of [1, 2, 3]) for (const b of ['x', 'y']) await h.q('INSERT INTO t (k, a, b, v) VALUES (0, ?, ?, ?)', [a, b, a * 10]);
  const pairs = (rows: Record<string, unknown>[]) => rows.map((r) => `${r.a}${r.b}`);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0')), ['3x', '3y', '2x', '2y', '1x', '1y'], 'a DESC, b ASC');
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 ORDER BY a ASC')), ['1y', '1x', '2y', '2x', '3y', '3x']);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 AND a > 1')), ['3x', '3y', '2x', '2y']);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 AND a >= 2 AND a < 3')), ['2x', '2y']);
  t.same(pairs(await h.rows("SELECT a, b FROM t WHERE k = 0 AND a = 2 AND b > 'x'")), ['2y']);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 AND a IN (1, 3)')), ['3x', '3y', '1x', '1y']);
  t.same(pairs(await h.rows("SELECT a, b FROM t WHERE k = 0 AND (a, b) > (2, 'x')")), ['3x', '3y', '2y']);
  t.same(pairs(await h.rows("SELECT a, b FROM t WHERE k = 0 AND (a, b) <= (2, 'x')")), ['2x', '1x', '1y']);
  t.same(pairs(await h.rows("SELECT a, b FROM t WHERE k = 0 AND (a, b) IN ((1, 'y'), (3, 'x'))")), ['3x', '1y']);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 LIMIT 3')), ['3x', '3y', '2x']);
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE k = 0 ORDER BY a ASC LIMIT 2')), ['1y', '1x']);
  await t.rejects(h.q("SELECT * FROM t WHERE k = 0 AND b = 'x'"), { code: 'Invalid', message: /preceding column "a" is not restricted/ });
  t.same(pairs(await h.rows("SELECT a, b FROM t WHERE k = 0 AND b = 'x' ALLOW FILTERING")), ['3x', '2x', '1x']);
  await t.rejects(h.q('SELECT * FROM t WHERE k = 0 ORDER BY b'), { code: 'Invalid' });
  await t.rejects(h.q('SELECT * FROM t ORDER BY a'), { code: 'Invalid', message: /partition key is restricted/ });
  await t.rejects(h.q('SELECT * FROM t WHERE v = 10'), { code: 'Invalid', message: /ALLOW FILTERING/ });
  t.same(pairs(await h.rows('SELECT a, b FROM t WHERE v = 10 ALLOW FILTERING')), ['1x', '1y']);
});

t.test('static columns are shared by a partition and survive without rows', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, s text STATIC, v int, PRIMARY KEY (k, c))');
  await h.q("INSERT INTO t (k, c, s, v) VALUES (1, 1, 'first', 1)");
  await h.q('INSERT INTO t (k, c, v) VALUES (1, 2, 2)');
  await h.q("UPDATE t SET s = 'shared' WHERE k = 1");
  t.same(await h.rows('SELECT c, s, v FROM t WHERE k = 1'), [
    { c: 1, s: 'shared', v: 1 },
    { c: 2, s: 'shared', v: 2 },
  ]);
  await h.q("INSERT INTO t (k, s) VALUES (2, 'lonely')");
  t.same(await h.rows('SELECT * FROM t WHERE k = 2'), [{ k: 2, c: null, s: 'lonely', v: null }]);
  const distinct = await h.rows('SELECT DISTINCT k, s FROM t');
  t.same(distinct.map((r) => r.k).sort(), [1, 2]);
  await t.rejects(h.q('SELECT DISTINCT v FROM t'), { code: 'Invalid' });
  await h.q('DELETE s FROM t WHERE k = 2');
  t.same(await h.rows('SELECT * FROM t WHERE k = 2'), []);
  await t.rejects(h.q('CREATE TABLE bad (k int PRIMARY KEY, s int STATIC)'), { code: 'Invalid', message: /Static columns/ });
});

t.test('collections: set, list and map operations', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int PRIMARY KEY, s set<text>, l list<int>, m map<text, int>, f frozen<list<int>>)');
  await h.q("INSERT INTO t (k, s, l, m, f) VALUES (1, {'b', 'a'}, [1, 2], {'x': 1}, [9, 8])");
  t.same(await h.rows('SELECT s, l, m, f FROM t WHERE k = 1'), [{ s: ['a', 'b'], l: [1, 2], m: { x: 1 }, f: [9, 8] }]);
  await h.q("UPDATE t SET s = s + {'c'}, l = l + [3], m['y'] = 2 WHERE k = 1");
  await h.q('UPDATE t SET l = [0] + l WHERE k = 1');
  t.same(await h.rows('SELECT s, l, m FROM t WHERE k = 1'), [{ s: ['a', 'b', 'c'], l: [0, 1, 2, 3], m: { x: 1, y: 2 } }]);
  await h.q("UPDATE t SET s = s - {'a'}, l = l - [2], m = m - {'x'} WHERE k = 1");
  t.same(await h.rows('SELECT s, l, m FROM t WHERE k = 1'), [{ s: ['b', 'c'], l: [0, 1, 3], m: { y: 2 } }]);
  await h.q('UPDATE t SET l[1] = 10 WHERE k = 1');
  await h.q("DELETE m['y'], l[0] FROM t WHERE k = 1");
  t.same(await h.rows('SELECT l, m FROM t WHERE k = 1'), [{ l: [10, 3], m: null }]);
  await t.rejects(h.q('UPDATE t SET l[5] = 1 WHERE k = 1'), { code: 'Invalid', message: /out of bound/ });
  // Overwriting a collection replaces it entirely.
  await h.q("UPDATE t SET s = {'z'} WHERE k = 1");
  t.same(await h.rows('SELECT s FROM t WHERE k = 1'), [{ s: ['z'] }]);
  await h.q('UPDATE t SET m = ? WHERE k = 1', [{ q: 7 }]);
  t.same(await h.rows('SELECT m FROM t WHERE k = 1'), [{ m: { q: 7 } }]);
  t.same(await h.rows("SELECT k FROM t WHERE s CONTAINS 'z' ALLOW FILTERING"), [{ k: 1 }]);
  t.same(await h.rows("SELECT k FROM t WHERE m CONTAINS KEY 'q' ALLOW FILTERING"), [{ k: 1 }]);
  await t.rejects(h.q("UPDATE t SET f = f + [1] WHERE k = 1"), { code: 'Invalid' });
});

t.test('paging visits every row exactly once, across and inside partitions', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))');
  const expected = new Set<string>();
  // Partitions of very different widths, including one wider than a page.
  const widths = [1, 7, 0, 23, 2, 50, 3];
  for (let k = 0; k < widths.length; k++) {
    for (let c = 0; c < widths[k]; c++) {
      await h.q('INSERT INTO t (k, c, v) VALUES (?, ?, ?)', [k, c, k * 100 + c]);
      expected.add(`${k}:${c}`);
    }
  }
  for (const [query, params] of [
    ['SELECT k, c FROM t', []],
    ['SELECT k, c FROM t WHERE k IN (0, 1, 3, 5, 6)', []],
    ['SELECT k, c FROM t WHERE k = 5 ORDER BY c DESC', []],
  ] as const) {
    for (const pageSize of [1, 4, 10, 1000]) {
      const seen: string[] = [];
      let pagingState: string | undefined;
      let pages = 0;
      do {
        const result = await h.q(query, [...params], { pageSize, pagingState });
        if (result.kind !== 'rows') throw new Error('rows expected');
        t.ok(result.rows.length <= pageSize);
        seen.push(...result.rows.map((r) => `${r.k}:${r.c}`));
        pagingState = result.pagingState ?? undefined;
        pages++;
      } while (pagingState !== undefined && pages < 1000);
      const want = [...expected].filter((key) => {
        const k = Number(key.split(':')[0]);
        return query.includes('IN') ? [0, 1, 3, 5, 6].includes(k) : query.includes('k = 5') ? k === 5 : true;
      });
      t.equal(new Set(seen).size, seen.length, `${query} page ${pageSize}: no row twice`);
      t.same([...seen].sort(), want.sort(), `${query} page ${pageSize}: every row once`);
    }
  }
  // LIMIT carries across pages.
  const first = await h.q('SELECT k, c FROM t LIMIT 5', [], { pageSize: 3 });
  if (first.kind !== 'rows') throw new Error('rows expected');
  t.equal(first.rows.length, 3);
  const second = await h.q('SELECT k, c FROM t LIMIT 5', [], { pageSize: 3, pagingState: first.pagingState! });
  if (second.kind !== 'rows') throw new Error('rows expected');
  t.equal(second.rows.length, 2);
  t.equal(second.pagingState, null);
  await t.rejects(h.q('SELECT * FROM t', [], { pagingState: 'garbage!' }), { code: 'Invalid' });
});

t.test('PER PARTITION LIMIT, COUNT(*), token() and full scans in token order', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, PRIMARY KEY (k, c))');
  for (let k = 0; k < 5; k++) for (let c = 0; c < 4; c++) await h.q('INSERT INTO t (k, c) VALUES (?, ?)', [k, c]);
  const perPartition = await h.rows('SELECT k, c FROM t PER PARTITION LIMIT 2');
  t.equal(perPartition.length, 10);
  t.same(await h.rows('SELECT COUNT(*) FROM t'), [{ count: '20' }]);
  t.same(await h.rows('SELECT COUNT(*) FROM t WHERE k = 1'), [{ count: '4' }]);
  const tokens = (await h.rows('SELECT DISTINCT k, token(k) FROM t')).map((r) => BigInt(r['system.token(k)'] as string));
  t.same(tokens, [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'scan is in token order');
  const mid = tokens[2];
  const after = await h.rows('SELECT DISTINCT k, token(k) FROM t WHERE token(k) > ?', [mid.toString()]);
  t.same(after.map((r) => BigInt(r['system.token(k)'] as string)), tokens.slice(3));
  const between = await h.rows('SELECT DISTINCT k FROM t WHERE token(k) >= ? AND token(k) <= ?', [tokens[1].toString(), tokens[3].toString()]);
  t.equal(between.length, 3);
});

t.test('functions: now(), uuid(), toTimestamp(), blob conversions, minTimeuuid', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int PRIMARY KEY, id timeuuid, u uuid, b blob, ts timestamp)');
  await h.q("INSERT INTO t (k, id, u, b, ts) VALUES (1, now(), uuid(), textAsBlob('hi'), toTimestamp(now()))");
  const [row] = await h.rows('SELECT id, u, b, ts, blobAsText(b), toUnixTimestamp(ts) FROM t WHERE k = 1');
  t.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-/);
  t.match(row.u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
  t.equal(row.b, '0x6869');
  t.equal(row['system.blobastext(b)'], 'hi');
  t.equal(new Date(row.ts as string).getTime(), h.clock.nowMillis());
  t.equal(row['system.tounixtimestamp(ts)'], String(h.clock.nowMillis()));
  const later = await h.rows("SELECT k FROM t WHERE id > minTimeuuid('2000-01-01') ALLOW FILTERING");
  t.same(later, [{ k: 1 }]);
  // A timeuuid fits a uuid column (Cassandra allows it); a uuid does not fit a timeuuid one.
  await h.q('INSERT INTO t (k, u) VALUES (2, now())');
  await t.rejects(h.q('INSERT INTO t (k, id) VALUES (3, uuid())'), { code: 'Invalid' });
});

t.test('batches apply every statement with one timestamp', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE a (k int PRIMARY KEY, v int)');
  await h.q('CREATE TABLE b (k int PRIMARY KEY, v int)');
  await h.q(`BEGIN BATCH
    INSERT INTO a (k, v) VALUES (1, ?);
    UPDATE b SET v = ? WHERE k = 1;
    DELETE FROM a WHERE k = 2;
  APPLY BATCH`, [10, 20]);
  const wa = await h.rows('SELECT v, WRITETIME(v) FROM a WHERE k = 1');
  const wb = await h.rows('SELECT v, WRITETIME(v) FROM b WHERE k = 1');
  t.equal(wa[0].v, 10);
  t.equal(wb[0].v, 20);
  t.equal(wa[0]['writetime(v)'], wb[0]['writetime(v)']);
  await h.q('BEGIN UNLOGGED BATCH USING TIMESTAMP 77 INSERT INTO a (k, v) VALUES (3, 3) APPLY BATCH');
  t.same(await h.rows('SELECT WRITETIME(v) FROM a WHERE k = 3'), [{ 'writetime(v)': '77' }]);
  await t.rejects(h.q('BEGIN BATCH USING TIMESTAMP 1 INSERT INTO a (k, v) VALUES (3, 3) USING TIMESTAMP 2 APPLY BATCH'), { code: 'Invalid' });
});

t.test('bad statements get precise, typed errors and change nothing', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))');
  const cases: [string, unknown[] | undefined, string, RegExp][] = [
    ['INSERT INTO t (k, v) VALUES (1, 1)', undefined, 'Invalid', /Some clustering keys are missing: c/],
    ['INSERT INTO t (c, v) VALUES (1, 1)', undefined, 'Invalid', /Some partition key parts are missing: k/],
    ['INSERT INTO t (k, c, nope) VALUES (1, 1, 1)', undefined, 'Invalid', /Undefined column name nope/],
    ["INSERT INTO t (k, c, v) VALUES (1, 1, 'text')", undefined, 'Invalid', /Invalid STRING constant \(text\) for "v" of type int/],
    ['INSERT INTO t (k, c, v) VALUES (?, 1, 1)', ['x'], 'Invalid', /int/],
    ['INSERT INTO t (k, c, v) VALUES (?, 1, 1)', [], 'Invalid', /1 markers/],
    ['INSERT INTO t (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS', undefined, 'Invalid', /lightweight transactions/],
    ['UPDATE t SET v = 1 WHERE k = 1', undefined, 'Invalid', /Some clustering keys are missing: c/],
    ['UPDATE t SET k = 1 WHERE k = 1 AND c = 1', undefined, 'Invalid', /PRIMARY KEY part k found in SET part/],
    ['UPDATE t SET v = 1 WHERE k = 1 AND c = 1 AND v = 1', undefined, 'Invalid', /Non PRIMARY KEY columns found in where clause: v/],
    ['DELETE FROM t WHERE c = 1', undefined, 'Invalid', /partition key parts are missing: k/],
    ['SELECT * FROM t WHERE k > 1', undefined, 'Invalid', /Only EQ and IN relation/],
    ['SELECT * FROM t WHERE c = 1', undefined, 'Invalid', /ALLOW FILTERING/],
    ['SELECT * FROM t LIMIT 0', undefined, 'Invalid', /LIMIT must be strictly positive/],
    ['SELECT nope FROM t', undefined, 'Invalid', /Undefined column name nope/],
    ['SELECT * FROM nope.t', undefined, 'Invalid', /Keyspace nope does not exist/],
    ['SELECT * FROM t WHERE', undefined, 'SyntaxError', /line 1:/],
  ];
  for (const [query, params, code, message] of cases) {
    await t.rejects(h.q(query, params), { code, message }, query);
  }
  await t.rejects(h.executor.execute({ query: 'SELECT * FROM t' }), { code: 'Invalid', message: /No keyspace has been specified/ });
  t.same(await h.rows('SELECT * FROM t'), [], 'nothing was written');
});

t.test('INSERT JSON maps object fields to columns; DEFAULT UNSET keeps the others', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int PRIMARY KEY, a text, b int)');
  await h.q(`INSERT INTO t JSON '{"k": 1, "a": "x", "b": 2}'`);
  await h.q(`INSERT INTO t JSON '{"k": 1, "a": "y"}' DEFAULT UNSET`);
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, a: 'y', b: 2 }]);
  await h.q(`INSERT INTO t JSON '{"k": 1, "a": "z"}'`);
  t.same(await h.rows('SELECT * FROM t'), [{ k: 1, a: 'z', b: null }]);
  await t.rejects(h.q(`INSERT INTO t JSON '{"k": 1, "zz": 1}'`), { code: 'Invalid', message: /unrecognized column: zz/ });
});

t.test('review fixes: IN + ORDER BY + LIMIT sorts before limiting; COUNT ignores limits; several COUNTs', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)');
  for (const k of [0, 1]) for (let c = 0; c < 5; c++) await h.q('INSERT INTO t (k, c) VALUES (?, ?)', [k, c]);
  const rows = await h.rows('SELECT k, c FROM t WHERE k IN (0, 1) ORDER BY c ASC LIMIT 3');
  t.same(rows.map((r) => r.c), [0, 0, 1], 'the smallest clusterings of both partitions');
  t.same(await h.rows('SELECT COUNT(*) FROM t LIMIT 2'), [{ count: '10' }]);
  t.same(await h.rows('SELECT COUNT(*) FROM t PER PARTITION LIMIT 1'), [{ count: '10' }]);
  t.same(await h.rows('SELECT COUNT(*) AS a, COUNT(1) AS b FROM t'), [{ a: '10', b: '10' }]);
});

t.test('review fixes: exact numeric CASTs, Java narrowing, no untyped errors', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE n (k int PRIMARY KEY, b bigint, d double)');
  await h.q("INSERT INTO n (k, b, d) VALUES (1, 9007199254740993, NaN)");
  const [row] = await h.rows('SELECT CAST(b AS varint) AS v, CAST(b AS int) AS i, CAST(d AS bigint) AS nb FROM n');
  t.same(row, { v: '9007199254740993', i: 1, nb: '0' });
});

t.test('review fixes: paging states are checked against the table', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE t (k int, c int, PRIMARY KEY (k, c))');
  await h.q('INSERT INTO t (k, c) VALUES (1, 1)');
  const forged = Buffer.from(JSON.stringify({ k: Buffer.from([0, 0, 0, 1]).toString('base64'), c: ['AA=='], r: 1, p: 1 })).toString('base64url');
  await t.rejects(h.q('SELECT * FROM t', [], { pagingState: forged }), { code: 'Invalid', message: /paging state/ });
});

t.test('review fixes: INSERT and DISTINCT rules on static columns, JSON keys, append before overwrite', async (t) => {
  const h = await cqlHarness();
  await h.q('CREATE TABLE s (k int, c int, st int STATIC, v int, l list<int>, PRIMARY KEY (k, c))');
  await t.rejects(h.q('INSERT INTO s (k) VALUES (1)'), { code: 'Invalid', message: /clustering keys are missing: c/ });
  await t.rejects(h.q('SELECT DISTINCT k, st FROM s WHERE k = 1 AND c = 1'), { code: 'Invalid', message: /SELECT DISTINCT with WHERE/ });
  await t.rejects(h.q(`INSERT INTO s JSON '{"k": 1}' DEFAULT UNSET`), { code: 'Invalid', message: /null value.*c/ });
  await h.q(`INSERT INTO s JSON '{"K": 1, "c": 1, "\\"v\\"": 5}'`);
  t.same(await h.rows('SELECT k, c, v FROM s'), [{ k: 1, c: 1, v: 5 }], 'unquoted keys lower-cased, quoted keys exact');
  await h.q('UPDATE s SET l = l + [7], l = [8] WHERE k = 1 AND c = 1');
  t.same(await h.rows('SELECT l FROM s WHERE k = 1 AND c = 1'), [{ l: [7, 8] }]);
});
