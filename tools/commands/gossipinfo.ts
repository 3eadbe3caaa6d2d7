/**
 * `sibyl gossipinfo`: what gossip knows of each endpoint, as nodetool gossipinfo prints
 * it: the address, generation and heartbeat, then NAME:VERSION:VALUE per application
 * state. TOKENS is shown as <hidden> (a long list); --json has it.
 */
import type { GossipEndpointInfo } from '../../lib/api/admin-service.js';
import { adminCommand } from './command.js';

export function describeGossipInfo(endpoints: readonly GossipEndpointInfo[]): string {
  return endpoints
    .map((endpoint) => {
      const lines = [
        `/${endpoint.address}${endpoint.alive ? '' : ' (down)'}`,
        `  generation:${endpoint.generation}`,
        `  heartbeat:${endpoint.heartbeat}`,
        ...endpoint.states.map(({ name, value, version }) => `  ${name}:${version}:${name === 'TOKENS' ? '<hidden>' : value}`),
      ];
      return lines.map((line) => `${line}\n`).join('');
    })
    .join('');
}

export const gossipinfo = adminCommand({
  name: 'gossipinfo',
  summary: "show what gossip knows of each endpoint: generation, heartbeat, application states",
  positionals: '',
  positionalsMax: 0,
  action: async ({ client }) => {
    const { endpoints } = await client.get<{ endpoints: GossipEndpointInfo[] }>('/v1/admin/gossipinfo');
    return { human: describeGossipInfo(endpoints), json: endpoints };
  },
});
