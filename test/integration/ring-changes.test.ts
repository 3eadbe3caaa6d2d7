/**
 * Ring changes on real nodes: four in-process SibylNodes over TCP loopback (ports
 * chosen by the OS, temp data dirs), RF 3, num_tokens 4, ring_delay 5 s. A 4th node
 * bootstraps and then one of the first three is decommissioned (through the CLI), each
 * while a QUORUM write workload runs over HTTP; every acknowledged write must then be
 * readable at QUORUM, and every replica must hold every key it replicates.
 *
 * ring_delay must outlast gossip's spreading of BOOT / LEAVING to every coordinator
 * (each node gossips to one random peer a second: two or three rounds for four nodes,
 * more when the machine is busy, as under the whole suite: hence the default 5 s).
 * A coordinator that has not heard yet writes without the new replica; if the streamed
 * range was read before that write landed, the new replica misses it. That loses no
 * acknowledged write (the other replicas have it, QUORUM still meets it) but leaves a
 * replica short until repair, and the per-node counts below would see it.
 *
 * The tests run in order on one cluster (building it is the slow part); each checks one
 * rule of the steps so far.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { ClusterStatus, TokenRangeDescription } from '../../lib/api/admin-service.js';
import { loadConfig } from '../../lib/config.js';
import { SibylNode } from '../../lib/node.js';
import { runCli } from '../helpers/cli.js';
import { cql, eventually } from '../helpers/node-process.js';

const RF = 3;
const NUM_TOKENS = 4;
const PRELOADED_KEYS = 200;

/**
 * QUORUM inserts of fresh keys, spread over `coordinators()` by a few concurrent
 * writers, until stopped. Only writes the cluster acknowledged are recorded: the rule
 * under test is about those; a failed write (Unavailable, timeout) promises nothing.
 */
class WriteWorkload {
  readonly acked: number[] = [];
  failed = 0;
  private nextKey: number;
  private stopped = false;
  private readonly writers: Promise<void>[] = [];

  constructor(
    firstKey: number,
    private readonly coordinators: () => readonly string[],
    concurrency = 3,
  ) {
    this.nextKey = firstKey;
    for (let i = 0; i < concurrency; i++) this.writers.push(this.write());
  }

  private async write(): Promise<void> {
    while (!this.stopped) {
      const key = this.nextKey++;
      const nodes = this.coordinators();
      const answer = await cql(nodes[key % nodes.length], 'INSERT INTO ks.t (k, v) VALUES (?, ?)', 'QUORUM', [key, `v${key}`]).catch(() => null);
      if (answer?.status === 200) this.acked.push(key);
      else this.failed++;
      // Leave the event loop to the nodes (they share this process).
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.writers);
  }
}

/** The acknowledged keys a QUORUM read does not return with their value. */
async function missingAtQuorum(keys: readonly number[], coordinators: readonly string[]): Promise<number[]> {
  const missing: number[] = [];
  const queue = [...keys];
  const reader = async () => {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      const answer = await cql(coordinators[key % coordinators.length], 'SELECT v FROM ks.t WHERE k = ?', 'QUORUM', [key]);
      if (answer.status !== 200 || answer.body.rows?.[0]?.v !== `v${key}`) missing.push(key);
    }
  };
  await Promise.all(Array.from({ length: 8 }, reader));
  return missing.sort((a, b) => a - b);
}

// ---- the cluster ------------------------------------------------------------------------

const nodes: SibylNode[] = [];
let dir = '';
let seedAddress = '';

async function startNode(name: string): Promise<SibylNode> {
  const config = loadConfig({
    flags: {
      dataDir: join(dir, name),
      httpAddress: '127.0.0.1',
      httpPort: 0,
      listenAddress: '127.0.0.1',
      storagePort: 0,
      // The first node is its own seed (storage port 0 stands for the one it binds).
      seeds: seedAddress === '' ? [] : [seedAddress],
      numTokens: NUM_TOKENS,
      ringDelayMs: 5_000,
    },
  });
  const node = await SibylNode.start(config, { logger: false });
  nodes.push(node);
  return node;
}

/** Partitions of ks.t on the node, exact: one SSTable after flush and major compaction. */
async function partitionsOn(node: SibylNode): Promise<number> {
  await node.flush('ks');
  await node.compact('ks');
  const [stats] = await node.tableStats('ks', ['t']);
  return stats.partitionsEstimate;
}

