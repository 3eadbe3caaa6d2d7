/**
 * The node's system state on LevelDB (lib/system/system-store.ts): identity survives
 * restarts, a node refuses to join a different cluster with its old data, tokens and
 * the schema round-trip through the disk, and the reserved sublevels keep what they are
 * given.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import t, { type Test } from 'tap';
import { ConfigurationError } from '../../lib/errors.js';
import { SchemaManager } from '../../lib/schema/manager.js';
import { describeSchema, Schema } from '../../lib/schema/schema.js';
import { isUuidString } from '../../lib/schema/uuid.js';
import { REPAIR_HISTORY_PER_TABLE_MAX, SystemStore } from '../../lib/system/system-store.js';
import { richSchema } from './fixtures/schemas.js';

const CLUSTER = { clusterName: 'Test Cluster' };

async function systemDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-system-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'system');
}

/** Opens, runs `use`, closes: one "node lifetime". */
async function withStore<T>(dir: string, use: (store: SystemStore) => Promise<T>, options = CLUSTER): Promise<T> {
  const store = await SystemStore.open(dir, options);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

t.test('the host id is chosen on first start and kept across restarts', async (t) => {
  const dir = await systemDir(t);
  const first = await withStore(dir, async (store) => store.hostId());
  t.ok(isUuidString(first), `host id ${first} is a UUID`);
  t.equal(await withStore(dir, async (store) => store.hostId()), first);
  const other = await withStore(await systemDir(t), async (store) => store.hostId());
  t.not(other, first, 'another node gets another host id');
});

t.test('a saved cluster name different from the configured one stops start-up', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async () => undefined);
  await t.rejects(SystemStore.open(dir, { clusterName: 'Other' }), {
    constructor: ConfigurationError,
    message: 'Saved cluster name Test Cluster != configured name Other',
  });
  // The refusal released the database: the right name still opens it.
  t.ok(await withStore(dir, async (store) => store.hostId()));
});

t.test('a system store held by another node is refused with a clear message', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async () => {
    await t.rejects(SystemStore.open(dir, CLUSTER), {
      constructor: ConfigurationError,
      message: /^System store .* is in use by another process/,
    });
  });
});

t.test('tokens round-trip through restarts, 64-bit extremes included', async (t) => {
  const dir = await systemDir(t);
  const tokens = [-(2n ** 63n), -1n, 0n, 3871253994707141660n, 2n ** 63n - 1n];
  await withStore(dir, async (store) => {
    t.same(store.getTokens(), [], 'no tokens before joining a ring');
    await store.setTokens(tokens);
    t.same(store.getTokens(), tokens);
  });
  await withStore(dir, async (store) => t.same(store.getTokens(), tokens));
});

t.test('each start gets a gossip generation above the last, even when the clock went back or stood still', async (t) => {
  const dir = await systemDir(t);
  const now = 1_800_000_000;
  t.equal(await withStore(dir, (store) => store.nextGeneration(now)), now, 'the first start takes the clock');
  t.equal(await withStore(dir, (store) => store.nextGeneration(now)), now + 1, 'a restart in the same second goes one above');
  t.equal(await withStore(dir, (store) => store.nextGeneration(now - 5)), now + 2, 'a clock set back still goes one above');
  t.equal(await withStore(dir, (store) => store.nextGeneration(now + 100)), now + 100, 'a later clock is taken as it is');
});

t.test('bootstrap state starts at NEEDS_BOOTSTRAP and persists', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async (store) => {
    t.equal(store.bootstrapState(), 'NEEDS_BOOTSTRAP');
    await store.setBootstrapState('COMPLETED');
  });
  await withStore(dir, async (store) => t.equal(store.bootstrapState(), 'COMPLETED'));
});

t.test('a schema saved before a restart loads equal, with the same version', async (t) => {
  const dir = await systemDir(t);
  const saved = richSchema();
  await withStore(dir, async (store) => {
    t.equal(await store.schemaStore().load(), null, 'a new node has no schema');
    await store.schemaStore().save(saved);
  });
  const loaded = await withStore(dir, (store) => store.schemaStore().load());
  t.ok(loaded);
  t.equal(loaded!.version, saved.version);
  t.same(describeSchema(loaded!), describeSchema(saved));
});

t.test('saving a schema without a keyspace removes the keyspace for good', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async (store) => {
    await store.schemaStore().save(richSchema());
    await store.schemaStore().save(richSchema().withoutKeyspace('audit'));
  });
  const loaded = await withStore(dir, (store) => store.schemaStore().load());
  t.same([...loaded!.keyspaces.keys()], ['shop']);
  await withStore(dir, (store) => store.schemaStore().save(new Schema()));
  const empty = await withStore(dir, (store) => store.schemaStore().load());
  t.ok(empty, 'an empty schema that was saved is not "no schema"');
  t.equal(empty!.keyspaces.size, 0);
});

