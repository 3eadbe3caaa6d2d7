/**
 * `npm run bench:cluster`: what replication costs over HTTP, in one run.
 *
 * Phase one starts a 3-node cluster of real `sibyl node` processes on 127.0.0.1 (free
 * ports, laid out and spawned with tools/cluster/local-cluster.ts, seeds = node 1) with
 * a keyspace at RF=3; phase two a single node with RF=1. Both hold `bench.kv (id text
 * PRIMARY KEY, value text)`. autocannon drives each scenario for N seconds after a short
 * warm-up: INSERT (a fresh key per request) and SELECT by key (keys preloaded, one per
 * connection) at ONE and QUORUM on the cluster, at ONE on the single node. On the cluster
 * the connections are split over three autocannon instances, one per node, running
 * together. Prints ops/s, p50, p99 and failures per scenario, then each cluster figure
 * divided by the single node's figure for the same operation.
 *
 * Exits 1 if any request failed (non-2xx, error or timeout) or a node died. Every node
 * process is killed and the temporary directory removed on exit, Ctrl-C included.
 *
 * Flags: --duration S (10), --warmup S (1), --connections N (50).
 */
import autocannon, { type Client, type Result } from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  type ClusterManifest,
  createCluster,
  DEFAULT_BASE_PORT,
  logTail,
  type NodeFiles,
  type NodeLayout,
  nodeFiles,
  planCluster,
  spawnNode,
  waitHealthy,
} from '../../tools/cluster/local-cluster.js';

// The shared shim (autocannon.d.ts) lacks the per-connection hook this script needs.
declare module 'autocannon' {
  /** One connection of an autocannon instance. */
  export interface Client {
    setBody(body: string): void;
    on(event: 'response', listener: (statusCode: number, bytes: number, latencyMs: number) => void): this;
  }
  export interface Options {
    /** Called once per connection, before its first request. */
    setupClient?: (client: Client) => void;
  }
}

const HOST = '127.0.0.1';
const CLUSTER_SIZE = 3;
const START_TIMEOUT_MS = 60_000;
/** Schema spreading and every node seeing the others UP take a few gossip rounds. */
const CONVERGENCE_TIMEOUT_MS = 30_000;
const RETRY_MS = 250;
const HEADERS = { 'content-type': 'application/json' };
const VALUE = 'a value of some thirty-two bytes';
const INSERT_QUERY = 'INSERT INTO bench.kv (id, value) VALUES (?, ?)';
const SELECT_QUERY = 'SELECT * FROM bench.kv WHERE id = ?';

type Operation = 'INSERT' | 'SELECT';
type Consistency = 'ONE' | 'QUORUM';

interface Scenario {
  operation: Operation;
  consistency: Consistency;
}

interface Figures {
  name: string;
  operation: Operation;
  opsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
}

interface RunningNode {
  layout: NodeLayout;
  files: NodeFiles;
  child: ChildProcess;
  alive: boolean;
  /** Set when the node exited before the bench stopped it. */
  died: boolean;
  exited: Promise<void>;
}

/** Every node spawned and not yet reaped, for the exit and signal handlers. */
const running = new Set<RunningNode>();
/** Nodes this script is stopping, so their exit is not taken for a crash. */
const stopping = new Set<RunningNode>();

/** Ports free a moment ago: all bound at once (so none repeats), then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, HOST, resolve));
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** planCluster names the nodes and versions the manifest; its consecutive ports are swapped for free ones. */
async function layOut(nodes: number): Promise<ClusterManifest> {
  const planned = planCluster({ nodes, basePort: DEFAULT_BASE_PORT, loopbackPerNode: false });
  const ports = await freePorts(2 * nodes);
  return {
    ...planned,
    nodes: planned.nodes.map((node, i) => ({ ...node, http: `${HOST}:${ports[2 * i]}`, listen: `${HOST}:${ports[2 * i + 1]}` })),
  };
}

function spawnTracked(dir: string, layout: NodeLayout): RunningNode {
  const files = nodeFiles(dir, layout);
  const child = spawnNode(files, false);
  const node: RunningNode = { layout, files, child, alive: true, died: false, exited: Promise.resolve() };
  node.exited = new Promise((resolve) =>
    child.once('exit', () => {
      node.alive = false;
      node.died = !stopping.has(node);
      running.delete(node);
      resolve();
    }),
  );
  running.add(node);
  return node;
}

/** The number of tokens `seed` sees `node` own, from /v1/admin/status (0 while it is unknown or joining). */
async function tokensSeenBy(seed: RunningNode, node: RunningNode): Promise<number> {
  const response = await fetch(`http://${seed.layout.http}/v1/admin/status`);
  const { endpoints } = (await response.json()) as { endpoints: { address: string; tokens: number }[] };
  return endpoints.find((endpoint) => endpoint.address === node.layout.listen)?.tokens ?? 0;
}

/**
 * Writes the nodes' configuration under `dir` and starts them one at a time, as
 * Cassandra bootstraps: a joining node allocates its tokens against the ring it learns
 * from the seed, so two nodes joining together both split the same ranges and can
 * end up with identical tokens. Each next node starts once the seed sees the previous
 * one's tokens.
 */
