/**
 * `sibyl getendpoints KEYSPACE TABLE KEY`: the replicas of a partition key, one address
 * per line, the primary first (nodetool getendpoints). A composite key is written with
 * its components joined by ':'.
 */
import type { KeyEndpoints } from '../../lib/api/admin-service.js';
import { adminCommand, UsageError } from './command.js';

export const getendpoints = adminCommand({
  name: 'getendpoints',
  summary: 'show the replicas of a partition key (composite keys as a:b)',
  positionals: 'KEYSPACE TABLE KEY',
  positionalsMax: 3,
  action: async ({ client, positionals }) => {
    const [keyspace, table, key] = positionals;
    if (key === undefined) throw new UsageError('Expected KEYSPACE TABLE KEY');
    const result = await client.get<KeyEndpoints>('/v1/admin/endpoints', { keyspace, table, key });
    return { human: result.replicas.map((replica) => `${replica.address}\n`).join(''), json: result };
  },
});
