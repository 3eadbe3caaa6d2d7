/**
 * `sibyl describering KEYSPACE`: every token range of the ring with the keyspace's
 * replicas, in nodetool describering's layout (one TokenRange line per range, with
 * pending_endpoints added while nodes join or leave).
 */
import type { TokenRangeDescription } from '../../lib/api/admin-service.js';
import { adminCommand, UsageError } from './command.js';

function list(items: readonly (string | null)[]): string {
  return `[${items.map((item) => item ?? '?').join(', ')}]`;
}

export function describeRanges(keyspace: string, ranges: readonly TokenRangeDescription[]): string {
  const lines = ranges.map((range) => {
    const details = range.endpointDetails.map((d) => `EndpointDetails(host:${d.host}, datacenter:${d.datacenter}, rack:${d.rack})`);
    const pending = range.pendingEndpoints.length === 0 ? '' : `, pending_endpoints:${list(range.pendingEndpoints)}`;
    return (
      `\tTokenRange(start_token:${range.startToken}, end_token:${range.endToken}, endpoints:${list(range.endpoints)}, ` +
      `rpc_endpoints:${list(range.rpcEndpoints)}, endpoint_details:[${details.join(', ')}]${pending})\n`
    );
  });
  return `Keyspace: ${keyspace}\nTokenRange:\n${lines.join('')}`;
}

export const describering = adminCommand({
  name: 'describering',
  summary: "show every token range of the ring with the keyspace's replicas",
  positionals: 'KEYSPACE',
  positionalsMax: 1,
  action: async ({ client, positionals: [keyspace] }) => {
    if (keyspace === undefined) throw new UsageError('Expected a KEYSPACE');
    const result = await client.get<{ keyspace: string; ranges: TokenRangeDescription[] }>(`/v1/admin/describering/${encodeURIComponent(keyspace)}`);
    return { human: describeRanges(result.keyspace, result.ranges), json: result };
  },
});
