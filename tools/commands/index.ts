/**
 * The operations commands, for tools/sibyl.ts's dispatch table. Each talks to a running
 * node's /v1/admin/* API (lib/api/admin.ts) over HTTP, except `cluster`, which manages
 * local node processes and parses its own flags.
 */
import { cleanup } from './cleanup.js';
import { cluster } from './cluster.js';
import type { AdminCommand } from './command.js';
import { compact } from './compact.js';
import { decommission } from './decommission.js';
import { describering } from './describering.js';
import { drain } from './drain.js';
import { flush } from './flush.js';
import { getendpoints } from './getendpoints.js';
import { gossipinfo } from './gossipinfo.js';
import { hints } from './hints.js';
import { info } from './info.js';
import { ring } from './ring.js';
import { removenode } from './removenode.js';
import { repair } from './repair.js';
import { status } from './status.js';
import { tablestats } from './tablestats.js';
import { verify } from './verify.js';

export type { AdminCommand, CommandIo } from './command.js';

export const ADMIN_COMMANDS: readonly AdminCommand[] = [
  flush,
  compact,
  cleanup,
  verify,
  drain,
  tablestats,
  info,
  status,
  ring,
  gossipinfo,
  getendpoints,
  hints,
  decommission,
  removenode,
  describering,
  repair,
  cluster,
];
