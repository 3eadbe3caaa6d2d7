/**
 * `sibyl node` as a real process: starts on a free port, serves /health, stops cleanly
 * on SIGINT; and the CLI's usage errors. Uses the compiled CLI next to this file's build.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLI, runCli } from '../helpers/cli.js';



async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const run = runCli;

/** Resolves with the HTTP address from the node's "ready" log line (JSON: stdout is no TTY). */
function readyAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n').slice(0, -1)) {
        const entry = JSON.parse(line) as { httpAddress?: string; msg: string };
        if (entry.httpAddress !== undefined && /ready/i.test(entry.msg)) {
          child.stdout!.off('data', onData);
          resolve(entry.httpAddress);
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    };
    child.stdout!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`sibyl node exited with ${code} before it was ready`)));
  });
}

t.test('sibyl node starts on port 0, serves /health and exits 0 on SIGINT', async (t) => {
  const dir = await tempDir(t);
  const child = spawn(process.execPath, [CLI, 'node', '--http', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--data', join(dir, 'data')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const address = await readyAddress(child);
  t.match(address, /^127\.0\.0\.1:\d+$/);
  const health = await fetch(`http://${address}/health`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });

  // The operations commands reach it: verify checks a freshly flushed SSTable.
  const cql = async (query: string) => {
    const response = await fetch(`http://${address}/v1/cql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    t.equal(response.status, 200, query);
  };
  await cql("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await cql('CREATE TABLE shop.events (id int PRIMARY KEY, v text)');
  await cql("INSERT INTO shop.events (id, v) VALUES (1, 'one')");
  t.equal((await fetch(`http://${address}/v1/admin/flush`, { method: 'POST' })).status, 200);
  const verified = await run(['verify', '-h', address, '--json', 'shop']);
  t.equal(verified.code, 0, verified.stderr);
  t.same(JSON.parse(verified.stdout), [{ keyspace: 'shop', table: 'events', sstables: 1, corrupt: [] }]);

  child.kill('SIGINT');
  t.equal(await exited, 0, 'exit code 0 after SIGINT');
  t.equal(stderr, '', 'nothing on stderr');
});

t.test('sibyl --help and sibyl help node print usage and exit 0', async (t) => {
  const general = await run(['--help']);
  t.equal(general.code, 0);
  t.match(general.stdout, /Usage: sibyl <command>/);
  t.match(general.stdout, /node\s+run a node in the foreground/);
  const node = await run(['help', 'node']);
  t.equal(node.code, 0);
  for (const flag of ['--data DIR', '--http HOST[:PORT]', '--listen HOST[:PORT]', '--seeds', '--dc DC', '--rack RACK', '--config FILE.yaml']) {
    t.ok(node.stdout.includes(flag), `help lists ${flag}`);
  }
  t.equal((await run(['node', '--help'])).stdout, node.stdout, 'sibyl node --help is the same');
});

t.test('an unknown command or flag prints usage on stderr and exits 2', async (t) => {
  const command = await run(['nodes']);
  t.equal(command.code, 2);
  t.match(command.stderr, /unknown command 'nodes'/);
  t.match(command.stderr, /Usage: sibyl <command>/);
  t.equal(command.stdout, '');
  const flag = await run(['node', '--htp', '127.0.0.1:0']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /Unknown option '--htp'/);
  t.match(flag.stderr, /Usage: sibyl node/);
  const value = await run(['node', '--http', 'a:b:c']);
  t.equal(value.code, 2);
  t.match(value.stderr, /--http: Invalid address 'a:b:c'/);
});

t.test('a bad configuration file stops start-up with exit 1 and a message naming the key', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'sibyl.yaml');
  await writeFile(file, 'commitlog_sync: sometimes\n');
  const result = await run(['node', '--config', file, '--http', '127.0.0.1:0', '--data', join(dir, 'data')]);
  t.equal(result.code, 1);
  t.match(result.stderr, "Invalid value for commitlog_sync: 'sometimes' (expected periodic, batch or group)");
});
