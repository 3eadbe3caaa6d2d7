import t from 'tap';
import fc from 'fast-check';
import { naturalReplicas, replicaPlacement } from '../../lib/cluster/replication.js';
import { TokenRing, rangeContains, type Endpoint } from '../../lib/cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { propertyHolds } from '../helpers/property.js';

function endpoint(id: string, tokens: bigint[], dc = 'dc1', rack = 'rack1'): Endpoint {
  return { id, address: `${id}:7000`, dc, rack, tokens };
}
const simple = (replicationFactor: number): ReplicationStrategy => ({ class: 'SimpleStrategy', replicationFactor });
const nts = (dataCenters: Record<string, number>): ReplicationStrategy => ({
  class: 'NetworkTopologyStrategy',
  dataCenters,
});
const ids = (replicas: readonly Endpoint[]): string[] => replicas.map((replica) => replica.id);

// Three nodes, A with two vnodes: 0 → A, 100 → B, 200 → C, 300 → A.
const three = new TokenRing([endpoint('A', [0n, 300n]), endpoint('B', [100n]), endpoint('C', [200n])]);

t.test('SimpleStrategy takes the next distinct endpoints clockwise, RF 1 to 4', async (t) => {
  t.same(ids(naturalReplicas(three, simple(1), 150n)), ['C']);
  t.same(ids(naturalReplicas(three, simple(2), 150n)), ['C', 'A']);
  t.same(ids(naturalReplicas(three, simple(3), 150n)), ['C', 'A', 'B']);
  // A's second vnode at 0 is skipped: it is already a replica.
  t.same(ids(naturalReplicas(three, simple(3), 250n)), ['A', 'B', 'C']);
  t.same(ids(naturalReplicas(three, simple(4), 150n)), ['C', 'A', 'B'], 'RF above the node count places on all nodes');
});

t.test('SimpleStrategy wraps from the last ring token to the first', async (t) => {
  t.same(ids(naturalReplicas(three, simple(2), 301n)), ['A', 'B']);
  t.same(ids(naturalReplicas(three, simple(2), MIN_TOKEN)), ['A', 'B']);
  t.same(ids(naturalReplicas(three, simple(2), 200n)), ['C', 'A'], 'a range end belongs to its range');
});

t.test('RF 0 and an empty ring place no replicas', async (t) => {
  t.same(naturalReplicas(three, simple(0), 5n), []);
  t.same(naturalReplicas(TokenRing.empty, simple(3), 5n), []);
  t.same(naturalReplicas(three, nts({ dc1: 0 }), 5n), []);
});

// Two dcs: dc1 has racks r1 (a1, a2) and r2 (a3, a4); dc2 has one rack (b1, b2).
const twoDcs = new TokenRing([
  endpoint('a1', [10n], 'dc1', 'r1'),
  endpoint('a2', [20n], 'dc1', 'r1'),
  endpoint('b1', [30n], 'dc2', 'r1'),
  endpoint('a3', [40n], 'dc1', 'r2'),
  endpoint('b2', [50n], 'dc2', 'r1'),
  endpoint('a4', [60n], 'dc1', 'r2'),
]);

t.test('NetworkTopologyStrategy puts a dc’s replicas on distinct racks first', async (t) => {
  // Walk from 10: a1 (r1), a2 skipped (r1 again while r2 is unused), b1, a3 (r2).
  t.same(ids(naturalReplicas(twoDcs, nts({ dc1: 2, dc2: 1 }), 5n)), ['a1', 'b1', 'a3']);
  t.same(ids(naturalReplicas(twoDcs, nts({ dc1: 2 }), 15n)), ['a2', 'a3']);
});

t.test('NetworkTopologyStrategy repeats a rack only for replicas beyond the rack count', async (t) => {
  // dc1 RF 3 on 2 racks allows one repeat: the first one met, a2.
  const replicas = naturalReplicas(twoDcs, nts({ dc1: 3, dc2: 2 }), 5n);
  t.same(ids(replicas), ['a1', 'a2', 'b1', 'a3', 'b2']);
  t.same(new Set(replicas.filter((r) => r.dc === 'dc1').map((r) => r.rack)), new Set(['r1', 'r2']));
});

