/**
 * `sibyl hints`: the hints the node holds for replicas it could not reach, per target
 * (host id, address as gossip knows it now, pending hints and their size), as nodetool
 * listpendinghints lists them. They replay once the target is seen UP again.
 */
import type { PendingHintsEntry } from '../../lib/api/admin-service.js';
import { adminCommand } from './command.js';
import { humanBytes } from './sizes.js';
import { layoutColumns } from './table-layout.js';

export function describeHints(targets: readonly PendingHintsEntry[]): string {
  if (targets.length === 0) return 'No pending hints.\n';
  return layoutColumns([
    ['Host ID', 'Address', 'Pending hints', 'Size'],
    ...targets.map((target) => [target.hostId, target.address ?? '?', String(target.hints), humanBytes(target.bytes)]),
  ]);
}

export const hints = adminCommand({
  name: 'hints',
  summary: 'show the hints this node holds for each replica: host id, address, pending hints, size',
  positionals: '',
  positionalsMax: 0,
  action: async ({ client }) => {
    const { targets } = await client.get<{ targets: PendingHintsEntry[] }>('/v1/admin/hints');
    return { human: describeHints(targets), json: targets };
  },
});
