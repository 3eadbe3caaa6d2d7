import t from 'tap';
import fc from 'fast-check';
import { RING_SIZE, TokenRing, rangeContains, rangeWidth, type Endpoint } from '../../lib/cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import { propertyHolds } from '../helpers/property.js';

function endpoint(id: string, tokens: bigint[], dc = 'dc1', rack = 'rack1'): Endpoint {
  return { id, address: `${id}:7000`, dc, rack, tokens };
}

// A owns 10 and 30, B owns 20: ranges (30, 10] and (20, 30] for A, (10, 20] for B.
const a = endpoint('a', [30n, 10n]);
const b = endpoint('b', [20n]);
const small = new TokenRing([a, b]);

t.test('a token belongs to the range of the first ring token at or after it', async (t) => {
  t.equal(small.ownerOf(15n).id, 'b');
  t.equal(small.ownerOf(20n).id, 'b', 'the range end is inclusive');
  t.equal(small.ownerOf(21n).id, 'a');
  t.same(small.primaryRangeOf(15n), { start: 10n, end: 20n });
  t.same(small.primaryRangeOf(10n), { start: 30n, end: 10n }, 'the range start is exclusive');
});

t.test('tokens past the last ring token wrap to the first range', async (t) => {
  t.equal(small.ownerOf(31n).id, 'a');
  t.equal(small.ownerOf(MAX_TOKEN).id, 'a');
  t.equal(small.ownerOf(MIN_TOKEN).id, 'a');
  t.same(small.primaryRangeOf(MAX_TOKEN), { start: 30n, end: 10n });
  t.equal(small.indexOf(MAX_TOKEN), 0);
});

t.test('rangesOf lists an endpoint’s primary ranges by end token, the first one wrapping', async (t) => {
  t.same(small.rangesOf('a'), [
    { start: 30n, end: 10n },
    { start: 20n, end: 30n },
  ]);
  t.same(small.rangesOf('b'), [{ start: 10n, end: 20n }]);
  t.same(small.rangesOf('nobody'), []);
});

t.test('ownership is the fraction of the token space in an endpoint’s primary ranges', async (t) => {
  // B owns (0, 2^62]: a quarter of the ring; A owns the rest, wrapping through MAX and MIN.
  const ring = new TokenRing([endpoint('a', [0n]), endpoint('b', [2n ** 62n])]);
  t.equal(ring.ownership('b'), 0.25);
  t.equal(ring.ownership('a'), 0.75);
  t.equal(ring.ownership('nobody'), 0);
});

t.test('a single token owns the whole ring as the range (t, t]', async (t) => {
  const ring = new TokenRing([endpoint('only', [42n])]);
  t.same(ring.primaryRangeOf(-5n), { start: 42n, end: 42n });
  t.equal(rangeWidth(ring.rangeAt(0)), RING_SIZE);
  t.ok(rangeContains(ring.rangeAt(0), MIN_TOKEN) && rangeContains(ring.rangeAt(0), 42n));
  t.equal(ring.ownership('only'), 1);
});

t.test('rangeContains honours (start, end] with and without wrap-around', async (t) => {
  t.ok(rangeContains({ start: 10n, end: 20n }, 20n));
  t.notOk(rangeContains({ start: 10n, end: 20n }, 10n));
  t.ok(rangeContains({ start: 30n, end: 10n }, MAX_TOKEN));
  t.ok(rangeContains({ start: 30n, end: 10n }, 10n));
  t.notOk(rangeContains({ start: 30n, end: 10n }, 20n));
  t.equal(rangeWidth({ start: 30n, end: 10n }), RING_SIZE - 20n);
});

t.test('a ring rejects a token claimed twice, a host id listed twice and tokens out of range', async (t) => {
  t.throws(() => new TokenRing([endpoint('a', [1n]), endpoint('b', [1n])]), /Token 1 is claimed by both/);
  t.throws(() => new TokenRing([endpoint('a', [1n]), endpoint('a', [2n])]), /Host id a appears twice/);
  t.throws(() => new TokenRing([endpoint('a', [MAX_TOKEN + 1n])]), /outside the Murmur3 token range/);
});

t.test('an empty ring owns nothing and refuses lookups', async (t) => {
  t.equal(TokenRing.empty.size, 0);
  t.equal(TokenRing.empty.ownership('a'), 0);
  t.throws(() => TokenRing.empty.ownerOf(0n), /empty ring/);
});

t.test('data center topology counts only endpoints that hold tokens', async (t) => {
  const ring = new TokenRing([
    endpoint('a', [1n], 'dc1', 'r1'),
    endpoint('b', [2n], 'dc1', 'r2'),
    endpoint('c', [3n], 'dc1', 'r2'),
    endpoint('joining', [], 'dc1', 'r3'),
    endpoint('d', [4n], 'dc2', 'r1'),
  ]);
  t.same(Object.fromEntries(ring.dataCenters()), {
    dc1: { endpoints: 3, racks: 2 },
    dc2: { endpoints: 1, racks: 1 },
  });
  t.equal(ring.endpoints.length, 5, 'a token-less endpoint is still a member');
});

/** Random rings: up to 6 endpoints with 1–5 distinct tokens each. */
const ringArbitrary = fc
  .uniqueArray(fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN }), { minLength: 1, maxLength: 30 })
  .chain((tokens) =>
    fc.array(fc.nat({ max: 5 }), { minLength: tokens.length, maxLength: tokens.length }).map((owners) => {
      const byOwner = new Map<number, bigint[]>();
      tokens.forEach((token, i) => byOwner.set(owners[i], [...(byOwner.get(owners[i]) ?? []), token]));
      return new TokenRing([...byOwner].map(([owner, owned]) => endpoint(`n${owner}`, owned)));
    }),
  );

t.test('primary ranges cover the ring exactly once', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(ringArbitrary, fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN }), (ring, token) => {
      const ranges = ring.endpoints.flatMap((e) => ring.rangesOf(e.id));
      const total = ranges.reduce((sum, range) => sum + rangeWidth(range), 0n);
      if (total !== RING_SIZE) return false;
      const containing = ring.endpoints.flatMap((e) =>
        ring.rangesOf(e.id).filter((range) => rangeContains(range, token)).map(() => e.id),
      );
      return containing.length === 1 && containing[0] === ring.ownerOf(token).id;
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('ownership fractions sum to 1', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(ringArbitrary, (ring) => {
      const sum = ring.endpoints.reduce((total, e) => total + ring.ownership(e.id), 0);
      return Math.abs(sum - 1) < 1e-12;
    }),
    { numRuns: 200 },
  ), 'the property holds');
});

t.test('the binary search agrees with a linear scan', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(ringArbitrary, fc.bigInt({ min: MIN_TOKEN, max: MAX_TOKEN }), (ring, token) => {
      let expected = 0;
      while (expected < ring.size && ring.tokenAt(expected) < token) expected++;
      return ring.indexOf(token) === expected % ring.size;
    }),
    { numRuns: 300 },
  ), 'the property holds');
});
