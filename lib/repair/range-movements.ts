/**
 * Ring changes that move data: bootstrap, decommission, removenode, and cleanup's
 * notion of what a node still owns. (API fixed by the lead; body: the ring-changes helper.)
 *
 * - Bootstrap: the joining node has announced its tokens with STATUS BOOT (so
 *   coordinators write to it as a pending replica); after ring_delay it pulls each range
 *   it gains from the replica that loses it (consistent range movement), or from every
 *   other live replica when that one is down; then it may go NORMAL.
 * - Decommission: this node announces LEAVING, waits ring_delay, pushes each range it
 *   replicates to the nodes that gain it, announces LEFT and stops gossiping.
 * - Removenode: for a dead node, every node that gains one of its ranges fetches it from
 *   the remaining live replicas; then the dead node is announced removed.
 */
import type { TokenRange } from '../cluster/ring.js';

/** What a range movement moved, per table. */
export interface MovementSummary {
  readonly tables: readonly { keyspace: string; table: string; ranges: number; partitions: number; bytes: number }[];
  readonly errors: readonly string[];
}

/** The ranges this node replicates for a keyspace, for cleanup (placement on the current ring). */
export type OwnedRanges = (keyspace: string) => readonly TokenRange[];
