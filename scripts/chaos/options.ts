/**
 * The flags of `npm run chaos -- …` and the command that replays a run: the same flags
 * with the seed the run drew (a run with no --seed draws one and prints it).
 */
import { parseArgs } from 'node:util';
import { WORKLOADS, type Workload } from './history.js';
import { NEMESIS_KINDS, type NemesisKind } from './nemesis/schedule.js';

export interface ChaosOptions {
  seed: number;
  /** Length of the fault window, in seconds. */
  timeSeconds: number;
  nodes: number;
  replicationFactor: number;
  nemeses: NemesisKind[];
  workloads: Workload[];
  clients: number;
  /** Operations per second over all clients. */
  rate: number;
  /** Hinted handoff on (default) or off: off leaves the repair all the catching up. */
  hints: boolean;
  /** Where the history, the report and the nodes' data go. */
  out: string;
}

export const DEFAULTS = {
  timeSeconds: 30,
  nodes: 5,
  replicationFactor: 3,
  nemeses: ['partition', 'kill'] as NemesisKind[],
  workloads: ['set', 'register', 'delete'] as Workload[],
  clients: 8,
  rate: 60,
};

/** The most nodes: one /24 subnet per node in the namespace's address plan. */
export const NODES_MAX = 50;

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `Usage: npm run chaos -- [--seed N] [--time SECONDS] [--nodes N] [--rf N]
                      [--nemesis partition,kill,pause,skew,slow|all|none] [--workload set,register,delete|all]
                      [--clients N] [--rate OPS_PER_SECOND] [--no-hints] [--out DIR]

Runs a cluster of real sibyl nodes inside network namespaces, breaks it on a schedule
drawn from the seed while clients read and write, heals it, repairs it, and checks the
history. Exits 0 when every checker passes, 1 on a violation, 2 on a usage error, 3 when
the machine cannot run it (not root, no network namespaces, no iptables).
--no-hints turns hinted handoff off, so the repair has to bring the replicas together.

Defaults: --time ${DEFAULTS.timeSeconds} --nodes ${DEFAULTS.nodes} --rf ${DEFAULTS.replicationFactor} --nemesis ${DEFAULTS.nemeses.join(',')} --workload ${DEFAULTS.workloads.join(',')} --clients ${DEFAULTS.clients} --rate ${DEFAULTS.rate} --out chaos-runs/<seed>
`;

function positiveInteger(name: string, text: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}, got '${text}'`);
  return value;
}

function list<T extends string>(name: string, text: string | undefined, known: readonly T[], fallback: T[]): T[] {
  if (text === undefined) return fallback;
  if (text === 'all') return [...known];
  if (text === 'none') return [];
  const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
  for (const item of items) {
    if (!(known as readonly string[]).includes(item)) throw new UsageError(`--${name}: unknown '${item}' (expected ${known.join(', ')}, all or none)`);
  }
  return known.filter((item) => items.includes(item));
}

/** A fresh seed when none is given: any 32-bit value. */
export function drawSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/** Parses argv; `--help` yields null. */
export function parseOptions(argv: readonly string[], seedIfNone: () => number = drawSeed): ChaosOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        seed: { type: 'string' },
        time: { type: 'string' },
        nodes: { type: 'string' },
        rf: { type: 'string' },
        nemesis: { type: 'string' },
        workload: { type: 'string' },
        clients: { type: 'string' },
        rate: { type: 'string' },
        out: { type: 'string' },
        'no-hints': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) return null;
  const text = (name: string) => values[name] as string | undefined;
  let seed: number;
  if (text('seed') === undefined) seed = seedIfNone();
  else {
    seed = Number(text('seed'));
    if (!/^\d+$/.test(text('seed')!) || seed >= 2 ** 32) throw new UsageError(`--seed must be an integer from 0 to ${2 ** 32 - 1}, got '${text('seed')}'`);
  }
  const nodes = positiveInteger('nodes', text('nodes'), DEFAULTS.nodes, NODES_MAX);
  const replicationFactor = positiveInteger('rf', text('rf'), DEFAULTS.replicationFactor, nodes);
  const workloads = list('workload', text('workload'), WORKLOADS, DEFAULTS.workloads);
  if (workloads.length === 0) throw new UsageError('--workload: at least one workload is needed');
  return {
    seed,
    timeSeconds: positiveInteger('time', text('time'), DEFAULTS.timeSeconds),
    nodes,
    replicationFactor,
    nemeses: list('nemesis', text('nemesis'), NEMESIS_KINDS, DEFAULTS.nemeses),
    workloads,
    clients: positiveInteger('clients', text('clients'), DEFAULTS.clients, 1000),
    rate: positiveInteger('rate', text('rate'), DEFAULTS.rate),
    hints: values['no-hints'] !== true,
    out: text('out') ?? `chaos-runs/${seed}`,
  };
}

/** The flags that reproduce `options` (the output directory left to its default). */
export function replayArguments(options: ChaosOptions): string[] {
  return [
    '--seed', String(options.seed),
    '--time', String(options.timeSeconds),
    '--nodes', String(options.nodes),
    '--rf', String(options.replicationFactor),
    '--nemesis', options.nemeses.length === 0 ? 'none' : options.nemeses.join(','),
    '--workload', options.workloads.join(','),
    '--clients', String(options.clients),
    '--rate', String(options.rate),
    ...(options.hints ? [] : ['--no-hints']),
  ];
}

export function replayCommand(options: ChaosOptions): string {
  return `sudo npm run chaos -- ${replayArguments(options).join(' ')}`;
}
