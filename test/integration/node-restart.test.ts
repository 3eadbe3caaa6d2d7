/**
 * A node keeps its schema and data across restarts (flushed to SSTables or only in the
 * commit log), and its operations work over HTTP and through the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { loadConfig } from '../../lib/config.js';
import { SibylNode } from '../../lib/node.js';

const cli = fileURLToPath(new URL('../../tools/sibyl.js', import.meta.url));
const run = promisify(execFile);

t.test('schema and data survive a restart; flush, tablestats and compact work over HTTP and the CLI', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-restart-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), httpAddress: '127.0.0.1', httpPort: 0, storagePort: 0 } });

  let node = await SibylNode.start(config, { logger: false });
  const first = node;
  t.teardown(() => first.stop());
  await node.execute({ query: "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" });
  await node.execute({ query: 'CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)' });
  for (let i = 0; i < 50; i++) await node.execute({ query: 'INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)', params: [i % 5, i, `v${i}`] });
  const flushed = await fetch(`http://${node.httpAddress}/v1/admin/flush`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ keyspace: 'ks' }),
  });
  t.equal(flushed.status, 200);
  for (let i = 50; i < 80; i++) await node.execute({ query: 'INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)', params: [i % 5, i, `v${i}`] });
  await node.execute({ query: 'DELETE FROM ks.t WHERE k = 0 AND c = 0' });
  const { stdout } = await run(process.execPath, [cli, 'tablestats', '-h', node.httpAddress, '--json', 'ks', 't']);
  const stats = JSON.parse(stdout) as { sstableCount: number; table: string }[];
  t.equal(stats[0].table, 't');
  t.equal(stats[0].sstableCount, 1, 'the flush wrote one SSTable');
  await node.stop();

  node = await SibylNode.start(config, { logger: false });
  t.teardown(() => node.stop());
  const result = await node.execute({ query: 'SELECT k, c, v FROM ks.t WHERE k = 0' });
  if (result.kind !== 'rows') throw new Error('rows expected');
  t.same(
    result.rows.map((r) => r.c),
    [75, 70, 65, 60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5],
    'flushed and replayed rows, DESC order, the deleted row gone',
  );
  const all = await node.execute({ query: 'SELECT COUNT(*) FROM ks.t' });
  t.same(all.kind === 'rows' && all.rows, [{ count: '79' }]);
  await run(process.execPath, [cli, 'flush', '-h', node.httpAddress]);
  await run(process.execPath, [cli, 'compact', '-h', node.httpAddress, 'ks']);
  const after = await run(process.execPath, [cli, 'tablestats', '-h', node.httpAddress, '--json', 'ks']);
  t.equal((JSON.parse(after.stdout) as { sstableCount: number }[])[0].sstableCount, 1, 'compacted into one SSTable');
  const again = await node.execute({ query: 'SELECT COUNT(*) FROM ks.t' });
  t.same(again.kind === 'rows' && again.rows, [{ count: '79' }], 'compaction kept every row');
  await t.rejects(run(process.execPath, [cli, 'flush', '-h', node.httpAddress, 'nope']), 'an unknown keyspace fails the command');
});
