/**
 * `sibyl cluster create|start|stop|status|destroy|run`: local clusters of `sibyl node`
 * processes, managed the way ccm manages Cassandra ones (tools/cluster/local-cluster.ts
 * holds the layout and the process handling).
 *
 *   create   write DIR/cluster.json and a configuration per node (seeds = node1)
 *   start    start the nodes in the background, wait for /health of each
 *   stop     SIGTERM each node and wait for it to exit
 *   status   pid, liveness, HTTP address and /health of each node
 *   destroy  stop the nodes and delete DIR
 *   run      create DIR if needed, start the nodes in the foreground, stop all on Ctrl-C
 *
 * Exit codes as for every command: 0 success, 1 failure, 2 usage error.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ClusterError,
  type ClusterManifest,
  clusterStatus,
  createCluster,
  DEFAULT_BASE_PORT,
  DEFAULT_CLUSTER_DIR,
  destroyCluster,
  type NodeReport,
  planCluster,
  readManifest,
  requireManifest,
  runCluster,
  startCluster,
  stopCluster,
} from '../cluster/local-cluster.js';
import { type AdminCommand, type CommandIo, processIo, UsageError } from './command.js';
import { layoutColumns } from './table-layout.js';

const ACTIONS = ['create', 'start', 'stop', 'status', 'destroy', 'run'] as const;
type Action = (typeof ACTIONS)[number];

const DEFAULT_NODES = 3;
const DEFAULT_TIMEOUT_SECONDS = 60;
/** How long a node may take to stop after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 30_000;

const FLAGS = {
  nodes: { type: 'string', value: 'N', description: `number of nodes (create, run; default ${DEFAULT_NODES})` },
  dir: { type: 'string', value: 'DIR', description: `cluster directory (default ./${DEFAULT_CLUSTER_DIR})` },
  'base-port': {
    type: 'string',
    value: 'PORT',
    description: `first port (create, run; default ${DEFAULT_BASE_PORT}): node i gets HTTP PORT+2i and internode PORT+2i+1`,
  },
  loopback: { type: 'boolean', description: 'bind node N to 127.0.0.N (same ports on each) instead of 127.0.0.1' },
  timeout: { type: 'string', value: 'SECONDS', description: `how long start and run wait for /health (default ${DEFAULT_TIMEOUT_SECONDS})` },
  json: { type: 'boolean', description: 'print the answer as JSON' },
  help: { type: 'boolean', description: 'show this help' },
} as const;

type Flags = {
  nodes?: string;
  dir?: string;
  'base-port'?: string;
  loopback?: boolean;
  timeout?: string;
  json?: boolean;
  help?: boolean;
};

const USAGE = `${ACTIONS.join('|')} [--nodes N] [--dir DIR] [--base-port PORT] [--loopback] [--timeout SECONDS] [--json]`;

function help(): string {
  const rows = Object.entries(FLAGS).map(([name, spec]) => [`--${name}${'value' in spec ? ` ${spec.value}` : ''}`, spec.description]);
  return (
    `Usage: sibyl cluster ${USAGE}\n\n` +
    'Manage a local cluster of sibyl nodes, as ccm does.\n\n' +
    '  create   write the cluster directory: a configuration per node, seeds = node1\n' +
    '  start    start every node in the background and wait until each is ready\n' +
    '  stop     stop every node (SIGTERM) and wait for it to exit\n' +
    "  status   each node's pid, liveness, HTTP address and /health\n" +
    '  destroy  stop every node and delete the cluster directory\n' +
    '  run      create if needed, run every node in the foreground until Ctrl-C\n\n' +
    `Options:\n${layoutColumns(rows).replace(/^/gm, '  ')}`
  );
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive integer, got '${text}'`);
  return value;
}

function describeLayout(dir: string, manifest: ClusterManifest): string {
  const rows = [['Node', 'HTTP', 'Internode'], ...manifest.nodes.map((node) => [node.name, node.http, node.listen])];
  return `Cluster of ${manifest.nodes.length} node${manifest.nodes.length === 1 ? '' : 's'} in ${dir}\n${layoutColumns(rows)}`;
}

export function describeNodes(reports: readonly NodeReport[]): string {
  const rows = [
    ['Node', 'PID', 'Alive', 'HTTP', 'Health'],
    ...reports.map((report) => [report.name, report.pid === null ? '-' : String(report.pid), report.alive ? 'yes' : 'no', report.http, report.health]),
  ];
  return layoutColumns(rows);
}

function nextStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function perform(action: Action, flags: Flags, io: CommandIo): Promise<{ human: string; json: unknown; code?: number }> {
  const dir = resolve(flags.dir ?? DEFAULT_CLUSTER_DIR);
  const timeoutMs = positiveInteger('timeout', flags.timeout, DEFAULT_TIMEOUT_SECONDS) * 1000;
  const plan = () =>
    planCluster({
      nodes: positiveInteger('nodes', flags.nodes, DEFAULT_NODES),
      basePort: positiveInteger('base-port', flags['base-port'], DEFAULT_BASE_PORT),
      loopbackPerNode: flags.loopback === true,
    });
  switch (action) {
    case 'create': {
      const manifest = plan();
      await createCluster(dir, manifest);
      return { human: describeLayout(dir, manifest), json: { dir, ...manifest } };
    }
    case 'start': {
      const reports = await startCluster(dir, await requireManifest(dir), timeoutMs);
      return { human: describeNodes(reports), json: reports };
    }
    case 'stop': {
      const stopped = await stopCluster(dir, await requireManifest(dir), STOP_TIMEOUT_MS);
      const killed = stopped.filter((node) => node.killed).map((node) => node.name);
      const human = killed.length === 0 ? '' : `Killed (did not stop within ${STOP_TIMEOUT_MS / 1000} s): ${killed.join(', ')}\n`;
      return { human, json: stopped };
    }
    case 'status': {
      const reports = await clusterStatus(dir, await requireManifest(dir));
      return { human: describeNodes(reports), json: reports };
    }
    case 'destroy': {
      await destroyCluster(dir, await requireManifest(dir), STOP_TIMEOUT_MS);
      return { human: `Removed ${dir}\n`, json: { removed: dir } };
    }
    case 'run': {
      let manifest = await readManifest(dir);
      if (manifest === null) {
        manifest = plan();
        await createCluster(dir, manifest);
      } else if (flags.nodes !== undefined && positiveInteger('nodes', flags.nodes, DEFAULT_NODES) !== manifest.nodes.length) {
        throw new ClusterError(`The cluster in ${dir} has ${manifest.nodes.length} nodes, not ${flags.nodes}; 'sibyl cluster destroy --dir ${dir}' to start afresh`);
      }
      // Listening before the nodes start, so a Ctrl-C during start-up stops them too.
      const stop = nextStopSignal();
      io.stdout(describeLayout(dir, manifest));
      const code = await runCluster(dir, manifest, timeoutMs, stop, (line) => io.stdout(`${line}\n`));
      return { human: '', json: null, code };
    }
  }
}

async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  let json = false;
  try {
    let parsed: { values: Flags; positionals: string[] };
    try {
      parsed = parseArgs({
        args: argv,
        options: Object.fromEntries(Object.entries(FLAGS).map(([name, { type }]) => [name, { type }])),
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
      throw error;
    }
    const flags = parsed.values;
    if (flags.help === true) {
      io.stdout(help());
      return 0;
    }
    json = flags.json === true;
    const [action, extra] = parsed.positionals;
    if (action === undefined) throw new UsageError(`Expected one of ${ACTIONS.join(', ')}`);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`Unknown action '${action}' (expected one of ${ACTIONS.join(', ')})`);
    if (extra !== undefined) throw new UsageError(`Unexpected argument '${extra}'`);
    const result = await perform(action as Action, flags, io);
    if (action !== 'run') io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : result.human);
    return result.code ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`sibyl cluster: ${error.message}\n\nUsage: sibyl cluster ${USAGE}\n`);
      return 2;
    }
    if (error instanceof ClusterError || typeof (error as NodeJS.ErrnoException).code === 'string') {
      if (json) io.stdout(`${JSON.stringify({ error: { code: 'ClusterError', message: (error as Error).message } }, null, 2)}\n`);
      io.stderr(`sibyl cluster: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

export const cluster: AdminCommand = {
  name: 'cluster',
  summary: 'create, start, stop, inspect or destroy a local cluster (like ccm); run one in the foreground',
  usage: USAGE,
  run,
};
