/**
 * `sibyl ring [KEYSPACE]`: every token of the ring with its owner, in token order, per
 * datacenter, as nodetool ring prints it (the last token first, on its own line, since
 * the first range wraps around from it).
 */
import type { RingEntry } from '../../lib/api/admin-service.js';
import { adminCommand } from './command.js';
import { humanBytes } from './sizes.js';
import { groupBy, layoutColumns, percent } from './table-layout.js';

const STATUS_WORD: Record<string, string> = { U: 'Up', D: 'Down' };
const STATE_WORD: Record<string, string> = { N: 'Normal', J: 'Joining', L: 'Leaving' };

function datacenterBlock(dc: string, entries: readonly RingEntry[]): string {
  const title = `Datacenter: ${dc}`;
  const rows = [
    ['Address', 'Rack', 'Status', 'State', 'Load', 'Owns', 'Token'],
    ['', '', '', '', '', '', entries[entries.length - 1].token],
    ...entries.map((e) => [
      e.address,
      e.rack,
      STATUS_WORD[e.status[0]],
      STATE_WORD[e.status[1]],
      e.load === null ? '?' : humanBytes(e.load),
      percent(e.owns),
      e.token,
    ]),
  ];
  return `${title}\n${'='.repeat(title.length)}\n${layoutColumns(rows)}`;
}

export function describeRing(entries: readonly RingEntry[]): string {
  if (entries.length === 0) return 'The ring is empty: no node owns tokens yet.\n';
  return groupBy(entries, (entry) => entry.dc)
    .map(([dc, group]) => datacenterBlock(dc, group))
    .join('\n');
}

export const ring = adminCommand({
  name: 'ring',
  summary: 'show every token of the ring and the endpoint that owns it',
  positionals: '[KEYSPACE]',
  positionalsMax: 1,
  action: async ({ client, positionals: [keyspace] }) => {
    const { tokens } = await client.get<{ tokens: RingEntry[] }>('/v1/admin/ring', { keyspace });
    return { human: describeRing(tokens), json: tokens };
  },
});
