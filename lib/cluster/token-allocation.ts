/**
 * Token allocation for a joining node: pick its vnode tokens so that ownership stays
 * balanced, instead of Cassandra's historical random tokens (which leave some nodes
 * owning twice what others do at 16 vnodes).
 *
 * The model is Cassandra's `allocate_tokens_for_local_replication_factor`, simplified:
 * balance is measured within the new node's data center, because NetworkTopologyStrategy
 * places each dc's replicas on that dc's own sub-ring.
 * - The first node of a dc spreads its tokens evenly around the ring from a random
 *   offset (so two dcs do not stack their tokens on the same positions).
 * - A later node places its tokens one at a time, greedily: each token splits one
 *   existing range of the dc, taking its first part from that range's owner. Each
 *   token aims to take an equal part of what the new node still lacks of a fair share
 *   (1 / owners), bounded to between a quarter and three quarters of the range split —
 *   halving only would leave shares stuck at powers of two (1.75x apart at 5 nodes),
 *   and taking a whole range would leave slivers later joins cannot balance with. The
 *   range chosen is the one whose split most lowers the sum of squared shares, i.e.
 *   maximises take × (ownerShare − newShare − take): big ranges of the most loaded
 *   owners go first.
 * - Primary ranges are not the data a node stores: with RF 3 a node also holds replicas
 *   of the ranges before its tokens, and balancing primary ranges alone leaves that
 *   replicated ownership 20–40% off the fair share on small clusters. So the greedy runs
 *   ALLOCATION_CANDIDATES times (its random tie-breaks and jitter make each run
 *   different) and the run kept is the one whose dc sub-ring is best balanced in
 *   replicated ownership at `replicationFactor` (Cassandra's
 *   allocate_tokens_for_local_replication_factor, default 3), then in primary ownership
 *   (which alone decides while the dc has no more nodes than the RF). Measured on 4–8
 *   nodes of 16 vnodes at RF 3 (20 clusters each): the worst node 9–19% off the fair
 *   share instead of 19–23%, the mean 6–11% instead of 13–17%.
 * - The rack is not considered yet: with NetworkTopologyStrategy and as many racks as
 *   the RF, each rack holds a full copy, and per-node load then follows balance within
 *   the rack, which this does not aim for.
 *
 * Deterministic: the only randomness is the injected `random` (offset of a dc's first
 * node, ties between equally good ranges, and a jitter of up to 1% of each split range
 * so that nodes joining at the same time do not choose the same tokens), so a seeded
 * random replays a layout.
 */
import { ServerError } from '../errors.js';
import { MAX_TOKEN, MIN_TOKEN } from '../model/token.js';
import { RING_SIZE, type TokenRing } from './ring.js';

/** Where the joining node sits. */
export interface EndpointLocation {
  readonly dc: string;
  readonly rack: string;
}

/** Cassandra's upper bound for num_tokens. */
export const NUM_TOKENS_MAX = 1536;

/** A vnode of the dc sub-ring, by its position on the unsigned ring (token − MIN_TOKEN). */
interface Vnode {
  readonly position: bigint;
  /** Owner's host id; null for the joining node. */
  readonly owner: string | null;
}

const RING_SIZE_NUMBER = Number(RING_SIZE);
/** A new token takes between 1/TAKE_DIVISOR and 1 - 1/TAKE_DIVISOR of the range it splits. */
const TAKE_DIVISOR = 4n;
/** Differences of balance scores smaller than this are floating-point rounding. */
const SCORE_EPSILON = 1e-12;
/** Greedy runs compared for replicated balance. */
export const ALLOCATION_CANDIDATES = 16;
/** Cassandra's allocate_tokens_for_local_replication_factor default. */
export const ALLOCATION_REPLICATION_FACTOR_DEFAULT = 3;

