import t from 'tap';
import { RING_SIZE, rangeWidth, TokenRing } from '../../lib/cluster/ring.js';
import { MERKLE_DEPTH_MAX, MerkleTree } from '../../lib/repair/merkle.js';
import {
  depthForPiece,
  formatRange,
  leafRanges,
  leavesDiffering,
  nonWrappingPieces,
  planPulls,
  planRanges,
  rateAndEta,
  totalWidth,
} from '../../lib/repair/repair-plan.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import { ringEndpoints } from '../helpers/cluster.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `host-${i + 1}` }));

t.test('a wrapping range is repaired as non-wrapping pieces that cover exactly its tokens', async (t) => {
  t.same(nonWrappingPieces({ start: -5n, end: 7n }), [{ start: -5n, end: 7n }], 'a non-wrapping range is itself');
  t.same(nonWrappingPieces({ start: 100n, end: -100n }), [
    { start: MIN_TOKEN, end: -100n },
    { start: 100n, end: MAX_TOKEN },
  ]);
  t.same(nonWrappingPieces({ start: 3n, end: 3n }), [{ start: MIN_TOKEN, end: MAX_TOKEN }], 'start === end is the whole ring');
  t.same(nonWrappingPieces({ start: MAX_TOKEN, end: 10n }), [{ start: MIN_TOKEN, end: 10n }], 'no empty piece after MAX');
  t.same(nonWrappingPieces({ start: 10n, end: MIN_TOKEN }), [{ start: 10n, end: MAX_TOKEN }], 'no empty piece before MIN');
  // MIN_TOKEN itself is the one position the pieces leave out: no key has it.
  for (const [range, minTokenLeftOut] of [
    [{ start: 100n, end: -100n }, 1n],
    [{ start: -7n, end: 9n }, 0n],
  ] as const) {
    const pieces = nonWrappingPieces(range);
    t.ok(pieces.every((piece) => piece.start < piece.end), 'every piece is non-wrapping, as MerkleTree needs');
    t.equal(totalWidth(pieces), rangeWidth(range) - minTokenLeftOut, `pieces of ${formatRange(range)} cover its tokens`);
  }
});

t.test('a node repairs every range it replicates, with the other replicas as peers', async (t) => {
  const endpoints = ringEndpoints(hosts(4), 4);
  const ring = new TokenRing(endpoints);
  const planned = planRanges(ring, { class: 'SimpleStrategy', replicationFactor: 3 }, 'host-1', false);
  t.equal(planned.length, 12, 'RF 3 of 4 nodes with 4 vnodes each: 3/4 of the 16 ranges');
  for (const { peers } of planned) {
    t.equal(peers.length, 2);
    t.notOk(peers.some((peer) => peer.id === 'host-1'), 'the repairing node is never its own peer');
  }
});

t.test('--pr on every node covers each ring range exactly once', async (t) => {
  const endpoints = ringEndpoints(hosts(3), 5);
  const ring = new TokenRing(endpoints);
  const replication = { class: 'SimpleStrategy', replicationFactor: 2 } as const;
  const seen = new Map<string, number>();
  for (const endpoint of endpoints) {
    for (const { range } of planRanges(ring, replication, endpoint.id, true)) {
      seen.set(formatRange(range), (seen.get(formatRange(range)) ?? 0) + 1);
    }
  }
  t.equal(seen.size, ring.size, 'every range is repaired');
  t.ok([...seen.values()].every((times) => times === 1), 'and by one node only');
});

t.test('ranges without another replica have nothing to repair', async (t) => {
  const ring = new TokenRing(ringEndpoints(hosts(3), 2));
  t.same(planRanges(ring, { class: 'SimpleStrategy', replicationFactor: 1 }, 'host-1', false), []);
  t.same(planRanges(TokenRing.empty, { class: 'SimpleStrategy', replicationFactor: 3 }, 'host-1', false), [], 'nor does a ring with no tokens');
});

t.test('tree depth follows the partitions expected in the piece: one leaf for an empty table, capped at the maximum', async (t) => {
  const half = { start: MIN_TOKEN, end: 0n };
  t.equal(depthForPiece(0, half, RING_SIZE), 0, 'an empty table costs one leaf');
  t.equal(depthForPiece(1024, half, RING_SIZE), 9, 'half the ring holds about 512 of 1024 partitions');
  t.equal(depthForPiece(1024, half, rangeWidth(half)), 10, 'scaled to what this node replicates, not the whole ring');
  t.equal(depthForPiece(1e9, half, RING_SIZE), MERKLE_DEPTH_MAX);
});

t.test('each differing leaf is pulled once per distinct version, and adjacent leaves stream as one range', async (t) => {
  const piece = { start: 0n, end: 800n };
  // Leaves of 100 tokens: partition tokens 50, 150 … 750 fall one per leaf.
  const treeOf = (versions: Record<number, string>) => {
    const tree = new MerkleTree(piece, 3);
    for (let leaf = 0; leaf < 8; leaf++) {
      const version = versions[leaf] ?? 'base';
      if (version !== 'absent') tree.add(BigInt(leaf * 100 + 50), Buffer.from(version));
    }
    return tree;
  };
  const local = treeOf({ 1: 'absent', 2: 'absent', 6: 'absent' });
  const a = treeOf({ 6: 'new on a' });
  const b = treeOf({ 5: 'new on b', 6: 'new on b' });
  const plan = planPulls(local, [['a', a], ['b', b]]);
  t.same(plan.differing, [1, 2, 5, 6]);
  t.same(plan.pulls.get('a'), [1, 2, 6], 'leaves a and b agree on are pulled from a only');
  t.same(plan.pulls.get('b'), [5, 6], 'b is asked only for what differs from both this node and a');
  t.same(leafRanges(local, [1, 2, 6]), [
    { start: 100n, end: 300n },
    { start: 600n, end: 700n },
  ]);
  t.same(leavesDiffering(local, a, [1, 2, 5, 6]), [1, 2, 6]);
  t.same(planPulls(local, [['c', treeOf({ 1: 'absent', 2: 'absent', 6: 'absent' })]]).pulls.size, 0, 'equal trees: nothing to pull');
});

t.test('rate and ETA come from what is done so far', async (t) => {
  t.same(rateAndEta(0, 0, 0, 10), { bytesPerSecond: 0, etaMs: null }, 'no ETA before the first range');
  t.same(rateAndEta(2000, 4000, 2, 10), { bytesPerSecond: 2000, etaMs: 8000 });
  t.same(rateAndEta(5000, 0, 10, 10), { bytesPerSecond: 0, etaMs: 0 });
});
