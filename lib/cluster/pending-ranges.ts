/**
 * Pending ranges: what changes hands while endpoints join or leave the ring.
 *
 * While a node bootstraps (STATUS BOOT with tokens) or decommissions (LEAVING), the ring
 * the cluster will have once every announced movement completes — the future ring —
 * differs from the current one. A write acknowledged during the movement must not be
 * missing from a node that ends up owning its range, so the coordinator sends it to the
 * token's natural replicas (current ring) and to its pending replicas: the replicas on
 * the future ring that are not replicas now (Cassandra's pending ranges).
 *
 * When several endpoints move at once, the movements do not finish together, and the
 * ring passes through the states in between: with A leaving and B joining, A may be gone
 * while B still bootstraps, and then the node after A owns A's ranges. So, as Cassandra
 * computes them, a token's pending replicas are those of every ring the cluster can reach
 * next, not of the future ring alone: the ring with every leaver gone, and that ring plus
 * any one joiner (and the future ring itself). Each movement streams for itself (against
 * the current ring plus or minus its own endpoint), and the writes made meanwhile reach
 * whoever that stream fills.
 *
 * Cut at every token of both rings, the token space falls into segments within which
 * neither ring's replica set changes: every token of a segment lies in one range of the
 * current ring and in one range of the future ring. Segment i is (cuts[i-1], cuts[i]],
 * the first one wrapping around from the last cut, exactly like a ring's ranges.
 *
 * Pure and cached like replication.ts: one RingTransition per (ring, future) pair, in
 * WeakMaps on the two immutable rings (a membership change builds new rings and drops
 * the old transitions with them), holding per replication setting the pending replicas
 * of each segment, filled the first time a segment is asked for. A lookup is a binary
 * search and an array read; the replica walks themselves come from the cached
 * placements of both rings.
 */
import type { ReplicationStrategy } from '../schema/metadata.js';
import { replicaPlacement } from './replication.js';
import { TokenRing, type Endpoint, type TokenRange } from './ring.js';

/** One segment whose replica set differs between the current and the future ring. */
export interface RangeMovement {
  /** Non-empty (start, end]; wraps around when start >= end, like a ring's first range. */
  readonly range: TokenRange;
  /**
   * Replicas on the future ring — or, while several endpoints move, on any ring reachable
   * first (see the file comment) — that are not replicas now: they must receive the range.
   */
  readonly gaining: readonly Endpoint[];
  /** Replicas now that are not replicas on the future ring: they hand the range over. */
  readonly losing: readonly Endpoint[];
  /** The replicas on the current ring, where the range's data is now. */
  readonly current: readonly Endpoint[];
}

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

/** The endpoints of `these` whose host id is not among `those`. */
function without(these: readonly Endpoint[], those: readonly Endpoint[]): readonly Endpoint[] {
  const excluded = new Set(those.map((endpoint) => endpoint.id));
  const rest = these.filter((endpoint) => !excluded.has(endpoint.id));
  return rest.length === 0 ? NO_ENDPOINTS : Object.freeze(rest);
}

/** The tokens of both rings, ascending, each once. */
function mergedTokens(a: TokenRing, b: TokenRing): bigint[] {
  const cuts: bigint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.size || j < b.size) {
    const next = j >= b.size || (i < a.size && a.tokenAt(i) <= b.tokenAt(j)) ? a.tokenAt(i) : b.tokenAt(j);
    if (i < a.size && a.tokenAt(i) === next) i++;
    if (j < b.size && b.tokenAt(j) === next) j++;
    cuts.push(next);
  }
  return cuts;
}

/**
 * The rings the cluster may reach from `ring` on the way to `future` (see the file
 * comment): `future`, and when more than one movement is under way, the ring after any
 * one of them (each streams against that ring), the ring with every leaver gone, and
 * that ring plus each joiner (Cassandra's choice). Their tokens are all tokens of `ring`
 * or `future`, so the segments of the two rings hold within each of them too. From an
 * empty ring (a cluster starting) nothing holds data yet: `future` alone.
 */
function reachableRings(ring: TokenRing, future: TokenRing): readonly TokenRing[] {
  const joiners = future.endpoints.filter((endpoint) => ring.endpoint(endpoint.id) === undefined);
  const leavers = ring.endpoints.filter((endpoint) => future.endpoint(endpoint.id) === undefined);
  if (ring.size === 0 || joiners.length + leavers.length <= 1) return [future];
  const staying = future.endpoints.filter((endpoint) => ring.endpoint(endpoint.id) !== undefined);
  const rings = [future, new TokenRing(staying)];
  for (const joiner of joiners) rings.push(new TokenRing([...ring.endpoints, joiner]), new TokenRing([...staying, joiner]));
  for (const leaver of leavers) rings.push(new TokenRing(ring.endpoints.filter((endpoint) => endpoint.id !== leaver.id)));
  return rings;
}

