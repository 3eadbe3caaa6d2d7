/**
 * The operations endpoints the `sibyl` CLI talks to, like nodetool to JMX:
 *
 *   POST /v1/admin/flush    { keyspace?, tables? }  memtables → SSTables
 *   POST /v1/admin/compact  { keyspace?, tables? }  major compaction
 *   POST /v1/admin/cleanup  { keyspace?, tables? }  drop data of ranges this node no longer replicates: {tables: CleanupEntry[]}
 *   POST /v1/admin/verify   { keyspace?, tables? }  check every SSTable against its checksums: {tables: VerifyEntry[]}
 *   POST /v1/admin/drain    {}                      flush all, stop accepting writes
 *   GET  /v1/admin/tablestats?keyspace=ks&table=t1&table=t2
 *   GET  /v1/admin/info
 *   GET  /v1/admin/status?keyspace=ks       endpoints: UN/DN…, load, tokens, owns
 *   GET  /v1/admin/ring?keyspace=ks         every token and its owner, sorted
 *   GET  /v1/admin/gossipinfo               each endpoint's application states
 *   GET  /v1/admin/endpoints?keyspace=ks&table=t&key=k   replicas of a partition key
 *   GET  /v1/admin/hints                    hints held for each replica
 *   POST /v1/admin/repair {keyspace?, tables?, primaryRangeOnly?}   start a repair: {id}
 *   GET  /v1/admin/repair/:id               a repair's progress (RepairProgress)
 *   GET  /v1/admin/repair-history?keyspace=ks&table=t   recorded repairs, oldest first
 *   POST /v1/admin/decommission {}          stream this node's ranges away and leave the ring
 *   POST /v1/admin/removenode {hostId}      re-replicate a dead node's ranges and remove it
 *   GET  /v1/admin/describering/:keyspace   every range with the keyspace's replicas
 *
 * status, ring, gossipinfo and endpoints are served only when the AdminService has the
 * cluster views; hints, cleanup and verify only when it has them; the repair routes
 * only when it has repair; decommission, removenode and describering only when it has
 * the ring changes. decommission and removenode answer when the data has moved (a
 * MovementSummary; ranges that failed are in its `errors`), which takes as long as the
 * streams do.
 *
 * flush, compact and drain answer `{ "ok": true }` once the work is done. verify
 * answers 200 also when it found corrupt SSTables: they are its result, listed per
 * table (`corrupt: [{file, message}]`), for the caller to judge (the CLI exits 1).
 * Request shapes are checked here (JSON schema; `tables` needs `keyspace`); whether the
 * keyspace and tables exist is the AdminService's to check. Errors are thrown, typed,
 * for the server's one error handler (lib/api/errors.ts) to turn into
 * `{ "error": { code, message } }`.
 */
import type {
  FastifyPluginAsync,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
} from 'fastify';
import { ProtocolError } from '../errors.js';
import type { AdminService, ClusterAdminService, RepairAdminService, RingChangeAdminService } from './admin-service.js';

export interface AdminRouteOptions {
  admin: AdminService;
}

/** Where a command applies: every keyspace, one keyspace, or some tables of one. */
interface Scope {
  keyspace?: string;
  tables?: string[];
}

const NAME = { type: 'string', minLength: 1 } as const;

const SCOPE_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keyspace: { ...NAME, description: 'Keyspace to act on; all keyspaces when omitted' },
    tables: { type: 'array', items: NAME, description: 'Tables of the keyspace; all its tables when omitted' },
  },
} as const;

const EMPTY_BODY_SCHEMA = { type: 'object', additionalProperties: false, properties: {} } as const;

const TABLESTATS_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keyspace: NAME,
    // Repeat the parameter for several tables: ?keyspace=ks&table=a&table=b.
    table: { type: ['string', 'array'], minLength: 1, items: NAME },
  },
} as const;

const DONE_SCHEMA = { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } } } as const;

const LATENCY_SCHEMA = {
  type: 'object',
  required: ['count', 'p50Ms', 'p99Ms'],
  properties: { count: { type: 'integer' }, p50Ms: { type: 'number' }, p99Ms: { type: 'number' } },
} as const;

