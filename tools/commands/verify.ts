/**
 * `sibyl verify [KEYSPACE [TABLE…]]`: checks every SSTable of the tables in scope
 * against its checksums (nodetool verify): each chunk's CRC32C, and the whole data file
 * against Digest.db. It prints one line per table. When some SSTable is corrupt it exits
 * 1 with a message naming each corrupt file, and under --json prints an error body
 * (code CorruptSSTable) that carries every table's result, as decommission reports
 * failed streams. The node reads at compaction_throughput, so a large table takes a
 * while; the CLI waits for the answer however long it takes (admin-client.ts).
 */
import type { VerifyEntry } from '../../lib/api/admin-service.js';
import { AdminRequestFailed } from './admin-client.js';
import { adminCommand, scopeOf } from './command.js';

const sstables = (count: number): string => `${count} SSTable${count === 1 ? '' : 's'}`;

/** One line per table, then one line per corrupt SSTable naming its file. */
export function describeVerify(tables: readonly VerifyEntry[]): string {
  if (tables.length === 0) return 'No tables to verify.\n';
  const lines: string[] = [];
  for (const entry of tables) {
    const name = `${entry.keyspace}.${entry.table}`;
    if (entry.corrupt.length === 0) {
      lines.push(`${name}: ${sstables(entry.sstables)} verified`);
      continue;
    }
    lines.push(`${name}: ${entry.corrupt.length} of ${sstables(entry.sstables)} corrupt`);
    // The engine's messages name the file already; say it when one does not.
    for (const { file, message } of entry.corrupt) lines.push(`  ${message.includes(file) ? message : `${file}: ${message}`}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The command's failure when some SSTable is corrupt: the corrupt tables in the message, every table in the body. */
export function corruptionFound(tables: readonly VerifyEntry[]): AdminRequestFailed {
  const corrupt = tables.filter((entry) => entry.corrupt.length > 0);
  const found = corrupt.reduce((sum, entry) => sum + entry.corrupt.length, 0);
  const checked = tables.reduce((sum, entry) => sum + entry.sstables, 0);
  const message = `${found} of ${sstables(checked)} corrupt:\n${describeVerify(corrupt).trimEnd()}`;
  return new AdminRequestFailed(message, { error: { code: 'CorruptSSTable', message, tables } });
}

export const verify = adminCommand({
  name: 'verify',
  summary: 'check every SSTable against its checksums (all keyspaces, one keyspace, or some of its tables)',
  positionals: '[KEYSPACE [TABLE…]]',
  positionalsMax: Infinity,
  action: async ({ client, positionals }) => {
    const { tables } = await client.post<{ tables: VerifyEntry[] }>('/v1/admin/verify', scopeOf(positionals));
    if (tables.some((entry) => entry.corrupt.length > 0)) throw corruptionFound(tables);
    return { human: describeVerify(tables), json: tables };
  },
});
