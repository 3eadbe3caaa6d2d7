/**
 * Replica placement: which endpoints hold the data of a token, as Cassandra's
 * replication strategies decide it.
 *
 * - SimpleStrategy: walk the ring clockwise from the token's range and take the first
 *   RF distinct endpoints, ignoring data centers and racks.
 * - NetworkTopologyStrategy: the same walk, and for each data center with an RF take
 *   its endpoints on distinct racks first; an endpoint on a rack already used in its dc
 *   is taken only while the dc still has more replicas to place than unused racks
 *   (RF - racks in the dc). That budget makes the first rack repeats of the walk the
 *   ones chosen, which is the same replica set as "skip repeats until every rack has
 *   one replica, then fill with the skipped endpoints in walk order".
 *
 * An RF larger than the endpoints available (in the ring, or in a dc) places a replica
 * on every one of them. Replicas are listed in walk order, so the token's primary owner
 * comes first whenever its dc replicates the keyspace.
 *
 * Caching: every token in one range has the same replicas, so placement is worked out
 * per range, not per token. A ReplicaPlacement is kept per (ring, replication) pair —
 * in a WeakMap on the immutable ring, so a membership change, which builds a new ring,
 * drops the old placements with it — and fills one slot per range the first time that
 * range is asked for. A lookup is then the ring's binary search plus an array read; the
 * walk runs once per range and ring, and never all at once on a request path.
 */
import { ServerError } from '../errors.js';
import type { ReplicationStrategy } from '../schema/metadata.js';
import { rangeWidth, RING_SIZE, type Endpoint, type TokenRange, type TokenRing } from './ring.js';

/** Replicas still to place in one dc during a walk. */
interface DataCenterQuota {
  remaining: number;
  /** How many more endpoints may go on racks already used in this dc. */
  rackRepeats: number;
  readonly racksUsed: Set<string>;
}

/** A dc's share of an NTS placement: RF capped at the endpoints it has. */
interface DataCenterTarget {
  readonly replicas: number;
  readonly rackRepeats: number;
}

const NO_REPLICAS: readonly Endpoint[] = Object.freeze([]);

export class ReplicaPlacement {
  /** Replicas of each range, indexed like the ring's tokens; filled on first use. */
  private readonly byRange: (readonly Endpoint[] | undefined)[];
  private readonly simpleReplicas: number;
  private readonly targets: ReadonlyMap<string, DataCenterTarget>;

  constructor(
    readonly ring: TokenRing,
    readonly replication: ReplicationStrategy,
  ) {
    this.byRange = new Array<readonly Endpoint[] | undefined>(ring.size);
    let endpointsWithTokens = 0;
    for (const dc of ring.dataCenters().values()) endpointsWithTokens += dc.endpoints;
    if (replication.class === 'SimpleStrategy') {
      assertReplicationFactor(replication.replicationFactor, 'replication_factor');
      this.simpleReplicas = Math.min(replication.replicationFactor, endpointsWithTokens);
      this.targets = new Map();
    } else {
      this.simpleReplicas = 0;
      const targets = new Map<string, DataCenterTarget>();
      for (const [name, factor] of Object.entries(replication.dataCenters)) {
        assertReplicationFactor(factor, name);
        const dc = ring.dataCenters().get(name);
        // A dc with no endpoints yet simply gets no replicas, as in Cassandra.
        if (!dc || factor === 0) continue;
        const replicas = Math.min(factor, dc.endpoints);
        targets.set(name, { replicas, rackRepeats: replicas - dc.racks });
      }
      this.targets = targets;
    }
  }

  /** The replicas of `token`, primary first. */
  replicasFor(token: bigint): readonly Endpoint[] {
    if (this.ring.size === 0) return NO_REPLICAS;
    return this.replicasAt(this.ring.indexOf(token));
  }

  /** The replicas of the range ending at the i-th ring token. */
  replicasAt(index: number): readonly Endpoint[] {
    let replicas = this.byRange[index];
    if (replicas === undefined) {
      replicas = Object.freeze(
        this.replication.class === 'SimpleStrategy' ? this.walkSimple(index) : this.walkNetworkTopology(index),
      );
      this.byRange[index] = replicas;
    }
    return replicas;
  }