/** Tokens for a node joining `ring` at `location`, ascending. `random` returns [0, 1). */
export function allocateTokens(
  ring: TokenRing,
  location: EndpointLocation,
  numTokens: number,
  random: () => number,
  replicationFactor = ALLOCATION_REPLICATION_FACTOR_DEFAULT,
): bigint[] {
  if (!Number.isInteger(numTokens) || numTokens < 1 || numTokens > NUM_TOKENS_MAX) {
    throw new ServerError(`num_tokens must be an integer between 1 and ${NUM_TOKENS_MAX}, got ${numTokens}`);
  }
  const taken = new Set<bigint>();
  const vnodes: Vnode[] = [];
  for (let i = 0; i < ring.size; i++) {
    const token = ring.tokenAt(i);
    taken.add(token);
    const owner = ring.ownerAt(i);
    // Ring order is token order, so the dc's vnodes come out sorted by position.
    if (owner.dc === location.dc) vnodes.push({ position: token - MIN_TOKEN, owner: owner.id });
  }
  if (vnodes.length === 0) return toTokens(evenlySpaced(numTokens, random), taken);
  let best: { positions: bigint[]; score: [number, number] } | null = null;
  for (let run = 0; run < ALLOCATION_CANDIDATES; run++) {
    const positions = splitLargest([...vnodes], numTokens, random);
    const score = balanceScore(vnodes, positions, Math.max(1, replicationFactor));
    // Sums of floating shares: differences below SCORE_EPSILON are rounding, i.e. ties.
    const better = best === null || score[0] < best.score[0] - SCORE_EPSILON || (score[0] <= best.score[0] + SCORE_EPSILON && score[1] < best.score[1]);
    if (better) {
      best = { positions, score };
    }
  }
  return toTokens(best!.positions, taken);
}

function toTokens(positions: readonly bigint[], taken: Set<bigint>): bigint[] {
  return positions.map((position) => freeToken(position + MIN_TOKEN, taken)).sort((a, b) => (a < b ? -1 : 1));
}

/**
 * How unbalanced the dc sub-ring would be with the joining node's `positions`: the sum
 * of squared replicated shares at `rf` (each range held by the first `rf` distinct
 * owners from its end clockwise), then the same for primary shares. Lower is better.
 */
function balanceScore(vnodes: readonly Vnode[], positions: readonly bigint[], rf: number): [number, number] {
  const all: Vnode[] = [...vnodes, ...positions.map((position) => ({ position, owner: null }))];
  all.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
  const replicated = new Map<string | null, number>();
  const primary = new Map<string | null, number>();
  const owners = new Set(all.map((vnode) => vnode.owner)).size;
  const replicas = Math.min(rf, owners);
  for (let i = 0; i < all.length; i++) {
    const width = Number(widthBefore(all, i)) / RING_SIZE_NUMBER;
    primary.set(all[i].owner, (primary.get(all[i].owner) ?? 0) + width);
    const seen: (string | null)[] = [];
    for (let step = 0; step < all.length && seen.length < replicas; step++) {
      const owner = all[(i + step) % all.length].owner;
      if (seen.includes(owner)) continue;
      seen.push(owner);
      replicated.set(owner, (replicated.get(owner) ?? 0) + width);
    }
  }
  const sumOfSquares = (shares: Map<string | null, number>) => [...shares.values()].reduce((sum, share) => sum + share * share, 0);
  return [sumOfSquares(replicated), sumOfSquares(primary)];
}

/** numTokens positions a ring-size / numTokens apart, from a random offset within the first gap. */
function evenlySpaced(numTokens: number, random: () => number): bigint[] {
  const step = RING_SIZE / BigInt(numTokens);
  const offset = BigInt(Math.floor(random() * Number(step)));
  return Array.from({ length: numTokens }, (_, i) => offset + BigInt(i) * step);
}