/** Every field of TableStatsEntry: the serializer leaves out fields not listed. */
const TABLESTATS_RESULT_SCHEMA = {
  type: 'object',
  required: ['tables'],
  properties: {
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'keyspace',
          'table',
          'sstableCount',
          'liveBytes',
          'totalBytes',
          'partitionsEstimate',
          'bloomFalsePositives',
          'bloomFalseRatio',
          'memtableBytes',
          'readLatency',
          'writeLatency',
          'compactionsPending',
        ],
        properties: {
          keyspace: { type: 'string' },
          table: { type: 'string' },
          sstableCount: { type: 'integer' },
          liveBytes: { type: 'integer' },
          totalBytes: { type: 'integer' },
          partitionsEstimate: { type: 'integer' },
          bloomFalsePositives: { type: 'integer' },
          bloomFalseRatio: { type: 'number' },
          memtableBytes: { type: 'integer' },
          memtableCells: { type: 'integer' },
          readLatency: LATENCY_SCHEMA,
          writeLatency: LATENCY_SCHEMA,
          compactionsPending: { type: 'integer' },
          compactionsRunning: { type: 'integer' },
          compactionProgress: {
            type: 'object',
            required: ['bytesDone', 'bytesTotal'],
            properties: { bytesDone: { type: 'integer' }, bytesTotal: { type: 'integer' } },
          },
        },
      },
    },
  },
} as const;

const INFO_RESULT_SCHEMA = {
  type: 'object',
  required: ['hostId', 'uptimeSeconds', 'dataDir', 'load', 'schemaVersion', 'heapUsedBytes', 'httpAddress'],
  properties: {
    hostId: { type: 'string' },
    uptimeSeconds: { type: 'number' },
    dataDir: { type: 'string' },
    load: { type: 'integer', description: 'Bytes on disk' },
    schemaVersion: { type: 'string' },
    heapUsedBytes: { type: 'integer' },
    httpAddress: { type: 'string' },
  },
} as const;

const NULLABLE_STRING = { type: ['string', 'null'] } as const;
const NULLABLE_INTEGER = { type: ['integer', 'null'] } as const;
const STATUS_CODE = { type: 'string', enum: ['UN', 'UJ', 'UL', 'DN', 'DJ', 'DL'] } as const;

const KEYSPACE_QUERY_SCHEMA = { type: 'object', additionalProperties: false, properties: { keyspace: NAME } } as const;

const STATUS_RESULT_SCHEMA = {
  type: 'object',
  required: ['keyspace', 'endpoints'],
  properties: {
    keyspace: { ...NULLABLE_STRING, description: 'Keyspace of the effective ownership; null for raw token ownership' },
    endpoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['status', 'address', 'httpAddress', 'load', 'tokens', 'owns', 'hostId', 'dc', 'rack'],
        properties: {
          status: STATUS_CODE,
          address: { type: 'string' },
          httpAddress: NULLABLE_STRING,
          load: NULLABLE_INTEGER,
          tokens: { type: 'integer' },
          owns: { type: 'number', description: 'Fraction of the ring, 0 to 1' },
          hostId: { type: 'string' },
          dc: { type: 'string' },
          rack: { type: 'string' },
        },
      },
    },
  },
} as const;

const RING_RESULT_SCHEMA = {
  type: 'object',
  required: ['tokens'],
  properties: {
    tokens: {
      type: 'array',
      items: {
        type: 'object',
        required: ['token', 'address', 'hostId', 'dc', 'rack', 'status', 'load', 'owns'],
        properties: {
          token: { type: 'string', description: 'Signed 64-bit token in decimal' },
          address: { type: 'string' },
          hostId: { type: 'string' },
          dc: { type: 'string' },
          rack: { type: 'string' },
          status: STATUS_CODE,
          load: NULLABLE_INTEGER,
          owns: { type: 'number' },
        },
      },
    },
  },
} as const;

const GOSSIPINFO_RESULT_SCHEMA = {
  type: 'object',
  required: ['endpoints'],
  properties: {
    endpoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['address', 'alive', 'generation', 'heartbeat', 'states'],
        properties: {
          address: { type: 'string' },
          alive: { type: 'boolean' },
          generation: { type: 'integer' },
          heartbeat: { type: 'integer' },
          states: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'value', 'version'],
              properties: { name: { type: 'string' }, value: { type: 'string' }, version: { type: 'integer' } },
            },
          },
        },
      },
    },
  },
} as const;

