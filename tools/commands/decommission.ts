/**
 * `sibyl decommission`: the node named by -h streams its ranges to the nodes that take
 * them over and leaves the ring (nodetool decommission). It answers once the data has
 * moved, however long that takes; if the CLI is stopped before, the node streams on
 * (`sibyl status` shows it UL until it has left). Ranges that could not be streamed
 * make it exit 1, the node staying LEAVING; running it again resumes.
 */
import type { MovementSummary } from '../../lib/api/admin-service.js';
import { AdminRequestFailed } from './admin-client.js';
import { adminCommand } from './command.js';
import { humanBytes } from './sizes.js';
import { layoutColumns } from './table-layout.js';

/** What moved, per table, for people. */
export function describeMovement(summary: MovementSummary): string {
  if (summary.tables.length === 0) return 'No data to stream.\n';
  return layoutColumns([
    ['Keyspace', 'Table', 'Ranges', 'Partitions', 'Streamed'],
    ...summary.tables.map((t) => [t.keyspace, t.table, String(t.ranges), String(t.partitions), humanBytes(t.bytes)]),
  ]);
}

/**
 * A summary with failed ranges as the command's failure: the message lists them, and
 * under --json the summary is printed as the error body's details.
 */
export function failedMovement(what: string, summary: MovementSummary): AdminRequestFailed {
  const message = `${what}\n${summary.errors.map((error) => `  ${error}`).join('\n')}`;
  return new AdminRequestFailed(message, { error: { code: 'StreamFailed', message, ...summary } });
}

export const decommission = adminCommand({
  name: 'decommission',
  summary: "stream the node's ranges to the nodes that take them over, then take it out of the ring",
  positionals: '',
  positionalsMax: 0,
  action: async ({ client }) => {
    const summary = await client.post<MovementSummary>('/v1/admin/decommission', {});
    if (summary.errors.length > 0) {
      throw failedMovement(`${summary.errors.length} streams failed; the node stays LEAVING. Run decommission again to resume:`, summary);
    }
    return { human: `${describeMovement(summary)}Decommissioned: the node has left the ring.\n`, json: summary };
  },
});
