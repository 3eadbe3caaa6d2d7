/**
 * `sibyl cluster` as an operator runs it: create a 2-node cluster in a temporary
 * directory on free ports, start it in the background, see each node answer /health,
 * read its status, stop it (the processes are gone), and destroy it (the directory is
 * gone). Uses the compiled CLI next to this file's build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli.js';
import { freePortRun } from '../helpers/ports.js';

const NODES = 2;

const sibyl = (...args: string[]) => runCli(args);

interface NodeReport {
  name: string;
  pid: number | null;
  alive: boolean;
  http: string;
  health: string;
}

/** Whether `pid` runs. An exited node whose parent does not reap it stays a zombie
 *  (state Z in /proc) until it is reaped; that counts as exited. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return !existsSync('/proc/self');
  }
}

t.test('sibyl cluster creates, starts, reports, stops and destroys a local cluster', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'sibyl-local-cluster-'));
  const dir = join(parent, 'cluster');
  // Whatever happens below, leave no node running and no directory behind.
  t.teardown(async () => {
    await sibyl('cluster', 'stop', '--dir', dir);
    await rm(parent, { recursive: true, force: true });
  });
  const basePort = await freePortRun(2 * NODES);

  const created = await sibyl('cluster', 'create', '--nodes', String(NODES), '--dir', dir, '--base-port', String(basePort), '--json');
  t.equal(created.code, 0, created.stderr);
  const layout = JSON.parse(created.stdout) as { nodes: { name: string; http: string; listen: string }[] };
  t.same(
    layout.nodes.map((node) => node.http),
    [`127.0.0.1:${basePort}`, `127.0.0.1:${basePort + 2}`],
  );

  const started = await sibyl('cluster', 'start', '--dir', dir, '--timeout', '30', '--json');
  t.equal(started.code, 0, started.stderr);
  const running = JSON.parse(started.stdout) as NodeReport[];
  t.same(
    running.map((node) => [node.name, node.alive, node.health]),
    [
      ['node1', true, 'ok'],
      ['node2', true, 'ok'],
    ],
  );
  for (const node of layout.nodes) {
    const response = await fetch(`http://${node.http}/health`);
    t.equal(response.status, 200, `${node.name} serves /health`);
  }

  const again = await sibyl('cluster', 'start', '--dir', dir, '--timeout', '30', '--json');
  t.equal(again.code, 0, 'starting a running cluster is a no-op');
  t.same(
    (JSON.parse(again.stdout) as NodeReport[]).map((node) => node.pid),
    running.map((node) => node.pid),
    'the same processes',
  );

  const status = await sibyl('cluster', 'status', '--dir', dir);
  t.equal(status.code, 0);
  t.match(status.stdout, /^Node\s+PID\s+Alive\s+HTTP\s+Health\n/);
  t.match(status.stdout, new RegExp(`node2\\s+${running[1].pid}\\s+yes\\s+127\\.0\\.0\\.1:${basePort + 2}\\s+ok`));

  const stopped = await sibyl('cluster', 'stop', '--dir', dir);
  t.equal(stopped.code, 0, stopped.stderr);
  for (const node of running) t.notOk(processRuns(node.pid!), `${node.name} (pid ${node.pid}) has exited`);
  const after = JSON.parse((await sibyl('cluster', 'status', '--dir', dir, '--json')).stdout) as NodeReport[];
  t.same(
    after.map((node) => [node.alive, node.pid]),
    [
      [false, null],
      [false, null],
    ],
  );

  const destroyed = await sibyl('cluster', 'destroy', '--dir', dir);
  t.equal(destroyed.code, 0, destroyed.stderr);
  t.notOk(existsSync(dir), 'the directory is gone');

  const missing = await sibyl('cluster', 'status', '--dir', dir);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /No cluster in .*run 'sibyl cluster create' first/);
});

t.test('sibyl cluster refuses unknown actions and bad numbers with exit code 2', async (t) => {
  const unknown = await sibyl('cluster', 'explode');
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /Unknown action 'explode'/);
  const bad = await sibyl('cluster', 'create', '--nodes', 'two');
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--nodes must be a positive integer, got 'two'/);
});
