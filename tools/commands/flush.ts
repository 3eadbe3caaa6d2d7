/** `sibyl flush [KEYSPACE [TABLE…]]`: write memtables to SSTables (nodetool flush). */
import { adminCommand, scopeOf } from './command.js';

export const flush = adminCommand({
  name: 'flush',
  summary: 'flush memtables to SSTables (all keyspaces, one keyspace, or some of its tables)',
  positionals: '[KEYSPACE [TABLE…]]',
  positionalsMax: Infinity,
  action: async ({ client, positionals }) => ({ human: '', json: await client.post('/v1/admin/flush', scopeOf(positionals)) }),
});
