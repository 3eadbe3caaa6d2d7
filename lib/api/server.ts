/**
 * The HTTP edge of a node: a fastify server with one plugin per resource. Requests are
 * validated here against the v1 contract; every error, whatever its origin, leaves
 * through one handler as `{ "error": { code, message, ...details } }` (lib/api/errors.ts),
 * so a user error never becomes a 500 and no error crashes the process.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { CqlService } from '../cql/request.js';
import { SibylError } from '../errors.js';
import { adminRoutes } from './admin.js';
import type { AdminService } from './admin-service.js';
import { cqlRoute } from './cql-route.js';
import { fromEdgeError, HttpProtocolError, toHttpError } from './errors.js';
import { type HealthStatus, healthRoute } from './health.js';

/** pino options for the logger fastify builds (level, transport …). */
export type HttpLoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

export interface HttpServerOptions {
  cql: CqlService;
  /** Operations (/v1/admin/*); omitted, those routes are not served. */
  admin?: AdminService;
  /** An existing logger, options for the one fastify builds, or false for none. */
  logger: FastifyBaseLogger | HttpLoggerOptions | false;
  /** Largest request body in bytes (max_request_body_size); larger ones get 413. */
  bodyLimit: number;
  /** Longest CQL statement in characters (max_statement_length). */
  maxStatementLength: number;
  /** The node's state for /health and for refusing work while stopping; default 'ok'. */
  status?: () => HealthStatus;
  /** Serve OpenAPI at /docs (UI) and /docs/json; default true. */
  docs?: boolean;
}

const OPENAPI_INFO = {
  title: 'sibyl HTTP API',
  description: 'CQL over HTTP for a sibyl node. Errors: { "error": { "code", "message", ...details } }.',
  version: 'v1',
};

function isLogger(logger: HttpServerOptions['logger']): logger is FastifyBaseLogger {
  return typeof logger === 'object' && typeof (logger as Partial<FastifyBaseLogger>).child === 'function';
}

export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const { logger, bodyLimit } = options;
  const status = options.status ?? (() => 'ok' as const);
  const app = Fastify({
    ...(isLogger(logger) ? { loggerInstance: logger } : { logger }),
    bodyLimit,
    // A database does not log every query; errors are logged by the handler below.
    logController: new LogController({ disableRequestLogging: true }),
    // While stopping, requests on open connections get our Overloaded body, not fastify's.
    return503OnClosing: false,
    ajv: {
      // Fastify's defaults would quietly drop unknown fields and turn 5 into "5"; the
      // contract says both are errors. Union types: `params` is an array or an object.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allowUnionTypes: true },
    },
  });

  // The contract is JSON only: text/plain would reach the schema as a string and be
  // reported as a malformed body instead of as the wrong content type (415).
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error, request, reply) => {
    const sibyl = error instanceof SibylError ? error : fromEdgeError(error, request.headers['content-type'], bodyLimit);
    const { status: httpStatus, body } = toHttpError(sibyl ?? error);
    // 500s are the node's fault and worth a stack; 503/504 are operating conditions.
    if (httpStatus === 500) {
      request.log.error({ err: error, url: request.url }, 'request failed');
    }
    return reply.code(httpStatus).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const { status: httpStatus, body } = toHttpError(
      new HttpProtocolError(`No such endpoint: ${request.method} ${request.url}`, 404),
    );
    return reply.code(httpStatus).send(body);
  });

  // Swagger collects the routes registered after it, so it comes first.
  if (options.docs ?? true) {
    app.register(swagger, { openapi: { openapi: '3.0.3', info: OPENAPI_INFO } });
    app.register(swaggerUi, { routePrefix: '/docs' });
  }
  app.register(healthRoute, { status });
  app.register(cqlRoute, { cql: options.cql, maxStatementLength: options.maxStatementLength, status });
  // /v1/admin/* (flush, compact, tablestats … for the CLI; status, ring, repair later).
  if (options.admin !== undefined) app.register(adminRoutes, { admin: options.admin });
  return app;
}
