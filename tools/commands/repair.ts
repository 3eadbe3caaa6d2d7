/**
 * `sibyl repair [KEYSPACE [TABLE…]] [--pr] [--full]`: anti-entropy repair, as nodetool
 * repair runs it. The node compares Merkle trees of every replica of the ranges it holds
 * and streams only what differs. The command starts the repair, polls its progress
 * every REPAIR_POLL_INTERVAL_MS, redraws one progress line on stderr when stderr is a
 * terminal, and prints a summary (with --json the final RepairProgress) on stdout. It
 * exits 1 when the repair failed (some range could not be repaired), as nodetool does.
 *
 * `sibyl repair --history [KEYSPACE [TABLE…]]` lists the repairs the node recorded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RepairProgress, RepairRecord } from '../../lib/api/admin-service.js';
import type { AdminClient } from './admin-client.js';
import {
  type AdminCommand,
  adminCommand,
  type CommandDefinition,
  type CommandIo,
  processIo,
  scopeOf,
  UsageError,
} from './command.js';
import { humanBytes } from './sizes.js';
import { layoutColumns } from './table-layout.js';

/** How often the command asks the node for progress. */
export const REPAIR_POLL_INTERVAL_MS = 500;
/** Characters of the progress bar. */
const BAR_WIDTH = 24;

/** "1:05", "1:02:03": durations as a person reads them on a progress line. */
export function clockTime(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** One line: bar, ranges done of total, partitions and bytes streamed, rate, ETA. */
export function progressLine(progress: RepairProgress): string {
  const fraction = progress.rangesTotal === 0 ? 1 : progress.rangesDone / progress.rangesTotal;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const eta = progress.etaMs === null ? '?' : clockTime(progress.etaMs);
  const failed = progress.rangesFailed === 0 ? '' : ` (${progress.rangesFailed} failed)`;
  return (
    `${bar} ${progress.rangesDone}/${progress.rangesTotal} ranges${failed}, ` +
    `${progress.partitionsStreamed} partitions, ${humanBytes(progress.bytesStreamed)} streamed, ` +
    `${humanBytes(progress.bytesPerSecond)}/s, ETA ${eta}`
  );
}

/** The summary printed when the repair has ended. */
export function describeRepair(progress: RepairProgress): string {
  const tookMs = (progress.finishedAtMs ?? progress.startedAtMs) - progress.startedAtMs;
  const scope = progress.keyspaces.length === 0 ? 'no keyspace' : `keyspace${progress.keyspaces.length === 1 ? '' : 's'} ${progress.keyspaces.join(', ')}`;
  const lines = [
    `Repair ${progress.id} ${progress.state} in ${(tookMs / 1000).toFixed(1)} s (${scope}${progress.primaryRangeOnly ? ', primary ranges only' : ''})`,
    `Ranges:   ${progress.rangesDone - progress.rangesFailed} of ${progress.rangesTotal} repaired, ` +
      `${progress.rangesDiffering} differing, ${progress.rangesFailed} failed`,
    `Streamed: ${progress.partitionsStreamed} partitions, ${humanBytes(progress.bytesStreamed)} (${humanBytes(progress.bytesPerSecond)}/s)`,
  ];
  if (progress.rangesTotal === 0) lines.push('Nothing to repair: no range of these tables has another replica.');
  if (progress.errors.length > 0) lines.push('Failed ranges:', ...progress.errors.map((reason) => `  ${reason}`));
  return `${lines.join('\n')}\n`;
}

export function describeRepairHistory(records: readonly RepairRecord[]): string {
  if (records.length === 0) return 'No repairs recorded.\n';
  return layoutColumns([
    ['Repair ID', 'Keyspace', 'Table', 'Ranges', 'Started', 'Took', 'Result'],
    ...records.map((record) => [
      record.id,
      record.keyspace,
      record.table,
      String(record.ranges.length),
      new Date(record.startedAtMs).toISOString(),
      `${((record.finishedAtMs - record.startedAtMs) / 1000).toFixed(1)} s`,
      record.succeeded ? 'succeeded' : 'failed',
    ]),
  ]);
}

/** Polls the repair until it ends, showing its progress on `io.stderr` when `live`. */
async function followRepair(client: AdminClient, id: string, io: CommandIo, live: boolean): Promise<RepairProgress> {
  for (;;) {
    const progress = await client.get<RepairProgress>(`/v1/admin/repair/${encodeURIComponent(id)}`);
    // \r back to the line start, ESC[K clears what a longer previous line left.
    if (live) io.stderr(`\r${progressLine(progress)}\x1b[K`);
    if (progress.state !== 'running') {
      if (live) io.stderr('\n');
      return progress;
    }
    await sleep(REPAIR_POLL_INTERVAL_MS);
  }
}

/** What one run found out beyond its output: whether the repair failed (exit code 1). */
interface RunOutcome {
  failed: boolean;
}

function definition(io: CommandIo, outcome: RunOutcome): CommandDefinition {
  return {
    name: 'repair',
    summary:
      "compare the replicas' Merkle trees and stream what differs (every non-system keyspace, one keyspace, or some tables)",
    positionals: '[KEYSPACE [TABLE…]]',
    positionalsMax: Infinity,
    flags: {
      pr: { type: 'boolean', description: "only this node's primary ranges: run it on every node to repair each range once" },
      full: { type: 'boolean', description: 'full repair; accepted for nodetool users: sibyl always repairs fully (no incremental repair)' },
      history: { type: 'boolean', description: 'list the repairs this node recorded instead of repairing' },
    },
    action: async ({ client, positionals, flags }) => {
      const scope = scopeOf(positionals);
      if (flags.history === true) {
        if (flags.pr === true) throw new UsageError('--pr does not apply to --history');
        const { repairs } = await client.get<{ repairs: RepairRecord[] }>('/v1/admin/repair-history', {
          keyspace: scope.keyspace,
          table: scope.tables,
        });
        return { human: describeRepairHistory(repairs), json: repairs };
      }
      const { id } = await client.post<{ id: string }>('/v1/admin/repair', { ...scope, primaryRangeOnly: flags.pr === true });
      const live = flags.json !== true && io === processIo && process.stderr.isTTY === true;
      const progress = await followRepair(client, id, io, live);
      outcome.failed = progress.state !== 'succeeded';
      return { human: describeRepair(progress), json: progress };
    },
  };
}

/** The command's name, usage and help, built once; each run builds its own action around its io. */
const shape = adminCommand(definition(processIo, { failed: false }));

export const repair: AdminCommand = {
  name: shape.name,
  summary: shape.summary,
  usage: shape.usage,
  async run(argv: string[], io: CommandIo = processIo): Promise<number> {
    const outcome: RunOutcome = { failed: false };
    const code = await adminCommand(definition(io, outcome)).run(argv, io);
    return code === 0 && outcome.failed ? 1 : code;
  },
};