t.test('NetworkTopologyStrategy wraps around the ring and lists replicas in walk order', async (t) => {
  t.same(ids(naturalReplicas(twoDcs, nts({ dc1: 2, dc2: 1 }), 55n)), ['a4', 'a1', 'b1']);
  t.same(ids(naturalReplicas(twoDcs, nts({ dc1: 2, dc2: 1 }), 45n)), ['b2', 'a4', 'a1']);
  // The owner's dc does not replicate: the first replica is not the owner.
  t.same(ids(naturalReplicas(twoDcs, nts({ dc1: 2 }), 45n)), ['a4', 'a1']);
});

t.test('NetworkTopologyStrategy caps each dc at its endpoints and ignores unknown dcs', async (t) => {
  const replicas = naturalReplicas(twoDcs, nts({ dc1: 10, dc2: 5, dc3: 3 }), 5n);
  t.same(ids(replicas).sort(), ['a1', 'a2', 'a3', 'a4', 'b1', 'b2']);
  t.same(naturalReplicas(twoDcs, nts({ dc3: 3 }), 5n), []);
});

t.test('placements are cached per ring and per replication setting', async (t) => {
  const placement = replicaPlacement(twoDcs, nts({ dc1: 2, dc2: 1 }));
  t.equal(replicaPlacement(twoDcs, nts({ dc2: 1, dc1: 2 })), placement, 'option order does not matter');
  t.not(replicaPlacement(twoDcs, nts({ dc1: 1, dc2: 1 })), placement);
  t.not(replicaPlacement(new TokenRing(twoDcs.endpoints), nts({ dc1: 2, dc2: 1 })), placement);
  t.equal(placement.replicasFor(5n), placement.replicasFor(10n), 'one replica list per range');
});

t.test('effective ownership sums to RF when every dc has enough endpoints', async (t) => {
  const placement = replicaPlacement(twoDcs, nts({ dc1: 2, dc2: 1 }));
  const sum = twoDcs.endpoints.reduce((total, e) => total + placement.effectiveOwnership(e.id), 0);
  t.ok(Math.abs(sum - 3) < 1e-12, `sum ${sum}`);
  // dc2 has RF 1: each range's dc2 replica is the first of b1 (30) and b2 (50) met from its end.
  t.same(placement.rangesReplicatedBy('b1'), [0, 1, 2, 5].map((i) => twoDcs.rangeAt(i)));
  t.same(placement.rangesReplicatedBy('b2'), [3, 4].map((i) => twoDcs.rangeAt(i)));
});

/**
 * The specification, written independently of the cached implementation: a plain walk
 * over the sorted (token, endpoint) pairs starting at the token, with NTS written the
 * way Cassandra describes it — skip rack repeats until every rack of the dc holds a
 * replica, then fill with the skipped endpoints in the order they were met.
 */
function naiveReplicas(endpoints: readonly Endpoint[], replication: ReplicationStrategy, token: bigint): Set<string> {
  const pairs = endpoints.flatMap((e) => e.tokens.map((tk) => ({ token: tk, endpoint: e })));
  pairs.sort((x, y) => (x.token < y.token ? -1 : 1));
  const first = pairs.findIndex((pair) => pair.token >= token);
  const walk = [...pairs.slice(first < 0 ? 0 : first), ...pairs.slice(0, first < 0 ? 0 : first)].map((p) => p.endpoint);
  const owners = endpoints.filter((e) => e.tokens.length > 0);
  const chosen = new Set<string>();
  if (replication.class === 'SimpleStrategy') {
    const want = Math.min(replication.replicationFactor, owners.length);
    for (const e of walk) if (chosen.size < want) chosen.add(e.id);
    return chosen;
  }
  for (const [dc, factor] of Object.entries(replication.dataCenters)) {
    const members = owners.filter((e) => e.dc === dc);
    const want = Math.min(factor, members.length);
    const allRacks = new Set(members.map((e) => e.rack));
    const racks = new Set<string>();
    const skipped: string[] = [];
    let placed = 0;
    for (const e of walk) {
      if (placed === want) break;
      if (e.dc !== dc || chosen.has(e.id) || skipped.includes(e.id)) continue;
      if (racks.size === allRacks.size) {
        chosen.add(e.id);
        placed++;
      } else if (!racks.has(e.rack)) {
        racks.add(e.rack);
        chosen.add(e.id);
        placed++;
        if (racks.size === allRacks.size) {
          while (placed < want && skipped.length > 0) {
            chosen.add(skipped.shift()!);
            placed++;
          }
        }
      } else {
        skipped.push(e.id);
      }
    }
  }
  return chosen;
}

