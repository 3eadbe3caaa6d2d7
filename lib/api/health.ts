/**
 * GET /health: whether this node serves requests. 200 `{status: 'ok'}` once serving,
 * 503 `{status: 'starting' | 'stopping'}` otherwise, so a load balancer or a test can
 * wait for it.
 */
import type { FastifyPluginAsync } from 'fastify';

/** What /health reports; only 'ok' serves CQL. */
export type HealthStatus = 'ok' | 'starting' | 'stopping';

export interface HealthRouteOptions {
  status: () => HealthStatus;
}

const HEALTH_SCHEMA = {
  summary: 'Whether the node serves requests',
  tags: ['node'],
  response: {
    200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] },
    503: { type: 'object', properties: { status: { type: 'string', enum: ['starting', 'stopping'] } }, required: ['status'] },
  },
} as const;

export const healthRoute: FastifyPluginAsync<HealthRouteOptions> = async (app, { status }) => {
  app.get('/health', { schema: HEALTH_SCHEMA }, async (_request, reply) => {
    const current = status();
    return reply.code(current === 'ok' ? 200 : 503).send({ status: current });
  });
};
