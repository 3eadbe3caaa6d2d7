/**
 * Short-read protection (lib/coordinator/cluster-proxy.ts read and scan): a read with a
 * row limit whose replicas' pages are shadowed by another replica's deletions asks again
 * for more rows instead of answering with fewer rows than exist.
 */
import t, { type Test } from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { FULL_RANGE, type ReadFilter } from '../../lib/storage/engine.js';
import { ALL, coordinatorOn, eventsKeyspace, int, intType, replicas, rowDeletions, table, update } from '../helpers/cluster.js';

/** Node 0 holds rows 1..6 of one partition, live; node 1 newer deletions of rows 1..4 only. */
async function shadowedReplicas(t: Test) {
  const { nodes } = replicas(t, 2, 13);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 2 });
  const pk = 9;
  // Node 0 holds rows 1..6, live; node 1 holds newer row deletions of rows 1..4 only.
  await nodes[0].storage.apply([update(pk, [1, 2, 3, 4, 5, 6].map((ck) => [ck, `v${ck}`] as [number, string]), 1000)]);
  await nodes[1].storage.apply([rowDeletions(pk, [1, 2, 3, 4], 2000)]);

  const coordinator = coordinatorOn(nodes[0], () => {});
  const limited: ReadFilter = { ...ALL, rowLimit: 2 };
  const liveRows = (partition: Partition | null) =>
    (partition?.rows ?? []).filter((row) => row.deletion === null).map((row) => intType.deserialize(row.clustering[0]));
  return { coordinator, keyspace, limited, liveRows, pk };
}

t.test('a limited point read shadowed by another replica’s deletions returns the rows beyond them', async (t) => {
  const { coordinator, keyspace, limited, liveRows, pk } = await shadowedReplicas(t);
  const result = await coordinator.read(keyspace, table, int(pk), murmur3Token(int(pk)), limited, 'ALL');
  t.same(liveRows(result), [5, 6], 'the two live rows after the deleted ones, not none');
});

t.test('a range read with a per-partition limit is protected the same way', async (t) => {
  const { coordinator, keyspace, limited, liveRows, pk } = await shadowedReplicas(t);
  const seen: Partition[] = [];
  for await (const partition of coordinator.scan(keyspace, table, FULL_RANGE, limited, 'ALL')) seen.push(partition);
  t.equal(seen.length, 1);
  t.same(intType.deserialize(seen[0].key), pk);
  t.same(liveRows(seen[0]), [5, 6], 'the two live rows after the deleted ones, not none');
});