const ENDPOINTS_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['keyspace', 'table', 'key'],
  properties: {
    keyspace: NAME,
    table: NAME,
    // An empty text key is a valid partition key; composite keys are written a:b.
    key: { type: 'string', description: "The partition key; components of a composite key joined by ':'" },
  },
} as const;

const ENDPOINTS_RESULT_SCHEMA = {
  type: 'object',
  required: ['keyspace', 'table', 'key', 'token', 'replicas'],
  properties: {
    keyspace: { type: 'string' },
    table: { type: 'string' },
    key: { type: 'string' },
    token: { type: 'string' },
    replicas: {
      type: 'array',
      items: {
        type: 'object',
        required: ['address', 'hostId', 'dc', 'rack', 'httpAddress'],
        properties: {
          address: { type: 'string' },
          hostId: { type: 'string' },
          dc: { type: 'string' },
          rack: { type: 'string' },
          httpAddress: NULLABLE_STRING,
        },
      },
    },
  },
} as const;

const HINTS_RESULT_SCHEMA = {
  type: 'object',
  required: ['targets'],
  properties: {
    targets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['hostId', 'address', 'hints', 'bytes'],
        properties: {
          hostId: { type: 'string' },
          address: NULLABLE_STRING,
          hints: { type: 'integer' },
          bytes: { type: 'integer', description: 'Bytes of the hinted mutations' },
        },
      },
    },
  },
} as const;

const MOVEMENT_SUMMARY_SCHEMA = {
  type: 'object',
  required: ['tables', 'errors'],
  properties: {
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyspace', 'table', 'ranges', 'partitions', 'bytes'],
        properties: {
          keyspace: { type: 'string' },
          table: { type: 'string' },
          ranges: { type: 'integer', description: 'Token ranges streamed' },
          partitions: { type: 'integer' },
          bytes: { type: 'integer', description: 'Encoded bytes streamed' },
        },
      },
    },
    errors: { type: 'array', items: { type: 'string' }, description: 'Ranges that could not be moved, and why' },
  },
} as const;

const REMOVENODE_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['hostId'],
  properties: { hostId: { ...NAME, description: 'Host ID of the dead node (sibyl status)' } },
} as const;

const DESCRIBERING_PARAMS_SCHEMA = { type: 'object', required: ['keyspace'], properties: { keyspace: NAME } } as const;

const DESCRIBERING_RESULT_SCHEMA = {
  type: 'object',
  required: ['keyspace', 'ranges'],
  properties: {
    keyspace: { type: 'string' },
    ranges: {
      type: 'array',
      items: {
        type: 'object',
        required: ['startToken', 'endToken', 'endpoints', 'rpcEndpoints', 'endpointDetails', 'pendingEndpoints'],
        properties: {
          startToken: { type: 'string', description: 'The range is (startToken, endToken]' },
          endToken: { type: 'string' },
          endpoints: { type: 'array', items: { type: 'string' }, description: 'Internode addresses of the replicas, primary first' },
          rpcEndpoints: { type: 'array', items: NULLABLE_STRING, description: 'Their HTTP addresses' },
          endpointDetails: {
            type: 'array',
            items: {
              type: 'object',
              required: ['host', 'datacenter', 'rack'],
              properties: { host: { type: 'string' }, datacenter: { type: 'string' }, rack: { type: 'string' } },
            },
          },
          pendingEndpoints: { type: 'array', items: { type: 'string' }, description: 'Nodes taking the range over (joining, or replacing a leaving one)' },
        },
      },
    },
  },
} as const;

/** The service's ring changes, when it has all of them. */
function ringChanges(admin: AdminService): RingChangeAdminService | null {
  const { decommission, removeNode, describeRing } = admin;
  if (decommission === undefined || removeNode === undefined || describeRing === undefined) return null;
  return admin as RingChangeAdminService;
}

/** The service's cluster views, when it has all of them. */
function clusterViews(admin: AdminService): ClusterAdminService | null {
  const { clusterStatus, ring, gossipInfo, endpoints } = admin;
  if (clusterStatus === undefined || ring === undefined || gossipInfo === undefined || endpoints === undefined) return null;
  return admin as ClusterAdminService;
}

const REPAIR_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keyspace: { ...NAME, description: 'Keyspace to repair; every non-system keyspace when omitted' },
    tables: { type: 'array', items: NAME, description: 'Tables of the keyspace; all its tables when omitted' },
    primaryRangeOnly: { type: 'boolean', description: "Only this node's primary ranges (--pr)" },
  },
} as const;

