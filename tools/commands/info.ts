/** `sibyl info`: the node's identity, uptime, load and schema version (nodetool info). */
import type { NodeInfo } from '../../lib/api/admin-service.js';
import { adminCommand } from './command.js';
import { humanBytes } from './sizes.js';

function describe(info: NodeInfo): string {
  const rows: [string, string][] = [
    ['ID', info.hostId],
    ['HTTP Address', info.httpAddress],
    ['Load', humanBytes(info.load)],
    ['Uptime (seconds)', String(Math.floor(info.uptimeSeconds))],
    ['Heap Memory (MB)', (info.heapUsedBytes / (1024 * 1024)).toFixed(2)],
    ['Data Directory', info.dataDir],
    ['Schema Version', info.schemaVersion],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)} : ${value}\n`).join('');
}

export const info = adminCommand({
  name: 'info',
  summary: "show the node's identity, uptime, load and schema version",
  positionals: '',
  positionalsMax: 0,
  action: async ({ client }) => {
    const node = await client.get<NodeInfo>('/v1/admin/info');
    return { human: describe(node), json: node };
  },
});
