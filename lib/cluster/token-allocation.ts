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

/** Tokens for a node joining `ring` at `location`, ascending. `random` returns [0, 1). */
export function allocateTokens(
  ring: TokenRing,
  location: EndpointLocation,
  numTokens: number,
  random: () => number,
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
  const positions = vnodes.length === 0 ? evenlySpaced(numTokens, random) : splitLargest(vnodes, numTokens, random);
  return positions.map((position) => freeToken(position + MIN_TOKEN, taken)).sort((a, b) => (a < b ? -1 : 1));
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
