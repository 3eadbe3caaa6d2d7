/**
 * `sibyl cleanup`: which partitions NodeAdmin keeps (the ranges this node replicates,
 * now or as a pending replica), when it refuses, and the command end to end on a real
 * single node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { rangeContains } from '../../lib/cluster/ring.js';
import { loadConfig } from '../../lib/config.js';
import { InvalidRequest } from '../../lib/errors.js';
import { SibylNode } from '../../lib/node.js';
import type { CommandIo } from '../../tools/commands/index.js';
import { ADMIN_COMMANDS } from '../../tools/commands/index.js';
import { address, adminOf, replicatedByNode0, ringOf, sampleTokens } from '../helpers/admin-ring.js';

// ---- NodeAdmin over a gossip view of three nodes -------------------------------------

const SAMPLE_SEED = 11;

t.test('cleanup keeps exactly the tokens of ranges this node replicates under the keyspace replication', async (t) => {
  const { admin, kept } = adminOf(['NORMAL', 'NORMAL', 'NORMAL']);
  const entries = await admin.cleanup();
  t.same(entries, [{ keyspace: 'shop', table: 'events', partitionsRemoved: 7, bytesBefore: 100, bytesAfter: 40 }]);
  const ranges = replicatedByNode0(ringOf([0, 1, 2]));
  t.ok(ranges.length > 0 && ranges.length < 6, 'node 0 replicates part of the ring');
  let keptCount = 0;
  for (const token of sampleTokens(SAMPLE_SEED)) {
    const expected = ranges.some((range) => rangeContains(range, token));
    if (kept[0](token) !== expected) t.fail(`token ${token}: kept ${!expected}, expected ${expected}`);
    if (expected) keptCount++;
  }
  t.ok(keptCount > 0 && keptCount < 2000, 'some sampled tokens are kept, some dropped');
});

t.test('cleanup also keeps ranges this node is gaining as a pending replica', async (t) => {
  // Node 1 leaves: node 0 takes over some of its ranges and already receives their writes.
  const { admin, kept } = adminOf(['NORMAL', 'LEAVING', 'NORMAL']);
  await admin.cleanup('shop', ['events']);
  const now = replicatedByNode0(ringOf([0, 1, 2]));
  const future = replicatedByNode0(ringOf([0, 2]));
  const gained = sampleTokens(SAMPLE_SEED).filter((token) => !now.some((r) => rangeContains(r, token)) && future.some((r) => rangeContains(r, token)));
  t.ok(gained.length > 0, 'node 0 gains ranges');
  t.ok(gained.every((token) => kept[0](token)), 'tokens of gained ranges are kept');
});

t.test('cleanup is refused while this node joins or leaves', async (t) => {
  for (const status of ['LEAVING', 'BOOT']) {
    const { admin, kept } = adminOf([status, 'NORMAL', 'NORMAL']);
    await t.rejects(admin.cleanup(), InvalidRequest, status);
    t.same(kept, [], 'nothing was cleaned');
  }
  const { admin } = adminOf(['NORMAL', 'NORMAL', 'NORMAL']);
  await t.rejects(admin.cleanup('nope'), new InvalidRequest("Keyspace 'nope' does not exist"));
});

t.test('cleanup is refused while the ring holds a peer known only from the saved ring', async (t) => {
  // Node 2 might have left while this node was down: its ranges might be node 0's now.
  const heard = new Set([address(1)]);
  const gossip = { liveEndpoints: () => [], unreachableEndpoints: () => [], stateOf: () => undefined, hasHeardOf: (e: string) => heard.has(e) };
  const refused = adminOf(['NORMAL', 'NORMAL', 'NORMAL'], gossip);
  await t.rejects(refused.admin.cleanup(), new InvalidRequest(
    `Cannot clean up while the ring holds peers not heard from since this node started (/${address(2)}): wait for gossip, or removenode those that are gone`,
  ));
  t.same(refused.kept, [], 'nothing was cleaned');
  heard.add(address(2));
  const allowed = adminOf(['NORMAL', 'NORMAL', 'NORMAL'], gossip);
  t.equal((await allowed.admin.cleanup()).length, 1, 'once gossip has heard of every peer, cleanup runs');
});

// ---- the command on a real node --------------------------------------------------------

async function startNode(t: Test): Promise<SibylNode> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-cleanup-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), httpAddress: '127.0.0.1', httpPort: 0, listenAddress: '127.0.0.1', storagePort: 0 } });
  const node = await SibylNode.start(config, { logger: false });
  t.teardown(() => node.stop());
  return node;
}

async function sibyl(name: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) };
  const code = await ADMIN_COMMANDS.find((c) => c.name === name)!.run(argv, io);
  return { code, stdout, stderr };
}

t.test('sibyl cleanup on a lone node keeps everything, lists user tables only and refuses unknown keyspaces', async (t) => {
  const node = await startNode(t);
  const cql = (query: string) => node.execute({ query, consistency: 'ONE' });
  await cql("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await cql('CREATE TABLE shop.events (id int PRIMARY KEY, v text)');
  for (let id = 0; id < 20; id++) await cql(`INSERT INTO shop.events (id, v) VALUES (${id}, 'v${id}')`);
  const host = node.httpAddress;

  const json = await sibyl('cleanup', '-h', host, '--json');
  t.equal(json.code, 0, json.stderr);
  const [entry, ...others] = JSON.parse(json.stdout) as { keyspace: string; table: string; partitionsRemoved: number; bytesAfter: number }[];
  t.same(others, [], 'system keyspaces are skipped');
  t.match(entry, { keyspace: 'shop', table: 'events', partitionsRemoved: 0 });
  t.ok(entry.bytesAfter > 0, 'the flushed data is on disk');

  const human = await sibyl('cleanup', '-h', host, 'shop', 'events');
  t.equal(human.code, 0);
  t.match(human.stdout, /^Keyspace\s+Table\s+Partitions removed\s+Size before\s+Size after\nshop\s+events\s+0\s/);
  t.equal((await sibyl('cleanup', '-h', host, 'system')).stdout, 'No user tables to clean up.\n');

  const unknown = await sibyl('cleanup', '-h', host, 'nope');
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /Keyspace 'nope' does not exist/);

  const rows = await cql('SELECT * FROM shop.events');
  t.equal(rows.kind === 'rows' ? rows.rows?.length : -1, 20, 'every row is still there');
});
