/**
 * Read repair on range reads (lib/coordinator/cluster-proxy.ts scan): replicas asked
 * for the same page that disagree are repaired with the merge before the page is
 * returned, as point reads repair theirs.
 */
import t from 'tap';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { emptyPartition } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { FULL_RANGE } from '../../lib/storage/engine.js';
import { ALL, NOW, coordinatorOn, eventsKeyspace, int, intType, readLocal, replicas, table, update } from '../helpers/cluster.js';

const values = (partition: Awaited<ReturnType<typeof readLocal>>): string[] =>
  (partition?.rows ?? []).map((row) => row.cells.get('v')!.value!.toString());

t.test('a range read at ALL repairs replicas that missed a partition or hold an older version', async (t) => {
  const { nodes } = replicas(t, 3, 11, 2);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 3 });
  const proxy = coordinatorOn(nodes[0], () => {});

  // Every replica holds pk 1..20 at timestamp 1000; node 1 missed pk 21; node 2 holds an
  // older value of pk 5; node 0 missed the deletion of pk 7 that nodes 1 and 2 saw.
  for (const node of nodes) for (let pk = 1; pk <= 20; pk++) await node.storage.apply([update(pk, [[1, `v${pk}`]])]);
  await nodes[0].storage.apply([update(21, [[1, 'late'], [2, 'late']], 2000)]);
  await nodes[2].storage.apply([update(21, [[1, 'late'], [2, 'late']], 2000)]);
  for (const node of [nodes[0], nodes[1]]) await node.storage.apply([update(5, [[1, 'new']], 3000)]);
  const deletion = { ...emptyPartition(int(7), murmur3Token(int(7))), deletion: { markedForDeleteAt: 4000, localDeletionTime: NOW } };
  for (const node of [nodes[1], nodes[2]]) await node.storage.apply([{ tableId: table.id, partition: deletion }]);

  const seen = new Map<number, string[]>();
  for await (const partition of proxy.scan(keyspace, table, FULL_RANGE, ALL, 'ALL')) {
    seen.set(intType.deserialize(partition.key) as number, partition.rows.map((row) => row.cells.get('v')!.value!.toString()));
  }
  t.same(seen.get(21), ['late', 'late'], 'the answer holds the partition one replica missed');
  t.same(seen.get(5), ['new'], 'the newest version wins');
  t.same(seen.get(7) ?? [], [], 'the deletion wins');

  for (const [index, node] of nodes.entries()) {
    t.same(values(await readLocal(node, 21)), ['late', 'late'], `node ${index} holds pk 21 after the scan`);
    t.same(values(await readLocal(node, 5)), ['new'], `node ${index} holds the new pk 5`);
    t.same(values(await readLocal(node, 7)), [], `node ${index} holds pk 7 deleted`);
  }
  t.ok(
    naturalReplicas(nodes[0].view.ring(), keyspace.replication, murmur3Token(int(21))).length === 3,
    'every node is a replica, so every node was asked',
  );
});
