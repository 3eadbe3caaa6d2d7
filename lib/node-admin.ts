/**
 * The node's operations (AdminService for /v1/admin and the CLI), over its storage
 * engine, schema and system state, the cluster views (status, ring, gossipinfo,
 * getendpoints) over gossip's Membership, and the hints it holds (over the
 * HintService). A node without gossip answers the views as a one-node cluster from its
 * own host id, tokens, dc and rack.
 */
import type {
  AdminService,
  CleanupEntry,
  ClusterAdminService,
  ClusterStatus,
  EndpointStatusCode,
  EndpointStatusEntry,
  GossipEndpointInfo,
  KeyEndpoints,
  MovementSummary,
  NodeInfo,
  PendingHintsEntry,
  RepairAdminService,
  RepairOptions,
  RepairProgress,
  RepairRecord,
  RingChangeAdminService,
  RingEntry,
  TableStatsEntry,
  TokenRangeDescription,
  VerifyEntry,
} from './api/admin-service.js';
import { Status, type EndpointStateView } from './cluster/endpoint-state.js';
import type { Membership } from './cluster/membership.js';
import { pendingReplicas } from './cluster/pending-ranges.js';
import { replicaPlacement } from './cluster/replication.js';
import { type Endpoint, TokenRing } from './cluster/ring.js';
import type { PendingHints } from './coordinator/hints.js';
import { InvalidRequest, ServerError } from './errors.js';
import { compositeKey, murmur3Token } from './model/token.js';
import type { SchemaManager } from './schema/manager.js';
import { SYSTEM_KEYSPACES } from './schema/schema.js';
import type { ColumnMetadata, ReplicationStrategy, TableMetadata } from './schema/metadata.js';
import type { Literal } from './schema/type.js';
import type { RangeMovements } from './repair/range-movements.js';
import type { RepairService } from './repair/repair-service.js';
import type { LsmStorageEngine } from './storage/lsm/engine.js';
import type { SystemStore } from './system/system-store.js';

/** The part of the Gossiper that `gossipinfo` reads (GossipService.gossiper). */
export interface GossipStateSource {
  liveEndpoints(): string[];
  unreachableEndpoints(): string[];
  stateOf(endpoint: string): EndpointStateView | undefined;
  /** False for a peer known only from the ring saved at the last run (Gossiper). */
  hasHeardOf(endpoint: string): boolean;
}

export interface NodeAdminDeps {
  engine: LsmStorageEngine;
  schema: SchemaManager;
  system: SystemStore;
  dataDir: string;
  startedAtMs: number;
  nowMs: () => number;
  httpAddress: () => string;
  /** The cluster as gossip sees it; without it the node is a one-node cluster. */
  membership?: Membership;
  /** Gossip's raw states, for gossipinfo; without it only this node's facts are shown. */
  gossip?: GossipStateSource;
  /** Internode address (listen_address:storage_port) naming this node without gossip. */
  listenAddress?: string;
  /** This node's dc and rack, for the one-node view (default datacenter1 / rack1). */
  dc?: string;
  rack?: string;
  /** The hints this node holds (HintService); without it there are none. */
  hints?: { pending(): readonly PendingHints[] };
  /** Bootstrap, decommission, removenode, describering; without it those operations fail. */
  movements?: Pick<RangeMovements, 'decommission' | 'removeNode' | 'describeRing'>;
  /** Anti-entropy repair sessions; without it repair operations fail. */
  repairs?: Pick<RepairService, 'start' | 'progress' | 'history'>;
}

/** One endpoint as the cluster views need it: ring identity plus what status shows. */
interface EndpointFacts extends Endpoint {
  readonly status: EndpointStatusCode;
  readonly load: number | null;
  readonly httpAddress: string | null;
}

/**
 * Whether `endpointId` holds a replica of a token in `ring` under `replication`: one
 * binary search per token (cleanup asks it of every partition), against the ends of
 * the ring ranges it replicates.
 */
function replicatedBy(ring: TokenRing, replication: ReplicationStrategy, endpointId: string): (token: bigint) => boolean {
  if (ring.size === 0) return () => false;
  const ends = new Set(replicaPlacement(ring, replication).rangesReplicatedBy(endpointId).map((range) => range.end));
  return (token) => ends.has(ring.tokenAt(ring.indexOf(token)));
}

