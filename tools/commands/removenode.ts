/**
 * `sibyl removenode HOST_ID`: for a dead node, the nodes that become replicas of its
 * ranges copy them from the remaining replicas, then it is removed from the ring
 * (nodetool removenode). Run it on any live node. Like decommission it answers once the
 * data has moved, however long that takes; failed ranges make it exit 1 and leave the
 * node in the ring, to run again.
 */
import type { MovementSummary } from '../../lib/api/admin-service.js';
import { adminCommand, UsageError } from './command.js';
import { describeMovement, failedMovement } from './decommission.js';

export const removenode = adminCommand({
  name: 'removenode',
  summary: "re-replicate a dead node's ranges from the remaining replicas and remove it from the ring",
  positionals: 'HOST_ID',
  positionalsMax: 1,
  action: async ({ client, positionals: [hostId] }) => {
    if (hostId === undefined) throw new UsageError('Expected the HOST_ID of the dead node (see sibyl status)');
    const summary = await client.post<MovementSummary>('/v1/admin/removenode', { hostId });
    if (summary.errors.length > 0) {
      throw failedMovement(`${summary.errors.length} streams failed; ${hostId} was not removed. Run removenode again:`, summary);
    }
    return { human: `${describeMovement(summary)}Removed ${hostId} from the ring.\n`, json: summary };
  },
});
