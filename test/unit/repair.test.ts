import t, { type Test } from 'tap';
import { InvalidRequest, Overloaded } from '../../lib/errors.js';
import type { MessageHandler, Transport } from '../../lib/net/transport.js';
import { Validator, VALIDATIONS_QUEUED_MAX, VALIDATIONS_RUNNING_MAX } from '../../lib/repair/repair-validator.js';
import { planRanges } from '../../lib/repair/repair-plan.js';
import type { ScannableStore } from '../../lib/repair/validation.js';
import type { Partition } from '../../lib/model/partition.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import { NOW, readLocal, setAliveEverywhere, table, update } from '../helpers/cluster.js';
import {
  deleteRow,
  liveValues,
  localDigest,
  repairCluster,
  repairOn,
  ringRoot,
  writeTo,
  type RepairCluster,
  type RepairNode,
} from '../helpers/repair.js';

const KEYS = Array.from({ length: 60 }, (_, i) => i);

/** Every key with rows 1 and 2 on every replica. */
async function writeEverywhere(cluster: RepairCluster): Promise<void> {
  await writeTo(cluster.nodes, () => KEYS.map((pk) => update(pk, [[1, `a${pk}`], [2, `b${pk}`]], 1000)));
}

/** Asserts that every replica holds the same data, key by key and by tree root. */
async function assertIdentical(t: Test, nodes: readonly RepairNode[], keys: readonly number[]): Promise<void> {
  for (const pk of keys) {
    const digests = await Promise.all(nodes.map((node) => localDigest(node, pk)));
    if (!digests.every((digest) => digest === digests[0])) t.fail(`replicas differ on pk ${pk}`);
  }
  const roots = await Promise.all(nodes.map((node) => ringRoot(node)));
  t.same(new Set(roots).size, 1, 'every replica has the same Merkle root');
}

t.test('replicas diverged while one was cut off are identical after repair, and nothing is lost', async (t) => {
  const cluster = await repairCluster(t);
  const [a, b, c] = cluster.nodes;
  await writeEverywhere(cluster);
  // c is cut off (hints disabled): writes at ONE reach a alone or b alone.
  await writeTo([a], () => KEYS.filter((pk) => pk % 7 === 0).map((pk) => update(pk, [[3, `only-a${pk}`]], 2000)));
  await writeTo([b], () => KEYS.filter((pk) => pk % 5 === 0).map((pk) => update(pk, [[1, `newer-b${pk}`]], 3000)));
  await writeTo([a, b], () => [update(100, [[1, 'new partition']], 2500)]);
  t.not(await ringRoot(a), await ringRoot(c), 'the replicas differ before repair');

  const result = await repairOn(c);
  t.equal(result.state, 'succeeded');
  t.same(result.errors, []);
  t.equal(result.rangesDone, result.rangesTotal);
  t.equal(result.rangesTotal, 12, 'RF 3 on 3 nodes with 4 vnodes: c repairs all 12 ranges');
  t.ok(result.rangesDiffering > 0 && result.bytesStreamed > 0 && result.partitionsStreamed > 0);

  const keys = [...KEYS, 100];
  await assertIdentical(t, cluster.nodes, keys);
  for (const node of cluster.nodes) {
    for (const pk of keys) {
      const expected = [
        ...(pk === 100 ? ['1=new partition'] : [pk % 5 === 0 ? `1=newer-b${pk}` : `1=a${pk}`, `2=b${pk}`]),
        ...(pk % 7 === 0 && pk !== 100 ? [`3=only-a${pk}`] : []),
      ];
      const actual = liveValues(await readLocal(node, pk));
      if (JSON.stringify(actual) !== JSON.stringify(expected)) t.fail(`pk ${pk}: ${actual} instead of ${expected}`);
    }
  }
});

t.test('a deletion missed by one replica stays deleted after repair, whichever replica repairs', async (t) => {
  for (const repairer of [0, 2]) {
    const cluster = await repairCluster(t);
    const [a, b, c] = cluster.nodes;
    await writeEverywhere(cluster);
    // c missed the deletion of row 1 of every even key.
    await writeTo([a, b], () => KEYS.filter((pk) => pk % 2 === 0).map((pk) => deleteRow(pk, 1, 5000)));
    const result = await repairOn(cluster.nodes[repairer]);
    t.equal(result.state, 'succeeded', `repair on node ${repairer + 1} succeeded`);
    await assertIdentical(t, cluster.nodes, KEYS);
    for (const node of [a, b, c]) {
      for (const pk of KEYS) {
        const expected = pk % 2 === 0 ? [`2=b${pk}`] : [`1=a${pk}`, `2=b${pk}`];
        const actual = liveValues(await readLocal(node, pk));
        if (JSON.stringify(actual) !== JSON.stringify(expected)) t.fail(`pk ${pk} on ${node.endpoint.address}: ${actual}`);
      }
    }
    const tombstone = (await readLocal(c, 0))!.rows.find((row) => row.clustering[0].readInt32BE(0) === 1);
    t.equal(tombstone?.deletion?.markedForDeleteAt, 5000, 'the replica that missed it now holds the tombstone');
  }
});

