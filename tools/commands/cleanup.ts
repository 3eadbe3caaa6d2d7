/**
 * `sibyl cleanup [KEYSPACE [TABLE…]]`: drops the data of ranges the node no longer
 * replicates (nodetool cleanup), e.g. on the old replicas after a node joined, and
 * prints per table what went. System keyspaces are node-local and never cleaned.
 */
import type { CleanupEntry } from '../../lib/api/admin-service.js';
import { adminCommand, scopeOf } from './command.js';
import { humanBytes } from './sizes.js';
import { layoutColumns } from './table-layout.js';

export function describeCleanup(tables: readonly CleanupEntry[]): string {
  if (tables.length === 0) return 'No user tables to clean up.\n';
  return layoutColumns([
    ['Keyspace', 'Table', 'Partitions removed', 'Size before', 'Size after'],
    ...tables.map((entry) => [
      entry.keyspace,
      entry.table,
      String(entry.partitionsRemoved),
      humanBytes(entry.bytesBefore),
      humanBytes(entry.bytesAfter),
    ]),
  ]);
}

export const cleanup = adminCommand({
  name: 'cleanup',
  summary: 'drop the data of ranges this node no longer replicates (all keyspaces, one keyspace, or some of its tables)',
  positionals: '[KEYSPACE [TABLE…]]',
  positionalsMax: Infinity,
  action: async ({ client, positionals }) => {
    const { tables } = await client.post<{ tables: CleanupEntry[] }>('/v1/admin/cleanup', scopeOf(positionals));
    return { human: describeCleanup(tables), json: tables };
  },
});
