/**
 * Ring changes that move data: bootstrap, decommission, removenode; and describering,
 * the ranges with their replicas.
 *
 * - Bootstrap: the joining node has announced its tokens with STATUS BOOT (so
 *   coordinators write to it as a pending replica); after ring_delay it pulls each range
 *   it gains from the replica that loses it (consistent range movement: whichever
 *   replicas acknowledged a write, the one giving the range up passes its copy on, so a
 *   QUORUM of the new replicas still meets every acknowledged QUORUM write), or from
 *   every other live replica when that one is down; then it may go NORMAL.
 * - Decommission: this node announces LEAVING, waits ring_delay, pushes each range it
 *   replicates to the nodes that gain it, announces LEFT and stops gossiping. A node
 *   that has left records it, refuses client requests, and refuses to start again on
 *   the same data (its ranges now live elsewhere; rejoining with stale data would serve it).
 * - Removenode: for a dead node, every node that gains one of its ranges fetches it from
 *   the remaining live replicas; then the dead node is announced removed.
 *
 * Streams go through StreamService; this module decides what moves where. Failures of
 * decommission and removenode are reported per range in the MovementSummary and leave
 * the ring as it was (the node stays LEAVING, the dead node stays listed), so the
 * operator can run the command again: streams are idempotent (the receiver reconciles).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { BootstrapHooks } from '../cluster/gossip-service.js';
import { GOSSIP_INTERVAL_MS } from '../cluster/gossip-service.js';
import type { Membership } from '../cluster/membership.js';
import { Status } from '../cluster/membership.js';
import { rangeMovements, type RangeMovement } from '../cluster/pending-ranges.js';
import { replicaPlacement } from '../cluster/replication.js';
import { type Endpoint, type TokenRange, TokenRing } from '../cluster/ring.js';
import type { SchemaSync } from '../cluster/schema-sync.js';
import { ConfigurationError, InvalidRequest } from '../errors.js';
import type { NetLogger } from '../net/transport.js';
import { SILENT_NET_LOGGER } from '../net/transport.js';
import type { SchemaManager } from '../schema/manager.js';
import type { KeyspaceMetadata, ReplicationStrategy, TableMetadata } from '../schema/metadata.js';
import { SYSTEM_KEYSPACES } from '../schema/schema.js';
import type { SystemStore } from '../system/system-store.js';
import type { StreamService, StreamStats } from './streaming.js';

/** What a range movement moved, per table. */
export interface MovementSummary {
  readonly tables: readonly { keyspace: string; table: string; ranges: number; partitions: number; bytes: number }[];
  readonly errors: readonly string[];
}

/** One range of a keyspace and its replicas, as `nodetool describering` lists it. */
export interface TokenRangeDescription {
  /** Signed 64-bit tokens as decimal strings: the range is (startToken, endToken]. */
  readonly startToken: string;
  readonly endToken: string;
  /** Internode addresses of the replicas, primary first. */
  readonly endpoints: readonly string[];
  /** Their HTTP addresses (Cassandra's rpc_endpoints), null until gossiped. */
  readonly rpcEndpoints: readonly (string | null)[];
  readonly endpointDetails: readonly { host: string; datacenter: string; rack: string }[];
  /** Nodes that are joining this range or taking it over from a leaving one (written to, not read from). */
  readonly pendingEndpoints: readonly string[];
}

/** The part of Membership ring changes read. */
export type RingMembership = Pick<Membership, 'local' | 'ring' | 'futureRing' | 'isAlive' | 'statusOf' | 'endpointOf' | 'describe'>;

/** The part of GossipService that announces ring changes. */
export interface RingAnnouncer {
  announceLeaving(): void;
  announceLeft(): void;
  announceRemoving(address: string, hostId: string): void;
  announceRemoved(address: string, hostId: string): void;
  stop(): void;
}