t.test('replicas that agree stream nothing', async (t) => {
  const cluster = await repairCluster(t);
  await writeEverywhere(cluster);
  const result = await repairOn(cluster.nodes[1]);
  t.equal(result.state, 'succeeded');
  t.equal(result.rangesDiffering, 0);
  t.equal(result.bytesStreamed, 0);
  t.equal(result.partitionsStreamed, 0);
});

t.test('an empty table repairs with one-leaf trees and streams nothing', async (t) => {
  const cluster = await repairCluster(t, { partitionsEstimate: 0 });
  const result = await repairOn(cluster.nodes[0]);
  t.equal(result.state, 'succeeded');
  t.equal(result.bytesStreamed, 0);
});

t.test('--pr on every node repairs each range once and reconciles every replica', async (t) => {
  const cluster = await repairCluster(t, { vnodes: 3 });
  const [a, b, c] = cluster.nodes;
  await writeEverywhere(cluster);
  await writeTo([a], () => KEYS.filter((pk) => pk % 3 === 0).map((pk) => update(pk, [[4, `a${pk}`]], 2000)));
  await writeTo([b, c], () => KEYS.filter((pk) => pk % 4 === 0).map((pk) => deleteRow(pk, 2, 2000)));
  const results = await Promise.all(cluster.nodes.map((node) => repairOn(node, { keyspace: 'ks', primaryRangeOnly: true })));
  t.ok(results.every((result) => result.state === 'succeeded' && result.primaryRangeOnly));
  t.equal(
    results.reduce((sum, result) => sum + result.rangesTotal, 0),
    a.view.ring().size,
    'the primary ranges of all nodes add up to the ring',
  );
  await assertIdentical(t, cluster.nodes, KEYS);
});

t.test('a replica down at the start fails its ranges with a reason; the others are still repaired', async (t) => {
  const cluster = await repairCluster(t);
  const [a, b, c] = cluster.nodes;
  await writeEverywhere(cluster);
  await writeTo([a], () => [update(7, [[9, 'only on a']], 2000)]);
  cluster.network.isolate(c.endpoint.address);
  setAliveEverywhere(cluster.nodes, c.endpoint, false);
  const result = await repairOn(a);
  t.equal(result.state, 'failed');
  t.equal(result.rangesFailed, result.rangesTotal, 'every range has c as a replica');
  t.equal(result.rangesDone, result.rangesTotal, 'the repair still went through every range');
  t.match(result.errors[0], new RegExp(`^ks\\.events \\(-?\\d+, -?\\d+\\]: /${c.endpoint.address} is down$`));
  t.same(liveValues(await readLocal(b, 7)), ['1=a7', '2=b7', '9=only on a'], 'the live replicas were reconciled');
  const [record] = await a.repairs.history('ks');
  t.equal(record.succeeded, false, 'the history records the failure');
});

t.test('a replica that dies mid-repair fails its ranges with a reason, and the repair ends', async (t) => {
  const cluster = await repairCluster(t, { unregistered: [2] });
  const [a, , c] = cluster.nodes;
  await writeEverywhere(cluster);
  // c answers its first three tree requests, then stops answering and is convicted.
  const validator = new Validator(c.storage);
  let handler: MessageHandler | undefined;
  validator.register({ onMessage: (_verb, h) => (handler = h) } as Pick<Transport, 'onMessage'> as Transport);
  let answered = 0;
  c.transport.onMessage('VALIDATION', (from, payload) => {
    if (++answered <= 3) return handler!(from, payload);
    cluster.network.isolate(c.endpoint.address);
    setTimeout(() => setAliveEverywhere(cluster.nodes, c.endpoint, false), 20);
    return new Promise<Uint8Array>(() => undefined);
  });
  const result = await repairOn(a);
  t.equal(result.state, 'failed');
  t.equal(result.rangesDone, result.rangesTotal);
  // Ranges are repaired in ring order, each piece a tree request: count those c answered in full.
  let piecesLeft = 3;
  let rangesAnswered = 0;
  for (const { pieces } of planRanges(a.view.ring(), { class: 'SimpleStrategy', replicationFactor: 3 }, a.endpoint.id, false)) {
    piecesLeft -= pieces.length;
    if (piecesLeft < 0) break;
    rangesAnswered++;
  }
  t.equal(result.rangesFailed, result.rangesTotal - rangesAnswered, 'the ranges c validated before dying succeeded');
  t.ok(result.errors.every((reason) => reason.endsWith(`/${c.endpoint.address} is down`)), result.errors[0]);
});

