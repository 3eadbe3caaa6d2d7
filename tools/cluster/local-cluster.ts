/**
 * Local clusters on one machine, the way ccm keeps them: a directory holding a manifest
 * (cluster.json) and one subdirectory per node with its configuration file, data, log
 * and pid file:
 *
 *   DIR/cluster.json          the nodes and their addresses
 *   DIR/node1/sibyl.yaml      cassandra.yaml-style configuration (seeds = node 1)
 *   DIR/node1/data/           data_dir
 *   DIR/node1/node.log        the node's log (JSON lines)
 *   DIR/node1/node.pid        pid of the running `sibyl node` process
 *
 * Nodes are `sibyl node --config DIR/nodeN/sibyl.yaml` processes. On 127.0.0.1 each node
 * gets its own pair of ports (HTTP base+2i, internode base+2i+1); with one loopback
 * address per node (127.0.0.N, which Linux routes without setup) every node uses the
 * same two ports, as ccm does.
 *
 * A pid file can outlive its process and the pid be reused, so a pid counts as the node
 * only while /proc says that process runs this node's configuration file (where /proc
 * exists): stop never signals a stranger.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';

export const MANIFEST_FILE = 'cluster.json';
const MANIFEST_VERSION = 1;
export const DEFAULT_CLUSTER_DIR = join('data', 'cluster');
export const DEFAULT_BASE_PORT = 8080;
/** Cassandra's limit on loopback-per-node clusters is the /8; ours is the last octet. */
export const NODES_MAX = 254;
const HEALTH_POLL_MS = 200;
const STOP_POLL_MS = 100;

/** The `sibyl` entry point next to this module, for spawning nodes. */
const SIBYL_SCRIPT = fileURLToPath(new URL('../sibyl.js', import.meta.url));

export interface NodeLayout {
  /** node1, node2 … */
  readonly name: string;
  /** HOST:PORT of the HTTP API. */
  readonly http: string;
  /** HOST:PORT of the internode listener. */
  readonly listen: string;
}

export interface ClusterManifest {
  readonly version: number;
  readonly nodes: readonly NodeLayout[];
}

/** A node's files, absolute. */
export interface NodeFiles {
  readonly dir: string;
  readonly config: string;
  readonly data: string;
  readonly log: string;
  readonly pid: string;
}

export interface PlanOptions {
  nodes: number;
  basePort: number;
  /** One address per node, 127.0.0.N, instead of distinct ports on 127.0.0.1. */
  loopbackPerNode: boolean;
}

/** A failure an operator can act on; the CLI prints its message. */
export class ClusterError extends Error {
  override name = 'ClusterError';
}

export function planCluster({ nodes, basePort, loopbackPerNode }: PlanOptions): ClusterManifest {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > NODES_MAX) throw new ClusterError(`--nodes must be between 1 and ${NODES_MAX}, got ${nodes}`);
  const highest = loopbackPerNode ? basePort + 1 : basePort + 2 * nodes - 1;
  if (!Number.isInteger(basePort) || basePort < 1 || highest > 65535) {
    throw new ClusterError(`--base-port ${basePort} leaves no room for ${nodes} nodes' ports (they must stay within 1-65535)`);
  }
  return {
    version: MANIFEST_VERSION,
    nodes: Array.from({ length: nodes }, (_, i) => {
      const host = loopbackPerNode ? `127.0.0.${i + 1}` : '127.0.0.1';
      const httpPort = loopbackPerNode ? basePort : basePort + 2 * i;
      return { name: `node${i + 1}`, http: `${host}:${httpPort}`, listen: `${host}:${httpPort + 1}` };
    }),
  };
}

export function nodeFiles(clusterDir: string, node: NodeLayout): NodeFiles {
  const dir = resolve(clusterDir, node.name);
  return {
    dir,
    config: join(dir, 'sibyl.yaml'),
    data: join(dir, 'data'),
    log: join(dir, 'node.log'),
    pid: join(dir, 'node.pid'),
  };
}

function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** The node's configuration file: cassandra.yaml names, seeds = the first node. */
function nodeConfig(manifest: ClusterManifest, node: NodeLayout, files: NodeFiles): string {
  const http = splitAddress(node.http);
  const listen = splitAddress(node.listen);
  return toYaml({
    cluster_name: 'sibyl-local',
    data_dir: files.data,
    http_address: http.host,
    http_port: http.port,
    listen_address: listen.host,
    storage_port: listen.port,
    seeds: [manifest.nodes[0].listen],
  });
}

