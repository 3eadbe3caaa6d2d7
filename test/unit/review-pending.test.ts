import t from 'tap';
import fc from 'fast-check';
import { pendingReplicas, rangeMovements } from '../../lib/cluster/pending-ranges.js';
import { naturalReplicas } from '../../lib/cluster/replication.js';
import { TokenRing, rangeContains, type Endpoint } from '../../lib/cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { propertyHolds } from '../helpers/property.js';

function endpoint(id: string, tokens: bigint[], dc = 'dc1', rack = 'rack1'): Endpoint {
  return { id, address: `${id}:7000`, dc, rack, tokens };
}
const simple = (replicationFactor: number): ReplicationStrategy => ({ class: 'SimpleStrategy', replicationFactor });
const nts = (dataCenters: Record<string, number>): ReplicationStrategy => ({ class: 'NetworkTopologyStrategy', dataCenters });
const ids = (endpoints: readonly Endpoint[]): string[] => endpoints.map((e) => e.id).sort();

t.test('two nodes joining at once: each is pending for what it will own if it finishes first', async (t) => {
  // C owns the ring; B1 joins at 150 and B2 at 130. If B1 finishes first, the ring is
  // C + B1 and B1 owns token 120: the writes B2's movement also sees must reach B1 too.
  const c = endpoint('C', [100n]);
  const b1 = endpoint('B1', [150n]);
  const b2 = endpoint('B2', [130n]);
  const ring = new TokenRing([c]);
  const future = new TokenRing([c, b1, b2]);
  const pending = ids(pendingReplicas(ring, future, simple(1), 120n));
  t.ok(pending.includes('B1'), `B1 is pending for token 120 (pending: ${pending})`);
  t.ok(pending.includes('B2'), 'B2 too');
  const movement = rangeMovements(ring, future, simple(1)).find((m) => rangeContains(m.range, 120n));
  t.ok(movement !== undefined && ids(movement.gaining).includes('B1'), 'rangeMovements agrees');
});

t.test('one node leaving while another joins: the node that takes over if the leaver finishes first is pending', async (t) => {
  // A (200) leaves while B joins at 150; C at 100. If A leaves before B is NORMAL, the ring
  // is C alone and C owns token 120: it must get the writes made while both move.
  const a = endpoint('A', [200n]);
  const c = endpoint('C', [100n]);
  const b = endpoint('B', [150n]);
  const ring = new TokenRing([a, c]);
  const future = new TokenRing([c, b]);
  const pending = ids(pendingReplicas(ring, future, simple(1), 120n));
  t.ok(pending.includes('C'), `C is pending for token 120 (pending: ${pending})`);
  t.ok(pending.includes('B'), 'B too');
});

/** Random rings with several endpoints joining and leaving at once. */
const severalMovements = fc
  .record({
    tokens: fc.uniqueArray(fc.bigInt({ min: MIN_TOKEN + 1n, max: MAX_TOKEN }), { minLength: 8, maxLength: 30 }),
    owner: fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
    place: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
    replication: fc.oneof(
      fc.integer({ min: 1, max: 3 }).map(simple),
      fc.record({ dc1: fc.integer({ min: 1, max: 2 }), dc2: fc.integer({ min: 0, max: 2 }) }).map(nts),
    ),
  })
  .map(({ tokens, owner, place, replication }) => {
    // Eight endpoints: n0..n4 in the ring now (n3, n4 leave), j0..j2 joining.
    const names = ['n0', 'n1', 'n2', 'n3', 'n4', 'j0', 'j1', 'j2'];
    const byName = new Map<string, bigint[]>(names.map((name) => [name, []]));
    tokens.forEach((token, i) => byName.get(names[owner[i] % names.length])!.push(token));
    const all = names
      .filter((name) => byName.get(name)!.length > 0)
      .map((name, i) => endpoint(name, byName.get(name)!, ['dc1', 'dc2'][place[i] % 2], ['r1', 'r2'][(place[i] >> 1) % 2]));
    const current = all.filter((e) => e.id.startsWith('n'));
    const staying = current.filter((e) => e.id !== 'n3' && e.id !== 'n4');
    const joining = all.filter((e) => e.id.startsWith('j'));
    return { current, staying, joining, replication };
  });

t.test('whichever single movement completes first, the new replicas were pending', async (t) => {
  propertyHolds(
    t,
    fc.check(
      fc.property(severalMovements, ({ current, staying, joining, replication }) => {
        if (current.length === 0 || staying.length === 0) return true;
        const ring = new TokenRing(current);
        const future = new TokenRing([...staying, ...joining]);
        const leaving = current.filter((e) => !staying.includes(e));
        // The rings the cluster may pass through: one joiner done, one leaver done.
        const next = [
          ...joining.map((j) => new TokenRing([...current, j])),
          ...leaving.map((l) => new TokenRing(current.filter((e) => e !== l))),
        ];
        for (const step of next) {
          for (let i = 0; i < step.size; i++) {
            for (const token of [step.tokenAt(i), step.tokenAt(i) - 1n]) {
              const now = ids(naturalReplicas(ring, replication, token));
              const pending = ids(pendingReplicas(ring, future, replication, token));
              const then = ids(naturalReplicas(step, replication, token));
              if (!then.every((id) => now.includes(id) || pending.includes(id))) return false;
            }
          }
        }
        return true;
      }),
      { numRuns: 200 },
    ),
    'the property holds',
  );
});
