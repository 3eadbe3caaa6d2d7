import t from 'tap';
import fc from 'fast-check';
import { pendingReplicas, rangeMovements, type RangeMovement } from '../../lib/cluster/pending-ranges.js';
import { naturalReplicas, replicaPlacement } from '../../lib/cluster/replication.js';
import { TokenRing, rangeContains, rangeWidth, type Endpoint, type TokenRange } from '../../lib/cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import type { ReplicationStrategy } from '../../lib/schema/metadata.js';
import { propertyHolds } from '../helpers/property.js';

function endpoint(id: string, tokens: bigint[], dc = 'dc1', rack = 'rack1'): Endpoint {
  return { id, address: `${id}:7000`, dc, rack, tokens };
}
const simple = (replicationFactor: number): ReplicationStrategy => ({ class: 'SimpleStrategy', replicationFactor });
const nts = (dataCenters: Record<string, number>): ReplicationStrategy => ({ class: 'NetworkTopologyStrategy', dataCenters });
const ids = (endpoints: readonly Endpoint[]): string[] => endpoints.map((e) => e.id).sort();
const range = (start: bigint, end: bigint): TokenRange => ({ start, end });

/** Tokens worth probing around each range: both ends, their neighbours, and the ring's ends. */
function probes(rings: readonly TokenRing[]): bigint[] {
  const tokens = new Set<bigint>([MIN_TOKEN, MIN_TOKEN + 1n, MAX_TOKEN, 0n]);
  for (const ring of rings) {
    for (let i = 0; i < ring.size; i++) {
      const token = ring.tokenAt(i);
      for (const probe of [token - 1n, token, token + 1n]) if (probe >= MIN_TOKEN && probe <= MAX_TOKEN) tokens.add(probe);
    }
  }
  return [...tokens];
}

function movementOf(movements: readonly RangeMovement[], token: bigint): RangeMovement | undefined {
  return movements.find((movement) => rangeContains(movement.range, token));
}

// A at 0, B at 100, C at 200; D joins at 150.
const abc = [endpoint('A', [0n]), endpoint('B', [100n]), endpoint('C', [200n])];
const ring = new TokenRing(abc);
const withD = new TokenRing([...abc, endpoint('D', [150n])]);

t.test('a joining node is pending for exactly the ranges it will own', async (t) => {
  for (const factor of [1, 2, 3]) {
    const replication = simple(factor);
    const owned = replicaPlacement(withD, replication).rangesReplicatedBy('D');
    for (const token of probes([withD])) {
      const expected = owned.some((r) => rangeContains(r, token)) ? ['D'] : [];
      t.same(ids(pendingReplicas(ring, withD, replication, token)), expected, `RF ${factor}, token ${token}`);
    }
  }
});

t.test('rangeMovements lists who gains and who loses each range (SimpleStrategy RF 2)', async (t) => {
  // Now: (0,100] → B C, (100,200] → C A. With D: (0,100] → B D, (100,150] → D C.
  const movements = rangeMovements(ring, withD, simple(2));
  t.same(
    movements.map((m) => [m.range, ids(m.gaining), ids(m.losing), ids(m.current)]),
    [
      [range(0n, 100n), ['D'], ['C'], ['B', 'C']],
      [range(100n, 150n), ['D'], ['A'], ['A', 'C']],
    ],
  );
  t.same(rangeMovements(ring, ring, simple(2)), [], 'nothing moves between equal rings');
});

t.test("a leaving node's ranges are pending on the nodes that gain them", async (t) => {
  // B leaves A B C D (RF 2): B's replicas go to whoever follows it on the ring without it.
  const current = withD;
  const future = new TokenRing(withD.endpoints.filter((e) => e.id !== 'B'));
  const replication = simple(2);
  const movements = rangeMovements(current, future, replication);
  const leaving = replicaPlacement(current, replication).rangesReplicatedBy('B');
  t.same(
    movements.map((m) => [m.range, ids(m.gaining), ids(m.losing)]),
    [
      // Now (200,0] → A B and (0,100] → B D; without B: A D and D C.
      [range(200n, 0n), ['D'], ['B']],
      [range(0n, 100n), ['C'], ['B']],
    ],
  );
  let moved = 0n;
  for (const movement of movements) moved += rangeWidth(movement.range);
  let replicated = 0n;
  for (const r of leaving) replicated += rangeWidth(r);
  t.equal(moved, replicated, 'exactly the ranges B replicates move');
  for (const token of probes([current])) {
    const gaining = movementOf(movements, token)?.gaining ?? [];
    t.same(ids(pendingReplicas(current, future, replication, token)), ids(gaining), `token ${token}`);
  }
});

t.test('NetworkTopologyStrategy: a joiner only moves ranges within its own dc', async (t) => {
  const twoDcs = [
    endpoint('a1', [10n], 'dc1', 'r1'),
    endpoint('b1', [20n], 'dc2', 'r1'),
    endpoint('a2', [30n], 'dc1', 'r2'),
    endpoint('b2', [40n], 'dc2', 'r2'),
    endpoint('a3', [50n], 'dc1', 'r1'),
    endpoint('b3', [60n], 'dc2', 'r1'),
  ];
  const current = new TokenRing(twoDcs);
  const future = new TokenRing([...twoDcs, endpoint('b4', [35n], 'dc2', 'r2')]);
  const replication = nts({ dc1: 2, dc2: 2 });
  const movements = rangeMovements(current, future, replication);
  t.ok(movements.length > 0, 'the joiner gains ranges');
  for (const movement of movements) {
    t.same(ids(movement.gaining), ['b4'], `only b4 gains ${movement.range.start}..${movement.range.end}`);
    t.ok(movement.losing.every((e) => e.dc === 'dc2'), 'only dc2 endpoints lose');
  }
  for (const token of probes([future])) {
    const dc1Now = ids(naturalReplicas(current, replication, token).filter((e) => e.dc === 'dc1'));
    const dc1Then = ids(naturalReplicas(future, replication, token).filter((e) => e.dc === 'dc1'));
    t.same(dc1Then, dc1Now, `dc1 replicas of ${token} stay`);
  }
});

