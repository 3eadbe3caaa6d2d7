/**
 * The operations commands (tools/commands) against a real HTTP server on port 0 serving
 * the admin plugin over a fake AdminService: what they send, what they print for a
 * person and under --json, and how they fail (exit 1 with the node's message, exit 2
 * for usage mistakes, a clear message when nothing listens).
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { CorruptSSTable } from '../../lib/errors.js';
import type { AdminCommand, CommandIo } from '../../tools/commands/index.js';
import { ADMIN_COMMANDS } from '../../tools/commands/index.js';
import { humanBytes } from '../../tools/commands/sizes.js';
import { adminApp, FakeAdmin, INFO, STATS } from './fixtures/admin.js';

const admin = new FakeAdmin();
const app = adminApp(admin);
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const host = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;

const command = (name: string): AdminCommand => ADMIN_COMMANDS.find((c) => c.name === name)!;

async function sibyl(name: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) };
  const code = await command(name).run(argv, io);
  return { code, stdout, stderr };
}

t.beforeEach(() => {
  admin.calls.length = 0;
  admin.failure = null;
  admin.corrupt = {};
});

t.test('the index lists the operations and cluster commands', async (t) => {
  t.same(
    ADMIN_COMMANDS.map((c) => c.name),
    [
      'flush',
      'compact',
      'cleanup',
      'verify',
      'drain',
      'tablestats',
      'info',
      'status',
      'ring',
      'gossipinfo',
      'getendpoints',
      'hints',
      'decommission',
      'removenode',
      'describering',
      'repair',
      'cluster',
    ],
  );
  t.equal(command('flush').usage, '[-h|--host HOST:PORT] [--json] [KEYSPACE [TABLE…]]');
  t.equal(command('tablestats').usage, '[-h|--host HOST:PORT] [--json] [-H|--human-readable] [KEYSPACE [TABLE…]]');
});

t.test('flush and compact send their scope and print nothing on success, like nodetool', async (t) => {
  for (const name of ['flush', 'compact']) {
    t.same(await sibyl(name, '-h', host), { code: 0, stdout: '', stderr: '' });
    t.same(await sibyl(name, '--host', host, 'shop'), { code: 0, stdout: '', stderr: '' });
    t.same(await sibyl(name, '-h', host, 'shop', 'events', 'users'), { code: 0, stdout: '', stderr: '' });
  }
  t.same(admin.calls, [
    ['flush', undefined, undefined],
    ['flush', 'shop', undefined],
    ['flush', 'shop', ['events', 'users']],
    ['compact', undefined, undefined],
    ['compact', 'shop', undefined],
    ['compact', 'shop', ['events', 'users']],
  ]);
});

t.test('--json prints the node\'s answer', async (t) => {
  const flushed = await sibyl('flush', '-h', host, '--json');
  t.equal(flushed.code, 0);
  t.same(JSON.parse(flushed.stdout), { ok: true });
  const stats = await sibyl('tablestats', '-h', host, '--json', 'shop');
  t.equal(stats.code, 0);
  const { memtableCells: _cells, compactionsRunning: _running, ...withoutOptional } = STATS;
  t.same(JSON.parse(stats.stdout), [STATS, { ...withoutOptional, table: 'users' }]);
  const info = await sibyl('info', '-h', host, '--json');
  t.same(JSON.parse(info.stdout), INFO);
});

t.test('drain calls the node and takes no arguments', async (t) => {
  t.same(await sibyl('drain', '-h', host), { code: 0, stdout: '', stderr: '' });
  t.same(admin.calls, [['drain']]);
  const extra = await sibyl('drain', '-h', host, 'shop');
  t.equal(extra.code, 2);
  t.equal(extra.stderr, "sibyl drain: Unexpected argument 'shop'\n\nUsage: sibyl drain [-h|--host HOST:PORT] [--json]\n");
});

t.test('tablestats prints nodetool-style blocks per keyspace and table', async (t) => {
  const { code, stdout } = await sibyl('tablestats', '-h', host, 'shop', 'events', 'users');
  t.equal(code, 0);
  t.same(admin.calls, [['tableStats', 'shop', ['events', 'users']]]);
  t.equal(
    stdout,
    [
      'Total number of tables: 2',
      '----------------',
      'Keyspace : shop',
      '\tRead Count: 2000',
      '\tWrite Count: 10000',
      '\t\tTable: events',
      '\t\tSSTable count: 3',
      '\t\tSpace used (live): 5242880',
      '\t\tSpace used (total): 6291456',
      '\t\tNumber of partitions (estimate): 1200',
      '\t\tMemtable cell count: 512',
      '\t\tMemtable data size: 65536',
      '\t\tLocal read count: 1000',
      '\t\tLocal read latency (p50): 0.250 ms',
      '\t\tLocal read latency (p99): 3.500 ms',
      '\t\tLocal write count: 5000',
      '\t\tLocal write latency (p50): 0.050 ms',
      '\t\tLocal write latency (p99): 0.750 ms',
      '\t\tPending compactions: 1',
      '\t\tRunning compactions: 0',
      '\t\tBloom filter false positives: 4',
      '\t\tBloom filter false ratio: 0.00250',
      '',
      '\t\tTable: users',
      '\t\tSSTable count: 3',
      '\t\tSpace used (live): 5242880',
      '\t\tSpace used (total): 6291456',
      '\t\tNumber of partitions (estimate): 1200',
      '\t\tMemtable data size: 65536',
      '\t\tLocal read count: 1000',
      '\t\tLocal read latency (p50): 0.250 ms',
      '\t\tLocal read latency (p99): 3.500 ms',
      '\t\tLocal write count: 5000',
      '\t\tLocal write latency (p50): 0.050 ms',
      '\t\tLocal write latency (p99): 0.750 ms',
      '\t\tPending compactions: 1',
      '\t\tBloom filter false positives: 4',
      '\t\tBloom filter false ratio: 0.00250',
      '----------------',
      '',
    ].join('\n'),
  );
});

t.test('tablestats -H prints sizes in binary units', async (t) => {
  const { stdout } = await sibyl('tablestats', '-h', host, '-H');
  t.match(stdout, /\t\tSpace used \(live\): 5 MiB\n/);
  t.match(stdout, /\t\tSpace used \(total\): 6 MiB\n/);
  t.match(stdout, /\t\tMemtable data size: 64 KiB\n/);
  t.same([humanBytes(0), humanBytes(1023), humanBytes(1536), humanBytes(5.25 * 2 ** 30)], ['0 bytes', '1023 bytes', '1.5 KiB', '5.25 GiB']);
});

t.test('info prints one aligned line per field', async (t) => {
  const { code, stdout } = await sibyl('info', '-h', host);
  t.equal(code, 0);
  t.equal(
    stdout,
    [
      'ID               : 6f1b9c5e-8d2a-4c1e-9b7a-0d3e5f7a9b1c',
      'HTTP Address     : 127.0.0.1:8080',
      'Load             : 11.77 MiB',
      'Uptime (seconds) : 3723',
      'Heap Memory (MB) : 50.00',
      'Data Directory   : /var/lib/sibyl',
      'Schema Version   : d1e2f3a4-0000-3000-8000-000000000000',
      '',
    ].join('\n'),
  );
});

t.test("a refused request exits 1 with the node's message", async (t) => {
  t.same(await sibyl('flush', '-h', host, 'nope'), { code: 1, stdout: '', stderr: "sibyl flush: Keyspace 'nope' does not exist\n" });
  t.same(await sibyl('tablestats', '-h', host, 'shop', 'ghost'), { code: 1, stdout: '', stderr: 'sibyl tablestats: unconfigured table ghost\n' });
  admin.failure = new CorruptSSTable('Checksum mismatch in chunk at offset 4096', '/data/shop/events/nb-1-Data.db');
  const corrupt = await sibyl('compact', '-h', host, '--json');
  t.equal(corrupt.code, 1);
  t.equal(corrupt.stderr, 'sibyl compact: Checksum mismatch in chunk at offset 4096\n');
  t.same(
    JSON.parse(corrupt.stdout),
    { error: { code: 'CorruptSSTable', message: 'Checksum mismatch in chunk at offset 4096', file: '/data/shop/events/nb-1-Data.db' } },
    '--json also prints the error body for scripts',
  );
});

t.test('verify prints one line per table and exits 0 when every SSTable is intact', async (t) => {
  t.same(await sibyl('verify', '-h', host), {
    code: 0,
    stdout: 'shop.events: 3 SSTables verified\nshop.users: 3 SSTables verified\n',
    stderr: '',
  });
  const json = await sibyl('verify', '-h', host, '--json', 'shop', 'events');
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), [{ keyspace: 'shop', table: 'events', sstables: 3, corrupt: [] }]);
  t.same(admin.calls, [
    ['verify', undefined, undefined],
    ['verify', 'shop', ['events']],
  ]);
  t.same(await sibyl('verify', '-h', host, 'nope'), { code: 1, stdout: '', stderr: "sibyl verify: Keyspace 'nope' does not exist\n" });
});

t.test('verify exits 1 naming every corrupt file; --json prints the whole result as the error body', async (t) => {
  const data = '/data/shop/users/sb-2-Data.db';
  admin.corrupt = {
    users: [
      { file: data, message: `Corrupted: ${data}: chunk 0 at byte 8 fails its CRC32C check` },
      { file: '/data/shop/users/sb-3-Data.db', message: 'missing Digest' },
    ],
  };
  const human = await sibyl('verify', '-h', host, 'shop');
  t.equal(human.code, 1);
  t.equal(human.stdout, '');
  t.equal(
    human.stderr,
    [
      'sibyl verify: 2 of 6 SSTables corrupt:',
      'shop.users: 2 of 3 SSTables corrupt',
      `  Corrupted: ${data}: chunk 0 at byte 8 fails its CRC32C check`,
      '  /data/shop/users/sb-3-Data.db: missing Digest',
      '',
    ].join('\n'),
  );
  const json = await sibyl('verify', '-h', host, '--json', 'shop');
  t.equal(json.code, 1);
  const body = JSON.parse(json.stdout) as { error: { code: string; message: string; tables: unknown[] } };
  t.equal(body.error.code, 'CorruptSSTable');
  t.match(body.error.message, /^2 of 6 SSTables corrupt:/);
  t.same(body.error.tables, [
    { keyspace: 'shop', table: 'events', sstables: 3, corrupt: [] },
    { keyspace: 'shop', table: 'users', sstables: 3, corrupt: admin.corrupt.users },
  ]);
});

t.test('a node that does not listen is reported as such', async (t) => {
  const closed = adminApp(new FakeAdmin());
  await closed.listen({ host: '127.0.0.1', port: 0 });
  const port = (closed.server.address() as AddressInfo).port;
  await closed.close();
  for (const name of ['info', 'flush']) {
    const { code, stdout, stderr } = await sibyl(name, '-h', `127.0.0.1:${port}`);
    t.equal(code, 1);
    t.equal(stdout, '');
    t.equal(stderr, `sibyl ${name}: Cannot connect to sibyl node at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  }
});

t.test('usage mistakes exit 2 with the usage; --help exits 0', async (t) => {
  const badHost = await sibyl('info', '-h', 'a:b:c');
  t.equal(badHost.code, 2);
  t.match(badHost.stderr, /^sibyl info: --host: Invalid address 'a:b:c'.*\n\nUsage: sibyl info /);
  const badFlag = await sibyl('flush', '--force');
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /^sibyl flush: Unknown option '--force'/);
  const help = await sibyl('tablestats', '--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: sibyl tablestats \[-h\|--host HOST:PORT\] \[--json\] \[-H\|--human-readable\] \[KEYSPACE \[TABLE…\]\]\n/);
  t.match(help.stdout, /-H, --human-readable {2}sizes in KiB, MiB, GiB instead of bytes/);
  t.same(admin.calls, [], 'nothing reached the node');
});