async function startNodes(dir: string, nodes: number): Promise<RunningNode[]> {
  const manifest = await layOut(nodes);
  await createCluster(dir, manifest);
  const deadline = Date.now() + START_TIMEOUT_MS;
  const started: RunningNode[] = [];
  for (const layout of manifest.nodes) {
    const node = spawnTracked(dir, layout);
    started.push(node);
    await waitHealthy(layout, node.files, () => node.alive, deadline);
    while ((await tokensSeenBy(started[0], node)) === 0) {
      if (Date.now() > deadline) throw new Error(`${started[0].layout.name} never saw the tokens of ${layout.name}; see ${node.files.log}`);
      await sleep(RETRY_MS);
    }
  }
  return started;
}

/** The data is thrown away, so the nodes need no clean shutdown: SIGKILL and reap. */
async function stopNodes(nodes: readonly RunningNode[]): Promise<void> {
  for (const node of nodes) {
    stopping.add(node);
    if (node.alive) node.child.kill('SIGKILL');
  }
  await Promise.all(nodes.map((node) => node.exited));
}

interface Answer {
  status: number;
  text: string;
}

async function cql(http: string, query: string, consistency: string, params?: unknown[]): Promise<Answer> {
  const response = await fetch(`http://${http}/v1/cql`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ query, consistency, params }),
  });
  return { status: response.status, text: await response.text() };
}

async function cqlOrThrow(http: string, query: string, consistency = 'ONE', params?: unknown[]): Promise<void> {
  const { status, text } = await cql(http, query, consistency, params);
  if (status !== 200) throw new Error(`${query} on ${http} failed (${status}): ${text}`);
}

/** Retries `attempt` until it answers 200; throws with the last answer after the timeout, or at once if a node died. */
async function until200(what: string, nodes: readonly RunningNode[], attempt: () => Promise<Answer>): Promise<void> {
  const deadline = Date.now() + CONVERGENCE_TIMEOUT_MS;
  for (;;) {
    const answer = await attempt();
    if (answer.status === 200) return;
    const dead = nodes.find((node) => !node.alive);
    if (dead !== undefined) throw new Error(`${dead.layout.name} died while waiting until ${what}; the end of its log:\n${logTail(dead.files)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; last answer (${answer.status}): ${answer.text}`);
    await sleep(RETRY_MS);
  }
}

function selectKey(connection: number): string {
  return `key-${connection}`;
}

/**
 * Creates bench.kv with the given replication factor through the first node, waits until
 * every node has the table and (for RF > 1) reaches every replica, then preloads the keys
 * the SELECT connections read.
 */
async function prepare(nodes: readonly RunningNode[], replicationFactor: number, keys: number): Promise<void> {
  const [first] = nodes;
  await cqlOrThrow(
    first.layout.http,
    `CREATE KEYSPACE bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${replicationFactor}}`,
  );
  await cqlOrThrow(first.layout.http, 'CREATE TABLE bench.kv (id text PRIMARY KEY, value text)');
  // A write at ALL from a node succeeds once it has the table and sees every replica UP.
  for (const node of nodes) {
    await until200(`${node.layout.name} has bench.kv and sees every replica`, nodes, () => cql(node.layout.http, INSERT_QUERY, 'ALL', ['probe', VALUE]));
  }
  for (let key = 0; key < keys; key++) await cqlOrThrow(first.layout.http, INSERT_QUERY, 'ALL', [selectKey(key), VALUE]);
}

/** One autocannon instance's part: its node, its connections, and the first connection's index. */
interface Share {
  http: string;
  connections: number;
  firstConnection: number;
}