export interface RangeMovementsOptions {
  readonly membership: RingMembership;
  readonly gossip: RingAnnouncer;
  readonly schema: SchemaManager;
  readonly system: SystemStore;
  readonly streams: Pick<StreamService, 'pull' | 'push' | 'fetchInto'>;
  /** Pulls the schema from a live node whose version differs (SchemaSync). */
  readonly schemaSync: Pick<SchemaSync, 'pullFromDisagreeing'>;
  /** config ring_delay: how long coordinators get to hear of a movement before data moves. */
  readonly ringDelayMs: number;
  /** config auto_bootstrap: a new node streams its ranges before it serves them. */
  readonly autoBootstrap: boolean;
  /** How long a joining node waits for the cluster's schema (default 30 s). */
  readonly schemaWaitMs?: number;
  readonly logger?: NetLogger;
  /** Waits (ring_delay, gossip spreading); tests shorten it. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * This node's hints (HintService), looked up when decommission needs them (the node
   * builds its hint service after this): a leaving node delivers what it holds first.
   */
  readonly hints?: () => HintHandOff | undefined;
}

/** What decommission needs of the hint service. */
export interface HintHandOff {
  pending(): readonly { targetId: string; hints: number }[];
  replay(targetId: string): Promise<void>;
}

/** How long a leaving node spends delivering its hints before it leaves anyway. */
export const HINT_HANDOFF_MS_MAX = 60_000;

export const SCHEMA_WAIT_MS_DEFAULT = 30_000;
/** How often a joining node looks at the gossiped schema versions again. */
const SCHEMA_POLL_MS = 250;
/** Gossip rounds a leaving node keeps gossiping LEFT so every node hears it before it goes quiet. */
const LEFT_SPREAD_ROUNDS = 2;

/** Whether this node still has to stream its ranges before it may serve them. */
export function bootstrapNeeded(system: SystemStore, autoBootstrap: boolean): boolean {
  return autoBootstrap && system.bootstrapState() !== 'COMPLETED';
}

/**
 * Refuses to start a node that was decommissioned: its ranges now live on other nodes,
 * and coming back with its old data would serve stale rows and resurrect deleted ones.
 */
export function refuseDecommissionedStart(system: SystemStore, dataDir: string): void {
  if (system.bootstrapState() !== 'DECOMMISSIONED') return;
  throw new ConfigurationError(
    `This node was decommissioned and has left the ring; it will not rejoin with its old data. ` +
      `To add it again as a new node, stop it, delete its data directory (${dataDir}) and start it again.`,
  );
}

/**
 * Hooks for a GossipService built before the RangeMovements that serves them (which
 * needs gossip's membership): `movements` is read only when a hook runs, after
 * gossip.start(). `needed` is fixed at start, from the system store.
 */
export function deferredBootstrapHooks(needed: boolean, movements: () => RangeMovements): BootstrapHooks {
  return {
    needed,
    prepare: () => movements().bootstrapHooks().prepare(),
    run: (tokens) => movements().bootstrapHooks().run(tokens),
    completed: () => movements().bootstrapHooks().completed(),
  };
}

/** Per-table totals of what streams moved, and the failures. */
class SummaryBuilder {
  private readonly tables = new Map<string, { keyspace: string; table: string; ranges: number; partitions: number; bytes: number }>();
  readonly errors: string[] = [];

  add(table: TableMetadata, ranges: number, stats: StreamStats): void {
    const key = `${table.keyspace}.${table.name}`;
    let entry = this.tables.get(key);
    if (entry === undefined) {
      entry = { keyspace: table.keyspace, table: table.name, ranges: 0, partitions: 0, bytes: 0 };
      this.tables.set(key, entry);
    }
    entry.ranges += ranges;
    entry.partitions += stats.partitions;
    entry.bytes += stats.bytes;
  }

  build(): MovementSummary {
    return { tables: [...this.tables.values()], errors: [...this.errors] };
  }
}

/** Ranges grouped by the endpoints a stream runs between. */
interface StreamPlan {
  /** The node that sends (bootstrap: pull source) or receives (decommission: push target; removenode: fetching node). */
  readonly peer: Endpoint;
  /** removenode only: where the fetching node pulls from. */
  readonly sources: readonly Endpoint[];
  readonly ranges: TokenRange[];
}

