/**
 * The nodes of a chaos run: `sibyl node --config DIR/nodeN/sibyl.yaml` processes, each
 * started in its own network namespace (`ip netns exec`, which execs, so the pid is the
 * node's own and signals reach it), with its data and log under the run's directory.
 *
 * Settings chosen for a short run on a small machine: 4 vnodes per node (few ranges to
 * repair), no bootstrap streaming and no ring delay (the cluster starts empty, one node
 * at a time), a failure detector that convicts after ~5 s of silence, and 2 s request
 * timeouts, so faults show up within a fault window. A clock offset (the skew nemesis)
 * is a configuration value, so changing it means restarting the node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { HTTP_PORT, nodeAddress, STORAGE_PORT, type Topology } from './network.js';

const SIBYL_SCRIPT = fileURLToPath(new URL('../../tools/sibyl.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 200;

export type NodeState = 'running' | 'killed' | 'paused';

export interface ChaosNode {
  readonly index: number;
  /** node1 … */
  readonly name: string;
  /** HOST:PORT of its HTTP API. */
  readonly http: string;
  /** HOST:PORT of its internode listener. */
  readonly listen: string;
  readonly namespace: string;
  readonly dir: string;
  readonly config: string;
  readonly log: string;
  child: ChildProcess | null;
  exited: Promise<void>;
  state: NodeState;
  /** Its clock offset now, ms. */
  clockOffsetMs: number;
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function healthy(http: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${http}/health`, { signal: AbortSignal.timeout(1_000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

export class ChaosCluster {
  readonly nodes: ChaosNode[];

  constructor(
    readonly dir: string,
    topology: Topology,
    private readonly hintedHandoff: boolean,
  ) {
    this.nodes = topology.nodeNamespaces.map((namespace, index) => {
      const nodeDir = join(dir, `node${index + 1}`);
      return {
        index,
        name: `node${index + 1}`,
        http: `${nodeAddress(index)}:${HTTP_PORT}`,
        listen: `${nodeAddress(index)}:${STORAGE_PORT}`,
        namespace,
        dir: nodeDir,
        config: join(nodeDir, 'sibyl.yaml'),
        log: join(nodeDir, 'node.log'),
        child: null,
        exited: Promise.resolve(),
        state: 'killed',
        clockOffsetMs: 0,
      };
    });
  }

  /** The node serving `address` (host:port of its internode or HTTP listener, or its host). */
  nodeAt(address: string): ChaosNode | undefined {
    const host = address.replace(/^\//, '').replace(/:\d+$/, '');
    return this.nodes.find((node) => node.listen.startsWith(`${host}:`));
  }

  private async writeConfig(node: ChaosNode): Promise<void> {
    await mkdir(join(node.dir, 'data'), { recursive: true });
    const yaml = toYaml({
      cluster_name: 'sibyl-chaos',
      data_dir: join(node.dir, 'data'),
      http_address: nodeAddress(node.index),
      http_port: HTTP_PORT,
      listen_address: nodeAddress(node.index),
      storage_port: STORAGE_PORT,
      seeds: [this.nodes[0].listen],
      num_tokens: 4,
      auto_bootstrap: false,
      ring_delay: '0ms',
      phi_convict_threshold: 5,
      read_request_timeout: '2s',
      write_request_timeout: '2s',
      clock_offset_ms: node.clockOffsetMs,
      hinted_handoff_enabled: this.hintedHandoff,
    });
    await writeFile(node.config, yaml);
  }

  /** Starts the node (with its current clock offset) and waits until it serves. */
  async start(node: ChaosNode): Promise<void> {
    await this.writeConfig(node);
    const log = openSync(node.log, 'a');
    let child: ChildProcess;
    try {
      child = spawn('ip', ['netns', 'exec', node.namespace, process.execPath, SIBYL_SCRIPT, 'node', '--config', node.config], {
        detached: true,
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    let alive = true;
    node.child = child;
    node.exited = new Promise((resolve) =>
      child.once('exit', () => {
        alive = false;
        if (node.child === child) node.child = null;
        resolve();
      }),
    );
    node.state = 'running';
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await healthy(node.http))) {
      if (!alive) throw new Error(`${node.name} exited before it was ready; the end of ${node.log}:\n${logTail(node.log)}`);
      if (Date.now() > deadline) throw new Error(`${node.name} was not ready at http://${node.http}/health in time; see ${node.log}`);
      await sleep(POLL_MS);
    }
  }

  /**
   * Starts every node, seed first, one at a time: a joining node picks its tokens from
   * the ring it sees, so each next node starts once the seed sees the previous one's tokens.
   */
  async startAll(): Promise<void> {
    for (const node of this.nodes) {
      await this.start(node);
      await this.waitUntil(`node1 sees the tokens of ${node.name}`, START_TIMEOUT_MS, async () => {
        const status = await this.status(this.nodes[0]);
        return status?.some((endpoint) => endpoint.address === node.listen && endpoint.tokens > 0) ?? false;
      });
    }
  }

  /** kill -9: a crash. */
  async kill(node: ChaosNode): Promise<void> {
    const child = node.child;
    if (child === null) return;
    if (node.state === 'paused') child.kill('SIGCONT');
    child.kill('SIGKILL');
    await node.exited;
    node.state = 'killed';
  }

  /** SIGTERM (the node drains), SIGKILL if it has not exited in time. */
  async stop(node: ChaosNode): Promise<void> {
    const child = node.child;
    if (child === null) return;
    if (node.state === 'paused') child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await node.exited;
    clearTimeout(timer);
    node.state = 'killed';
  }

  pause(node: ChaosNode): void {
    if (node.child === null || node.state !== 'running') return;
    node.child.kill('SIGSTOP');
    node.state = 'paused';
  }

  resume(node: ChaosNode): void {
    if (node.child === null || node.state !== 'paused') return;
    node.child.kill('SIGCONT');
    node.state = 'running';
  }

  /** Restarts the node with another clock offset. */
  async restartWithOffset(node: ChaosNode, clockOffsetMs: number): Promise<void> {
    await this.stop(node);
    node.clockOffsetMs = clockOffsetMs;
    await this.start(node);
  }

  /** Teardown: SIGKILL every node and wait for each to exit. */
  async killAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node)));
  }

  /** GET /v1/admin/status of `node`, or null when it does not answer. */
  async status(node: ChaosNode): Promise<{ address: string; status: string; tokens: number }[] | null> {
    try {
      const response = await fetch(`http://${node.http}/v1/admin/status`, { signal: AbortSignal.timeout(2_000) });
      if (response.status !== 200) return null;
      return ((await response.json()) as { endpoints: { address: string; status: string; tokens: number }[] }).endpoints;
    } catch {
      return null;
    }
  }

  /** What the last allUp() found short of the goal, for the error when the wait gives up. */
  private notUp: string[] = [];

  /** Whether every node answers and sees every node UP and NORMAL. */
  async allUp(): Promise<boolean> {
    const notUp: string[] = [];
    for (const node of this.nodes) {
      const endpoints = await this.status(node);
      if (endpoints === null) {
        notUp.push(`${node.name} does not answer`);
        continue;
      }
      for (const other of this.nodes) {
        const seen = endpoints.find((endpoint) => endpoint.address === other.listen)?.status ?? 'absent';
        if (seen !== 'UN') notUp.push(`${node.name} sees ${other.name} ${seen}`);
      }
    }
    this.notUp = notUp;
    return notUp.length === 0;
  }

  async waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.notUp = [];
    while (!(await condition())) {
      if (Date.now() > deadline) {
        const detail = this.notUp.length > 0 ? ` (last seen: ${this.notUp.join('; ')})` : '';
        throw new Error(`timed out after ${timeoutMs / 1000} s waiting until ${what}${detail}`);
      }
      await sleep(POLL_MS);
    }
  }
}