/** `connections` spread over the nodes as evenly as whole connections allow (50 → 17, 17, 16). */
function shares(nodes: readonly RunningNode[], connections: number): Share[] {
  let firstConnection = 0;
  return nodes.map((node, i) => {
    const share = Math.floor(connections / nodes.length) + (i < connections % nodes.length ? 1 : 0);
    const result = { http: node.layout.http, connections: share, firstConnection };
    firstConnection += share;
    return result;
  });
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

/**
 * Runs one scenario on every share at once. Each instance's own percentiles cannot be
 * combined, so every response's latency is recorded here and the percentiles are taken
 * over all of them.
 */
async function drive(name: string, scenario: Scenario, parts: readonly Share[], duration: number, warmup: number): Promise<Figures> {
  const query = scenario.operation === 'INSERT' ? INSERT_QUERY : SELECT_QUERY;
  // `[<id>]` gives every INSERT a fresh partition key (autocannon idReplacement).
  const insertBody = JSON.stringify({ query, consistency: scenario.consistency, params: ['[<id>]', VALUE] });
  const run = (part: Share, seconds: number, latencies: number[] | null): Promise<Result> => {
    let connection = part.firstConnection;
    const setupClient = (client: Client): void => {
      if (scenario.operation === 'SELECT') {
        client.setBody(JSON.stringify({ query, consistency: scenario.consistency, params: [selectKey(connection++)] }));
      }
      if (latencies !== null) client.on('response', (_status, _bytes, latencyMs) => latencies.push(latencyMs));
    };
    return autocannon({
      url: `http://${part.http}/v1/cql`,
      method: 'POST',
      headers: HEADERS,
      body: insertBody,
      idReplacement: scenario.operation === 'INSERT',
      connections: part.connections,
      duration: seconds,
      setupClient,
    });
  };
  if (warmup > 0) await Promise.all(parts.map((part) => run(part, warmup, null)));
  const latencies: number[] = [];
  const results = await Promise.all(parts.map((part) => run(part, duration, latencies)));
  const sorted = Float64Array.from(latencies).sort();
  const sum = (pick: (result: Result) => number) => results.reduce((total, result) => total + pick(result), 0);
  return {
    name,
    operation: scenario.operation,
    opsPerSecond: sum((result) => result.requests.average),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    non2xx: sum((result) => result.non2xx),
    errors: sum((result) => result.errors + result.timeouts),
  };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column].length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function report(cluster: readonly Figures[], single: readonly Figures[]): string {
  const figures = table(
    ['scenario', 'ops/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'],
    [...cluster, ...single].map((row) => [
      row.name,
      row.opsPerSecond.toFixed(0),
      row.p50.toFixed(2),
      row.p99.toFixed(2),
      String(row.non2xx),
      String(row.errors),
    ]),
  );
  const ratios = table(
    ['3 nodes / 1 node', 'ops/s', 'p50', 'p99'],
    cluster.map((row) => {
      const base = single.find((figure) => figure.operation === row.operation)!;
      return [row.name, row.opsPerSecond / base.opsPerSecond, row.p50 / base.p50, row.p99 / base.p99].map((cell) =>
        typeof cell === 'string' ? cell : cell.toFixed(2),
      );
    }),
  );
  return `${figures}\n\n${ratios}`;
}

function positive(flag: string, text: string, integer: boolean): number {
  const value = Number(text);
  if (!(value > 0) || (integer && !Number.isInteger(value))) throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
  return value;
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

async function measurePhase(
  label: string,
  dir: string,
  nodes: number,
  scenarios: readonly Scenario[],
  connections: number,
  duration: number,
  warmup: number,
): Promise<{ figures: Figures[]; died: RunningNode[] }> {
  say(`${label}: starting ${nodes} node(s)`);
  const started = await startNodes(dir, nodes);
  try {
    await prepare(started, nodes, connections);
    const parts = shares(started, connections);
    const figures: Figures[] = [];
    for (const scenario of scenarios) {
      const name = `${label} ${scenario.operation} ${scenario.consistency}`;
      say(`measuring ${name}`);
      figures.push(await drive(name, scenario, parts, duration, warmup));
    }
    return { figures, died: started.filter((node) => node.died) };
  } finally {
    await stopNodes(started);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
    },
  });
  const duration = positive('duration', values.duration, false);
  const warmup = values.warmup === '0' ? 0 : positive('warmup', values.warmup, false);
  const connections = positive('connections', values.connections, true);
  if (connections < CLUSTER_SIZE) throw new Error(`--connections must be at least ${CLUSTER_SIZE}, one per node`);

  const dir = await mkdtemp(join(tmpdir(), 'sibyl-bench-cluster-'));
  // Nodes run in their own process groups (spawnNode), so Ctrl-C reaches only this
  // process: kill them here, whether the run ends normally, by a throw or by a signal.
  process.on('exit', () => {
    for (const node of running) node.child.kill('SIGKILL');
    // Retries cover a node still writing for the moment its SIGKILL takes.
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal} received, killing the nodes`);
      process.exit(130);
    });
  }

  say(`${connections} connections, ${duration}s per scenario after ${warmup}s warm-up`);
  const cluster = await measurePhase(
    `${CLUSTER_SIZE} nodes RF=${CLUSTER_SIZE}`,
    join(dir, 'cluster'),
    CLUSTER_SIZE,
    [
      { operation: 'INSERT', consistency: 'ONE' },
      { operation: 'INSERT', consistency: 'QUORUM' },
      { operation: 'SELECT', consistency: 'ONE' },
      { operation: 'SELECT', consistency: 'QUORUM' },
    ],
    connections,
    duration,
    warmup,
  );
  const single = await measurePhase(
    '1 node RF=1',
    join(dir, 'single'),
    1,
    [
      { operation: 'INSERT', consistency: 'ONE' },
      { operation: 'SELECT', consistency: 'ONE' },
    ],
    connections,
    duration,
    warmup,
  );
  process.stdout.write(`${report(cluster.figures, single.figures)}\n`);

  for (const node of [...cluster.died, ...single.died]) say(`${node.layout.name} died during the run; the end of its log:\n${logTail(node.files)}`);
  const failed = [...cluster.figures, ...single.figures].some((row) => row.non2xx + row.errors > 0);
  if (failed) say('some requests failed; their rates do not measure the cluster');
  if (failed || cluster.died.length + single.died.length > 0) process.exitCode = 1;
}

await main();