  /** The ranges an endpoint holds a replica of, ordered by end token (for repair and streaming). */
  rangesReplicatedBy(endpointId: string): TokenRange[] {
    const ranges: TokenRange[] = [];
    for (let i = 0; i < this.ring.size; i++) {
      if (this.replicasAt(i).some((replica) => replica.id === endpointId)) ranges.push(this.ring.rangeAt(i));
    }
    return ranges;
  }

  /**
   * Fraction of the ring the endpoint holds a replica of (nodetool status "Owns" for a
   * keyspace). Sums to RF over all endpoints when every dc has enough of them.
   */
  effectiveOwnership(endpointId: string): number {
    let width = 0n;
    for (const range of this.rangesReplicatedBy(endpointId)) width += rangeWidth(range);
    return Number(width) / Number(RING_SIZE);
  }

  private walkSimple(start: number): Endpoint[] {
    const replicas: Endpoint[] = [];
    const chosen = new Set<string>();
    const size = this.ring.size;
    // One lap meets every endpoint, so it always finds simpleReplicas of them.
    for (let step = 0; step < size && replicas.length < this.simpleReplicas; step++) {
      const owner = this.ring.ownerAt((start + step) % size);
      if (chosen.has(owner.id)) continue;
      chosen.add(owner.id);
      replicas.push(owner);
    }
    return replicas;
  }

  private walkNetworkTopology(start: number): Endpoint[] {
    const quotas = new Map<string, DataCenterQuota>();
    for (const [name, target] of this.targets) {
      quotas.set(name, { remaining: target.replicas, rackRepeats: target.rackRepeats, racksUsed: new Set() });
    }
    let unfinishedDcs = quotas.size;
    const replicas: Endpoint[] = [];
    const chosen = new Set<string>();
    const size = this.ring.size;
    // One lap meets every endpoint and rack of every dc, and each dc's RF is capped at
    // its endpoint count, so every quota is met within it.
    for (let step = 0; step < size && unfinishedDcs > 0; step++) {
      const owner = this.ring.ownerAt((start + step) % size);
      const quota = quotas.get(owner.dc);
      if (!quota || quota.remaining === 0 || chosen.has(owner.id)) continue;
      if (quota.racksUsed.has(owner.rack)) {
        // Keep room for one replica on each rack of the dc not used yet.
        if (quota.rackRepeats <= 0) continue;
        quota.rackRepeats--;
      } else {
        quota.racksUsed.add(owner.rack);
      }
      chosen.add(owner.id);
      replicas.push(owner);
      if (--quota.remaining === 0) unfinishedDcs--;
    }
    return replicas;
  }
}

function assertReplicationFactor(factor: number, name: string): void {
  // The schema layer validates options; reaching here with a bad one is a bug.
  if (!Number.isInteger(factor) || factor < 0) {
    throw new ServerError(`Replication factor for ${name} must be a non-negative integer, got ${factor}`);
  }
}

/** One key per distinct replication setting, so keyspaces that share one share the placement. */
function replicationKey(replication: ReplicationStrategy): string {
  if (replication.class === 'SimpleStrategy') return `Simple:${replication.replicationFactor}`;
  // JSON keeps any dc name unambiguous; sorting makes the key independent of option order.
  const dcs = Object.keys(replication.dataCenters).sort();
  return `NetworkTopology:${JSON.stringify(dcs.map((dc) => [dc, replication.dataCenters[dc]]))}`;
}

const placements = new WeakMap<TokenRing, Map<string, ReplicaPlacement>>();

/** The cached placement of `replication` on `ring` (see the file comment). */
export function replicaPlacement(ring: TokenRing, replication: ReplicationStrategy): ReplicaPlacement {
  let byReplication = placements.get(ring);
  if (!byReplication) placements.set(ring, (byReplication = new Map()));
  const key = replicationKey(replication);
  let placement = byReplication.get(key);
  if (!placement) byReplication.set(key, (placement = new ReplicaPlacement(ring, replication)));
  return placement;
}

/** The endpoints holding `token`'s data under `replication`, the primary first. */
export function naturalReplicas(ring: TokenRing, replication: ReplicationStrategy, token: bigint): readonly Endpoint[] {
  return replicaPlacement(ring, replication).replicasFor(token);
}