export async function readManifest(clusterDir: string): Promise<ClusterManifest | null> {
  let text: string;
  try {
    text = await readFile(join(clusterDir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const manifest = JSON.parse(text) as ClusterManifest;
  if (manifest.version !== MANIFEST_VERSION || !Array.isArray(manifest.nodes)) {
    throw new ClusterError(`${join(clusterDir, MANIFEST_FILE)} is not a sibyl cluster manifest this version can read`);
  }
  return manifest;
}

export async function requireManifest(clusterDir: string): Promise<ClusterManifest> {
  const manifest = await readManifest(clusterDir);
  if (manifest === null) throw new ClusterError(`No cluster in ${clusterDir} (run 'sibyl cluster create' first)`);
  return manifest;
}

/** Writes the manifest and every node's configuration; refuses a directory that has a cluster. */
export async function createCluster(clusterDir: string, manifest: ClusterManifest): Promise<void> {
  if ((await readManifest(clusterDir)) !== null) throw new ClusterError(`A cluster already exists in ${clusterDir}`);
  for (const node of manifest.nodes) {
    const files = nodeFiles(clusterDir, node);
    await mkdir(files.data, { recursive: true });
    await writeFile(files.config, nodeConfig(manifest, node, files));
  }
  // The manifest last: a directory with one holds a complete cluster.
  await writeFile(join(clusterDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Whether `pid` is alive and, where /proc can tell, running this node's configuration. */
function isNodeProcess(pid: number, files: NodeFiles): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: gone; EPERM: someone else's process
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(files.config);
  } catch {
    return existsSync('/proc/self') ? false : true; // no /proc (macOS): trust the pid file
  }
}

/** The node's pid if its process runs; a stale pid file reads as not running. */
export async function runningPid(files: NodeFiles): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(files.pid, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && isNodeProcess(pid, files) ? pid : null;
}

export type HealthAnswer = 'ok' | 'starting' | 'stopping' | 'unreachable';

export async function health(httpAddress: string, timeoutMs = 1_000): Promise<HealthAnswer> {
  try {
    const response = await fetch(`http://${httpAddress}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { status?: string };
    return body.status === 'ok' || body.status === 'starting' || body.status === 'stopping' ? body.status : 'unreachable';
  } catch {
    return 'unreachable';
  }
}

/** The last lines of a node's log, to show why it failed. */
export function logTail(files: NodeFiles, lines = 10): string {
  try {
    return readFileSync(files.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * V8 flags for node processes, as Cassandra ships its jvm.options: a larger young
 * generation (64 MiB semi-spaces instead of 16) lets more of a write's short-lived
 * objects die young. Applying 300k rows straight into one LSM engine went from
 * 89–98k to 106–110k rows/s with it (two runs each); `npm run bench:storage`'s write
 * ratio stayed within its run-to-run noise. Costs about 3 × 48 MiB more heap per node.
 */
export const NODE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/**
 * Spawns `sibyl node --config …` with its output appended to the node's log, in its own
 * process group: Ctrl-C at the terminal reaches only `sibyl cluster run`, which then
 * sends each node one SIGTERM (a node takes a second signal as "stop now"). `background`
 * lets this process exit without waiting for the node.
 */
export function spawnNode(files: NodeFiles, background: boolean): ChildProcess {
  const log = openSync(files.log, 'a');
  try {
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, SIBYL_SCRIPT, 'node', '--config', files.config], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (background) child.unref();
    return child;
  } finally {
    closeSync(log); // the child holds its own copy
  }
}

/** Resolves when the node answers /health ok; rejects if `alive` turns false or time runs out. */
export async function waitHealthy(node: NodeLayout, files: NodeFiles, alive: () => boolean, deadlineMs: number): Promise<void> {
  for (;;) {
    if ((await health(node.http)) === 'ok') return;
    if (!alive()) throw new ClusterError(`${node.name} exited before it was ready; the end of ${files.log}:\n${logTail(files)}`);
    if (Date.now() >= deadlineMs) throw new ClusterError(`${node.name} was not ready at http://${node.http}/health in time; see ${files.log}`);
    await sleep(HEALTH_POLL_MS);
  }
}

export interface NodeReport {
  name: string;
  pid: number | null;
  alive: boolean;
  http: string;
  listen: string;
  /** GET /health, or 'unreachable'. */
  health: HealthAnswer;
  log: string;
}

/** Starts every node not running yet, in the background, and waits for /health of each. */
export async function startCluster(clusterDir: string, manifest: ClusterManifest, timeoutMs: number): Promise<NodeReport[]> {
  const deadline = Date.now() + timeoutMs;
  // One at a time, seed first, each serving before the next starts: a joining node
  // picks its tokens from the ring it sees, so nodes joining together would see the
  // same ring (as Cassandra, which bootstraps one node at a time).
  for (const node of manifest.nodes) {
    const files = nodeFiles(clusterDir, node);
    if ((await runningPid(files)) !== null) continue;
    const child = spawnNode(files, true);
    if (child.pid === undefined) throw new ClusterError(`Could not start ${node.name}`);
    const pid = child.pid;
    await writeFile(files.pid, `${pid}\n`);
    await waitHealthy(node, files, () => isNodeProcess(pid, files), deadline);
  }
  return clusterStatus(clusterDir, manifest);
}

/** SIGTERM to every running node, then waits for each to exit (SIGKILL after `timeoutMs`). */
export async function stopCluster(clusterDir: string, manifest: ClusterManifest, timeoutMs: number): Promise<{ name: string; killed: boolean }[]> {
  return Promise.all(
    manifest.nodes.map(async (node) => {
      const files = nodeFiles(clusterDir, node);
      const pid = await runningPid(files);
      let killed = false;
      if (pid !== null) {
        process.kill(pid, 'SIGTERM');
        const deadline = Date.now() + timeoutMs;
        while (isNodeProcess(pid, files)) {
          if (Date.now() >= deadline) {
            process.kill(pid, 'SIGKILL');
            killed = true;
            break;
          }
          await sleep(STOP_POLL_MS);
        }
      }
      await unlink(files.pid).catch(() => {});
      return { name: node.name, killed };
    }),
  );
}

export async function clusterStatus(clusterDir: string, manifest: ClusterManifest): Promise<NodeReport[]> {
  return Promise.all(
    manifest.nodes.map(async (node): Promise<NodeReport> => {
      const files = nodeFiles(clusterDir, node);
      const pid = await runningPid(files);
      return {
        name: node.name,
        pid,
        alive: pid !== null,
        http: node.http,
        listen: node.listen,
        health: pid === null ? 'unreachable' : await health(node.http),
        log: files.log,
      };
    }),
  );
}

/** Stops the nodes and deletes the directory; only a directory holding a manifest. */
export async function destroyCluster(clusterDir: string, manifest: ClusterManifest, timeoutMs: number): Promise<void> {
  await stopCluster(clusterDir, manifest, timeoutMs);
  await rm(clusterDir, { recursive: true, force: true });
}

/** Says how `sibyl cluster run` is doing, a line at a time. */
export type Say = (line: string) => void;

type RunOutcome = { kind: 'stopped'; signal: string } | { kind: 'failed'; reason: string };

/**
 * `sibyl cluster run`: starts every node as a child, says where each serves HTTP, and
 * once `stop` resolves (Ctrl-C) or a node dies, stops them all. Resolves 0 after a
 * requested stop, 1 when a node failed.
 */
export async function runCluster(clusterDir: string, manifest: ClusterManifest, timeoutMs: number, stop: Promise<string>, say: Say): Promise<number> {
  for (const node of manifest.nodes) {
    if ((await runningPid(nodeFiles(clusterDir, node))) !== null) {
      throw new ClusterError(`${node.name} of ${clusterDir} is already running; 'sibyl cluster stop --dir ${clusterDir}' first`);
    }
  }
  type Child = { node: NodeLayout; files: NodeFiles; child: ChildProcess; exit: Promise<string>; alive: () => boolean };
  const children: Child[] = [];
  let reportDeath: (reason: string) => void = () => {};
  const died = new Promise<string>((resolve) => (reportDeath = resolve)).then((reason): RunOutcome => ({ kind: 'failed', reason }));
  const spawnOne = async (node: NodeLayout): Promise<Child> => {
    const files = nodeFiles(clusterDir, node);
    const child = spawnNode(files, false);
    let exited = false;
    const exit = new Promise<string>((resolve) =>
      child.once('exit', (code, signal) => {
        exited = true;
        resolve(`${node.name} exited (${signal ?? `code ${code}`}); the end of ${files.log}:\n${logTail(files)}`);
      }),
    );
    void exit.then(reportDeath);
    const started: Child = { node, files, child, exit, alive: () => !exited };
    children.push(started);
    // Pid files let `sibyl cluster status` and `stop` see this cluster too.
    await writeFile(files.pid, `${child.pid}\n`);
    return started;
  };
  let failed = false;
  try {
    const deadline = Date.now() + timeoutMs;
    // One at a time, seed first, each serving before the next starts: a joining node
    // picks its tokens from the ring it sees (as Cassandra bootstraps one at a time).
    const ready = (async () => {
      for (const node of manifest.nodes) {
        const { files, alive } = await spawnOne(node);
        await waitHealthy(node, files, alive, deadline);
      }
      for (const { node, files } of children) say(`${node.name}: HTTP http://${node.http}  internode ${node.listen}  log ${files.log}`);
      say('Cluster ready. Ctrl-C stops every node.');
    })();
    const stopped = stop.then((signal): RunOutcome => ({ kind: 'stopped', signal }));
    // A failed start ends the run as a dead node does; Ctrl-C during start-up stops it.
    let outcome = await Promise.race([
      stopped,
      died,
      ready.then(
        () => null,
        (error: Error): RunOutcome => ({ kind: 'failed', reason: error.message }),
      ),
    ]);
    outcome ??= await Promise.race([stopped, died]);
    if (outcome.kind === 'failed') {
      failed = true;
      say(outcome.reason);
    } else {
      say(`${outcome.signal} received, stopping every node`);
    }
  } finally {
    for (const { child, alive } of children) if (alive()) child.kill('SIGTERM');
    await Promise.all(children.map(({ exit }) => exit));
    await Promise.all(children.map(({ files }) => unlink(files.pid).catch(() => {})));
  }
  say('Every node stopped.');
  return failed ? 1 : 0;
}