/** The greedy splits described in the file comment. */
function splitLargest(vnodes: Vnode[], numTokens: number, random: () => number): bigint[] {
  // Shares of the dc sub-ring per owner, as fractions: only used to rank candidates.
  const shares = new Map<string | null, number>([[null, 0]]);
  for (let i = 0; i < vnodes.length; i++) {
    const owner = vnodes[i].owner;
    shares.set(owner, (shares.get(owner) ?? 0) + Number(widthBefore(vnodes, i)) / RING_SIZE_NUMBER);
  }
  // Every owner, the joining node included, should end with an equal share.
  const targetShare = 1 / shares.size;
  const chosen: bigint[] = [];
  for (let n = 0; n < numTokens; n++) {
    const newShare = shares.get(null)!;
    const wanted = Math.max(0, targetShare - newShare) / (numTokens - n);
    let best = -1;
    let bestTake = 0n;
    let bestGain = -Infinity;
    let ties = 0;
    for (let i = 0; i < vnodes.length; i++) {
      const owner = vnodes[i].owner;
      // Splitting the new node's own range moves nothing; a width-1 range cannot be split.
      if (owner === null) continue;
      const width = widthBefore(vnodes, i);
      if (width < 2n) continue;
      const take = takeFrom(width, wanted);
      const share = Number(take) / RING_SIZE_NUMBER;
      const gain = share * (shares.get(owner)! - newShare - share);
      if (gain > bestGain) {
        best = i;
        bestTake = take;
        bestGain = gain;
        ties = 1;
      } else if (gain === bestGain && random() * ++ties < 1) {
        // Reservoir choice among equal candidates: uniform, and replayable from the seed.
        best = i;
        bestTake = take;
      }
    }
    if (best < 0) throw new ServerError(`No room left on the ring for ${numTokens} more tokens`);
    // Two nodes that join at once see the same ring and would pick the same tokens: move
    // each split by up to 1% of its range at random (balance barely changes).
    const splitWidth = widthBefore(vnodes, best);
    const jitter = BigInt(Math.trunc((random() - 0.5) * 0.02 * Number(splitWidth)));
    const jittered = bestTake + jitter;
    bestTake = jittered < 1n ? 1n : jittered >= splitWidth ? splitWidth - 1n : jittered;
    const previous = vnodes[best === 0 ? vnodes.length - 1 : best - 1].position;
    const position = (previous + bestTake) % RING_SIZE;
    const owner = vnodes[best].owner;
    const moved = Number(bestTake) / RING_SIZE_NUMBER;
    shares.set(owner, shares.get(owner)! - moved);
    shares.set(null, newShare + moved);
    // The new token sorts right before the split vnode, except when it wraps past the top of the ring.
    const insertAt = best === 0 && position > previous ? vnodes.length : best;
    vnodes.splice(insertAt, 0, { position, owner: null });
    chosen.push(position);
  }
  return chosen;
}

/**
 * How much of a range of `width` tokens a new token takes: the share still `wanted` per
 * token, but at least a quarter and at most three quarters of the range, so neither
 * side is left a sliver that later joins could not balance with.
 */
function takeFrom(width: bigint, wanted: number): bigint {
  const take = BigInt(Math.round(wanted * RING_SIZE_NUMBER));
  const least = width / TAKE_DIVISOR;
  const most = width - least;
  return take < least ? least || 1n : take > most ? most : take;
}

/** Width of the range ending at vnode i, from the vnode before it (the whole ring for a single vnode). */
function widthBefore(vnodes: readonly Vnode[], i: number): bigint {
  const previous = vnodes[i === 0 ? vnodes.length - 1 : i - 1].position;
  const width = (vnodes[i].position - previous + RING_SIZE) % RING_SIZE;
  return width === 0n ? RING_SIZE : width;
}

/**
 * `token` itself, or the next free token after it: another dc may already hold the
 * same position, and the minimum token is reserved (no key maps to it).
 */
function freeToken(token: bigint, taken: Set<bigint>): bigint {
  let candidate = token;
  while (candidate === MIN_TOKEN || taken.has(candidate)) {
    candidate = candidate === MAX_TOKEN ? MIN_TOKEN : candidate + 1n;
  }
  taken.add(candidate);
  return candidate;
}
