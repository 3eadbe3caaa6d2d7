/**
 * `npm run chaos -- [flags]`: the Jepsen-style chaos suite (see options.ts for the flags).
 *
 * Run as root, it builds the network namespaces (namespace.ts) and runs itself again
 * inside the central one; that inner run starts the cluster, creates the schema, runs
 * the clients while the nemesis breaks things on the seed's schedule, heals, waits for
 * hints, repairs twice, reads everything back, kills the nodes, and judges the history.
 * It writes into --out: history.jsonl, summary.txt, report.html, schedule.json and the
 * nodes' data and logs (cluster/nodeN/). Exit codes: 0 passed, 1 a checker found a
 * violation or the run broke, 2 usage error, 3 this machine cannot run it.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../lib/model/random.js';
import { checkAll } from './checkers.js';
import { runClients } from './clients.js';
import { ChaosCluster } from './cluster.js';
import { cql } from './client.js';
import { readEverything, repairTwice, waitConverged, waitHintsDelivered } from './final.js';
import { HistoryLog, wallClockMs } from './history.js';
import { CannotRun, EXIT_CANNOT_RUN, INSIDE_ENV, preflight, runInNamespaces, topologyFor } from './namespace.js';
import { NemesisExecutor } from './nemesis/executor.js';
import { planFaults } from './nemesis/schedule.js';
import { describeSlowMode, NetworkControl, type Topology } from './network.js';
import { type ChaosOptions, parseOptions, replayArguments, replayCommand, UsageError, USAGE } from './options.js';
import { passed, reportHtml, type RunFacts, summaryText } from './report.js';
import { schemaStatements, TABLE_OF, WorkloadGenerator } from './workloads.js';

const SCRIPT = fileURLToPath(import.meta.url);
const SCHEMA_TIMEOUT_MS = 30_000;
/** The file that marks a directory as a chaos run's, so a rerun may empty it. */
const HISTORY_FILE = 'history.jsonl';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Empties a previous run's directory; refuses one that holds anything else. */
async function prepareOut(out: string): Promise<void> {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, HISTORY_FILE))) throw new UsageError(`--out ${out} is not empty and holds no chaos run; choose another directory`);
    await rm(out, { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
}

async function createSchema(cluster: ChaosCluster, replicationFactor: number): Promise<void> {
  for (const statement of schemaStatements(replicationFactor)) {
    const answer = await cql(cluster.nodes[0].http, statement, [], 'ONE', SCHEMA_TIMEOUT_MS);
    if (answer.outcome !== 'ok') throw new Error(`${statement}: ${answer.error}`);
  }
  await cluster.waitUntil('every node has the chaos tables', SCHEMA_TIMEOUT_MS, async () => {
    for (const node of cluster.nodes) {
      for (const table of Object.values(TABLE_OF)) {
        if ((await cql(node.http, `SELECT * FROM chaos.${table} LIMIT 1`, [], 'ONE', 2_000)).outcome !== 'ok') return false;
      }
    }
    return true;
  });
}

/** The run inside the central namespace. */
async function runInside(options: ChaosOptions, topology: Topology): Promise<number> {
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  const log = new HistoryLog(join(out, HISTORY_FILE));
  const cluster = new ChaosCluster(join(out, 'cluster'), topology, options.hints);
  const network = new NetworkControl(options.nodes);
  const executor = new NemesisExecutor(cluster, network, log);
  const windows = planFaults(options.seed, { durationMs: options.timeSeconds * 1000, nodes: options.nodes, nemeses: options.nemeses });
  await writeFile(join(out, 'schedule.json'), `${JSON.stringify(windows, null, 2)}\n`);
  const facts: RunFacts = {
    seed: options.seed,
    replay: replayCommand(options),
    nodes: options.nodes,
    replicationFactor: options.replicationFactor,
    nemeses: options.nemeses,
    workloads: options.workloads,
    startMs: wallClockMs(),
    endMs: wallClockMs(),
    remarks: [],
  };
  const finish = async (): Promise<number> => {
    await cluster.killAll();
    await log.close();
    const results = checkAll(log.history, options.workloads, options.replicationFactor);
    const summary = summaryText(log.history, results, facts);
    await writeFile(join(out, 'summary.txt'), summary);
    await writeFile(join(out, 'report.html'), reportHtml(log.history, results, facts));
    say(`\n${summary}`);
    say(`History ${join(out, HISTORY_FILE)}, report ${join(out, 'report.html')}`);
    return passed(results, facts) ? 0 : 1;
  };
  // Ctrl-C or SIGTERM (from the outer run): stop the nodes and report what happened so far.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    executor.stop();
    facts.crash = `interrupted by ${signal}`;
    void finish().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    say(`chaos: seed ${options.seed}; starting ${options.nodes} nodes in ${cluster.dir}`);
    await cluster.startAll();
    await waitConverged(cluster);
    await createSchema(cluster, options.replicationFactor);
    say(`chaos: cluster ready; ${options.timeSeconds} s of ${options.workloads.join(', ')} with ${options.nemeses.join(', ') || 'no'} faults (${windows.length} fault windows)`);
    const random = seededRandom(options.seed ^ 0x5eed);
    const generator = new WorkloadGenerator(random, options.workloads);
    facts.startMs = wallClockMs();
    facts.endMs = facts.startMs + options.timeSeconds * 1000;
    await Promise.all([
      runClients(cluster, generator, random, log, { clients: options.clients, rate: options.rate, deadlineMs: facts.endMs }),
      executor.run(windows, facts.startMs),
    ]);
    if (interrupted) return await new Promise<never>(() => {});
    say('chaos: fault window over; healing, waiting for hints, repairing, reading back');
    await executor.heal();
    await network.healPartitions();
    await network.fast();
    for (const node of cluster.nodes) {
      if (node.state === 'paused') cluster.resume(node);
      if (node.clockOffsetMs !== 0) await cluster.restartWithOffset(node, 0);
      if (node.state === 'killed') await cluster.start(node);
    }
    const slow = describeSlowMode(network.slowMode);
    if (slow !== null) facts.remarks.push(slow);
    await waitConverged(cluster);
    const hintsLeft = options.hints ? await waitHintsDelivered(cluster) : 0;
    if (!options.hints) facts.remarks.push('hinted handoff was off (--no-hints): the repair had to bring the replicas together');
    if (hintsLeft > 0) facts.remarks.push(`${hintsLeft} hint(s) were still pending when the repair started`);
    await repairTwice(cluster, log);
    await readEverything(cluster, options.workloads, log);
  } catch (error) {
    if (interrupted) return await new Promise<never>(() => {});
    facts.crash = (error as Error).message;
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return finish();
}

async function main(argv: string[]): Promise<number> {
  let options: ChaosOptions | null;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`chaos: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === null) {
    say(USAGE);
    return 0;
  }
  const inside = process.env[INSIDE_ENV];
  if (inside !== undefined) return runInside(options, JSON.parse(inside) as Topology);
  const reason = await preflight(options.nemeses.includes('slow'));
  if (reason !== null) {
    process.stderr.write(`chaos: cannot run: ${reason}\n`);
    return EXIT_CANNOT_RUN;
  }
  const out = resolve(options.out);
  try {
    await prepareOut(out);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`chaos: ${error.message}\n`);
    return 2;
  }
  try {
    const code = await runInNamespaces(topologyFor(options.nodes), SCRIPT, [...replayArguments(options), '--out', out], say);
    say(`chaos: seed ${options.seed}, exit ${code}; replay with: ${replayCommand(options)}`);
    return code;
  } catch (error) {
    if (!(error instanceof CannotRun)) throw error;
    process.stderr.write(`chaos: cannot run: ${error.message}\n`);
    return EXIT_CANNOT_RUN;
  }
}

// Exit explicitly: keep-alive sockets to the (now dead) nodes must not hold the process open.
process.exit(await main(process.argv.slice(2)));
