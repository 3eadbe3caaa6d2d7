/**
 * The composition root: builds one node from its configuration, wires the pieces
 * together, starts it and stops it. Every other module receives its collaborators
 * (clock, logger, storage …) from here; none reaches for a global.
 *
 * Signals are the CLI's business (tools/sibyl.ts); a node only offers stop().
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { AdminService, NodeInfo, TableStatsEntry } from './api/admin-service.js';
import type { HealthStatus } from './api/health.js';
import { createHttpServer, type HttpLoggerOptions } from './api/server.js';
import { formatHostPort, type NodeConfig } from './config.js';
import type { CqlRequest, CqlResult, CqlService } from './cql/request.js';
import { Overloaded } from './errors.js';
import { type Clock, SystemClock } from './model/clock.js';
import { LocalStorageProxy } from './coordinator/proxy.js';
import { CqlExecutor } from './cql/executor.js';
import { NodeAdmin } from './node-admin.js';
import { SchemaManager } from './schema/manager.js';
import { LsmStorageEngine } from './storage/lsm/engine.js';
import { NodeFileSystem } from './storage/node-fs.js';
import { syncStorageWithSchema } from './storage/schema-sync.js';
import { SystemStore } from './system/system-store.js';

/** What the pieces of a node are built from. */
export interface NodeContext {
  readonly clock: Clock;
  readonly logger: FastifyBaseLogger;
  readonly config: NodeConfig;
}

/** A CQL service and how to release what it holds (storage, schema, system state). */
export interface CqlServiceHandle {
  readonly service: CqlService;
  /** The operations behind /v1/admin; without it those routes answer ServerError. */
  readonly admin?: AdminService;
  /** Told the HTTP address once the node listens. */
  listening?(httpAddress: string): void;
  close(): Promise<void>;
}

export type CqlServiceFactory = (context: NodeContext) => Promise<CqlServiceHandle>;

/**
 * The CQL service a node runs unless told otherwise: system state on `level`, the
 * schema it holds, the durable storage engine (commit log replayed before anything is
 * served), the StorageProxy and the executor over them, and the operations.
 */
export const createCqlService: CqlServiceFactory = async ({ clock, config, logger }) => {
  const fs = new NodeFileSystem();
  const system = await SystemStore.open(join(config.dataDir, 'system'), { clusterName: config.clusterName });
  try {
    const schema = await SchemaManager.open(system.schemaStore());
    const tables = [...schema.current.keyspaces.values()].flatMap((ks) => [...ks.tables.values()]);
    const storage = await LsmStorageEngine.open(
      {
        fs,
        dataDir: config.dataDir,
        clock,
        logger,
        commitlogSync: config.commitlogSync,
        commitlogSyncPeriodMs: config.commitlogSyncPeriodMs,
        commitlogGroupWindowMs: config.commitlogSyncGroupWindowMs,
        commitlogSegmentBytes: config.commitlogSegmentSizeBytes,
        commitlogTotalSpaceBytes: config.commitlogTotalSpaceBytes,
        commitlogSkipCorrupt: config.commitlogReplaySkipCorrupt,
        memtableSpaceBytes: config.memtableHeapSpaceBytes,
        compactionThroughputBytes: config.compactionThroughputBytesPerSecond,
        fileCacheBytes: config.fileCacheSizeBytes,
      },
      tables,
    );
    syncStorageWithSchema(schema, storage);
    const proxy = new LocalStorageProxy(storage, config.dc);
    const service = new CqlExecutor({ schema, proxy, clock, dataCenters: [config.dc] });
    const startedAtMs = clock.nowMillis();
    let httpAddress = '';
    const admin = new NodeAdmin({
      engine: storage,
      schema,
      system,
      dataDir: config.dataDir,
      startedAtMs,
      nowMs: () => clock.nowMillis(),
      httpAddress: () => httpAddress,
    });
    return {
      service,
      admin,
      listening: (address: string) => {
        httpAddress = address;
      },
      close: async () => {
        await storage.close();
        await system.close();
      },
    };
  } catch (error) {
    await system.close();
    throw error;
  }
};