/** Random rings over two dcs and three racks, and a replication setting for them. */
const clusterArbitrary = fc
  .uniqueArray(fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN }), { minLength: 1, maxLength: 24 })
  .chain((tokens) =>
    fc
      .tuple(
        fc.array(fc.nat({ max: 7 }), { minLength: tokens.length, maxLength: tokens.length }),
        fc.array(fc.tuple(fc.constantFrom('dc1', 'dc2'), fc.constantFrom('r1', 'r2', 'r3')), {
          minLength: 8,
          maxLength: 8,
        }),
        fc.oneof(
          fc.nat({ max: 5 }).map(simple),
          fc.record({ dc1: fc.nat({ max: 5 }), dc2: fc.nat({ max: 5 }) }).map(nts),
        ),
      )
      .map(([owners, locations, replication]) => {
        const byOwner = new Map<number, bigint[]>();
        tokens.forEach((token, i) => byOwner.set(owners[i], [...(byOwner.get(owners[i]) ?? []), token]));
        const ring = new TokenRing(
          [...byOwner].map(([n, owned]) => endpoint(`n${n}`, owned, locations[n][0], locations[n][1])),
        );
        return { ring, replication };
      }),
  );
const tokenArbitrary = fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN });

t.test('the cached lookup equals a naive ring walk', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(clusterArbitrary, tokenArbitrary, ({ ring, replication }, token) => {
      const replicas = ids(naturalReplicas(ring, replication, token)).sort();
      return replicas.join() === [...naiveReplicas(ring.endpoints, replication, token)].sort().join();
    }),
    { numRuns: 400 },
  ), 'the property holds');
});

t.test('replicas are RF distinct endpoints per dc (or all of them), the primary first', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(clusterArbitrary, tokenArbitrary, ({ ring, replication }, token) => {
      const replicas = naturalReplicas(ring, replication, token);
      if (new Set(ids(replicas)).size !== replicas.length) return false;
      const count = (dc?: string) => ring.endpoints.filter((e) => dc === undefined || e.dc === dc).length;
      if (replication.class === 'SimpleStrategy') {
        if (replicas.length !== Math.min(replication.replicationFactor, count())) return false;
      } else {
        for (const [dc, factor] of Object.entries(replication.dataCenters)) {
          const inDc = replicas.filter((r) => r.dc === dc);
          if (inDc.length !== Math.min(factor, count(dc))) return false;
          // Rack diversity: as many racks as replicas, up to the racks the dc has.
          const racks = new Set(ring.endpoints.filter((e) => e.dc === dc).map((e) => e.rack)).size;
          if (new Set(inDc.map((r) => r.rack)).size !== Math.min(inDc.length, racks)) return false;
        }
      }
      // The primary owns the token's range when its dc replicates at all.
      const owner = ring.ownerOf(token);
      const ownerReplicated =
        replication.class === 'SimpleStrategy'
          ? replication.replicationFactor > 0
          : (replication.dataCenters[owner.dc] ?? 0) > 0;
      if (ownerReplicated) {
        if (replicas[0] !== owner) return false;
        if (!ring.rangesOf(owner.id).some((range) => rangeContains(range, token))) return false;
      }
      return true;
    }),
    { numRuns: 400 },
  ), 'the property holds');
});

t.test('a placement answers every range of a large ring without a walk per lookup', async (t) => {
  // 64 nodes × 16 vnodes: the first lookup of a range walks once; later lookups reuse it.
  const endpoints = Array.from({ length: 64 }, (_, n) => {
    const tokens = Array.from({ length: 16 }, (_, v) => BigInt(v * 64 + n) * 2n ** 50n + MIN_TOKEN + 1n);
    return endpoint(`n${n}`, tokens, `dc${n % 2}`, `r${n % 3}`);
  });
  const ring = new TokenRing(endpoints);
  const placement = replicaPlacement(ring, nts({ dc0: 3, dc1: 3 }));
  const first = placement.replicasFor(0n);
  t.equal(placement.replicasFor(0n), first, 'same frozen list on a repeated lookup');
  t.ok(Object.isFrozen(first));
  t.equal(first.length, 6);
  t.equal(placement.replicasFor(MAX_TOKEN).length, 6);
});
