import t from 'tap';
import { RING_SIZE, TokenRing, type Endpoint } from '../../lib/cluster/ring.js';
import { allocateTokens } from '../../lib/cluster/token-allocation.js';
import { MIN_TOKEN } from '../../lib/model/token.js';
import { seededRandom } from '../../lib/model/random.js';


/** Joins `count` nodes one by one, each allocating `numTokens` tokens; racks round-robin over three. */
function grow(count: number, numTokens: number, seed: number, dcOf = (_n: number) => 'dc1'): TokenRing {
  const random = seededRandom(seed);
  let ring = TokenRing.empty;
  for (let n = 0; n < count; n++) {
    const location = { dc: dcOf(n), rack: `r${n % 3}` };
    const tokens = allocateTokens(ring, location, numTokens, random);
    const joining: Endpoint = { id: `n${n}`, address: `127.0.0.${n + 1}:7000`, ...location, tokens };
    ring = new TokenRing([...ring.endpoints, joining]);
  }
  return ring;
}

function ownershipRatio(ring: TokenRing): number {
  const shares = ring.endpoints.map((e) => ring.ownership(e.id));
  return Math.max(...shares) / Math.min(...shares);
}

t.test('the first node spreads its tokens evenly around the ring', async (t) => {
  const tokens = allocateTokens(TokenRing.empty, { dc: 'dc1', rack: 'r1' }, 16, seededRandom(1));
  t.equal(tokens.length, 16);
  const step = RING_SIZE / 16n;
  for (let i = 1; i < tokens.length; i++) t.equal(tokens[i] - tokens[i - 1], step, `gap ${i}`);
  t.ok(tokens[0] > MIN_TOKEN && tokens[0] <= MIN_TOKEN + step, 'offset within the first gap');
});

t.test('allocation is deterministic for a seed and varies with it', async (t) => {
  const ring = grow(3, 16, 7);
  const again = grow(3, 16, 7);
  t.same(ring.endpoints.map((e) => e.tokens), again.endpoints.map((e) => e.tokens));
  t.not(grow(1, 16, 8).endpoints[0].tokens[0], ring.endpoints[0].tokens[0]);
});

t.test('new tokens are ascending, in range and never collide with the ring', async (t) => {
  const ring = grow(5, 16, 3);
  const tokens = allocateTokens(ring, { dc: 'dc1', rack: 'r1' }, 16, seededRandom(4));
  t.equal(new Set(tokens).size, 16);
  t.ok(tokens.every((token, i) => i === 0 || token > tokens[i - 1]));
  t.ok(tokens.every((token) => token > MIN_TOKEN));
  // The TokenRing constructor rejects a token claimed twice.
  t.doesNotThrow(() => new TokenRing([...ring.endpoints, { id: 'x', address: 'x', dc: 'dc1', rack: 'r1', tokens }]));
});

t.test('8 nodes of 16 vnodes stay well within 1.6x max/min ownership', async (t) => {
  for (const seed of [1, 2, 3]) {
    const ring = grow(8, 16, seed);
    const ratio = ownershipRatio(ring);
    // Measured 1.043–1.047 on these seeds; the greedy stays within 7% up to 16 nodes.
    t.ok(ratio < 1.1, `seed ${seed}: max/min ownership ${ratio.toFixed(3)}`);
    t.comment(`seed ${seed}: 8 nodes, max/min ownership ${ratio.toFixed(3)}`);
  }
});

t.test('balance holds at every cluster size on the way to 8 nodes', async (t) => {
  const random = seededRandom(5);
  let ring = TokenRing.empty;
  for (let n = 0; n < 8; n++) {
    const tokens = allocateTokens(ring, { dc: 'dc1', rack: 'r1' }, 16, random);
    ring = new TokenRing([...ring.endpoints, { id: `n${n}`, address: `n${n}`, dc: 'dc1', rack: 'r1', tokens }]);
    t.ok(ownershipRatio(ring) < 1.1, `${n + 1} nodes: ${ownershipRatio(ring).toFixed(3)}`);
  }
});

t.test('each data center balances its own sub-ring', async (t) => {
  const ring = grow(8, 16, 11, (n) => (n % 2 === 0 ? 'dc1' : 'dc2'));
  for (const dc of ['dc1', 'dc2']) {
    const subRing = new TokenRing(ring.endpoints.filter((e) => e.dc === dc));
    t.ok(ownershipRatio(subRing) < 1.1, `${dc}: ${ownershipRatio(subRing).toFixed(3)}`);
  }
  // The first node of dc2 is spread evenly too, not squeezed between dc1's tokens.
  const first = ring.endpoint('n1')!.tokens;
  t.ok(first.every((token, i) => i === 0 || token - first[i - 1] === RING_SIZE / 16n));
});

t.test('num_tokens outside 1..1536 is refused', async (t) => {
  t.throws(() => allocateTokens(TokenRing.empty, { dc: 'dc1', rack: 'r1' }, 0, seededRandom(1)), /num_tokens/);
  t.throws(() => allocateTokens(TokenRing.empty, { dc: 'dc1', rack: 'r1' }, 1537, seededRandom(1)), /num_tokens/);
  t.throws(() => allocateTokens(TokenRing.empty, { dc: 'dc1', rack: 'r1' }, 1.5, seededRandom(1)), /num_tokens/);
});

t.test('replicated ownership at RF 3 stays near the fair share (the data each node stores)', async (t) => {
  const { replicaPlacement } = await import('../../lib/cluster/replication.js');
  let worst = 0;
  for (const seed of [1, 2, 3, 4, 5]) {
    for (const nodes of [4, 5, 6]) {
      // The same vnodes for every node, as grow() lays them out, all in one rack.
      const random = seededRandom(seed * 100 + nodes);
      let ring = TokenRing.empty;
      for (let n = 0; n < nodes; n++) {
        const tokens = allocateTokens(ring, { dc: 'dc1', rack: 'r1' }, 16, random);
        ring = new TokenRing([...ring.endpoints, { id: `n${n}`, address: `n${n}`, dc: 'dc1', rack: 'r1', tokens }]);
      }
      const placement = replicaPlacement(ring, { class: 'SimpleStrategy', replicationFactor: 3 });
      const fair = 3 / nodes;
      for (const endpoint of ring.endpoints) worst = Math.max(worst, Math.abs(placement.effectiveOwnership(endpoint.id) - fair) / fair);
    }
  }
  // Balancing primary ranges alone left nodes up to 23% off on these sizes; measured 19% at worst now.
  t.ok(worst < 0.2, `worst node ${(worst * 100).toFixed(1)}% off the fair replicated share`);
});
