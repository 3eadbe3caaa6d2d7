/**
 * The operations commands, for tools/sibyl.ts's dispatch table. Each talks to a running
 * node's /v1/admin/* API (lib/api/admin.ts) over HTTP.
 */
import type { AdminCommand } from './command.js';
import { compact } from './compact.js';
import { drain } from './drain.js';
import { flush } from './flush.js';
import { info } from './info.js';
import { tablestats } from './tablestats.js';

export type { AdminCommand, CommandIo } from './command.js';

export const ADMIN_COMMANDS: readonly AdminCommand[] = [flush, compact, drain, tablestats, info];
