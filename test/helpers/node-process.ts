/**
 * `sibyl node` as a separate process, for multi-process integration tests over TCP, and
 * the HTTP helpers those tests (and any test that drives nodes over HTTP) share.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { CLI } from './cli.js';
import { freePort } from './ports.js';

export interface NodeProcess {
  child: ChildProcess;
  /** HOST:PORT of its HTTP API. */
  http: string;
  exited: Promise<unknown>;
}

/** Starts `sibyl node ...args` and resolves with its HTTP address from the "ready" log line. */
export function startNodeProcess(args: readonly string[]): Promise<NodeProcess> {
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

/** Kills the process at once (a crash, not a stop) and waits until it is gone. */
export async function killNodeProcess(node: NodeProcess): Promise<void> {
  node.child.kill('SIGKILL');
  await node.exited;
}

export interface ProcessCluster {
  /** The running nodes; tests push, replace and remove entries, teardown kills whatever is here. */
  nodes: NodeProcess[];
  /** `sibyl node` arguments of node `i` (0-based): its own storage port and data dir, node 0 as seed. */
  argsOf(i: number): string[];
}

/**
 * Prepares a cluster of `count` node processes without starting any: a temporary
 * directory with `config` as sibyl.yaml, a free storage port per node, and a teardown
 * that kills the nodes still listed and removes the directory.
 */
export async function processCluster(t: Test, name: string, count: number, config: string): Promise<ProcessCluster> {
  const dir = await mkdtemp(join(tmpdir(), `sibyl-${name}-`));
  const nodes: NodeProcess[] = [];
  t.teardown(async () => {
    for (const node of nodes) node.child.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.exited));
    await rm(dir, { recursive: true, force: true });
  });
  const configFile = join(dir, 'sibyl.yaml');
  await writeFile(configFile, config);
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const argsOf = (i: number) => [
    '--config', configFile,
    '--http', '127.0.0.1:0',
    '--listen', `127.0.0.1:${ports[i]}`,
    '--seeds', `127.0.0.1:${ports[0]}`,
    '--data', join(dir, `node${i + 1}`),
  ];
  return { nodes, argsOf };
}

export interface CqlAnswer {
  status: number;
  body: { kind?: string; rows?: Record<string, unknown>[]; warnings?: string[]; error?: { code: string; message: string } };
}

/** Runs one statement through a node's HTTP CQL endpoint (`http` is HOST:PORT). */
export async function cql(http: string, query: string, consistency = 'ONE', params?: unknown[]): Promise<CqlAnswer> {
  const response = await fetch(`http://${http}/v1/cql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, consistency, params }),
  });
  return { status: response.status, body: (await response.json()) as CqlAnswer['body'] };
}

/** Retries `attempt` every 250 ms until it returns true; fails after `timeoutMs`. */
export async function eventually(what: string, timeoutMs: number, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(250);
  }
}
