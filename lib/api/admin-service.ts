/**
 * What the operations endpoints (/v1/admin/*, lib/api/admin.ts) ask of a node. The
 * node implements it over its storage engine and schema; tests use a fake.
 *
 * Scope arguments follow nodetool: no keyspace means every keyspace (system ones
 * included), a keyspace without tables means all its tables. An implementation checks
 * that the keyspace and tables exist and throws InvalidRequest otherwise, with
 * Cassandra's words: "Keyspace 'x' does not exist", "unconfigured table t".
 */
import type { MovementSummary, TokenRangeDescription } from '../repair/range-movements.js';
import type { RepairOptions, RepairProgress } from '../repair/repair-service.js';
import type { RepairRecord } from '../system/system-store.js';

export type { MovementSummary, TokenRangeDescription } from '../repair/range-movements.js';
export type { RepairOptions, RepairProgress, RepairState } from '../repair/repair-service.js';
export type { RepairRecord } from '../system/system-store.js';

export interface LatencySummary {
  /** Operations measured since the node started. */
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/** One table's numbers, as `nodetool tablestats` shows them. */
export interface TableStatsEntry {
  keyspace: string;
  table: string;
  sstableCount: number;
  /** Bytes of the SSTables that reads use now. */
  liveBytes: number;
  /** Live bytes plus SSTables compacted away but not yet deleted (still being read). */
  totalBytes: number;
  partitionsEstimate: number;
  bloomFalsePositives: number;
  /** False positives / (false positives + true positives) of the bloom filters. */
  bloomFalseRatio: number;
  memtableBytes: number;
  memtableCells?: number;
  readLatency: LatencySummary;
  writeLatency: LatencySummary;
  compactionsPending: number;
  compactionsRunning?: number;
  /** The running compaction's progress (bytes of input processed of the total). */
  compactionProgress?: { bytesDone: number; bytesTotal: number };
}

export interface NodeInfo {
  hostId: string;
  uptimeSeconds: number;
  dataDir: string;
  /** Bytes on disk of this node's data (SSTables and commit log). */
  load: number;
  schemaVersion: string;
  heapUsedBytes: number;
  /** HOST:PORT of the HTTP API. */
  httpAddress: string;
}

/** `nodetool status`'s two letters: Up/Down, then Normal/Joining/Leaving (no Moving:
 *  sibyl does not move tokens). */
export type EndpointStatusCode = `${'U' | 'D'}${'N' | 'J' | 'L'}`;

/** One endpoint as `sibyl status` lists it. */
export interface EndpointStatusEntry {
  status: EndpointStatusCode;
  /** Internode (gossip) address, host:port. */
  address: string;
  /** HOST:PORT of its HTTP API, null until it has gossiped one. */
  httpAddress: string | null;
  /** Bytes on disk, null until it has gossiped its load. */
  load: number | null;
  /** Number of tokens (vnodes) it holds. */
  tokens: number;
  /** Fraction (0..1) of the ring it owns: its primary ranges, or with a keyspace the
   *  ranges it holds a replica of under that keyspace's replication (effective ownership). */
  owns: number;
  hostId: string;
  dc: string;
  rack: string;
}

export interface ClusterStatus {
  /** The keyspace `owns` was computed for, null for raw token ownership. */
  keyspace: string | null;
  endpoints: EndpointStatusEntry[];
}

/** One ring token and its owner, as `sibyl ring` lists them (sorted by token). */
export interface RingEntry {
  /** The signed 64-bit token, as a decimal string (JSON numbers cannot hold it). */
  token: string;
  address: string;
  hostId: string;
  dc: string;
  rack: string;
  status: EndpointStatusCode;
  load: number | null;
  /** The owner's share of the ring (as in ClusterStatus). */
  owns: number;
}

export interface GossipStateEntry {
  name: string;
  value: string;
  version: number;
}

/** What gossip knows of one endpoint (`sibyl gossipinfo`). */
export interface GossipEndpointInfo {
  address: string;
  /** Whether the failure detector considers it up (always true for the answering node). */
  alive: boolean;
  generation: number;
  heartbeat: number;
  states: GossipStateEntry[];
}

export interface ReplicaEntry {
  address: string;
  hostId: string;
  dc: string;
  rack: string;
  httpAddress: string | null;
}

/** The replicas of one partition key (`sibyl getendpoints`), primary first. */
export interface KeyEndpoints {
  keyspace: string;
  table: string;
  key: string;
  token: string;
  replicas: ReplicaEntry[];
}

/** The hints this node holds for one replica (`sibyl hints`). */
export interface PendingHintsEntry {
  /** The replica's host id: hints are kept by host id, so they survive an address change. */
  hostId: string;
  /** Its internode address as gossip knows it now; null when gossip no longer lists it. */
  address: string | null;
  hints: number;
  /** Bytes of the hinted mutations. */
  bytes: number;
}

/**
 * The cluster views (nodetool status, ring, gossipinfo, getendpoints). Optional in
 * AdminService so a node facade that does not delegate them yet still type-checks; the
 * routes are served only by a service that has them.
 */
export interface ClusterAdminService {
  clusterStatus(keyspace?: string): Promise<ClusterStatus>;
  ring(keyspace?: string): Promise<RingEntry[]>;
  gossipInfo(): Promise<GossipEndpointInfo[]>;
  /** Throws InvalidRequest for an unknown keyspace or table or a key that does not parse. */
  endpoints(keyspace: string, table: string, key: string): Promise<KeyEndpoints>;
}

/**
 * Ring changes that move data (nodetool decommission, removenode) and describering.
 * Optional in AdminService like the cluster views; their routes are served only when present.
 */
export interface RingChangeAdminService {
  /**
   * Streams this node's ranges to the nodes that take them over, then leaves the ring.
   * InvalidRequest when the node is not NORMAL or the rest cannot hold a keyspace's RF.
   * Failed ranges are listed in `errors`: the node then stays LEAVING (run it again).
   */
  decommission(): Promise<MovementSummary>;
  /**
   * Re-replicates a dead node's ranges from the remaining replicas, then removes it.
   * InvalidRequest for this node, an unknown host id or a live node. Failed ranges are
   * listed in `errors`: the node is then not removed (run it again).
   */
  removeNode(hostId: string): Promise<MovementSummary>;
  /** Every range of the ring with the keyspace's replicas; InvalidRequest for an unknown keyspace. */
  describeRing(keyspace: string): Promise<TokenRangeDescription[]>;
}

/**
 * Anti-entropy repair (nodetool repair, repair_admin). Optional in AdminService like the
 * cluster views; the routes are served only when present.
 */
export interface RepairAdminService {
  /** Starts a repair in the background; InvalidRequest for an unknown or system keyspace or unknown table. */
  startRepair(options: RepairOptions): Promise<{ id: string }>;
  /** A repair started since the node started; InvalidRequest for an unknown id. */
  repairProgress(id: string): Promise<RepairProgress>;
  /** Recorded repairs, oldest first; scoped like startRepair (no keyspace: every non-system one). */
  repairHistory(keyspace?: string, tables?: string[]): Promise<RepairRecord[]>;
}

export interface AdminService extends Partial<ClusterAdminService>, Partial<RingChangeAdminService>, Partial<RepairAdminService> {
  /** Writes memtables to SSTables. */
  flush(keyspace?: string, tables?: string[]): Promise<void>;
  /** Major compaction: each table's SSTables into one (per level, for leveled). */
  compact(keyspace?: string, tables?: string[]): Promise<void>;
  /** Flushes everything and stops accepting writes, like nodetool drain, before a stop. */
  drain(): Promise<void>;
  tableStats(keyspace?: string, tables?: string[]): Promise<TableStatsEntry[]>;
  info(): Promise<NodeInfo>;
  /** Pending hints per target replica (those with any), by host id; the route is served only when present. */
  hints?(): Promise<PendingHintsEntry[]>;
  /**
   * Drops the partitions of ranges this node no longer replicates (nodetool cleanup),
   * from every user table in scope (system keyspaces are node-local and skipped);
   * InvalidRequest while this node is joining or leaving. The route is served only when present.
   */
  cleanup?(keyspace?: string, tables?: string[]): Promise<CleanupEntry[]>;
  /**
   * Checks every SSTable of the tables in scope against its checksums (nodetool
   * verify), one table after another; corrupt SSTables are listed, not thrown. The
   * route is served only when present.
   */
  verify?(keyspace?: string, tables?: string[]): Promise<VerifyEntry[]>;
}

/** What `sibyl verify` found in one table. */
export interface VerifyEntry {
  keyspace: string;
  table: string;
  /** SSTables checked, corrupt ones included. */
  sstables: number;
  /** Each corrupt SSTable: the file that failed its check, and the reason. */
  corrupt: { file: string; message: string }[];
}

/** What `sibyl cleanup` did to one table. */
export interface CleanupEntry {
  keyspace: string;
  table: string;
  partitionsRemoved: number;
  /** Bytes of the table's SSTables before and after. */
  bytesBefore: number;
  bytesAfter: number;
}