export interface NodeDeps {
  /** Default: the system clock shifted by clock_offset_ms. */
  clock?: Clock;
  /** A logger, pino options for the one fastify builds, or false for none. Default: info to stdout. */
  logger?: FastifyBaseLogger | HttpLoggerOptions | false;
  /** Default: createCqlService. */
  cqlFactory?: CqlServiceFactory;
}

export class SibylNode implements CqlService, AdminService {
  private status: HealthStatus = 'starting';
  private cql: CqlServiceHandle | null = null;
  private stopped: Promise<void> | null = null;
  private boundAddress = '';
  private readonly http: FastifyInstance;
  /** The node's logger: fastify builds it, every piece logs through it. */
  readonly logger: FastifyBaseLogger;

  private constructor(
    readonly config: NodeConfig,
    readonly clock: Clock,
    logger: NonNullable<NodeDeps['logger']>,
  ) {
    // Fastify builds the pino logger from options, so the HTTP server comes first; its
    // routes call back into this node, which refuses work until it is serving.
    this.http = createHttpServer({
      cql: this,
      admin: this,
      logger,
      bodyLimit: config.maxRequestBodySizeBytes,
      maxStatementLength: config.maxStatementLength,
      status: () => this.status,
    });
    this.logger = this.http.log;
  }

  /** Builds a node and starts serving; on failure releases what was built and throws. */
  static async start(config: NodeConfig, deps: NodeDeps = {}): Promise<SibylNode> {
    const node = new SibylNode(config, deps.clock ?? new SystemClock(config.clockOffsetMs), deps.logger ?? { level: 'info' });
    try {
      await mkdir(config.dataDir, { recursive: true });
      node.cql = await (deps.cqlFactory ?? createCqlService)({ clock: node.clock, logger: node.logger, config });
      await node.http.listen({
        host: config.httpAddress,
        port: config.httpPort,
        listenTextResolver: (address) => `HTTP API listening at ${address}`,
      });
    } catch (error) {
      await node.stop();
      throw error;
    }
    const { address, port } = node.http.server.address() as AddressInfo;
    node.boundAddress = formatHostPort({ host: address, port });
    node.cql?.listening?.(node.boundAddress);
    node.status = 'ok';
    const { clusterName, dc, rack, dataDir } = config;
    // httpAddress as a field too, for whoever reads the JSON log (tests, supervisors).
    node.logger.info(
      { httpAddress: node.boundAddress },
      `Node ready: cluster '${clusterName}', ${dc}/${rack}, data in ${dataDir}, HTTP at ${node.boundAddress}`,
    );
    return node;
  }

  /** `host:port` the HTTP API is bound to (the real port when config asked for 0). */
  get httpAddress(): string {
    return this.boundAddress;
  }

  /** Runs one statement on this node, as POST /v1/cql does. */
  execute(request: CqlRequest): Promise<CqlResult> {
    if (this.status !== 'ok' || this.cql === null) {
      return Promise.reject(new Overloaded(`Node is ${this.status}; retry on another node`));
    }
    return this.cql.service.execute(request);
  }

  private adminService(): AdminService {
    const admin = this.status === 'ok' ? this.cql?.admin : undefined;
    if (admin === undefined) throw new Overloaded(`Node is ${this.status}; operations are not available`);
    return admin;
  }

  // AdminService, for /v1/admin: delegated to what the CQL service factory built.
  flush(keyspace?: string, tables?: string[]): Promise<void> {
    return this.adminService().flush(keyspace, tables);
  }
  compact(keyspace?: string, tables?: string[]): Promise<void> {
    return this.adminService().compact(keyspace, tables);
  }
  drain(): Promise<void> {
    return this.adminService().drain();
  }
  tableStats(keyspace?: string, tables?: string[]): Promise<TableStatsEntry[]> {
    return this.adminService().tableStats(keyspace, tables);
  }
  info(): Promise<NodeInfo> {
    return this.adminService().info();
  }

  /**
   * Stops gracefully: refuses new requests, lets the HTTP server finish the ones in
   * flight, then closes the CQL service and storage below it. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopped ??= this.close();
    return this.stopped;
  }

  private async close(): Promise<void> {
    this.status = 'stopping';
    try {
      await this.http.close();
    } finally {
      const cql = this.cql;
      this.cql = null;
      await cql?.close();
    }
    this.logger.info('Stopped');
  }
}
