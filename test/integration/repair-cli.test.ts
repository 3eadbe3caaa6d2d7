/**
 * `sibyl repair` on a real 3-node cluster (separate processes over TCP, RF 3, hinted
 * handoff off): while one node is stopped, writes and a deletion at ONE reach only the
 * other two; after it restarts, one `sibyl repair ks` makes every replica hold the same,
 * complete data, and `sibyl repair --history` lists the repair.
 *
 * With RF 3 on 3 nodes every node is a replica of everything, and a read at ONE answers
 * from the coordinator's own storage, so a SELECT at ONE on each node shows that node's
 * data. phi_convict_threshold 3 and 1 s request timeouts keep the test short.
 */
import t from 'tap';
import type { RepairProgress, RepairRecord } from '../../lib/api/admin-service.js';
import { runCli } from '../helpers/cli.js';
import { cql, eventually, processCluster, startNodeProcess } from '../helpers/node-process.js';

/** What node `http` holds itself: every row of ks.t read at ONE, sorted by key. */
async function ownRows(http: string): Promise<string[]> {
  const answer = await cql(http, 'SELECT k, v FROM ks.t', 'ONE');
  if (answer.status !== 200) throw new Error(`SELECT on ${http} failed: ${JSON.stringify(answer.body)}`);
  return answer.body.rows!.map((row) => `${row.k}=${row.v}`).sort((a, b) => parseInt(a) - parseInt(b));
}

t.test('sibyl repair makes replicas diverged while one was down identical and complete', async (t) => {
  const { nodes, argsOf } = await processCluster(
    t,
    'repair',
    3,
    'hinted_handoff_enabled: false\nphi_convict_threshold: 3\nread_request_timeout: 1s\nwrite_request_timeout: 1s\nnum_tokens: 4\n',
  );
  nodes.push(await startNodeProcess(argsOf(0)));
  nodes.push(...(await Promise.all([startNodeProcess(argsOf(1)), startNodeProcess(argsOf(2))])));
  const [n1, n2] = nodes;

  t.equal((await cql(n1.http, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")).status, 200);
  t.equal((await cql(n1.http, 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)')).status, 200);
  // Rows 0..4 on every replica: an ALL write succeeds once the node sees the whole cluster.
  for (const [i, node] of nodes.entries()) {
    await eventually(`node ${i + 1} sees the whole cluster`, 40_000, async () => {
      return (await cql(node.http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'ALL', [i, `v${i}`])).status === 200;
    });
  }
  for (const k of [3, 4]) t.equal((await cql(n1.http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'ALL', [k, `v${k}`])).status, 200);

  // Node 3 stops; writes and a deletion at ONE reach nodes 1 and 2 only (no hints).
  nodes[2].child.kill('SIGTERM');
  await nodes[2].exited;
  for (let k = 10; k < 20; k++) {
    t.equal((await cql(k % 2 === 0 ? n1.http : n2.http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'ONE', [k, `v${k}`])).status, 200);
  }
  t.equal((await cql(n2.http, 'DELETE FROM ks.t WHERE k = 1', 'ONE')).status, 200);
  t.equal((await cql(n1.http, "UPDATE ks.t SET v = 'new' WHERE k = 2", 'ONE')).status, 200);

  // The coordinators' MUTATIONs to node 3 wait in their links until the request times
  // out (1 s): a node back sooner would still receive them and never miss the writes.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  nodes[2] = await startNodeProcess(argsOf(2));
  const n3 = nodes[2];
  for (const [i, node] of nodes.entries()) {
    await eventually(`node ${i + 1} sees node 3 up again`, 40_000, async () => (await cql(node.http, 'SELECT k FROM ks.t WHERE k = 0', 'ALL')).status === 200);
  }
  const expected = ['0=v0', '2=new', '3=v3', '4=v4', ...Array.from({ length: 10 }, (_, i) => `${10 + i}=v${10 + i}`)];
  t.same(await ownRows(n1.http), expected, 'node 1 holds every write');
  t.same(await ownRows(n3.http), ['0=v0', '1=v1', '2=v2', '3=v3', '4=v4'], 'node 3 missed the writes and the deletion');

  const repaired = await runCli(['repair', '--json', '-h', n1.http, 'ks']);
  t.equal(repaired.code, 0, repaired.stderr);
  const progress = JSON.parse(repaired.stdout) as RepairProgress;
  t.equal(progress.state, 'succeeded');
  t.equal(progress.rangesFailed, 0);
  t.equal(progress.rangesTotal, 12, 'node 1 repairs every range: 3 nodes × 4 tokens, all replicated by it');
  t.ok(progress.rangesDiffering > 0 && progress.bytesStreamed > 0, 'differing ranges were streamed');

  for (const [i, node] of nodes.entries()) t.same(await ownRows(node.http), expected, `node ${i + 1} holds the reconciled data`);

  const history = await runCli(['repair', '--history', '--json', '-h', n1.http, 'ks']);
  t.equal(history.code, 0, history.stderr);
  const records = JSON.parse(history.stdout) as RepairRecord[];
  t.same(
    records.map((record) => [record.id, record.keyspace, record.table, record.succeeded, record.ranges.length]),
    [[progress.id, 'ks', 't', true, 12]],
  );
  const table = await runCli(['repair', '--history', '-h', n1.http]);
  t.match(table.stdout, new RegExp(`^Repair ID +Keyspace +Table +Ranges +Started +Took +Result\\n${progress.id} +ks +t +12 .* succeeded\\n$`));
});
