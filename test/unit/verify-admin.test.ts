/**
 * `sibyl verify` end to end on a real single node in this process: the command, the
 * route, the node's AdminService and the engine over SSTables on disk, one of them
 * corrupted behind the node's back.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { VerifyEntry } from '../../lib/api/admin-service.js';
import { loadConfig } from '../../lib/config.js';
import { SibylNode } from '../../lib/node.js';
import type { CommandIo } from '../../tools/commands/index.js';
import { ADMIN_COMMANDS } from '../../tools/commands/index.js';

async function startNode(t: Test): Promise<{ node: SibylNode; dataDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-verify-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const config = loadConfig({ flags: { dataDir, httpAddress: '127.0.0.1', httpPort: 0, listenAddress: '127.0.0.1', storagePort: 0 } });
  const node = await SibylNode.start(config, { logger: false });
  t.teardown(() => node.stop());
  return { node, dataDir };
}

async function sibyl(name: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) };
  const code = await ADMIN_COMMANDS.find((c) => c.name === name)!.run(argv, io);
  return { code, stdout, stderr };
}

t.test('sibyl verify on a node: clean SSTables exit 0, a corrupted one exits 1 naming its file', async (t) => {
  const { node, dataDir } = await startNode(t);
  const cql = (query: string) => node.execute({ query, consistency: 'ONE' });
  await cql("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await cql('CREATE TABLE shop.events (id int PRIMARY KEY, v text)');
  const host = node.httpAddress;
  for (const round of [0, 1]) {
    for (let id = 0; id < 20; id++) await cql(`INSERT INTO shop.events (id, v) VALUES (${id}, 'v${round}.${id}')`);
    t.equal((await sibyl('flush', '-h', host, 'shop')).code, 0);
  }

  t.same(await sibyl('verify', '-h', host, 'shop'), { code: 0, stdout: 'shop.events: 2 SSTables verified\n', stderr: '' });

  const shopDir = join(dataDir, 'data', 'shop');
  const [tableDir] = await readdir(shopDir);
  const victim = join(shopDir, tableDir, 'sb-1-Data.db');
  const bytes = await readFile(victim);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await writeFile(victim, bytes);

  const human = await sibyl('verify', '-h', host);
  t.equal(human.code, 1, 'a corrupt SSTable fails the command');
  t.equal(human.stdout, '');
  t.match(human.stderr, /^sibyl verify: 1 of \d+ SSTables? corrupt:\nshop\.events: 1 of 2 SSTables corrupt\n {2}Corrupted: .*sb-1-Data\.db: chunk 0 at byte \d+ fails its CRC32C check\n$/);

  const json = await sibyl('verify', '-h', host, '--json', 'shop', 'events');
  t.equal(json.code, 1);
  const { error } = JSON.parse(json.stdout) as { error: { code: string; tables: VerifyEntry[] } };
  t.equal(error.code, 'CorruptSSTable');
  t.match(error.tables, [{ keyspace: 'shop', table: 'events', sstables: 2, corrupt: [{ file: victim, message: /fails its CRC32C check/ }] }]);
  t.equal(error.tables[0].corrupt.length, 1, 'only the corrupted SSTable');

  t.match(await sibyl('verify', '-h', host, 'shop', 'ghost'), { code: 1, stderr: 'sibyl verify: unconfigured table ghost\n' });
  await cql('CREATE TABLE shop.users (id int PRIMARY KEY)');
  await cql('INSERT INTO shop.users (id) VALUES (1)');
  const users = await cql('SELECT * FROM shop.users');
  t.equal(users.kind === 'rows' ? users.rows?.length : -1, 1, 'the node goes on serving');
});
