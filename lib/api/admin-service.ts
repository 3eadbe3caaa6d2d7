/**
 * What the operations endpoints (/v1/admin/*, lib/api/admin.ts) ask of a node. The
 * node implements it over its storage engine and schema; tests use a fake.
 *
 * Scope arguments follow nodetool: no keyspace means every keyspace (system ones
 * included), a keyspace without tables means all its tables. An implementation checks
 * that the keyspace and tables exist and throws InvalidRequest otherwise, with
 * Cassandra's words: "Keyspace 'x' does not exist", "unconfigured table t".
 */

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

export interface AdminService {
  /** Writes memtables to SSTables. */
  flush(keyspace?: string, tables?: string[]): Promise<void>;
  /** Major compaction: each table's SSTables into one (per level, for leveled). */
  compact(keyspace?: string, tables?: string[]): Promise<void>;
  /** Flushes everything and stops accepting writes, like nodetool drain, before a stop. */
  drain(): Promise<void>;
  tableStats(keyspace?: string, tables?: string[]): Promise<TableStatsEntry[]>;
  info(): Promise<NodeInfo>;
}
