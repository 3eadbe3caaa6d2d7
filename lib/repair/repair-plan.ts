/**
 * What a repair covers, as pure functions of the ring: which token ranges a node
 * repairs and with which replicas, how each range is cut into the non-wrapping pieces
 * a Merkle tree needs, how deep each tree is, and which leaves to pull from which
 * replica and push to which. No I/O: repair-service.ts and repair-session.ts run it.
 */
import { replicaPlacement } from '../cluster/replication.js';
import { rangeWidth, type Endpoint, type TokenRange, type TokenRing } from '../cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../model/token.js';
import type { ReplicationStrategy } from '../schema/metadata.js';
import { depthForPartitions, type MerkleTree } from './merkle.js';

/** One ring range to repair and the replicas to compare this node's data with. */
export interface PlannedRange {
  /** As on the ring: (start, end], possibly wrapping, start === end for the whole ring. */
  readonly range: TokenRange;
  /** The range's other replicas (never this node), primary first. */
  readonly peers: readonly Endpoint[];
  /** The range cut into non-wrapping pieces, each validated as its own tree. */
  readonly pieces: readonly TokenRange[];
}

/**
 * The ranges `localId` repairs under `replication`: every range it replicates, or with
 * `primaryRangeOnly` the ranges it is the first replica of (for SimpleStrategy its own
 * tokens' ranges), so that running it on every node covers each range exactly once.
 * Ranges with no other replica (RF 1) have nothing to compare and are left out.
 */
export function planRanges(ring: TokenRing, replication: ReplicationStrategy, localId: string, primaryRangeOnly: boolean): PlannedRange[] {
  const placement = replicaPlacement(ring, replication);
  const planned: PlannedRange[] = [];
  for (let i = 0; i < ring.size; i++) {
    const replicas = placement.replicasAt(i);
    const isReplica = primaryRangeOnly ? replicas[0]?.id === localId : replicas.some((replica) => replica.id === localId);
    if (!isReplica || replicas.length < 2) continue;
    const range = ring.rangeAt(i);
    planned.push({ range, peers: replicas.filter((replica) => replica.id !== localId), pieces: nonWrappingPieces(range) });
  }
  return planned;
}

/**
 * (start, end] as non-wrapping ranges (start < end), in token order. A wrapping range
 * is (start, MAX] plus (MIN, end]; the whole ring (start === end) is (MIN, MAX]. No
 * partition has token MIN (Murmur3 maps it to MAX), so (MIN, …] misses nothing.
 */
export function nonWrappingPieces(range: TokenRange): TokenRange[] {
  if (range.start < range.end) return [{ start: range.start, end: range.end }];
  if (range.start === range.end) return [{ start: MIN_TOKEN, end: MAX_TOKEN }];
  const pieces: TokenRange[] = [];
  if (range.end > MIN_TOKEN) pieces.push({ start: MIN_TOKEN, end: range.end });
  if (range.start < MAX_TOKEN) pieces.push({ start: range.start, end: MAX_TOKEN });
  return pieces;
}

/** Sum of the widths of `ranges` (which must not overlap). */
export function totalWidth(ranges: readonly TokenRange[]): bigint {
  let width = 0n;
  for (const range of ranges) width += rangeWidth(range);
  return width;
}

/**
 * Tree depth for one piece: this node's partition estimate for the table, scaled to
 * the piece's share of everything the node replicates for the keyspace (its partitions
 * spread over exactly those ranges), about one partition per leaf. An empty table gets
 * depth 0: one leaf, a 58-byte tree.
 */
export function depthForPiece(partitionsEstimate: number, piece: TokenRange, replicatedWidth: bigint): number {
  if (partitionsEstimate <= 0 || replicatedWidth <= 0n) return 0;
  const share = Math.min(1, Number(rangeWidth(piece)) / Number(replicatedWidth));
  return depthForPartitions(partitionsEstimate * share);
}

/** "(start, end]", as Cassandra prints token ranges. */
export function formatRange(range: TokenRange): string {
  return `(${range.start}, ${range.end}]`;
}

/** Streamed bytes per second and the time left, from what is done so far. */
export function rateAndEta(
  elapsedMs: number,
  bytesStreamed: number,
  rangesDone: number,
  rangesTotal: number,
): { bytesPerSecond: number; etaMs: number | null } {
  const bytesPerSecond = elapsedMs > 0 ? Math.round((bytesStreamed * 1000) / elapsedMs) : 0;
  // Ranges cost about the same on average: the time per range done so far predicts the rest.
  const etaMs = rangesDone === 0 ? null : Math.round((elapsedMs / rangesDone) * (rangesTotal - rangesDone));
  return { bytesPerSecond, etaMs };
}

/** A tree of one replica, keyed by whatever names the replica. */
export type ReplicaTree<P> = readonly [replica: P, tree: MerkleTree];

/** What to stream for one piece, leaf by leaf (leaf indexes of trees of the same shape). */
export interface PiecePulls<P> {
  /** Leaves where some replica's hash differs from this node's, ascending. */
  readonly differing: readonly number[];
  /** The leaves to pull from each replica: one replica per distinct differing hash. */
  readonly pulls: ReadonlyMap<P, readonly number[]>;
}

/**
 * Which replica to pull each differing leaf from. Replicas whose leaf hashes are equal
 * hold the same data there, so one of them (the first in `peers` order, so pulls batch
 * up per replica) is enough: when two replicas agree and this node lacks their data,
 * it is pulled once, not twice.
 */
export function planPulls<P>(local: MerkleTree, peers: readonly ReplicaTree<P>[]): PiecePulls<P> {
  const differing: number[] = [];
  const pulls = new Map<P, number[]>();
  // Trees equal to this node's (diff compares all leaves at once) need no leaf-by-leaf look.
  const others = peers.filter(([, tree]) => local.diff(tree).length > 0);
  if (others.length === 0) return { differing, pulls };
  for (let leaf = 0; leaf < local.leafCount; leaf++) {
    const own = local.leafHash(leaf);
    const pulled: Buffer[] = [];
    for (const [peer, tree] of others) {
      const hash = tree.leafHash(leaf);
      if (hash.equals(own) || pulled.some((other) => other.equals(hash))) continue;
      pulled.push(hash);
      let leaves = pulls.get(peer);
      if (leaves === undefined) pulls.set(peer, (leaves = []));
      leaves.push(leaf);
    }
    if (pulled.length > 0) differing.push(leaf);
  }
  return { differing, pulls };
}

/** The token ranges of `leaves` (ascending indexes of `tree`), adjacent ones merged. */
export function leafRanges(tree: MerkleTree, leaves: readonly number[]): TokenRange[] {
  const ranges: TokenRange[] = [];
  for (const leaf of leaves) {
    const range = tree.leafRange(leaf);
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.end === range.start) ranges[ranges.length - 1] = { start: last.start, end: range.end };
    else ranges.push(range);
  }
  return ranges;
}

/** The leaves among `leaves` where `a` and `b` (trees of the same shape) differ. */
export function leavesDiffering(a: MerkleTree, b: MerkleTree, leaves: readonly number[]): number[] {
  return leaves.filter((leaf) => !a.leafHash(leaf).equals(b.leafHash(leaf)));
}