export class NodeAdmin implements AdminService, ClusterAdminService, RingChangeAdminService, RepairAdminService {
  constructor(private readonly deps: NodeAdminDeps) {}

  /** The tables a nodetool-style scope names: all, one keyspace's, or some of one keyspace's. */
  private resolve(keyspace?: string, tables?: string[]): TableMetadata[] {
    const schema = this.deps.schema.current;
    if (keyspace === undefined) return [...schema.keyspaces.values()].flatMap((ks) => [...ks.tables.values()]);
    return schema.tablesOf(keyspace, tables);
  }

  async flush(keyspace?: string, tables?: string[]): Promise<void> {
    await Promise.all(this.resolve(keyspace, tables).map((t) => this.deps.engine.flush(t.id)));
  }

  async compact(keyspace?: string, tables?: string[]): Promise<void> {
    for (const table of this.resolve(keyspace, tables)) await this.deps.engine.compactAll(table.id);
  }

  /**
   * nodetool cleanup: keeps, per table, the partitions of ranges this node replicates
   * under its keyspace's replication — in the current ring and, while ranges move, the
   * ranges it is a pending replica of (it receives their writes, and will own them once
   * some movement completes). Refused while this node itself joins or leaves: its
   * ranges are what is moving.
   */
  async cleanup(keyspace?: string, tables?: string[]): Promise<CleanupEntry[]> {
    const { membership, engine, system } = this.deps;
    // System keyspaces are node-local (every node holds all of them): nothing to clean.
    if (keyspace !== undefined && SYSTEM_KEYSPACES.has(keyspace)) return [];
    const localId = system.hostId();
    const status = membership?.statusOf(localId) ?? Status.NORMAL;
    if (status !== Status.NORMAL) throw new InvalidRequest(`Cannot clean up while this node is ${status}: wait until its ranges have moved`);
    // Without gossip the ring is this node's alone and never changes.
    const fixedRing = membership === undefined ? this.cluster().ring : null;
    const rings = () => ({ ring: membership?.ring() ?? fixedRing!, future: membership?.futureRing() ?? null });
    if (rings().ring.size === 0) throw new InvalidRequest('Cannot clean up: the ring has no tokens yet');
    // A peer known only from the saved ring may have left or been removed while this node
    // was down: its ranges may be this node's now, and cleaning against it would delete them.
    const gossip = this.deps.gossip;
    const unheard = gossip === undefined ? [] : rings().ring.endpoints.filter((e) => e.id !== localId && !gossip.hasHeardOf(e.address));
    if (unheard.length > 0) {
      const names = unheard.map((e) => `/${e.address}`).join(', ');
      throw new InvalidRequest(
        `Cannot clean up while the ring holds peers not heard from since this node started (${names}): wait for gossip, or removenode those that are gone`,
      );
    }
    const entries: CleanupEntry[] = [];
    for (const table of this.resolve(keyspace, tables)) {
      if (SYSTEM_KEYSPACES.has(table.keyspace)) continue;
      const result = await engine.cleanup(table.id, this.cleanupKeep(table.keyspace, localId, rings));
      entries.push({ keyspace: table.keyspace, table: table.name, ...result });
    }
    return entries;
  }

  /**
   * Cleanup's keep predicate for a keyspace's table. The engine applies it late — after
   * a flush, behind queued compactions, through a long rewrite — so it judges each
   * partition against the ring, the movements and the replication as they are then: a
   * movement that starts meanwhile (a decommission pushing ranges to this node) makes
   * this node a pending replica, and the data streamed in must not be deleted. Rebuilt
   * only when membership hands out new rings (it keeps them until a change).
   */
  private cleanupKeep(
    keyspace: string,
    localId: string,
    rings: () => { ring: TokenRing; future: TokenRing | null },
  ): (token: bigint) => boolean {
    let judged: { ring: TokenRing; future: TokenRing | null; replication: ReplicationStrategy | undefined } | null = null;
    let keep: (token: bigint) => boolean = () => true;
    return (token) => {
      const { ring, future } = rings();
      const replication = this.deps.schema.current.keyspace(keyspace)?.replication;
      if (judged === null || judged.ring !== ring || judged.future !== future || judged.replication !== replication) {
        judged = { ring, future, replication };
        // No tokens or no keyspace any more: nothing to judge by, so nothing is deleted.
        if (ring.size === 0 || replication === undefined) keep = () => true;
        else {
          const replicated = replicatedBy(ring, replication, localId);
          const pending = (t: bigint) => pendingReplicas(ring, future, replication, t).some((endpoint) => endpoint.id === localId);
          keep = (t) => replicated(t) || (future !== null && pending(t));
        }
      }
      return keep(token);
    };
  }

