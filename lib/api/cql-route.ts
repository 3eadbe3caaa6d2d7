/**
 * POST /v1/cql: one CQL statement in, one result out (DESIGN.md, "HTTP API contract").
 * The body schema is the v1 contract exactly; anything else (an unknown field, a wrong
 * type, a consistency level that does not exist) is refused here as a ProtocolError
 * before the CQL layer sees it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CONSISTENCY_LEVELS, type CqlRequest, type CqlResult, type CqlService } from '../cql/request.js';
import { InvalidRequest, Overloaded } from '../errors.js';
import type { HealthStatus } from './health.js';

export interface CqlRouteOptions {
  cql: CqlService;
  /** Longest statement accepted, in characters (max_statement_length). */
  maxStatementLength: number;
  status: () => HealthStatus;
}

const CQL_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['query'],
  properties: {
    query: { type: 'string', description: 'One CQL statement' },
    params: {
      type: ['array', 'object'],
      description: 'Values for ? markers (array) or :name markers (object), in their JSON forms',
    },
    keyspace: { type: 'string', description: 'The keyspace unqualified table names refer to' },
    consistency: { type: 'string', enum: CONSISTENCY_LEVELS },
    serialConsistency: { type: 'string', enum: ['SERIAL', 'LOCAL_SERIAL'] },
    pageSize: { type: 'integer', minimum: 1, description: 'Rows per page' },
    pagingState: { type: 'string', description: 'The pagingState of the previous page' },
    timestamp: { type: 'integer', description: 'Default write timestamp in microseconds since the epoch' },
  },
} as const;

/**
 * Every field a CqlResult can have, all optional but kind, instead of a oneOf per kind:
 * fast-json-stringify then writes the result without trying each branch. `rows` has no
 * type on purpose: typed as an array of open objects, fast-json-stringify wrote 10- and
 * 100-row results 2-4x slower than JSON.stringify; untyped, it hands them to
 * JSON.stringify, and the rest of the result is still written faster than by
 * JSON.stringify. A field added to CqlResult must be added here too, or it is left out.
 */
const CQL_RESULT_SCHEMA = {
  type: 'object',
  required: ['kind'],
  properties: {
    kind: { type: 'string', enum: ['rows', 'void', 'schema_change', 'set_keyspace'] },
    columns: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'type'],
        properties: { name: { type: 'string' }, type: { type: 'string' } },
      },
    },
    rows: { description: 'Array of rows, each an object keyed by column name with values in their JSON forms' },
    pagingState: { type: ['string', 'null'] },
    applied: { type: 'boolean' },
    change: { type: 'string', enum: ['CREATED', 'UPDATED', 'DROPPED'] },
    target: { type: 'string', enum: ['KEYSPACE', 'TABLE'] },
    keyspace: { type: 'string' },
    table: { type: 'string' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;

const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      additionalProperties: true,
    },
  },
} as const;

export const cqlRoute: FastifyPluginAsync<CqlRouteOptions> = async (app, { cql, maxStatementLength, status }) => {
  app.post<{ Body: CqlRequest; Reply: CqlResult }>(
    '/v1/cql',
    {
      schema: {
        summary: 'Execute one CQL statement',
        tags: ['cql'],
        body: CQL_REQUEST_SCHEMA,
        // Error bodies keep their details (consistency, required …) as additional properties.
        response: { 200: CQL_RESULT_SCHEMA, '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA },
      },
    },
    async (request, reply) => {
      const current = status();
      if (current !== 'ok') {
        // A stopping node refuses new work so the client retries elsewhere (503), and
        // closes the connection so a keep-alive client does not hold the server open.
        reply.header('connection', 'close');
        throw new Overloaded(`Node is ${current}; retry on another node`);
      }
      const { query } = request.body;
      if (query.length > maxStatementLength) {
        throw new InvalidRequest(`Statement too long (${query.length} > ${maxStatementLength} characters)`);
      }
      return cql.execute(request.body);
    },
  );
};
