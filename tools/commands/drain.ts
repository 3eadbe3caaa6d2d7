/** `sibyl drain`: flush everything and stop accepting writes, before stopping the node
 *  (nodetool drain). */
import { adminCommand } from './command.js';

export const drain = adminCommand({
  name: 'drain',
  summary: 'flush all memtables and stop accepting writes (run before stopping a node)',
  positionals: '',
  positionalsMax: 0,
  action: async ({ client }) => ({ human: '', json: await client.post('/v1/admin/drain', {}) }),
});