  drain(): Promise<void> {
    return this.deps.engine.drain();
  }

  /** nodetool verify: one table after another, system keyspaces included (their SSTables can rot too). */
  async verify(keyspace?: string, tables?: string[]): Promise<VerifyEntry[]> {
    const entries: VerifyEntry[] = [];
    for (const table of this.resolve(keyspace, tables)) {
      entries.push({ keyspace: table.keyspace, table: table.name, ...(await this.deps.engine.verify(table.id)) });
    }
    return entries;
  }

  async tableStats(keyspace?: string, tables?: string[]): Promise<TableStatsEntry[]> {
    return this.resolve(keyspace, tables).map((table) => {
      const s = this.deps.engine.stats(table.id);
      const checks = s.bloomChecks;
      return {
        keyspace: table.keyspace,
        table: table.name,
        sstableCount: s.sstableCount,
        liveBytes: s.liveBytes,
        totalBytes: s.totalBytes,
        partitionsEstimate: s.partitionsEstimate,
        bloomFalsePositives: s.bloomFalsePositives,
        bloomFalseRatio: checks === 0 ? 0 : s.bloomFalsePositives / checks,
        memtableBytes: s.memtableBytes,
        readLatency: s.readLatency,
        writeLatency: s.writeLatency,
        compactionsPending: s.compactionsPending,
        compactionsRunning: s.compactionRunning ? 1 : 0,
        ...(s.compactionProgress === null
          ? {}
          : { compactionProgress: { bytesDone: s.compactionProgress.bytesRead, bytesTotal: s.compactionProgress.bytesTotal } }),
      };
    });
  }

  async clusterStatus(keyspace?: string): Promise<ClusterStatus> {
    const { ring, endpoints } = this.cluster();
    const owns = this.ownership(ring, endpoints, keyspace);
    return {
      keyspace: keyspace ?? null,
      endpoints: endpoints.map(
        (endpoint): EndpointStatusEntry => ({
          status: endpoint.status,
          address: endpoint.address,
          httpAddress: endpoint.httpAddress,
          load: endpoint.load,
          tokens: endpoint.tokens.length,
          owns: owns(endpoint.id),
          hostId: endpoint.id,
          dc: endpoint.dc,
          rack: endpoint.rack,
        }),
      ),
    };
  }

  async ring(keyspace?: string): Promise<RingEntry[]> {
    const { ring, endpoints } = this.cluster();
    const owns = this.ownership(ring, endpoints, keyspace);
    const byId = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
    const entries: RingEntry[] = [];
    for (let i = 0; i < ring.size; i++) {
      const owner = ring.ownerAt(i);
      const facts = byId.get(owner.id);
      entries.push({
        token: ring.tokenAt(i).toString(),
        address: owner.address,
        hostId: owner.id,
        dc: owner.dc,
        rack: owner.rack,
        // The ring only holds endpoints gossip lists, so facts are there; DN is the safe guess.
        status: facts?.status ?? 'DN',
        load: facts?.load ?? null,
        owns: owns(owner.id),
      });
    }
    return entries;
  }

