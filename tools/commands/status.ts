/**
 * `sibyl status [KEYSPACE]`: every endpoint of the cluster, per datacenter, in nodetool
 * status' layout: Up/Down and Normal/Joining/Leaving, internode address, load, tokens,
 * ownership (effective for the keyspace when one is named), host id, rack.
 */
import type { ClusterStatus, EndpointStatusEntry } from '../../lib/api/admin-service.js';
import { adminCommand } from './command.js';
import { humanBytes } from './sizes.js';
import { groupBy, layoutColumns, percent } from './table-layout.js';

const LEGEND = 'Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n';

function datacenterBlock(dc: string, endpoints: readonly EndpointStatusEntry[], effective: boolean): string {
  const title = `Datacenter: ${dc}`;
  const rows = [
    ['--', 'Address', 'Load', 'Tokens', effective ? 'Owns (effective)' : 'Owns', 'Host ID', 'Rack'],
    ...endpoints.map((e) => [
      e.status,
      e.address,
      e.load === null ? '?' : humanBytes(e.load),
      String(e.tokens),
      percent(e.owns),
      e.hostId,
      e.rack,
    ]),
  ];
  return `${title}\n${'='.repeat(title.length)}\n${LEGEND}${layoutColumns(rows)}`;
}

export function describeStatus(status: ClusterStatus): string {
  const byDc = groupBy(status.endpoints, (endpoint) => endpoint.dc);
  return byDc.map(([dc, endpoints]) => datacenterBlock(dc, endpoints, status.keyspace !== null)).join('\n');
}

export const status = adminCommand({
  name: 'status',
  summary: 'show every endpoint: up/down, state, address, load, tokens, ownership, host id, rack',
  positionals: '[KEYSPACE]',
  positionalsMax: 1,
  action: async ({ client, positionals: [keyspace] }) => {
    const result = await client.get<ClusterStatus>('/v1/admin/status', { keyspace });
    return { human: describeStatus(result), json: result };
  },
});