class RingTransition {
  /** Segment ends: every token of both rings, ascending. */
  private readonly cuts: readonly bigint[];
  /** Where the ring may go next: the replicas of any of them that are not replicas now are pending. */
  private readonly reachable: readonly TokenRing[];
  /** Pending replicas per segment, per replication setting; filled on first use. */
  private readonly pendingByReplication = new WeakMap<ReplicationStrategy, (readonly Endpoint[] | undefined)[]>();

  constructor(
    private readonly ring: TokenRing,
    private readonly future: TokenRing,
  ) {
    this.cuts = mergedTokens(ring, future);
    this.reachable = reachableRings(ring, future);
  }

  get segments(): number {
    return this.cuts.length;
  }

  /** The segment holding `token`: the first cut >= token, wrapping to 0 past the last. */
  segmentOf(token: bigint): number {
    const cuts = this.cuts;
    let low = 0;
    let high = cuts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cuts[middle] >= token) high = middle;
      else low = middle + 1;
    }
    return low === cuts.length ? 0 : low;
  }

  segmentRange(segment: number): TokenRange {
    const previous = segment === 0 ? this.cuts.length - 1 : segment - 1;
    return { start: this.cuts[previous], end: this.cuts[segment] };
  }

  /** Replicas of the segment on the current ring (its end token stands for all of it). */
  currentAt(replication: ReplicationStrategy, segment: number): readonly Endpoint[] {
    return replicaPlacement(this.ring, replication).replicasFor(this.cuts[segment]);
  }

  futureAt(replication: ReplicationStrategy, segment: number): readonly Endpoint[] {
    return replicaPlacement(this.future, replication).replicasFor(this.cuts[segment]);
  }

  pendingAt(replication: ReplicationStrategy, segment: number): readonly Endpoint[] {
    let slots = this.pendingByReplication.get(replication);
    if (slots === undefined) {
      slots = new Array<readonly Endpoint[] | undefined>(this.cuts.length);
      this.pendingByReplication.set(replication, slots);
    }
    let pending = slots[segment];
    if (pending === undefined) {
      const current = this.currentAt(replication, segment);
      const gained = new Map<string, Endpoint>();
      for (const reachable of this.reachable) {
        for (const endpoint of without(replicaPlacement(reachable, replication).replicasFor(this.cuts[segment]), current)) {
          if (!gained.has(endpoint.id)) gained.set(endpoint.id, endpoint);
        }
      }
      pending = gained.size === 0 ? NO_ENDPOINTS : Object.freeze([...gained.values()]);
      slots[segment] = pending;
    }
    return pending;
  }
}

const transitions = new WeakMap<TokenRing, WeakMap<TokenRing, RingTransition>>();

function transitionOf(ring: TokenRing, future: TokenRing): RingTransition {
  let byFuture = transitions.get(ring);
  if (byFuture === undefined) transitions.set(ring, (byFuture = new WeakMap()));
  let transition = byFuture.get(future);
  if (transition === undefined) byFuture.set(future, (transition = new RingTransition(ring, future)));
  return transition;
}

/**
 * The replicas of `token` on `future` (and, while several endpoints move, on every ring
 * reachable first) that are not replicas on `ring`: where a write must also go while the
 * movements are under way. Empty when nothing moves (future null).
 */
export function pendingReplicas(
  ring: TokenRing,
  future: TokenRing | null,
  replication: ReplicationStrategy,
  token: bigint,
): readonly Endpoint[] {
  if (future === null || future === ring) return NO_ENDPOINTS;
  const transition = transitionOf(ring, future);
  if (transition.segments === 0) return NO_ENDPOINTS;
  return transition.pendingAt(replication, transition.segmentOf(token));
}

/**
 * Every segment (cut at every token of both rings) whose replica set differs between
 * `ring` and `future`, in token order, with who gains and who loses it. Bootstrap
 * streams the ranges the local node gains, decommission those it loses, removenode
 * those the dead node loses. Runs once per movement, not per request.
 */
export function rangeMovements(ring: TokenRing, future: TokenRing, replication: ReplicationStrategy): RangeMovement[] {
  const transition = transitionOf(ring, future);
  const movements: RangeMovement[] = [];
  for (let segment = 0; segment < transition.segments; segment++) {
    const current = transition.currentAt(replication, segment);
    const gaining = transition.pendingAt(replication, segment);
    const losing = without(current, transition.futureAt(replication, segment));
    if (gaining.length === 0 && losing.length === 0) continue;
    movements.push({ range: transition.segmentRange(segment), gaining, losing, current });
  }
  return movements;
}