  async gossipInfo(): Promise<GossipEndpointInfo[]> {
    const { gossip, membership } = this.deps;
    if (gossip === undefined || membership === undefined) return [this.localGossipInfo()];
    const local = membership.localAddress;
    const live = new Set(gossip.liveEndpoints());
    const addresses = [local, ...live, ...gossip.unreachableEndpoints()].sort();
    const infos: GossipEndpointInfo[] = [];
    for (const address of new Set(addresses)) {
      const state = gossip.stateOf(address);
      if (state === undefined) continue;
      infos.push({
        address,
        alive: address === local || live.has(address),
        generation: state.heartbeat.generation,
        heartbeat: state.heartbeat.version,
        states: [...state.states]
          .map(([name, { value, version }]) => ({ name, value, version }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      });
    }
    return infos;
  }

  async endpoints(keyspace: string, table: string, key: string): Promise<KeyEndpoints> {
    const ks = this.deps.schema.current.keyspace(keyspace);
    if (ks === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    const metadata = ks.tables.get(table);
    if (metadata === undefined) throw new InvalidRequest(`unconfigured table ${table}`);
    const token = murmur3Token(partitionKeyFromText(metadata, key));
    const { ring, endpoints } = this.cluster();
    const byId = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
    // A node that has no tokens yet (never joined a ring) holds every key itself.
    const replicas = ring.size === 0 ? endpoints : replicaPlacement(ring, ks.replication).replicasFor(token);
    return {
      keyspace,
      table,
      key,
      token: token.toString(),
      replicas: replicas.map(({ id, address, dc, rack }) => ({
        address,
        hostId: id,
        dc,
        rack,
        httpAddress: byId.get(id)?.httpAddress ?? null,
      })),
    };
  }

  /** The ring and the listed endpoints, from gossip or, without it, this node alone. */
  private cluster(): { ring: TokenRing; endpoints: EndpointFacts[] } {
    const { membership, engine } = this.deps;
    if (membership === undefined) {
      const local = this.localEndpoint();
      const facts: EndpointFacts = { ...local, status: 'UN', load: engine.diskBytes(), httpAddress: this.deps.httpAddress() };
      return { ring: local.tokens.length === 0 ? TokenRing.empty : new TokenRing([local]), endpoints: [facts] };
    }
    const ring = membership.ring();
    const localAddress = membership.localAddress;
    const endpoints = membership.describe().map(
      (description): EndpointFacts => ({
        id: description.id,
        address: description.address,
        dc: description.dc,
        rack: description.rack,
        // A joining node's tokens are not in the ring yet, but status lists them.
        tokens: membership.endpointOf(description.id)?.tokens ?? [],
        status: description.status,
        // This node's load is known now; the others' are as last gossiped.
        load: description.address === localAddress ? engine.diskBytes() : description.load,
        httpAddress: description.httpAddress,
      }),
    );
    return { ring, endpoints };
  }

  private localEndpoint(): Endpoint {
    const { system, listenAddress, httpAddress, dc, rack } = this.deps;
    return {
      id: system.hostId(),
      address: listenAddress ?? httpAddress(),
      dc: dc ?? 'datacenter1',
      rack: rack ?? 'rack1',
      tokens: system.getTokens(),
    };
  }

  /** Share of the ring per host id: primary ranges, or replicated ranges of `keyspace`. */
  private ownership(ring: TokenRing, endpoints: readonly EndpointFacts[], keyspace?: string): (id: string) => number {
    let replication: ReplicationStrategy | undefined;
    if (keyspace !== undefined) {
      const ks = this.deps.schema.current.keyspace(keyspace);
      if (ks === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
      replication = ks.replication;
    }
    // Before any node has tokens, a lone node holds everything.
    if (ring.size === 0) return () => (endpoints.length === 1 ? 1 : 0);
    if (replication === undefined) return (id) => ring.ownership(id);
    const placement = replicaPlacement(ring, replication);
    const shares = new Map(ring.endpoints.map((endpoint) => [endpoint.id, placement.effectiveOwnership(endpoint.id)]));
    return (id) => shares.get(id) ?? 0;
  }

  /** gossipinfo without gossip: this node's own facts, as it would gossip them. */
  private localGossipInfo(): GossipEndpointInfo {
    const local = this.localEndpoint();
    const states: [string, string][] = [
      ['DC', local.dc],
      ['HOST_ID', local.id],
      ['HTTP', this.deps.httpAddress()],
      ['LOAD', String(this.deps.engine.diskBytes())],
      ['RACK', local.rack],
      ['SCHEMA', this.deps.schema.current.version],
      ['STATUS', 'NORMAL'],
      ['TOKENS', local.tokens.join(',')],
    ];
    return {
      address: local.address,
      alive: true,
      generation: Math.floor(this.deps.startedAtMs / 1000),
      heartbeat: 0,
      states: states.map(([name, value]) => ({ name, value, version: 0 })),
    };
  }

  async hints(): Promise<PendingHintsEntry[]> {
    const { hints, membership } = this.deps;
    return (hints?.pending() ?? []).map(({ targetId, hints: count, bytes }) => ({
      hostId: targetId,
      // Hints outlive the target's gossip state (a removed node): then its address is unknown.
      address: membership?.addressOf(targetId) ?? null,
      hints: count,
      bytes,
    }));
  }

  async decommission(): Promise<MovementSummary> {
    return this.ringChanges().decommission();
  }

  async removeNode(hostId: string): Promise<MovementSummary> {
    return this.ringChanges().removeNode(hostId);
  }

  async describeRing(keyspace: string): Promise<TokenRangeDescription[]> {
    return this.ringChanges().describeRing(keyspace);
  }

  private ringChanges(): NonNullable<NodeAdminDeps['movements']> {
    const { movements } = this.deps;
    if (movements === undefined) throw new ServerError('This node does not take part in ring changes');
    return movements;
  }

  async startRepair(options: RepairOptions): Promise<{ id: string }> {
    return { id: this.repairService().start(options) };
  }

  async repairProgress(id: string): Promise<RepairProgress> {
    const progress = this.repairService().progress(id);
    if (progress === undefined) throw new InvalidRequest(`Unknown repair ${id}: not started on this node since it started, or long finished`);
    return progress;
  }

  repairHistory(keyspace?: string, tables?: string[]): Promise<RepairRecord[]> {
    return this.repairService().history(keyspace, tables);
  }

  private repairService(): NonNullable<NodeAdminDeps['repairs']> {
    const { repairs } = this.deps;
    if (repairs === undefined) throw new ServerError('This node does not run repairs');
    return repairs;
  }

  async info(): Promise<NodeInfo> {
    const { engine, schema, system, dataDir, startedAtMs, nowMs, httpAddress } = this.deps;
    return {
      hostId: system.hostId(),
      uptimeSeconds: Math.floor((nowMs() - startedAtMs) / 1000),
      dataDir,
      load: engine.diskBytes(),
      schemaVersion: schema.current.version,
      heapUsedBytes: process.memoryUsage().heapUsed,
      httpAddress: httpAddress(),
    };
  }
}

// ---- partition keys as typed on the command line ------------------------------------

const INTEGER = /^[-+]?\d+$/;
const FLOAT = /^([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?Infinity|NaN)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BOOLEAN = /^(true|false)$/i;

/** The CQL literals `text` could be, most specific first, then a string (which text,
 *  date, timestamp, inet … read). A blob is hex, with or without 0x. */
function literalsFor(column: ColumnMetadata, text: string): Literal[] {
  if (column.type.name === 'blob') return [{ kind: 'hex', text: text.replace(/^0x/i, '') }];
  const literals: Literal[] = [];
  if (INTEGER.test(text)) literals.push({ kind: 'integer', text });
  if (FLOAT.test(text)) literals.push({ kind: 'float', text });
  if (UUID.test(text)) literals.push({ kind: 'uuid', text });
  if (BOOLEAN.test(text)) literals.push({ kind: 'boolean', value: text.toLowerCase() === 'true' });
  literals.push({ kind: 'string', text });
  return literals;
}

function componentBytes(column: ColumnMetadata, text: string): Buffer {
  for (const literal of literalsFor(column, text)) {
    try {
      return column.type.serialize(column.type.fromLiteral(literal));
    } catch (error) {
      if (!(error instanceof InvalidRequest)) throw error;
    }
  }
  throw new InvalidRequest(`Cannot parse '${text}' as ${column.type.name} for partition key column ${column.name}`);
}

/**
 * The serialized partition key `text` names, as nodetool getendpoints reads it: the
 * components of a composite key joined by ':', each read with its column's type.
 */
export function partitionKeyFromText(table: TableMetadata, text: string): Buffer {
  const columns = table.partitionKey;
  if (columns.length === 1) return componentBytes(columns[0], text);
  const parts = text.split(':');
  if (parts.length !== columns.length) {
    const names = columns.map((column) => column.name).join(':');
    throw new InvalidRequest(`Partition key of ${table.keyspace}.${table.name} is ${names}: expected ${columns.length} components separated by ':', got ${parts.length}`);
  }
  return compositeKey(parts.map((part, i) => componentBytes(columns[i], part)));
}
