/**
 * A 3-node cluster of real `sibyl node` processes over TCP on 127.0.0.1, RF 3: schema
 * made on one node reaches the others, a QUORUM write on one node is seen by a QUORUM
 * read on another, a killed node leaves QUORUM working and makes ALL Unavailable once it
 * is convicted, and a restarted node rejoins with the same host id.
 *
 * phi_convict_threshold is lowered to 3 (conviction after ~7 s of silence instead of
 * ~18 s) and the request timeouts to 1 s, to keep the test short.
 */
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../tools/sibyl.js', import.meta.url));

/** A port that was free a moment ago: bound on port 0, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface RunningNode {
  child: ChildProcess;
  http: string;
  exited: Promise<unknown>;
}

/** Starts `sibyl node` and resolves with its HTTP address from the "ready" log line. */
function startNode(args: string[]): Promise<RunningNode> {
  const child = spawn(process.execPath, [CLI, 'node', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Keep reading after ready, so a chatty node never blocks on a full pipe.
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const entry = JSON.parse(line) as { httpAddress?: string; msg: string };
        if (entry.httpAddress !== undefined && /ready/i.test(entry.msg)) resolve({ child, http: entry.httpAddress, exited });
      }
    });
    child.on('exit', (code) => reject(new Error(`sibyl node exited with ${code} before it was ready: ${stderr}`)));
  });
}

interface Answer {
  status: number;
  body: { kind?: string; rows?: Record<string, unknown>[]; warnings?: string[]; error?: { code: string } };
}

async function cql(http: string, query: string, consistency = 'ONE', params?: unknown[]): Promise<Answer> {
  const response = await fetch(`http://${http}/v1/cql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, consistency, params }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** Retries `attempt` every 250 ms until it returns true; fails after `timeoutMs`. */
async function eventually(what: string, timeoutMs: number, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function hostId(http: string): Promise<string> {
  return ((await (await fetch(`http://${http}/v1/admin/info`)).json()) as { hostId: string }).hostId;
}

t.test('a 3-node RF 3 cluster over TCP: schema spreads, QUORUM survives a killed node, ALL needs every node', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cluster-'));
  const nodes: RunningNode[] = [];
  t.teardown(async () => {
    for (const node of nodes) node.child.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.exited));
    await rm(dir, { recursive: true, force: true });
  });
  const config = join(dir, 'sibyl.yaml');
  await writeFile(config, 'phi_convict_threshold: 3\nread_request_timeout: 1s\nwrite_request_timeout: 1s\nnum_tokens: 4\n');
  const ports = [await freePort(), await freePort(), await freePort()];
  const seed = `127.0.0.1:${ports[0]}`;
  const argsOf = (i: number) => [
    '--config', config,
    '--http', '127.0.0.1:0',
    '--listen', `127.0.0.1:${ports[i]}`,
    '--seeds', seed,
    '--data', join(dir, `node${i + 1}`),
  ];
  nodes.push(await startNode(argsOf(0)));
  nodes.push(...(await Promise.all([startNode(argsOf(1)), startNode(argsOf(2))])));
  const [n1, n2] = nodes;

  const created = await cql(n1.http, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
  t.equal(created.status, 200);
  t.equal((await cql(n1.http, 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)')).status, 200);
  for (const [i, node] of nodes.entries()) {
    let answer: Answer | undefined;
    await eventually(`node ${i + 1} has the table`, 30_000, async () => (answer = await cql(node.http, 'SELECT * FROM ks.t')).status === 200);
    t.same(answer?.body.rows, [], `the table created on node 1 reached node ${i + 1}`);
  }
  // Every node sees every other UP once an ALL write succeeds from it.
  for (const [i, node] of nodes.entries()) {
    await eventually(`node ${i + 1} sees the whole cluster`, 40_000, async () => {
      return (await cql(node.http, 'INSERT INTO ks.t (k, v) VALUES (0, ?)', 'ALL', [`all-${i}`])).status === 200;
    });
  }

  t.equal((await cql(n2.http, "INSERT INTO ks.t (k, v) VALUES (1, 'one')", 'QUORUM')).status, 200, 'QUORUM write on node 2');
  t.same((await cql(nodes[2].http, 'SELECT v FROM ks.t WHERE k = 1', 'QUORUM')).body.rows, [{ v: 'one' }], 'QUORUM read on node 3 sees it');

  const killedId = await hostId(nodes[2].http);
  nodes[2].child.kill('SIGKILL');
  await nodes[2].exited;
  t.equal((await cql(n1.http, "INSERT INTO ks.t (k, v) VALUES (2, 'two')", 'QUORUM')).status, 200, 'QUORUM write with a node killed');
  // Until the node is convicted a read may pick it for its digest; speculative retry then
  // asks the third replica. On a loaded machine the read can still time out (the client
  // retries), so both outcomes are accepted here; the in-process tests pin speculation.
  const beforeConviction = await cql(n2.http, 'SELECT v FROM ks.t WHERE k = 2', 'QUORUM');
  t.ok(beforeConviction.status === 200 || beforeConviction.body.error?.code === 'ReadTimeout', 'QUORUM read answers or times out', beforeConviction);
  for (const [i, node] of [n1, n2].entries()) {
    let unavailable: Answer | undefined;
    await eventually(`node ${i + 1} convicts the killed node`, 45_000, async () => {
      unavailable = await cql(node.http, 'SELECT v FROM ks.t WHERE k = 1', 'ALL');
      return unavailable.status === 503;
    });
    t.equal(unavailable?.body.error?.code, 'Unavailable', `ALL is Unavailable on node ${i + 1} once the node is DOWN`);
  }
  t.equal((await cql(n2.http, "INSERT INTO ks.t (k, v) VALUES (3, 'three')", 'QUORUM')).status, 200, 'QUORUM still works after the conviction');
  t.same((await cql(n2.http, 'SELECT v FROM ks.t WHERE k = 2', 'QUORUM')).body.rows, [{ v: 'two' }], 'QUORUM read with a node DOWN');
  t.same((await cql(n1.http, 'SELECT v FROM ks.t WHERE k = 3', 'QUORUM')).body.rows, [{ v: 'three' }], 'on either live node');

  nodes[2] = await startNode(argsOf(2));
  t.equal(await hostId(nodes[2].http), killedId, 'the restarted node keeps its host id');
  for (const http of [n1.http, nodes[2].http]) {
    await eventually('ALL reads work again', 45_000, async () => (await cql(http, 'SELECT v FROM ks.t WHERE k = 1', 'ALL')).status === 200);
  }
  t.same((await cql(nodes[2].http, 'SELECT v FROM ks.t WHERE k = 1', 'ALL')).body.rows, [{ v: 'one' }], 'ALL read after the restart');
  // Writes made while it was down reach the restarted node by hinted handoff: a read at
  // ONE on that node answers from its own storage.
  let delivered: Answer['body']['rows'];
  await eventually('hints reach the restarted node', 45_000, async () => {
    delivered = (await cql(nodes[2].http, 'SELECT v FROM ks.t WHERE k = 3', 'ONE')).body.rows;
    return delivered?.length === 1;
  });
  t.same(delivered, [{ v: 'three' }], 'the write made while the node was down was delivered to it by a hint');
});
