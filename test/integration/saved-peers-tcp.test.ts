/**
 * A restarted coordinator knows the whole ring before gossip has caught up (the peers it
 * saved): 3 `sibyl node` processes over TCP, an RF 1 keyspace, and a key owned by node 2.
 * With nodes 2 and 3 down, node 1 is killed and restarted: over a ring of itself alone it
 * would take that key and acknowledge a QUORUM write nobody will ever read (the chaos run
 * of seed 777 lost a write that way). It must answer Unavailable; once nodes 2 and 3 are
 * back, the write succeeds and lands on node 2, where reads through any node find it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { cql, eventually, killNodeProcess, processCluster, startNodeProcess } from '../helpers/node-process.js';

async function getJson<T>(http: string, path: string): Promise<T> {
  return (await (await fetch(`http://${http}${path}`)).json()) as T;
}

const hostIdOf = async (http: string) => (await getJson<{ hostId: string }>(http, '/v1/admin/info')).hostId;
const statuses = async (http: string) =>
  (await getJson<{ endpoints: { hostId: string; status: string }[] }>(http, '/v1/admin/status')).endpoints.map((e) => [e.hostId, e.status]);

t.test('a restarted node refuses a QUORUM write whose replica it has not seen UP yet, instead of acking it on itself', async (t) => {
  const { nodes, argsOf } = await processCluster(t, 'saved-peers', 3, 'read_request_timeout: 1s\nwrite_request_timeout: 1s\nnum_tokens: 4\n');
  nodes.push(await startNodeProcess(argsOf(0)));
  nodes.push(...(await Promise.all([startNodeProcess(argsOf(1)), startNodeProcess(argsOf(2))])));
  const ids = await Promise.all(nodes.map((node) => hostIdOf(node.http)));

  t.equal((await cql(nodes[0].http, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")).status, 200);
  t.equal((await cql(nodes[0].http, 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)')).status, 200);
  await eventually('node 1 sees the whole cluster UP', 30_000, async () => (await statuses(nodes[0].http)).filter(([, status]) => status === 'UN').length === 3);
  await eventually('every node has the table', 30_000, async () => (await Promise.all(nodes.map((node) => cql(node.http, 'SELECT * FROM ks.t')))).every((answer) => answer.status === 200));

  // A key whose only replica is node 2.
  let key = 0;
  for (; ; key++) {
    const { replicas } = await getJson<{ replicas: { hostId: string }[] }>(nodes[0].http, `/v1/admin/endpoints?keyspace=ks&table=t&key=${key}`);
    if (replicas[0].hostId === ids[1]) break;
  }
  // Node 1 saves its peers as gossip reports them; give the write a moment before the crash.
  await sleep(500);
  await killNodeProcess(nodes[1]);
  await killNodeProcess(nodes[2]);
  await killNodeProcess(nodes[0]);

  nodes[0] = await startNodeProcess(argsOf(0));
  t.same(
    (await statuses(nodes[0].http)).sort(),
    [[ids[0], 'UN'], [ids[1], 'DN'], [ids[2], 'DN']].sort(),
    'the restarted node lists the saved peers, DOWN',
  );
  const refused = await cql(nodes[0].http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'QUORUM', [key, 'kept']);
  t.equal(refused.status, 503, 'the write is refused');
  t.equal(refused.body.error?.code, 'Unavailable', 'as Unavailable: its replica is not seen UP');

  nodes[1] = await startNodeProcess(argsOf(1));
  nodes[2] = await startNodeProcess(argsOf(2));
  await eventually('the QUORUM write goes through once node 2 is back', 30_000, async () => {
    return (await cql(nodes[0].http, 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'QUORUM', [key, 'kept'])).status === 200;
  });
  for (const [i, node] of nodes.entries()) {
    // Node 2 may not see node 3 UP yet; a read at ONE needs only node 2.
    let rows: unknown;
    await eventually(`a read through node ${i + 1} finds the row`, 30_000, async () => {
      const answer = await cql(node.http, 'SELECT v FROM ks.t WHERE k = ?', 'ONE', [key]);
      rows = answer.body.rows;
      return answer.status === 200;
    });
    t.same(rows, [{ v: 'kept' }], `node ${i + 1} reads it from node 2`);
  }
});
