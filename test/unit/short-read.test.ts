/**
 * Short-read protection (lib/coordinator/cluster-proxy.ts read and scan): a read with a
 * row limit whose replicas' pages are shadowed by another replica's deletions asks again
 * for more rows instead of answering with fewer rows than exist.
 */
import t, { type Test } from 'tap';
import { emptyPartition, emptyRow, type Partition } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { FULL_RANGE, type ReadFilter } from '../../lib/storage/engine.js';
import { ALL, NOW, coordinatorOn, eventsKeyspace, int, intType, ringEndpoints, startNode, table, update } from '../helpers/cluster.js';

/** Node 0 holds rows 1..6 of one partition, live; node 1 newer deletions of rows 1..4 only. */
async function shadowedReplicas(t: Test) {
  const network = new MemoryNetwork({ seed: 13 });
  const endpoints = ringEndpoints([{ id: 'host-0' }, { id: 'host-1' }]);
  const nodes = endpoints.map((endpoint) => startNode(network, endpoint, endpoints));
  t.teardown(async () => {
    for (const node of nodes) await node.transport.close();
  });
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 2 });
  const pk = 9;
  // Node 0 holds rows 1..6, live; node 1 holds newer row deletions of rows 1..4 only.
  await nodes[0].storage.apply([update(pk, [1, 2, 3, 4, 5, 6].map((ck) => [ck, `v${ck}`] as [number, string]), 1000)]);
  const deletions = emptyPartition(int(pk), murmur3Token(int(pk)));
  for (const ck of [1, 2, 3, 4]) {
    const row = emptyRow([int(ck)]);
    row.deletion = { markedForDeleteAt: 2000, localDeletionTime: NOW };
    deletions.rows.push(row);
  }
  await nodes[1].storage.apply([{ tableId: table.id, partition: deletions }]);

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
