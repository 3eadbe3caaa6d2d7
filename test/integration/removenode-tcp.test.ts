/**
 * removenode on a cluster of real `sibyl node` processes over TCP, driven by the CLI:
 * 3 nodes, RF 2. Every key is written at ALL, one node is killed and removed; afterwards
 * each key must be held by both remaining nodes, which the test proves by killing one of
 * them too and reading every key at ONE from the last: with RF 2 on two nodes, only a
 * node that holds a key can answer for it.
 *
 * phi_convict_threshold 3 (conviction after ~7 s of silence) keeps the test short.
 */
import t from 'tap';
import type { ClusterStatus, TokenRangeDescription } from '../../lib/api/admin-service.js';
import { runCli } from '../helpers/cli.js';
import { cql, eventually, killNodeProcess, processCluster, startNodeProcess } from '../helpers/node-process.js';

const KEYS = 200;

async function status(http: string): Promise<ClusterStatus> {
  const result = await runCli(['status', '-h', http, '--json']);
  if (result.code !== 0) throw new Error(`sibyl status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ClusterStatus;
}

t.test('removenode of a killed node restores the replication factor', async (t) => {
  const { nodes, argsOf } = await processCluster(
    t,
    'removenode',
    3,
    'phi_convict_threshold: 3\nread_request_timeout: 1s\nwrite_request_timeout: 1s\nnum_tokens: 4\nring_delay: 1s\n',
  );
  for (let i = 0; i < 3; i++) nodes.push(await startNodeProcess(argsOf(i)));
  const [n1, n2, n3] = nodes;

  t.equal((await cql(n1.http, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}", 'ONE')).status, 200);
  t.equal((await cql(n1.http, 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)', 'ONE')).status, 200);
  await eventually('node 1 sees the whole cluster', 30_000, async () => (await cql(n1.http, 'INSERT INTO ks.t (k, v) VALUES (0, ?)', 'ALL', ['v0'])).status === 200);
  let writesFailed = 0;
  for (let key = 1; key < KEYS; key++) {
    if ((await cql(n1.http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'ALL', [key, `v${key}`])).status !== 200) writesFailed++;
  }
  t.equal(writesFailed, 0, `all ${KEYS} keys written at ALL`);

  const dead = (await status(n1.http)).endpoints.find((endpoint) => endpoint.httpAddress === n3.http)!;
  const live = (await status(n1.http)).endpoints.find((endpoint) => endpoint.httpAddress === n2.http)!;
  await killNodeProcess(n3);
  nodes.pop();
  await eventually('node 1 sees the killed node DN', 30_000, async () => {
    return (await status(n1.http)).endpoints.some((endpoint) => endpoint.hostId === dead.hostId && endpoint.status === 'DN');
  });

  const refused = await runCli(['removenode', '-h', n1.http, live.hostId]);
  t.equal(refused.code, 1, 'removenode refuses a live node');
  t.match(refused.stderr, /is alive/);

  const removed = await runCli(['removenode', '-h', n1.http, '--json', dead.hostId]);
  t.equal(removed.code, 0, `sibyl removenode succeeds: ${removed.stderr}`);
  const summary = JSON.parse(removed.stdout) as { tables: { table: string; partitions: number }[]; errors: string[] };
  t.same(summary.errors, []);
  t.ok(summary.tables.some((table) => table.table === 't' && table.partitions > 0), 'partitions of ks.t were re-replicated');

  for (const node of [n1, n2]) {
    await eventually('the removed node is gone from sibyl status', 15_000, async () => {
      const { endpoints } = await status(node.http);
      return endpoints.length === 2 && endpoints.every((endpoint) => endpoint.hostId !== dead.hostId);
    });
  }
  const ring = await runCli(['describering', '-h', n2.http, '--json', 'ks']);
  const { ranges } = JSON.parse(ring.stdout) as { ranges: TokenRangeDescription[] };
  t.ok(
    ranges.length === 8 && ranges.every((range) => range.endpoints.length === 2 && !range.endpoints.includes(dead.address)),
    'describering: every range of the two remaining nodes has both as replicas',
  );

  // The proof: with node 2 gone too, node 1 alone answers every key at ONE.
  await killNodeProcess(n2);
  nodes.splice(1, 1);
  await eventually('node 1 sees node 2 DN', 30_000, async () => {
    return (await status(n1.http)).endpoints.some((endpoint) => endpoint.hostId === live.hostId && endpoint.status === 'DN');
  });
  const missing: number[] = [];
  for (let key = 0; key < KEYS; key++) {
    const answer = await cql(n1.http, 'SELECT v FROM ks.t WHERE k = ?', 'ONE', [key]);
    if (answer.body.rows?.[0]?.v !== `v${key}`) missing.push(key);
  }
  t.same(missing, [], `node 1 holds all ${KEYS} keys by itself`);
});
