/** `sibyl compact [KEYSPACE [TABLE…]]`: major compaction (nodetool compact). */
import { adminCommand, scopeOf } from './command.js';

export const compact = adminCommand({
  name: 'compact',
  summary: "major compaction: merge each table's SSTables (all keyspaces, one keyspace, or some of its tables)",
  positionals: '[KEYSPACE [TABLE…]]',
  positionalsMax: Infinity,
  action: async ({ client, positionals }) => ({ human: '', json: await client.post('/v1/admin/compact', scopeOf(positionals)) }),
});
