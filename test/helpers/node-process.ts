/**
 * `sibyl node` as a separate process, for multi-process integration tests over TCP.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI } from './cli.js';

/** A port that was free a moment ago: bound on port 0, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
