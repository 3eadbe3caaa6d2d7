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
import type {
  AdminService,
  ClusterAdminService,
  CleanupEntry,
  ClusterStatus,
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
import type { HealthStatus } from './api/health.js';
import { createHttpServer, type HttpLoggerOptions } from './api/server.js';
import { formatHostPort, type NodeConfig } from './config.js';
import type { CqlRequest, CqlResult, CqlService } from './cql/request.js';
import { Overloaded, ServerError } from './errors.js';
import { type Clock, SystemClock } from './model/clock.js';
import { ApplicationState } from './cluster/endpoint-state.js';
import { FailureDetector } from './cluster/failure-detector.js';
import { GossipService, TIMER_SCHEDULER } from './cluster/gossip-service.js';
import { SchemaSync } from './cluster/schema-sync.js';
import { ClusterStorageProxy } from './coordinator/cluster-proxy.js';
import { HintService, registerHintReceiver } from './coordinator/hints.js';
import { ReplicaService } from './coordinator/replica-verbs.js';
import { TcpTransport } from './net/tcp.js';
import { CqlExecutor } from './cql/executor.js';
import { bootstrapNeeded, deferredBootstrapHooks, RangeMovements, refuseDecommissionedStart } from './repair/range-movements.js';
import { RepairService } from './repair/repair-service.js';
import { StreamService } from './repair/streaming.js';
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

/** What a DDL answer carries when not every live node holds the new schema in time. */
export const SCHEMA_AGREEMENT_WARNING = 'schema agreement not reached';

/**
 * `service` whose schema_change answers are held until the change reached every live
 * node (SchemaSync.announce, bounded); past the bound the answer still goes out, with
 * a warning, as Cassandra's drivers carry on after their schema agreement wait.
 */
export function awaitingSchemaAgreement(service: CqlService, sync: Pick<SchemaSync, 'announce'>): CqlService {
  return {
    execute: async (request) => {
      const result = await service.execute(request);
      if (result.kind !== 'schema_change') return result;
      const { change, target, keyspace, table } = result;
      if (await sync.announce({ change, target, keyspace, ...(table === undefined ? {} : { table }) })) return result;
      return { ...result, warnings: [...(result.warnings ?? []), SCHEMA_AGREEMENT_WARNING] };
    },
  };
}

/** `service` refusing every request once the node has left the ring by decommission. */
export function refusingOnceDecommissioned(service: CqlService, movements: Pick<RangeMovements, 'decommissioned'>): CqlService {
  return {
    execute: (request) =>
      movements.decommissioned
        ? Promise.reject(new Overloaded('This node was decommissioned and serves no requests; use a node of the ring'))
        : service.execute(request),
  };
}

/** How often a node gossips its LOAD (bytes on disk); Cassandra broadcasts it every minute. */
const LOAD_BROADCAST_INTERVAL_MS = 60_000;
/** How often the gossiped schema versions are compared with the local one. */
const SCHEMA_CHECK_INTERVAL_MS = 1_000;
/**
 * How long a restarted node waits at most, before serving, for the peers it saved to be
 * seen UP: a few gossip rounds, enough for running peers, short when some are down.
 */
const SAVED_PEERS_WAIT_MS_MAX = 3_000;

/**
 * The CQL service a node runs unless told otherwise: system state on `level`, the
 * schema it holds, the durable storage engine (commit log replayed before anything is
 * served), then the cluster member: internode messaging on listen_address:storage_port,
 * the replica verbs, gossip, schema propagation, and the cluster coordinator with the
 * executor over it, and the operations. Gossip starts from the peers saved at the last
 * run (DOWN until heard from), so the coordinator never places replicas on a partial
 * ring. Resolves once gossip says the node is NORMAL (at once for a node that has tokens
 * or starts the cluster) and its saved peers were seen UP (bounded).
 */
export const createCqlService: CqlServiceFactory = async ({ clock, config, logger }) => {
  const fs = new NodeFileSystem();
  // What has been opened so far, closed in reverse on failure and by close().
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    let failure: unknown = null;
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw failure;
  };
  try {
    const system = await SystemStore.open(join(config.dataDir, 'system'), { clusterName: config.clusterName });
    closers.push(() => system.close());
    refuseDecommissionedStart(system, config.dataDir);
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
    closers.push(() => storage.close());
    syncStorageWithSchema(schema, storage);

    const configuredAddress = formatHostPort({ host: config.listenAddress, port: config.storagePort });
    const transport = await TcpTransport.listen({ listen: configuredAddress, logger });
    closers.push(() => transport.close());
    new ReplicaService(storage).register(transport);
    // Replicas take hints even when their own hinted handoff is off.
    registerHintReceiver(transport, storage, logger);
    // storage_port 0 (tests) binds a free port: this node's own entry in the seed list
    // names the configured address, and gossip must know it as the bound one.
    const seeds = config.seeds.map((seed) => (seed === configuredAddress ? transport.address : seed));
    const storedTokens = system.getTokens();
    // Built below over gossip's membership; the bootstrap hooks run only once gossip has
    // heard from a seed, after gossip.start(), by when it exists.
    let movements: RangeMovements | undefined;
    const gossip = new GossipService({
      transport,
      clock,
      seeds,
      generation: await system.nextGeneration(clock.nowSeconds()),
      hostId: system.hostId(),
      dc: config.dc,
      rack: config.rack,
      // Known once the HTTP server listens: see listening() below.
      httpAddress: '',
      schemaVersion: schema.current.version,
      load: storage.diskBytes(),
      numTokens: config.numTokens,
      allocationReplicationFactor: config.allocationReplicationFactor,
      initialTokens: storedTokens.length > 0 ? storedTokens : null,
      persistTokens: (tokens) => system.setTokens(tokens),
      bootstrap: deferredBootstrapHooks(bootstrapNeeded(system, config.autoBootstrap), () => movements!),
      clusterName: config.clusterName,
      failureDetector: new FailureDetector({ phiConvictThreshold: config.phiConvictThreshold }),
      logger,
      // The ring as this node last knew it, so it never coordinates over a partial one.
      peers: { saved: await system.peers(), store: system },
    });
    // Runs after gossip.stop (closers run in reverse): the last peer records are written before the store closes.
    closers.push(() => gossip.peersSaved());
    const membership = gossip.membership;
    schema.onChange((next) => gossip.setLocalState(ApplicationState.SCHEMA, next.version));
    const schemaSync = new SchemaSync({
      transport,
      schema,
      livePeers: () => membership.describe().filter((e) => e.status[0] === 'U' && e.address !== transport.address),
      logger,
    });
    schemaSync.register();
    gossip.start();
    closers.push(() => gossip.stop());
    const stopSchemaChecks = TIMER_SCHEDULER.every(SCHEMA_CHECK_INTERVAL_MS, () => void schemaSync.pullFromDisagreeing());
    const stopLoadBroadcast = TIMER_SCHEDULER.every(LOAD_BROADCAST_INTERVAL_MS, () =>
      gossip.setLocalState(ApplicationState.LOAD, String(storage.diskBytes())),
    );
    closers.push(() => {
      stopLoadBroadcast();
      stopSchemaChecks();
      schemaSync.stop();
    });
    const streams = new StreamService({
      transport,
      storage,
      view: membership,
      clock,
      throughputBytesPerSecond: config.streamThroughputOutboundBytesPerSecond,
      logger,
    });
    streams.register();
    const repairs = new RepairService({
      view: membership,
      transport,
      storage,
      schema,
      system,
      streams,
      clock,
      partitionsEstimate: (tableId) => storage.stats(tableId).partitionsEstimate,
      // Validation spends compaction_throughput's budget, as Cassandra's validation compactions do.
      validationThrottle: storage.throttle,
      logger,
    });
    repairs.register();
    const ringChanges = new RangeMovements({
      membership,
      gossip,
      schema,
      system,
      streams,
      schemaSync,
      ringDelayMs: config.ringDelayMs,
      autoBootstrap: config.autoBootstrap,
      hints: () => hints,
      logger,
    });
    movements = ringChanges;
    // A lone first node is ready at once; a joining one within GossipService's bounded boot rounds.
    await gossip.ready;
    await ringChanges.joined();
    await gossip.savedPeersSeen(SAVED_PEERS_WAIT_MS_MAX);

    const hints = new HintService({
      store: system,
      transport,
      membership,
      clock,
      logger,
      enabled: config.hintedHandoffEnabled,
      maxHintWindowMs: config.maxHintWindowMs,
      throttleBytesPerSecond: config.hintedHandoffThrottleBytesPerSecond,
      deliveryTimeoutMs: config.writeRequestTimeoutMs,
      gcGraceSecondsOf: (tableId) => schema.current.tableById(tableId)?.options.gcGraceSeconds,
      schemaAgrees: (id) => membership.schemaVersionOf(id) === schema.current.version,
    });
    // Before the proxy serves writes: it counts the hints a previous run left.
    hints.start();
    // Closed before gossip and messaging stop: it waits for the hint writes in flight.
    closers.push(() => hints.stop());
    const proxy = new ClusterStorageProxy({
      view: membership,
      transport,
      storage,
      writeTimeoutMs: config.writeRequestTimeoutMs,
      readTimeoutMs: config.readRequestTimeoutMs,
      logger,
      onReplicaMissed: hints.onReplicaMissed,
    });
    const executor = new CqlExecutor({ schema, proxy, clock, dataCenters: [config.dc] });
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
      membership,
      gossip: gossip.gossiper,
      listenAddress: transport.address,
      dc: config.dc,
      rack: config.rack,
      hints,
      movements: ringChanges,
      repairs,
    });
    return {
      service: refusingOnceDecommissioned(awaitingSchemaAgreement(executor, schemaSync), ringChanges),
      admin,
      listening: (address: string) => {
        httpAddress = address;
        gossip.setLocalState(ApplicationState.HTTP, address);
      },
      // Hint writes finish, gossip stops (peers convict this node), then messaging, storage, system state.
      close: closeAll,
    };
  } catch (error) {
    // The start-up failure is the one to report, not a failure to release what it left.
    await closeAll().catch(() => undefined);
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
  clusterStatus(keyspace?: string): Promise<ClusterStatus> {
    return this.optionalAdmin('clusterStatus')(keyspace);
  }
  ring(keyspace?: string): Promise<RingEntry[]> {
    return this.optionalAdmin('ring')(keyspace);
  }
  gossipInfo(): Promise<GossipEndpointInfo[]> {
    return this.optionalAdmin('gossipInfo')();
  }
  endpoints(keyspace: string, table: string, key: string): Promise<KeyEndpoints> {
    return this.optionalAdmin('endpoints')(keyspace, table, key);
  }
  hints(): Promise<PendingHintsEntry[]> {
    return this.optionalAdmin('hints')();
  }
  decommission(): Promise<MovementSummary> {
    return this.optionalAdmin('decommission')();
  }
  removeNode(hostId: string): Promise<MovementSummary> {
    return this.optionalAdmin('removeNode')(hostId);
  }
  describeRing(keyspace: string): Promise<TokenRangeDescription[]> {
    return this.optionalAdmin('describeRing')(keyspace);
  }
  startRepair(options: RepairOptions): Promise<{ id: string }> {
    return this.optionalAdmin('startRepair')(options);
  }
  repairProgress(id: string): Promise<RepairProgress> {
    return this.optionalAdmin('repairProgress')(id);
  }
  repairHistory(keyspace?: string, tables?: string[]): Promise<RepairRecord[]> {
    return this.optionalAdmin('repairHistory')(keyspace, tables);
  }
  cleanup(keyspace?: string, tables?: string[]): Promise<CleanupEntry[]> {
    return this.optionalAdmin('cleanup')(keyspace, tables);
  }
  verify(keyspace?: string, tables?: string[]): Promise<VerifyEntry[]> {
    return this.optionalAdmin('verify')(keyspace, tables);
  }

  /** An operation the CQL service factory's AdminService may lack. */
  private optionalAdmin<K extends keyof ClusterAdminService | keyof RingChangeAdminService | keyof RepairAdminService | 'hints' | 'cleanup' | 'verify'>(name: K): NonNullable<AdminService[K]> {
    const admin = this.adminService();
    const method = admin[name];
    if (method === undefined) throw new ServerError(`This node does not offer ${name}`);
    return method.bind(admin) as NonNullable<AdminService[K]>;
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
