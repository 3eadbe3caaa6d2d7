/**
 * Review findings on coordinator reads (lib/coordinator/cluster-proxy.ts): a replica
 * that stopped at the row limit says nothing about the rows after its last one, so the
 * merge must not answer with rows beyond that point taken from the other replicas alone.
 */
import t, { type Test } from 'tap';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { ReadTimeout } from '../../lib/errors.js';
import type { Partition } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { FULL_RANGE, type ReadFilter } from '../../lib/storage/engine.js';
import { ALL, coordinatorOn, eventsKeyspace, int, intType, replicas, rowDeletions, table, update } from '../helpers/cluster.js';

/**
 * Node 0 missed the deletions of rows 1..4 but holds the newest values of rows 5 and 6;
 * node 1 saw the deletions but holds old values of rows 5 and 6 (each missed one QUORUM write).
 */
async function divergedReplicas(t: Test) {
  const { nodes } = replicas(t, 2, 17);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 2 });
  const pk = 4;
  await nodes[0].storage.apply([update(pk, [1, 2, 3, 4].map((ck) => [ck, `old${ck}`] as [number, string]), 1000)]);
  await nodes[0].storage.apply([update(pk, [[5, 'new5'], [6, 'new6']], 3000)]);
  await nodes[1].storage.apply([update(pk, [[5, 'old5'], [6, 'old6']], 1000)]);
  await nodes[1].storage.apply([rowDeletions(pk, [1, 2, 3, 4], 2000)]);
  const coordinator = coordinatorOn(nodes[0], () => {});
  const limited: ReadFilter = { ...ALL, rowLimit: 2 };
  const liveValues = (partition: Partition | null) =>
    (partition?.rows ?? [])
      .filter((row) => row.deletion === null)
      .map((row) => `${intType.deserialize(row.clustering[0])}=${row.cells.get('v')!.value!.toString()}`);
  return { coordinator, keyspace, limited, liveValues, pk };
}

t.test('a limited point read does not answer rows past a full replica page from the other replica alone', async (t) => {
  const { coordinator, keyspace, limited, liveValues, pk } = await divergedReplicas(t);
  const result = await coordinator.read(keyspace, table, int(pk), murmur3Token(int(pk)), limited, 'ALL');
  t.same(liveValues(result), ['5=new5', '6=new6'], 'the newest values of rows 5 and 6, not the stale replica’s');
});

t.test('a limited range read does not answer rows past a full replica page from the other replica alone', async (t) => {
  const { coordinator, keyspace, limited, liveValues } = await divergedReplicas(t);
  const seen: Partition[] = [];
  for await (const partition of coordinator.scan(keyspace, table, FULL_RANGE, limited, 'ALL')) seen.push(partition);
  t.equal(seen.length, 1);
  t.same(liveValues(seen[0] ?? null), ['5=new5', '6=new6'], 'the newest values of rows 5 and 6, not the stale replica’s');
});

t.test('a limited reversed point read does not answer rows past a full replica page from the other replica alone', async (t) => {
  // The mirror image: node 0 missed the deletions of rows 3..6 but holds the newest rows 1 and 2.
  const { nodes } = replicas(t, 2, 19);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 2 });
  const pk = 4;
  await nodes[0].storage.apply([update(pk, [3, 4, 5, 6].map((ck) => [ck, `old${ck}`] as [number, string]), 1000)]);
  await nodes[0].storage.apply([update(pk, [[1, 'new1'], [2, 'new2']], 3000)]);
  await nodes[1].storage.apply([update(pk, [[1, 'old1'], [2, 'old2']], 1000)]);
  await nodes[1].storage.apply([rowDeletions(pk, [3, 4, 5, 6], 2000)]);
  const coordinator = coordinatorOn(nodes[0], () => {});
  const result = await coordinator.read(keyspace, table, int(pk), murmur3Token(int(pk)), { ...ALL, rowLimit: 2, reversed: true }, 'ALL');
  const live = (result?.rows ?? []).filter((row) => row.deletion === null).map((row) => row.cells.get('v')!.value!.toString());
  t.same(live, ['new2', 'new1'], 'the newest values of rows 2 and 1, in reverse order');
});

t.test('a fixed speculative_retry delay longer than read_request_timeout never speculates', async (t) => {
  // Node timers cap at 2^31 - 1 ms and fire a longer delay after 1 ms: '3000000000ms'
  // would speculate at once, doubling the reads of a table meant never to speculate.
  const { network, nodes } = replicas(t, 3, 5);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 3 });
  const coordinator = coordinatorOn(nodes[0], () => {});
  const slowRetry: TableMetadata = { ...table, options: { ...table.options, speculativeRetry: { kind: 'fixed', ms: 3_000_000_000 } } };
  const pk = 5;
  const token = murmur3Token(int(pk));
  await coordinator.mutate(keyspace, [update(pk, [[1, 'a']])], 'ALL');
  const slow = naturalReplicas(nodes[0].view.ring(), keyspace.replication, token).find((r) => r.id !== nodes[0].endpoint.id)!;
  network.partition([nodes[0].endpoint.address], [slow.address]);
  const result = await coordinator.read(keyspace, slowRetry, int(pk), token, ALL, 'QUORUM').catch((e: unknown) => e);
  t.ok(result instanceof ReadTimeout, 'the read waits for the cut-off replica until it times out, as with NONE');
});

t.test('a limited read keeps asking for more while deletions on one replica shadow many pages of the other', async (t) => {
  // Node 0 missed the deletions of rows 1..200; the live rows 201 and 202 lie beyond
  // many doublings of the row limit.
  const { nodes } = replicas(t, 2, 23);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 2 });
  const pk = 8;
  const deleted = Array.from({ length: 200 }, (_, i) => i + 1);
  await nodes[0].storage.apply([update(pk, deleted.map((ck) => [ck, `old${ck}`] as [number, string]), 1000)]);
  for (const node of nodes) await node.storage.apply([update(pk, [[201, 'a'], [202, 'b']], 1000)]);
  await nodes[1].storage.apply([rowDeletions(pk, deleted, 2000)]);
  const coordinator = coordinatorOn(nodes[0], () => {});
  const result = await coordinator.read(keyspace, table, int(pk), murmur3Token(int(pk)), { ...ALL, rowLimit: 2 }, 'ALL');
  const live = (result?.rows ?? []).filter((row) => row.deletion === null).map((row) => row.cells.get('v')!.value!.toString());
  t.same(live, ['a', 'b'], 'the two live rows after the 200 deleted ones');
});
