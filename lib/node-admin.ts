/**
 * The node's operations (AdminService for /v1/admin and the CLI), over its storage
 * engine, schema and system state.
 */
import type { AdminService, NodeInfo, TableStatsEntry } from './api/admin-service.js';
import { InvalidRequest } from './errors.js';
import type { SchemaManager } from './schema/manager.js';
import type { TableMetadata } from './schema/metadata.js';
import type { LsmStorageEngine } from './storage/lsm/engine.js';
import type { SystemStore } from './system/system-store.js';

export interface NodeAdminDeps {
  engine: LsmStorageEngine;
  schema: SchemaManager;
  system: SystemStore;
  dataDir: string;
  startedAtMs: number;
  nowMs: () => number;
  httpAddress: () => string;
}

export class NodeAdmin implements AdminService {
  constructor(private readonly deps: NodeAdminDeps) {}

  /** The tables a nodetool-style scope names: all, one keyspace's, or some of one keyspace's. */
  private resolve(keyspace?: string, tables?: string[]): TableMetadata[] {
    const schema = this.deps.schema.current;
    if (keyspace === undefined) return [...schema.keyspaces.values()].flatMap((ks) => [...ks.tables.values()]);
    const ks = schema.keyspace(keyspace);
    if (ks === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    if (tables === undefined || tables.length === 0) return [...ks.tables.values()];
    return tables.map((name) => {
      const table = ks.tables.get(name);
      if (table === undefined) throw new InvalidRequest(`unconfigured table ${name}`);
      return table;
    });
  }

  async flush(keyspace?: string, tables?: string[]): Promise<void> {
    await Promise.all(this.resolve(keyspace, tables).map((t) => this.deps.engine.flush(t.id)));
  }

  async compact(keyspace?: string, tables?: string[]): Promise<void> {
    for (const table of this.resolve(keyspace, tables)) await this.deps.engine.compactAll(table.id);
  }

  drain(): Promise<void> {
    return this.deps.engine.drain();
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