const REPAIR_STARTED_SCHEMA = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;

const REPAIR_ID_PARAMS_SCHEMA = { type: 'object', required: ['id'], properties: { id: NAME } } as const;

/** Every field of RepairProgress: the serializer leaves out fields not listed. */
const REPAIR_PROGRESS_SCHEMA = {
  type: 'object',
  required: [
    'id',
    'state',
    'keyspaces',
    'primaryRangeOnly',
    'rangesTotal',
    'rangesDone',
    'rangesFailed',
    'rangesDiffering',
    'partitionsStreamed',
    'bytesStreamed',
    'startedAtMs',
    'finishedAtMs',
    'bytesPerSecond',
    'etaMs',
    'errors',
  ],
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
    keyspaces: { type: 'array', items: { type: 'string' } },
    primaryRangeOnly: { type: 'boolean' },
    rangesTotal: { type: 'integer', description: '(table, token range) pairs to repair' },
    rangesDone: { type: 'integer' },
    rangesFailed: { type: 'integer' },
    rangesDiffering: { type: 'integer', description: 'Ranges where some replica differed' },
    partitionsStreamed: { type: 'integer' },
    bytesStreamed: { type: 'integer' },
    startedAtMs: { type: 'integer' },
    finishedAtMs: NULLABLE_INTEGER,
    bytesPerSecond: { type: 'number' },
    etaMs: { ...NULLABLE_INTEGER, description: 'Estimated time left; null before the first range is done' },
    errors: { type: 'array', items: { type: 'string' }, description: 'Why ranges failed, one line each' },
  },
} as const;

const REPAIR_HISTORY_RESULT_SCHEMA = {
  type: 'object',
  required: ['repairs'],
  properties: {
    repairs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'keyspace', 'table', 'ranges', 'startedAtMs', 'finishedAtMs', 'succeeded'],
        properties: {
          id: { type: 'string' },
          keyspace: { type: 'string' },
          table: { type: 'string' },
          ranges: {
            type: 'array',
            items: {
              type: 'object',
              required: ['start', 'end'],
              properties: { start: { type: 'string' }, end: { type: 'string' } },
              description: 'Token range (start exclusive, end inclusive) in decimal',
            },
          },
          startedAtMs: { type: 'integer' },
          finishedAtMs: { type: 'integer' },
          succeeded: { type: 'boolean' },
        },
      },
    },
  },
} as const;

const CLEANUP_RESULT_SCHEMA = {
  type: 'object',
  required: ['tables'],
  properties: {
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyspace', 'table', 'partitionsRemoved', 'bytesBefore', 'bytesAfter'],
        properties: {
          keyspace: { type: 'string' },
          table: { type: 'string' },
          partitionsRemoved: { type: 'integer' },
          bytesBefore: { type: 'integer', description: "Bytes of the table's SSTables before" },
          bytesAfter: { type: 'integer', description: "Bytes of the table's SSTables after" },
        },
      },
    },
  },
} as const;