t.test('pending replicas are cached per range and empty while nothing moves', async (t) => {
  const replication = simple(2);
  t.same(pendingReplicas(ring, null, replication, 42n), [], 'no future ring, nothing pending');
  t.same(pendingReplicas(ring, ring, replication, 42n), []);
  const first = pendingReplicas(ring, withD, replication, 42n);
  t.same(ids(first), ['D']);
  t.equal(pendingReplicas(ring, withD, replication, 99n), first, 'same list for another token of the range');
  t.ok(Object.isFrozen(first));
  t.same(pendingReplicas(TokenRing.empty, TokenRing.empty, replication, 42n), []);
  t.same(ids(pendingReplicas(TokenRing.empty, withD, replication, 42n)), ['B', 'D'], 'from nothing, every replica is pending');
});

// ---------------------------------------------------------------------------------------
// Properties over random rings.

const racks = ['r1', 'r2', 'r3'];
const dcs = ['dc1', 'dc2'];

/** Endpoints n0..n(k-1) with distinct random tokens, random dc/rack, and one more endpoint's tokens. */
const movementArbitrary = fc
  .record({
    tokens: fc.uniqueArray(fc.bigInt({ min: MIN_TOKEN + 1n, max: MAX_TOKEN }), { minLength: 6, maxLength: 40 }),
    nodes: fc.integer({ min: 2, max: 7 }),
    seed: fc.array(fc.nat(), { minLength: 48, maxLength: 48 }),
    replication: fc.oneof(
      fc.integer({ min: 1, max: 4 }).map(simple),
      fc.record({ dc1: fc.integer({ min: 0, max: 3 }), dc2: fc.integer({ min: 0, max: 3 }) }).map(nts),
    ),
    leaving: fc.boolean(),
  })
  .map(({ tokens, nodes, seed, replication, leaving }) => {
    // Node n+1 (the mover) holds the last few tokens; the others are dealt round-robin-ish by seed.
    const moverTokens = tokens.slice(0, Math.max(1, Math.floor(tokens.length / (nodes + 1))));
    const rest = tokens.slice(moverTokens.length);
    const byNode = new Map<number, bigint[]>();
    rest.forEach((token, i) => {
      const n = (seed[i] ?? i) % nodes;
      byNode.set(n, [...(byNode.get(n) ?? []), token]);
    });
    const others = [...byNode].map(([n, owned]) => endpoint(`n${n}`, owned, dcs[seed[40 + n] % 2], racks[seed[n] % 3]));
    const mover = endpoint('mover', moverTokens, dcs[seed[47] % 2], racks[seed[46] % 3]);
    const withMover = new TokenRing([...others, mover]);
    const without = new TokenRing(others);
    return leaving
      ? { current: withMover, future: without, replication }
      : { current: without, future: withMover, replication };
  });

t.test('for every token, future replicas = current replicas − losing + gaining', async (t) => {
  propertyHolds(
    t,
    fc.check(
      fc.property(movementArbitrary, fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN }), ({ current, future, replication }, random) => {
        const movements = rangeMovements(current, future, replication);
        for (const token of [random, ...probes([current, future])]) {
          const now = ids(naturalReplicas(current, replication, token));
          const then = ids(naturalReplicas(future, replication, token));
          const movement = movementOf(movements, token);
          const gaining = movement === undefined ? [] : ids(movement.gaining);
          const losing = movement === undefined ? [] : ids(movement.losing);
          if (movement !== undefined && ids(movement.current).join() !== now.join()) return false;
          const expected = [...now.filter((id) => !losing.includes(id)), ...gaining].sort();
          if (expected.join() !== then.join()) return false;
          if (ids(pendingReplicas(current, future, replication, token)).join() !== gaining.join()) return false;
        }
        // Movements are disjoint, non-empty, and each really changes something.
        for (const movement of movements) {
          if (movement.gaining.length + movement.losing.length === 0) return false;
          if (movements.filter((other) => rangeContains(other.range, movement.range.end)).length !== 1) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    ),
    'the property holds',
  );
});

t.test('a joiner gains in every movement and never loses; a leaver loses in every movement and never gains', async (t) => {
  propertyHolds(
    t,
    fc.check(
      fc.property(movementArbitrary, ({ current, future, replication }) => {
        const joining = future.endpoint('mover') !== undefined;
        for (const movement of rangeMovements(current, future, replication)) {
          // A joiner takes ranges from others; a leaver hands its own ranges to others.
          if (joining && !movement.gaining.some((e) => e.id === 'mover')) return false;
          if (!joining && !movement.losing.some((e) => e.id === 'mover')) return false;
          if (joining && movement.losing.some((e) => e.id === 'mover')) return false;
          if (!joining && movement.gaining.some((e) => e.id === 'mover')) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    ),
    'the property holds',
  );
});