async function statusOf(node: SibylNode, keyspace?: string): Promise<ClusterStatus> {
  return node.clusterStatus(keyspace);
}

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sibyl-ring-changes-'));
  const first = await startNode('node1');
  seedAddress = (await statusOf(first)).endpoints[0].address;
  // One after the other: nodes joining at once cannot see each other's tokens, which unbalances the ring.
  await startNode('node2');
  await startNode('node3');
  for (const node of nodes) {
    await eventually('every node sees three UN nodes', 20_000, async () => {
      const { endpoints } = await statusOf(node);
      return endpoints.length === 3 && endpoints.every((endpoint) => endpoint.status === 'UN');
    });
  }
  await first.execute({ query: `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${RF}}` });
  await first.execute({ query: 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)' });
  // Data that exists before the 4th node joins: it can reach it only by streaming.
  for (let key = 0; key < PRELOADED_KEYS; key++) {
    await first.execute({ query: 'INSERT INTO ks.t (k, v) VALUES (?, ?)', params: [key, `v${key}`], consistency: 'ALL' });
  }
});

t.teardown(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
  await rm(dir, { recursive: true, force: true });
});

let writesFailed = 0;
/** Partitions the 4th node holds once it has joined. */
let joinerPartitions = 0;
const acked: number[] = Array.from({ length: PRELOADED_KEYS }, (_, key) => key);
/** Pending endpoints describering showed while the 4th node joined. */
const pendingSeen = new Set<string>();
const statusesSeen = new Set<string>();
let joiner: SibylNode;

t.test('a bootstrapping node receives writes made while it joins and every acknowledged QUORUM write is readable at QUORUM afterwards', async (t) => {
  const [n1, n2, n3] = nodes;
  const original = new Set((await statusOf(n1)).endpoints.map((endpoint) => endpoint.address));
  const workload = new WriteWorkload(10_000, () => [n1.httpAddress, n2.httpAddress, n3.httpAddress]);
  let joining = true;
  // Watch the join from node 1: the new node's status and the pending ranges.
  const watcher = (async () => {
    while (joining) {
      for (const endpoint of (await statusOf(n1)).endpoints) if (!original.has(endpoint.address)) statusesSeen.add(endpoint.status);
      for (const range of await n1.describeRing('ks')) for (const pending of range.pendingEndpoints) pendingSeen.add(pending);
      await sleep(100);
    }
  })();
  await sleep(500);
  joiner = await startNode('node4');
  // Writes after the join too: the new node is now a natural replica.
  await sleep(1_000);
  joining = false;
  await watcher;
  await workload.stop();
  acked.push(...workload.acked);
  writesFailed += workload.failed;
  t.ok(workload.acked.length > 50, `writes were acknowledged while the node joined (${workload.acked.length}, ${workload.failed} failed)`);
  t.ok(statusesSeen.has('UJ'), `node 1 saw the new node UJ while it joined (saw ${[...statusesSeen].join(', ')})`);

  // The joiner is NORMAL as soon as it serves; node 1 hears it by gossip within rounds.
  const allNormal = async () => (await statusOf(n1)).endpoints.map((e) => e.status).join() === 'UN,UN,UN,UN';
  await eventually('node 1 sees the new node UN', 15_000, allNormal).catch(() => {});
  const { endpoints } = await statusOf(n1);
  t.same(endpoints.map((e) => e.status), ['UN', 'UN', 'UN', 'UN'], 'four UN nodes once it joined');
  // The new node holds every acknowledged key it replicates (streamed, or written to it
  // as a pending replica) and no other. Counted before any read: read repair would
  // fill in what is missing, and QUORUM reads alone pass even with nothing streamed.
  const joinerId = (await joiner.info()).hostId;
  let replicated = 0;
  for (const key of acked) {
    if ((await n1.endpoints('ks', 't', String(key))).replicas.some((replica) => replica.hostId === joinerId)) replicated++;
  }
  joinerPartitions = await partitionsOn(joiner);
  // A write that failed may have reached it too: those are the only extra keys allowed.
  t.ok(
    joinerPartitions >= replicated && joinerPartitions <= replicated + writesFailed,
    `the new node holds ${joinerPartitions} partitions, the ${replicated} acknowledged keys it replicates (of ${acked.length})`,
  );
  const missing = await missingAtQuorum(acked, nodes.map((node) => node.httpAddress));
  t.same(missing, [], `every one of ${acked.length} acknowledged writes is readable at QUORUM`);
});

t.test('data per node is near balanced after the 4th node joins', async (t) => {
  // Token allocation balances the primary ranges: at 4 vnodes per node its greedy
  // splits leave each of 4 nodes within ±12% of a quarter of the ring (the most seen
  // over 300 simulated layouts), so ±15% is the bound. (Replicated ownership at RF 3 is
  // less even, up to ±42% at 4 vnodes: allocation does not aim at it yet.)
  for (const endpoint of (await statusOf(nodes[0])).endpoints) {
    t.ok(Math.abs(endpoint.owns - 1 / 4) <= 0.15 / 4, `${endpoint.address} owns ${(endpoint.owns * 100).toFixed(1)}% of the ring (fair share 25%)`);
  }
  // The new node's data follows its share of the keyspace: keys hash uniformly, so at
  // ~1000 keys the sampling noise is under 2 points; 10 points is far outside it.
  const joinerId = (await joiner.info()).hostId;
  const share = (await statusOf(nodes[0], 'ks')).endpoints.find((endpoint) => endpoint.hostId === joinerId)!.owns;
  t.ok(
    Math.abs(joinerPartitions / acked.length - share) <= 0.1,
    `the new node holds ${joinerPartitions} of ${acked.length} keys for its ${(share * 100).toFixed(1)}% effective ownership of ks`,
  );
});