t.test('a replica that stops answering fails its range when the validation times out', async (t) => {
  const cluster = await repairCluster(t, { unregistered: [2], validationTimeoutMs: 100 });
  const [a, , c] = cluster.nodes;
  c.transport.onMessage('VALIDATION', () => new Promise<Uint8Array>(() => undefined));
  const result = await repairOn(a, { keyspace: 'ks', tables: ['events'] });
  t.equal(result.state, 'failed');
  t.equal(result.rangesFailed, result.rangesTotal);
  t.match(result.errors[0], /VALIDATION request to \/127\.0\.0\.3:7000 timed out after 100 ms/);
});

t.test('repairs are recorded in system state, one record per table', async (t) => {
  const cluster = await repairCluster(t);
  const [a] = cluster.nodes;
  const first = await repairOn(a);
  const second = await repairOn(a, { keyspace: 'ks', tables: ['events'], primaryRangeOnly: true });
  const history = await a.repairs.history('ks', ['events']);
  t.same(
    history.map((record) => [record.id, record.keyspace, record.table, record.succeeded, record.ranges.length]),
    [
      [first.id, 'ks', 'events', true, 12],
      [second.id, 'ks', 'events', true, 4],
    ],
  );
  t.same(await a.repairs.history(), history, 'no keyspace: every non-system keyspace');
  t.same(await cluster.nodes[1].repairs.history('ks'), [], 'recorded on the node that ran it');
});

t.test('progress is kept for a finished repair; unknown scopes are refused', async (t) => {
  const cluster = await repairCluster(t);
  const [a] = cluster.nodes;
  const id = a.repairs.start({});
  t.equal(a.repairs.progress(id)?.state, 'running', 'start returns at once');
  const done = await a.repairs.wait(id);
  t.same(a.repairs.progress(id), done);
  t.same(done.keyspaces, ['ks'], 'no keyspace: every non-system keyspace');
  t.equal(done.etaMs, 0);
  t.equal(a.repairs.progress('no-such-repair'), undefined);
  await t.rejects(a.repairs.wait('no-such-repair'), InvalidRequest);
  t.throws(() => a.repairs.start({ keyspace: 'nope' }), new InvalidRequest("Keyspace 'nope' does not exist"));
  t.throws(() => a.repairs.start({ keyspace: 'ks', tables: ['nope'] }), new InvalidRequest('unconfigured table nope'));
  t.throws(() => a.repairs.start({ keyspace: 'system' }), InvalidRequest, 'system keyspaces are node-local');
});

t.test('at most two validations scan at once on a node, and the queue behind them is bounded', async (t) => {
  let scanning = 0;
  let scanningMax = 0;
  const storage = new MemoryStorageEngine();
  const store = storage.openTable(table);
  await storage.apply(KEYS.map((pk) => update(pk, [[1, 'x']])));
  const slow: ScannableStore = {
    async *scan(range, filter) {
      scanningMax = Math.max(scanningMax, ++scanning);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield* store.scan(range, filter) as AsyncIterable<Partition>;
      } finally {
        scanning--;
      }
    },
  };
  const validator = new Validator({ table: () => slow } as unknown as StorageEngine);
  const request = { tableId: table.id, range: { start: MIN_TOKEN, end: MAX_TOKEN }, depth: 4, nowSeconds: NOW };
  const builds = Array.from({ length: VALIDATIONS_RUNNING_MAX + VALIDATIONS_QUEUED_MAX + 3 }, () => validator.build(request));
  const outcomes = await Promise.allSettled(builds);
  t.equal(scanningMax, VALIDATIONS_RUNNING_MAX);
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, VALIDATIONS_RUNNING_MAX + VALIDATIONS_QUEUED_MAX);
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  t.equal(refused.length, 3);
  t.ok(refused.every((o) => o.reason instanceof Overloaded), 'the rest are refused as Overloaded');
  const roots = new Set(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.root().toString('hex')] : [])));
  t.equal(roots.size, 1, 'queued validations build the same tree');
});