const VERIFY_RESULT_SCHEMA = {
  type: 'object',
  required: ['tables'],
  properties: {
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyspace', 'table', 'sstables', 'corrupt'],
        properties: {
          keyspace: { type: 'string' },
          table: { type: 'string' },
          sstables: { type: 'integer', description: 'SSTables checked, corrupt ones included' },
          corrupt: {
            type: 'array',
            items: {
              type: 'object',
              required: ['file', 'message'],
              properties: { file: { type: 'string', description: 'The file that failed its check' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  },
} as const;

/** The service's repair operations, when it has them. */
function repairOperations(admin: AdminService): RepairAdminService | null {
  const { startRepair, repairProgress, repairHistory } = admin;
  if (startRepair === undefined || repairProgress === undefined || repairHistory === undefined) return null;
  return admin as RepairAdminService;
}

/** `curl -X POST …/flush` sends no body: read that as `{}` (everything) rather than
 *  refusing it, as nodetool flush with no arguments flushes everything. */
async function emptyBodyIsEmptyObject(request: { body: unknown }): Promise<void> {
  request.body ??= {};
}

/** `tables` only means something within a keyspace; alone it is a malformed request. */
function checkScope({ keyspace, tables }: Scope): Scope {
  if (tables !== undefined && keyspace === undefined) throw new ProtocolError("'tables' needs a 'keyspace'");
  return { keyspace, tables };
}

/** A scope as a query string gives it: `table` is repeated for several tables. */
interface ScopeQuery {
  keyspace?: string;
  table?: string | string[];
}

function scopeOfQuery({ keyspace, table }: ScopeQuery): Scope {
  return checkScope({ keyspace, tables: typeof table === 'string' ? [table] : table });
}

/** What every admin route declares: its input schemas, its answer, and whether an absent body means `{}`. */
interface AdminRouteSchema {
  summary: string;
  body?: object;
  querystring?: object;
  params?: object;
  result: object;
  /** For POSTs whose every body field is optional (see emptyBodyIsEmptyObject). */
  bodyOptional?: boolean;
}

export const adminRoutes: FastifyPluginAsync<AdminRouteOptions> = async (app, { admin }) => {
  /** Registers one admin route: tagged 'admin', its one answer checked against `result`. */
  const route = <Route extends RouteGenericInterface>(
    method: 'GET' | 'POST',
    url: string,
    { summary, result, bodyOptional, ...input }: AdminRouteSchema,
    handler: RouteHandlerMethod<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, Route>,
  ) =>
    app.route<Route>({
      method,
      url,
      schema: { summary, tags: ['admin'], ...input, response: { 200: result } },
      ...(bodyOptional === true ? { preValidation: emptyBodyIsEmptyObject } : {}),
      handler,
    });

  const scoped = (url: string, summary: string, action: (keyspace?: string, tables?: string[]) => Promise<void>) =>
    route<{ Body: Scope }>('POST', url, { summary, body: SCOPE_BODY_SCHEMA, result: DONE_SCHEMA, bodyOptional: true }, async (request) => {
      const { keyspace, tables } = checkScope(request.body);
      await action(keyspace, tables);
      return { ok: true };
    });

  scoped('/v1/admin/flush', 'Flush memtables to SSTables', (keyspace, tables) => admin.flush(keyspace, tables));
  scoped('/v1/admin/compact', 'Major compaction', (keyspace, tables) => admin.compact(keyspace, tables));

  /** A scoped operation answering `{ tables: [...] }`, one entry per table. */
  const scopedPerTable = (url: string, summary: string, result: object, action: (keyspace?: string, tables?: string[]) => Promise<unknown[]>) =>
    route<{ Body: Scope }>('POST', url, { summary, body: SCOPE_BODY_SCHEMA, result, bodyOptional: true }, async (request) => {
      const { keyspace, tables } = checkScope(request.body);
      return { tables: await action(keyspace, tables) };
    });

  const { cleanup, verify } = admin;
  if (cleanup !== undefined) {
    scopedPerTable('/v1/admin/cleanup', 'Drop the partitions of ranges this node no longer replicates', CLEANUP_RESULT_SCHEMA, (keyspace, tables) =>
      cleanup.call(admin, keyspace, tables),
    );
  }
  if (verify !== undefined) {
    scopedPerTable(
      '/v1/admin/verify',
      'Check every SSTable against its checksums (chunk CRC32Cs and Digest.db)',
      VERIFY_RESULT_SCHEMA,
      (keyspace, tables) => verify.call(admin, keyspace, tables),
    );
  }

  route(
    'POST',
    '/v1/admin/drain',
    { summary: 'Flush everything and stop accepting writes', body: EMPTY_BODY_SCHEMA, result: DONE_SCHEMA, bodyOptional: true },
    async () => {
      await admin.drain();
      return { ok: true };
    },
  );

  route<{ Querystring: ScopeQuery }>(
    'GET',
    '/v1/admin/tablestats',
    { summary: 'Per-table statistics', querystring: TABLESTATS_QUERY_SCHEMA, result: TABLESTATS_RESULT_SCHEMA },
    async (request) => {
      const scope = scopeOfQuery(request.query);
      return { tables: await admin.tableStats(scope.keyspace, scope.tables) };
    },
  );

  route('GET', '/v1/admin/info', { summary: 'This node: identity, uptime, load, schema version', result: INFO_RESULT_SCHEMA }, () => admin.info());

  const repair = repairOperations(admin);
  if (repair !== null) {
    route<{ Body: Scope & { primaryRangeOnly?: boolean } }>(
      'POST',
      '/v1/admin/repair',
      {
        summary: 'Start an anti-entropy repair; poll GET /v1/admin/repair/:id for its progress',
        body: REPAIR_BODY_SCHEMA,
        result: REPAIR_STARTED_SCHEMA,
        bodyOptional: true,
      },
      (request) => {
        const { keyspace, tables } = checkScope(request.body);
        const primaryRangeOnly = request.body.primaryRangeOnly === true;
        return repair.startRepair({ ...(keyspace === undefined ? {} : { keyspace }), ...(tables === undefined ? {} : { tables }), primaryRangeOnly });
      },
    );
    route<{ Params: { id: string } }>(
      'GET',
      '/v1/admin/repair/:id',
      { summary: "A repair's progress", params: REPAIR_ID_PARAMS_SCHEMA, result: REPAIR_PROGRESS_SCHEMA },
      (request) => repair.repairProgress(request.params.id),
    );
    route<{ Querystring: ScopeQuery }>(
      'GET',
      '/v1/admin/repair-history',
      { summary: 'Recorded repairs, oldest first', querystring: TABLESTATS_QUERY_SCHEMA, result: REPAIR_HISTORY_RESULT_SCHEMA },
      async (request) => {
        const scope = scopeOfQuery(request.query);
        return { repairs: await repair.repairHistory(scope.keyspace, scope.tables) };
      },
    );
  }

  const { hints } = admin;
  if (hints !== undefined) {
    route('GET', '/v1/admin/hints', { summary: 'Hints this node holds, per target replica', result: HINTS_RESULT_SCHEMA }, async () => ({
      targets: await hints.call(admin),
    }));
  }

  const movements = ringChanges(admin);
  if (movements !== null) {
    route(
      'POST',
      '/v1/admin/decommission',
      {
        summary: "Stream this node's ranges to their new owners and leave the ring",
        body: EMPTY_BODY_SCHEMA,
        result: MOVEMENT_SUMMARY_SCHEMA,
        bodyOptional: true,
      },
      () => movements.decommission(),
    );
    route<{ Body: { hostId: string } }>(
      'POST',
      '/v1/admin/removenode',
      {
        summary: "Re-replicate a dead node's ranges from the remaining replicas and remove it from the ring",
        body: REMOVENODE_BODY_SCHEMA,
        result: MOVEMENT_SUMMARY_SCHEMA,
      },
      (request) => movements.removeNode(request.body.hostId),
    );
    route<{ Params: { keyspace: string } }>(
      'GET',
      '/v1/admin/describering/:keyspace',
      { summary: "Every range of the ring with the keyspace's replicas", params: DESCRIBERING_PARAMS_SCHEMA, result: DESCRIBERING_RESULT_SCHEMA },
      async (request) => ({ keyspace: request.params.keyspace, ranges: await movements.describeRing(request.params.keyspace) }),
    );
  }

  const cluster = clusterViews(admin);
  if (cluster === null) return;

  route<{ Querystring: { keyspace?: string } }>(
    'GET',
    '/v1/admin/status',
    {
      summary: 'Every endpoint: up/down and state, load, tokens, ownership (effective for ?keyspace=)',
      querystring: KEYSPACE_QUERY_SCHEMA,
      result: STATUS_RESULT_SCHEMA,
    },
    (request) => cluster.clusterStatus(request.query.keyspace),
  );

  route<{ Querystring: { keyspace?: string } }>(
    'GET',
    '/v1/admin/ring',
    { summary: 'Every token of the ring and its owner, in token order', querystring: KEYSPACE_QUERY_SCHEMA, result: RING_RESULT_SCHEMA },
    async (request) => ({ tokens: await cluster.ring(request.query.keyspace) }),
  );

  route('GET', '/v1/admin/gossipinfo', { summary: "Each endpoint's gossip state with versions", result: GOSSIPINFO_RESULT_SCHEMA }, async () => ({
    endpoints: await cluster.gossipInfo(),
  }));

  route<{ Querystring: { keyspace: string; table: string; key: string } }>(
    'GET',
    '/v1/admin/endpoints',
    { summary: 'The replicas of a partition key', querystring: ENDPOINTS_QUERY_SCHEMA, result: ENDPOINTS_RESULT_SCHEMA },
    (request) => cluster.endpoints(request.query.keyspace, request.query.table, request.query.key),
  );
};