t.test('the schema manager resumes from the stored schema after a restart', async (t) => {
  const dir = await systemDir(t);
  const version = await withStore(dir, async (store) => {
    const manager = await SchemaManager.open(store.schemaStore());
    const shop = richSchema().keyspace('shop')!;
    await manager.apply((schema) => schema.withKeyspace(shop));
    return manager.current.version;
  });
  const resumed = await withStore(dir, async (store) => (await SchemaManager.open(store.schemaStore())).current);
  t.equal(resumed.version, version);
  t.ok(resumed.table('shop', 'events'));
});

t.test('a damaged schema record stops loading with a message naming it', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, (store) => store.schemaStore().save(richSchema()));
  const raw = new Level<string, unknown>(dir, { valueEncoding: 'json' });
  await raw.sublevel<string, unknown>('schema', { valueEncoding: 'json' }).put('keyspace:shop', { name: 'shop', replication: 7 });
  await raw.close();
  await withStore(dir, async (store) => {
    await t.rejects(store.schemaStore().load(), {
      constructor: ConfigurationError,
      message: /^Stored schema is unreadable: schema\.keyspaces\[1\]\.replication should be an object, found 7/,
    });
  });
});

t.test('peers, hints and repair history keep what they are given', async (t) => {
  const dir = await systemDir(t);
  const peer = {
    hostId: '6f1b9c5e-8d2a-4c1e-9b7a-0d3e5f7a9b1c',
    address: '10.0.0.2:7000',
    httpAddress: '10.0.0.2:8080',
    dc: 'dc1',
    rack: 'rack1',
    tokens: [-(2n ** 63n), 42n],
    status: 'NORMAL',
    schemaVersion: 'd1e2f3a4-0000-3000-8000-000000000000',
  };
  const other = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const hintKeys = await withStore(dir, async (store) => {
    await store.updatePeers([peer, { ...peer, hostId: other, tokens: [1n] }], []);
    await store.updatePeers([], [other]);
    const late = await store.storeHint(peer.hostId, 2_000, Buffer.from('second'));
    const early = await store.storeHint(peer.hostId, 1_000, Buffer.from('first'));
    await store.storeHint(other, 500, Buffer.from('elsewhere'));
    for (const startedAtMs of [20, 10]) {
      await store.recordRepair({
        id: `r${startedAtMs}`,
        keyspace: 'shop',
        table: 'events',
        ranges: [{ start: '-10', end: '10' }],
        startedAtMs,
        finishedAtMs: startedAtMs + 5,
        succeeded: true,
      });
    }
    return { early, late };
  });
  await withStore(dir, async (store) => {
    t.same(await store.peers(), [peer]);
    const hints = [];
    for await (const hint of store.hintsFor(peer.hostId)) hints.push(hint);
    t.same(
      hints.map((h) => [h.key, h.createdAtMs, h.mutation.toString()]),
      [
        [hintKeys.early, 1_000, 'first'],
        [hintKeys.late, 2_000, 'second'],
      ],
      'hints for one target only, oldest first',
    );
    await store.deleteHint(hintKeys.early);
    const left = [];
    for await (const hint of store.hintsFor(peer.hostId)) left.push(hint.key);
    t.same(left, [hintKeys.late]);
    t.same(
      (await store.repairHistory('shop', 'events')).map((r) => r.id),
      ['r10', 'r20'],
    );
    t.same(await store.repairHistory('shop', 'other'), []);
  });
});

t.test('drop times saved with the schema survive a restart', async (t) => {
  const dir = await systemDir(t);
  const saved = richSchema().withoutKeyspace('audit', 1_700_000_000_000_000);
  await withStore(dir, (store) => store.schemaStore().save(saved));
  const loaded = await withStore(dir, (store) => store.schemaStore().load());
  t.equal(loaded!.droppedAt('audit'), 1_700_000_000_000_000);
  t.equal(loaded!.version, saved.version);
});

t.test('the repair history of a table keeps its newest records only', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async (store) => {
    const total = REPAIR_HISTORY_PER_TABLE_MAX + 5;
    for (let i = 0; i < total; i++) {
      await store.recordRepair({ id: `r${i}`, keyspace: 'shop', table: 'events', ranges: [], startedAtMs: 1_000 + i, finishedAtMs: 2_000 + i, succeeded: true });
    }
    await store.recordRepair({ id: 'other', keyspace: 'shop', table: 'other', ranges: [], startedAtMs: 1, finishedAtMs: 2, succeeded: true });
    const ids = (await store.repairHistory('shop', 'events')).map((r) => r.id);
    t.equal(ids.length, REPAIR_HISTORY_PER_TABLE_MAX);
    t.equal(ids[0], 'r5', 'the oldest went first');
    t.equal(ids.at(-1), `r${total - 1}`);
    t.same((await store.repairHistory('shop', 'other')).map((r) => r.id), ['other'], 'other tables keep theirs');
  });
});

t.test('hintTargets lists each host id with stored hints once', async (t) => {
  const dir = await systemDir(t);
  await withStore(dir, async (store) => {
    const a = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const b = '1a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    t.same(await store.hintTargets(), []);
    for (let i = 0; i < 3; i++) await store.storeHint(b, 1_000 + i, Buffer.from('x'));
    await store.storeHint(a, 5, Buffer.from('y'));
    t.same(await store.hintTargets(), [a, b]);
  });
});