function addToPlan(plans: Map<string, StreamPlan>, peer: Endpoint, sources: readonly Endpoint[], range: TokenRange): void {
  const key = [peer.id, ...sources.map((source) => source.id).sort()].join(' ');
  let plan = plans.get(key);
  if (plan === undefined) plans.set(key, (plan = { peer, sources, ranges: [] }));
  plan.ranges.push(range);
}

function formatRange(range: TokenRange): string {
  return `(${range.start}, ${range.end}]`;
}

function tableName(table: TableMetadata): string {
  return `${table.keyspace}.${table.name}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Endpoints joining or leaving (between `ring` and `future`) other than `hostId`. */
function otherMovers(ring: TokenRing, future: TokenRing | null, hostId: string): Endpoint[] {
  if (future === null) return [];
  const leaving = ring.endpoints.filter((endpoint) => future.endpoint(endpoint.id) === undefined);
  const joining = future.endpoints.filter((endpoint) => ring.endpoint(endpoint.id) === undefined);
  return [...leaving, ...joining].filter((endpoint) => endpoint.id !== hostId);
}

/** The ring without one endpoint. */
function ringWithout(ring: TokenRing, hostId: string): TokenRing {
  return new TokenRing(ring.endpoints.filter((endpoint) => endpoint.id !== hostId));
}

export class RangeMovements {
  private readonly logger: NetLogger;
  private readonly sleep: (ms: number) => Promise<void>;
  /** The operation running on this node, if any: ring changes from one node go one at a time. */
  private running: 'decommission' | 'removenode' | null = null;
  /** A decommission failed after announcing LEAVING: running it again resumes it. */
  private leaveUnfinished = false;
  private left = false;

  constructor(private readonly options: RangeMovementsOptions) {
    this.logger = options.logger ?? SILENT_NET_LOGGER;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  /** Whether this node has left the ring by decommission; it then refuses client requests. */
  get decommissioned(): boolean {
    return this.left;
  }

  /** The hooks GossipService runs while this node joins (see bootstrapNeeded for `needed`). */
  bootstrapHooks(): BootstrapHooks {
    return {
      needed: bootstrapNeeded(this.options.system, this.options.autoBootstrap),
      prepare: () => this.awaitSchema(),
      run: (tokens) => this.bootstrap(tokens),
      completed: () => this.options.system.setBootstrapState('COMPLETED'),
    };
  }

  /**
   * Records that this node has joined, when it became NORMAL without streaming (the node
   * that starts the cluster, auto_bootstrap off), so a restart never bootstraps it.
   */
  async joined(): Promise<void> {
    if (this.options.system.bootstrapState() !== 'COMPLETED') await this.options.system.setBootstrapState('COMPLETED');
  }

  // ---- bootstrap ----------------------------------------------------------------------

  /**
   * Waits, bounded, until this node holds the schema every token-owning live node has:
   * the tables to stream are the schema's, and writes for a table this node does not
   * know would fail here as a pending replica.
   */
  private async awaitSchema(): Promise<void> {
    const waitMs = this.options.schemaWaitMs ?? SCHEMA_WAIT_MS_DEFAULT;
    const deadline = Date.now() + waitMs;
    const { membership, schema, schemaSync } = this.options;
    for (;;) {
      const local = membership.local;
      // Joining peers may not have the schema yet themselves; the owners of data do.
      const owners = membership.describe().filter((peer) => peer.status === 'UN' && peer.id !== local.id);
      const version = schema.current.version;
      if (owners.length > 0 && owners.every((peer) => peer.schemaVersion === version)) return;
      if (Date.now() >= deadline) {
        const why =
          owners.length === 0
            ? 'no live node that owns tokens was found to learn it from'
            : `live nodes hold ${[...new Set(owners.map((peer) => peer.schemaVersion))].join(', ')}, this node ${version}`;
        throw new Error(`Bootstrap: did not get the cluster's schema within ${waitMs} ms (${why}); check the seeds and that the cluster agrees on one schema, then start again`);
      }
      await schemaSync.pullFromDisagreeing();
      await delay(SCHEMA_POLL_MS);
    }
  }

  /** Streams every range this node gains with `tokens` from the current replicas. */
  private async bootstrap(tokens: readonly bigint[]): Promise<void> {
    const { membership, system, streams, ringDelayMs } = this.options;
    await system.setBootstrapState('IN_PROGRESS');
    const keyspaces = this.userKeyspaces();
    if (!keyspaces.some((keyspace) => keyspace.tables.size > 0)) {
      // No table, so nothing was ever written: there is nothing to wait for or stream.
      this.logger.info({}, 'Bootstrap: no user tables, nothing to stream');
      return;
    }
    this.logger.info({ ringDelayMs }, `Bootstrap: waiting ${ringDelayMs} ms for the cluster to learn this node's tokens`);
    await this.sleep(ringDelayMs);
    const ring = membership.ring();
    if (ring.size === 0) return;
    // A leaving node pushes its ranges to their new replicas on the ring without this
    // one, and this node pulls against the ring with the leaver: the ranges this node
    // replicates once both are done but on neither ring would reach nobody. Cassandra's
    // strict range movement refuses too.
    const announced = membership.futureRing();
    const leaving = announced === null ? [] : ring.endpoints.filter((endpoint) => announced.endpoint(endpoint.id) === undefined);
    if (leaving.length > 0) {
      const names = leaving.map((endpoint) => `/${endpoint.address}`).join(', ');
      throw new Error(`Bootstrap: ${names} is leaving the ring; start this node again once it has left`);
    }
    const local: Endpoint = { ...membership.local, tokens };
    // This node's own movement only: another node joining at the same time streams its own ranges.
    const future = new TokenRing([...ring.endpoints.filter((endpoint) => endpoint.id !== local.id), local]);
    const summary = new SummaryBuilder();
    for (const keyspace of keyspaces) {
      if (keyspace.tables.size === 0) continue;
      const plans = new Map<string, StreamPlan>();
      for (const movement of rangeMovements(ring, future, keyspace.replication)) {
        if (!movement.gaining.some((endpoint) => endpoint.id === local.id)) continue;
        const sources = this.bootstrapSources(movement, local.id);
        if (sources.length === 0) {
          const replicas = movement.current.map((endpoint) => `/${endpoint.address}`).join(', ');
          throw new Error(`Bootstrap: no live replica to stream ${formatRange(movement.range)} of keyspace ${keyspace.name} from (replicas: ${replicas}); start this node again once they are up`);
        }
        for (const source of sources) addToPlan(plans, source, [], movement.range);
      }
      for (const table of keyspace.tables.values()) {
        for (const { peer, ranges } of plans.values()) {
          try {
            summary.add(table, ranges.length, await streams.pull(peer, table.id, ranges));
          } catch (error) {
            throw new Error(`Bootstrap: streaming ${tableName(table)} from /${peer.address} failed: ${messageOf(error)}; start this node again to retry`);
          }
        }
      }
    }
    this.logSummary('Bootstrap streamed', summary.build());
  }

  /**
   * Where a joining node pulls a range from: the replica that gives it up, which holds
   * every write acknowledged for its place; when that one is down (or several give it up
   * and one is down), every other live replica, which together hold them.
   */
  private bootstrapSources(movement: RangeMovement, localId: string): readonly Endpoint[] {
    const { membership } = this.options;
    const losing = movement.losing.filter((endpoint) => endpoint.id !== localId);
    if (losing.length > 0 && losing.every((endpoint) => membership.isAlive(endpoint.id))) return losing;
    return movement.current.filter((endpoint) => endpoint.id !== localId && membership.isAlive(endpoint.id));
  }

  // ---- decommission ------------------------------------------------------------------

  /**
   * Moves this node's ranges to the nodes that take them over and leaves the ring.
   * InvalidRequest when the node is not NORMAL, another ring change is under way, or the
   * remaining nodes cannot hold some keyspace's replication factor. With errors in the
   * summary the node stays LEAVING and a second run resumes.
   */
  async decommission(): Promise<MovementSummary> {
    const { membership, gossip, system, ringDelayMs } = this.options;
    this.checkIdle();
    const local = membership.local;
    const status = membership.statusOf(local.id);
    const resuming = status === Status.LEAVING && this.leaveUnfinished;
    if (status !== Status.NORMAL && !resuming) {
      throw new InvalidRequest(`This node is ${status ?? 'not in the ring'}; only a NORMAL node can be decommissioned`);
    }
    if (!resuming && membership.futureRing() !== null) {
      throw new InvalidRequest('Another node is joining, leaving or being removed; decommission once the ring has settled');
    }
    this.checkReplicationAfterLeaving(ringWithout(membership.ring(), local.id), local);
    this.running = 'decommission';
    try {
      const keyspaces = this.userKeyspaces();
      if (!resuming) {
        gossip.announceLeaving();
        this.leaveUnfinished = true;
        this.logger.info({}, 'Decommission: announced LEAVING');
      }
      if (keyspaces.some((keyspace) => keyspace.tables.size > 0)) {
        this.logger.info({ ringDelayMs }, `Decommission: waiting ${ringDelayMs} ms for the cluster to write to the new replicas`);
        await this.sleep(ringDelayMs);
      }
      const summary = await this.pushLeavingRanges(keyspaces);
      if (summary.errors.length > 0) {
        this.logger.warn({ errors: summary.errors.length }, 'Decommission: some ranges could not be streamed; this node stays LEAVING; run decommission again');
        return summary;
      }
      await this.deliverHints();
      // Durable before LEFT goes out: a crash once the others have dropped this node must
      // not let it restart NORMAL with its old tokens and stale data (a failed write
      // here leaves it LEAVING, to run again).
      await system.setBootstrapState('DECOMMISSIONED');
      this.left = true;
      this.leaveUnfinished = false;
      gossip.announceLeft();
      await this.sleep(LEFT_SPREAD_ROUNDS * GOSSIP_INTERVAL_MS);
      gossip.stop();
      this.logSummary('Decommissioned: left the ring after streaming', summary);
      return summary;
    } finally {
      this.running = null;
    }
  }

  /** Refuses to leave when a keyspace's replication factor needs more nodes than remain (nodetool's check). */
  private checkReplicationAfterLeaving(remaining: TokenRing, local: Endpoint): void {
    if (remaining.size === 0) throw new InvalidRequest('This is the only node of the ring: there is no node to hand its data to');
    for (const keyspace of this.userKeyspaces()) {
      const { factor, nodes } = replicationAfter(keyspace.replication, remaining, local.dc);
      if (factor > nodes) {
        throw new InvalidRequest(
          `Not enough live nodes to maintain replication factor in keyspace ${keyspace.name} (RF = ${factor}, N = ${nodes}). ` +
            'Lower its replication factor (ALTER KEYSPACE) or add a node first.',
        );
      }
    }
  }

  /** Pushes every range this node gives up to the nodes that gain it; failures per table and target. */
  private async pushLeavingRanges(keyspaces: readonly KeyspaceMetadata[]): Promise<MovementSummary> {
    const { membership, streams } = this.options;
    const ring = membership.ring();
    const local = membership.local;
    const future = ringWithout(ring, local.id);
    const summary = new SummaryBuilder();
    for (const keyspace of keyspaces) {
      if (keyspace.tables.size === 0) continue;
      const plans = new Map<string, StreamPlan>();
      for (const movement of rangeMovements(ring, future, keyspace.replication)) {
        if (!movement.losing.some((endpoint) => endpoint.id === local.id)) continue;
        for (const target of movement.gaining) addToPlan(plans, target, [], movement.range);
      }
      for (const table of keyspace.tables.values()) {
        for (const { peer, ranges } of plans.values()) {
          if (!membership.isAlive(peer.id)) {
            summary.errors.push(`${tableName(table)}: ${ranges.length} ranges for /${peer.address}: it is down`);
            continue;
          }
          try {
            summary.add(table, ranges.length, await streams.push(peer, table.id, ranges));
          } catch (error) {
            summary.errors.push(`${tableName(table)}: ${ranges.length} ranges to /${peer.address}: ${messageOf(error)}`);
          }
        }
      }
    }
    return summary.build();
  }

  /**
   * Before leaving, replays the hints this node holds to their (live) targets, bounded
   * by HINT_HANDOFF_MS_MAX: nobody will replay them once it is gone. Hints for targets
   * that are down are lost with it (Cassandra hands them to another node; sibyl does not
   * yet) — the log says how many, and repair brings those replicas up to date.
   */
  private async deliverHints(): Promise<void> {
    const hints = this.options.hints?.();
    if (hints === undefined || hints.pending().length === 0) return;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, HINT_HANDOFF_MS_MAX).unref());
    await Promise.race([Promise.allSettled(hints.pending().map(({ targetId }) => hints.replay(targetId))), deadline]);
    const left = hints.pending().reduce((sum, target) => sum + target.hints, 0);
    if (left > 0) this.logger.warn({ hints: left }, `Decommission: ${left} hints could not be delivered (targets down); run repair on their replicas`);
    else this.logger.info({}, 'Decommission: every hint this node held was delivered');
  }

  // ---- removenode ----------------------------------------------------------------------

  /**
   * Restores the replication factor of a dead node's ranges: the node is announced
   * REMOVING (it keeps its ranges, and every coordinator also writes to the nodes gaining
   * them), after ring_delay every node that becomes a replica of one of its ranges
   * fetches it from the remaining live replicas, then the node is announced removed.
   * With errors in the summary it stays REMOVING (run it again).
   */
  async removeNode(hostId: string): Promise<MovementSummary> {
    const { membership, gossip, streams } = this.options;
    this.checkIdle();
    if (hostId === membership.local.id) throw new InvalidRequest('Cannot remove self: use decommission to take this node out of the ring');
    const endpoint = membership.endpointOf(hostId);
    const status = membership.statusOf(hostId);
    if (endpoint === undefined || status === null) throw new InvalidRequest(`Host ID not found: ${hostId}`);
    if (status === Status.LEFT || status === Status.REMOVED) throw new InvalidRequest(`Node ${hostId} (/${endpoint.address}) has already left the ring`);
    if (membership.isAlive(hostId)) {
      throw new InvalidRequest(`Node /${endpoint.address} is alive and owns this ID; use decommission on it to remove it from the ring`);
    }
    // Each movement streams against the ring without the others: with another node joining
    // or leaving meanwhile, ranges that change hands in both would reach nobody (as for
    // decommission). The dead node's own unfinished join or leave is what removenode ends.
    const moving = otherMovers(membership.ring(), membership.futureRing(), hostId);
    if (moving.length > 0) {
      throw new InvalidRequest(`${moving.map((e) => `/${e.address}`).join(', ')} is joining or leaving the ring; run removenode once the ring has settled`);
    }
    this.running = 'removenode';
    try {
      const ring = membership.ring();
      const summary = new SummaryBuilder();
      // A node that died while joining owns no range: there is nothing to re-replicate.
      if (ring.endpoint(hostId) !== undefined) {
        // Writes made while the ranges are fetched must reach their new replicas too, or
        // they would be on fewer replicas than the RF once the node is removed.
        if (status !== Status.REMOVING) {
          gossip.announceRemoving(endpoint.address, hostId);
          await this.sleep(this.options.ringDelayMs);
        }
        const future = ringWithout(ring, hostId);
        for (const keyspace of this.userKeyspaces()) {
          if (keyspace.tables.size === 0) continue;
          const plans = new Map<string, StreamPlan>();
          for (const movement of rangeMovements(ring, future, keyspace.replication)) {
            for (const target of movement.gaining) {
              const sources = movement.current.filter((e) => e.id !== hostId && e.id !== target.id && membership.isAlive(e.id));
              if (sources.length === 0) {
                summary.errors.push(`${keyspace.name} ${formatRange(movement.range)}: no live replica to copy it from`);
                continue;
              }
              addToPlan(plans, target, sources, movement.range);
            }
          }
          for (const table of keyspace.tables.values()) {
            for (const { peer, sources, ranges } of plans.values()) {
              if (!membership.isAlive(peer.id)) {
                summary.errors.push(`${tableName(table)}: ${ranges.length} ranges for /${peer.address}: it is down`);
                continue;
              }
              try {
                summary.add(table, ranges.length, await streams.fetchInto(peer, sources, table.id, ranges));
              } catch (error) {
                summary.errors.push(`${tableName(table)}: ${ranges.length} ranges into /${peer.address}: ${messageOf(error)}`);
              }
            }
          }
        }
      }
      const result = summary.build();
      if (result.errors.length > 0) {
        this.logger.warn({ hostId, errors: result.errors.length }, `Removenode ${hostId}: some ranges could not be re-replicated; the node stays in the ring; run removenode again`);
        return result;
      }
      gossip.announceRemoved(endpoint.address, hostId);
      this.logSummary(`Removed ${hostId} (/${endpoint.address}) after re-replicating`, result);
      return result;
    } finally {
      this.running = null;
    }
  }

  // ---- describering ------------------------------------------------------------------

  /** Every range of the ring with the keyspace's replicas (and pending ones while nodes move). */
  describeRing(keyspace: string): TokenRangeDescription[] {
    const metadata = this.options.schema.current.keyspace(keyspace);
    if (metadata === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    const { membership } = this.options;
    const ring = membership.ring();
    if (ring.size === 0) return [];
    const httpById = new Map(membership.describe().map((description) => [description.id, description.httpAddress]));
    // Movements are cut at both rings' tokens: each lies within one current range.
    const pendingByRange = new Map<number, Set<string>>();
    const future = membership.futureRing();
    if (future !== null) {
      for (const movement of rangeMovements(ring, future, metadata.replication)) {
        const index = ring.indexOf(movement.range.end);
        let pending = pendingByRange.get(index);
        if (pending === undefined) pendingByRange.set(index, (pending = new Set()));
        for (const endpoint of movement.gaining) pending.add(endpoint.address);
      }
    }
    const placement = replicaPlacement(ring, metadata.replication);
    const ranges: TokenRangeDescription[] = [];
    for (let i = 0; i < ring.size; i++) {
      const range = ring.rangeAt(i);
      const replicas = placement.replicasAt(i);
      ranges.push({
        startToken: range.start.toString(),
        endToken: range.end.toString(),
        endpoints: replicas.map((replica) => replica.address),
        rpcEndpoints: replicas.map((replica) => httpById.get(replica.id) ?? null),
        endpointDetails: replicas.map((replica) => ({ host: replica.address, datacenter: replica.dc, rack: replica.rack })),
        pendingEndpoints: [...(pendingByRange.get(i) ?? [])].sort(),
      });
    }
    return ranges;
  }

  // ---- shared ----------------------------------------------------------------------------

  private checkIdle(): void {
    if (this.left) throw new InvalidRequest('This node was decommissioned and has left the ring');
    if (this.running !== null) throw new InvalidRequest(`A ${this.running} is already running on this node; wait for it to finish`);
  }

  private userKeyspaces(): KeyspaceMetadata[] {
    return [...this.options.schema.current.keyspaces.values()].filter((keyspace) => !SYSTEM_KEYSPACES.has(keyspace.name));
  }

  private logSummary(what: string, summary: MovementSummary): void {
    let partitions = 0;
    let bytes = 0;
    for (const table of summary.tables) {
      partitions += table.partitions;
      bytes += table.bytes;
    }
    this.logger.info({ tables: summary.tables.length, partitions, bytes }, `${what} ${partitions} partitions (${bytes} bytes) of ${summary.tables.length} tables`);
  }
}

/**
 * The replication factor that must still be met after this node leaves, and the nodes
 * left to meet it: every node for SimpleStrategy, the leaving node's dc for
 * NetworkTopologyStrategy (the other dcs do not change).
 */
function replicationAfter(replication: ReplicationStrategy, remaining: TokenRing, dc: string): { factor: number; nodes: number } {
  if (replication.class === 'SimpleStrategy') return { factor: replication.replicationFactor, nodes: remaining.endpoints.length };
  return { factor: replication.dataCenters[dc] ?? 0, nodes: remaining.dataCenters().get(dc)?.endpoints ?? 0 };
}
