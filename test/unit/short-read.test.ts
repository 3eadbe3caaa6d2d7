/**
 * Short-read protection (lib/coordinator/cluster-proxy.ts read): a point read with a
 * row limit whose replicas' pages are shadowed by another replica's deletions asks again
 * for more rows instead of answering with fewer rows than exist.
 */
import t from 'tap';
import { emptyPartition, emptyRow } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import type { ReadFilter } from '../../lib/storage/engine.js';
import { ALL, NOW, coordinatorOn, eventsKeyspace, int, intType, ringEndpoints, startNode, table, update } from '../helpers/cluster.js';

t.test('a limited read shadowed by another replica’s deletions returns the rows beyond them', async (t) => {
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
  const result = await coordinator.read(keyspace, table, int(pk), murmur3Token(int(pk)), limited, 'ALL');
  const live = (result?.rows ?? []).filter((row) => row.deletion === null).map((row) => intType.deserialize(row.clustering[0]));
  t.same(live, [5, 6], 'the two live rows after the deleted ones, not none');
});
