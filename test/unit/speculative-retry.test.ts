/**
 * speculative_retry, per table: parsed as Cassandra reads it, stored with the schema,
 * and obeyed by the coordinator's point reads.
 */
import t, { type Test } from 'tap';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { ConfigurationError, ReadTimeout } from '../../lib/errors.js';
import { murmur3Token } from '../../lib/model/token.js';
import type { SpeculativeRetry, TableMetadata } from '../../lib/schema/metadata.js';
import { formatSpeculativeRetry, parseSpeculativeRetry, parseTableOptions } from '../../lib/schema/schema.js';
import { ALL, coordinatorOn, eventsKeyspace, int, replicas, table, update } from '../helpers/cluster.js';

t.test('speculative_retry values read as Cassandra reads them', async (t) => {
  const cases: [string, SpeculativeRetry, string][] = [
    ['NONE', { kind: 'none' }, 'NONE'],
    ['always', { kind: 'always' }, 'ALWAYS'],
    ['99p', { kind: 'percentile', percentile: 99 }, '99p'],
    ['99.9PERCENTILE', { kind: 'percentile', percentile: 99.9 }, '99.9p'],
    ['50ms', { kind: 'fixed', ms: 50 }, '50ms'],
  ];
  for (const [text, policy, shown] of cases) {
    t.same(parseSpeculativeRetry(text), policy, text);
    t.equal(formatSpeculativeRetry(policy), shown);
  }
  for (const bad of ['100p', '0p', 'sometimes', '5s', 'MIN(99p,50ms)']) {
    t.throws(() => parseSpeculativeRetry(bad), ConfigurationError, `${bad} is refused`);
  }
  t.same(parseTableOptions({ speculative_retry: '20ms' }).speculativeRetry, { kind: 'fixed', ms: 20 }, 'a table option');
  t.same(parseTableOptions({}).speculativeRetry, { kind: 'percentile', percentile: 99 }, "the default is Cassandra's 99p");
});

/**
 * Three replicas, RF 3; the coordinator is cut off from the replica a QUORUM read asks
 * for a digest (it stays alive in every view), so only speculation can answer in time.
 * The read times out after `readTimeoutMs`.
 */
function slowReplicaRead(t: Test, policy: SpeculativeRetry, readTimeoutMs = 200) {
  const { network, nodes } = replicas(t, 3, 5);
  const keyspace = eventsKeyspace({ class: 'SimpleStrategy', replicationFactor: 3 });
  const coordinator = coordinatorOn(nodes[0], () => {}, { readTimeoutMs });
  const withPolicy: TableMetadata = { ...table, options: { ...table.options, speculativeRetry: policy } };
  const pk = 5;
  const token = murmur3Token(int(pk));
  return async () => {
    await coordinator.mutate(keyspace, [update(pk, [[1, 'a']])], 'ALL');
    const slow = naturalReplicas(nodes[0].view.ring(), keyspace.replication, token).find((r) => r.id !== nodes[0].endpoint.id)!;
    network.partition([nodes[0].endpoint.address], [slow.address]);
    const started = performance.now();
    const result = await coordinator.read(keyspace, withPolicy, int(pk), token, ALL, 'QUORUM').catch((e: unknown) => e);
    return { result, elapsed: performance.now() - started };
  };
}

t.test("speculative_retry 'NONE' never asks a spare replica", async (t) => {
  const { result } = await slowReplicaRead(t, { kind: 'none' })();
  t.ok(result instanceof ReadTimeout, 'the read times out waiting for the cut-off replica');
});

t.test("speculative_retry 'ALWAYS' and a fixed delay ask a spare replica in time", async (t) => {
  for (const policy of [{ kind: 'always' }, { kind: 'fixed', ms: 10 }] as SpeculativeRetry[]) {
    // Without speculation this read would be a ReadTimeout (the NONE test above). The read
    // timeout is 2 s, far above the 10 ms delay: a machine stalled for a moment between
    // the speculation and its answer (a loaded CI runner) must not turn it into one.
    // No bound on the time either: a loaded machine can stretch it, not fake an answer.
    const { result, elapsed } = await slowReplicaRead(t, policy, 2000)();
    t.notOk(result instanceof Error, `${formatSpeculativeRetry(policy)}: answered after ${elapsed.toFixed(0)} ms`);
  }
});