t.test('decommission while writes run loses no acknowledged write, and the node leaves the ring', async (t) => {
  const [n1, leaving, n3, n4] = nodes;
  const leavingId = (await leaving.info()).hostId;
  const workload = new WriteWorkload(50_000, () => [n1.httpAddress, n3.httpAddress, n4.httpAddress]);
  let decommissioning = true;
  const watcher = (async () => {
    while (decommissioning) {
      for (const endpoint of (await statusOf(n1)).endpoints) if (endpoint.hostId === leavingId) statusesSeen.add(endpoint.status);
      await sleep(100);
    }
  })();
  await sleep(500);
  const result = await runCli(['decommission', '-h', leaving.httpAddress, '--json']);
  decommissioning = false;
  await watcher;
  await workload.stop();
  acked.push(...workload.acked);
  t.equal(result.code, 0, `sibyl decommission succeeds: ${result.stderr}`);
  const summary = JSON.parse(result.stdout) as { tables: { table: string; partitions: number }[]; errors: string[] };
  t.same(summary.errors, []);
  t.ok(summary.tables.some((table) => table.table === 't' && table.partitions > 0), 'it streamed partitions of ks.t');
  t.ok(statusesSeen.has('UL'), 'node 1 saw the node UL while it left');
  writesFailed += workload.failed;
  t.ok(workload.acked.length > 50, `writes were acknowledged while the node left (${workload.acked.length}, ${workload.failed} failed)`);

  const remaining = [n1, n3, n4];
  // RF 3 on three nodes: each must hold every key, the ones it took over from the leaving
  // node included. Counted before any read, which would repair what is missing.
  for (const node of remaining) {
    const held = await partitionsOn(node);
    t.ok(held >= acked.length && held <= acked.length + writesFailed, `${node.httpAddress} holds ${held} partitions, every one of ${acked.length} acknowledged keys`);
  }
  const missing = await missingAtQuorum(acked, remaining.map((node) => node.httpAddress));
  t.same(missing, [], `every one of ${acked.length} acknowledged writes is readable at QUORUM on the remaining nodes`);

  await t.rejects(leaving.execute({ query: 'SELECT * FROM ks.t' }), { code: 'Overloaded' }, 'the decommissioned node refuses client requests');
  for (const node of remaining) {
    const threeWithoutLeaving = async () => {
      const listed = await runCli(['status', '-h', node.httpAddress, '--json']);
      const { endpoints } = JSON.parse(listed.stdout) as ClusterStatus;
      return endpoints.length === 3 && endpoints.every((endpoint) => endpoint.hostId !== leavingId && endpoint.status === 'UN');
    };
    await eventually('the left node is gone from sibyl status', 10_000, threeWithoutLeaving).catch(() => {});
    t.ok(await threeWithoutLeaving(), `${node.httpAddress} lists three UN nodes, without the decommissioned one`);
  }

  await leaving.stop();
  await t.rejects(startNode('node2'), /decommissioned.*delete its data directory/, 'a decommissioned node refuses to start again on its old data');
});

t.test('describering reflects the joining node while it joins and the final ring', async (t) => {
  const joinerAddress = (await statusOf(nodes[0])).endpoints.find((e) => e.httpAddress === joiner.httpAddress)!.address;
  t.ok(pendingSeen.has(joinerAddress), `the joining node was a pending endpoint of some ranges (saw ${[...pendingSeen].join(', ')})`);
  const result = await runCli(['describering', '-h', nodes[0].httpAddress, '--json', 'ks']);
  t.equal(result.code, 0, result.stderr);
  const { ranges } = JSON.parse(result.stdout) as { ranges: TokenRangeDescription[] };
  const members = new Set((await statusOf(nodes[0])).endpoints.map((endpoint) => endpoint.address));
  t.equal(ranges.length, 3 * NUM_TOKENS, 'one range per token of the three remaining nodes');
  t.ok(
    ranges.every((range) => range.endpoints.length === RF && range.endpoints.every((e) => members.has(e)) && range.pendingEndpoints.length === 0),
    'every range has RF replicas, all of them members, and nothing pending',
  );
  t.ok(ranges.some((range) => range.endpoints.includes(joinerAddress)), 'the joined node replicates ranges');
  const human = await runCli(['describering', '-h', nodes[0].httpAddress, 'ks']);
  t.match(human.stdout, /TokenRange\(start_token:-?\d+, end_token:-?\d+, endpoints:\[/);
});
