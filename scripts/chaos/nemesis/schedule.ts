/**
 * The fault schedule of a chaos run, drawn from its seed alone: a list of fault windows
 * (start and stop times, what to break), so the same seed replays the same faults at the
 * same moments. Pure: no clock, no I/O; nemesis/executor.ts applies it.
 *
 * The window opens with a quiet spell (the workload warms up against a healthy cluster),
 * then alternates a fault for FAULT_MS_MIN..MAX and a quiet spell for QUIET_MS_MIN..MAX,
 * and every fault has stopped QUIET_MS_MIN before the end. The kinds take turns in an
 * order shuffled per round, so each enabled kind shows up; now and then two kinds strike
 * together (a partition while a node is down), as Jepsen's composed nemeses do. Faults
 * that stop nodes (kill, pause, skew — a skew restarts the node with its clock offset)
 * never hit more than a minority of the nodes at once, so QUORUM stays possible.
 */
import { type Random, seededRandom } from '../../../lib/model/random.js';

export type NemesisKind = 'partition' | 'kill' | 'pause' | 'skew' | 'slow';
export const NEMESIS_KINDS: readonly NemesisKind[] = ['partition', 'kill', 'pause', 'skew', 'slow'];

export type PartitionShape = 'halves' | 'isolate' | 'bridge' | 'majorities-ring';
export const PARTITION_SHAPES: readonly PartitionShape[] = ['halves', 'isolate', 'bridge', 'majorities-ring'];

/** Nodes are numbered from 0 here; node i is `node${i + 1}` everywhere else. */
export type Fault =
  | { kind: 'partition'; shape: PartitionShape; /** Pairs of nodes that cannot talk, each pair once, lower first. */ cuts: [number, number][] }
  | { kind: 'kill'; nodes: number[] }
  | { kind: 'pause'; nodes: number[] }
  | { kind: 'skew'; nodes: number[]; /** Per node, same order. */ offsetsMs: number[] }
  | { kind: 'slow'; delayMs: number; jitterMs: number };

export interface FaultWindow {
  id: number;
  /** From the start of the fault window of the run. */
  startMs: number;
  stopMs: number;
  faults: Fault[];
}

export interface ScheduleOptions {
  durationMs: number;
  nodes: number;
  nemeses: readonly NemesisKind[];
}

export const WARMUP_MS = 2_000;
export const FAULT_MS_MIN = 4_000;
export const FAULT_MS_MAX = 8_000;
export const QUIET_MS_MIN = 2_000;
export const QUIET_MS_MAX = 4_000;
/** How often a window strikes with two kinds at once. */
const COMPOSED_CHANCE = 0.25;
/** Clock offsets drawn for the skew nemesis, in ms either way. */
export const SKEW_MS_MAX = 5_000;
const SKEW_MS_MIN = 200;
/** Added delay of the slow network. */
const SLOW_DELAY_MS_MIN = 20;
const SLOW_DELAY_MS_MAX = 100;

function integerBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Every pair (a, b) with a in one group and b in the other, lower node first. */
function crossPairs(left: readonly number[], right: readonly number[]): [number, number][] {
  return left.flatMap((a) => right.map((b): [number, number] => (a < b ? [a, b] : [b, a])));
}

function sortedPairs(pairs: [number, number][]): [number, number][] {
  return pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/**
 * The cut links of a partition of `nodes` nodes in `shape`, nodes drawn at random:
 * halves: two sides of ⌊n/2⌋ and the rest; isolate: one node alone; bridge: two sides
 * and one node that still talks to both; majorities-ring: the nodes in a ring, each
 * talking only to its nearest neighbours, so each sees a majority but no two see the
 * same one.
 */
export function partitionCuts(random: Random, nodes: number, shape: PartitionShape): [number, number][] {
  const order = shuffled(random, Array.from({ length: nodes }, (_, i) => i));
  const half = Math.floor(nodes / 2);
  switch (shape) {
    case 'halves':
      return sortedPairs(crossPairs(order.slice(0, half), order.slice(half)));
    case 'isolate':
      return sortedPairs(crossPairs(order.slice(0, 1), order.slice(1)));
    case 'bridge': {
      const side = Math.floor((nodes - 1) / 2);
      return sortedPairs(crossPairs(order.slice(0, side), order.slice(side + 1)));
    }
    case 'majorities-ring': {
      // A node sees itself and `reach` neighbours each way: a majority at least.
      const reach = Math.ceil(half / 2);
      const cuts: [number, number][] = [];
      for (let i = 0; i < nodes; i++) {
        for (let j = i + 1; j < nodes; j++) {
          const distance = Math.min(j - i, nodes - (j - i));
          if (distance > reach) cuts.push(order[i] < order[j] ? [order[i], order[j]] : [order[j], order[i]]);
        }
      }
      return sortedPairs(cuts);
    }
  }
}

/** Draws one fault of `kind`; node faults take their nodes from `spare` (and remove them). */
function drawFault(random: Random, kind: NemesisKind, nodes: number, spare: number[]): Fault | null {
  switch (kind) {
    case 'partition': {
      const shape = PARTITION_SHAPES[Math.floor(random() * PARTITION_SHAPES.length)];
      return { kind, shape, cuts: partitionCuts(random, nodes, shape) };
    }
    case 'kill':
    case 'pause':
    case 'skew': {
      if (spare.length === 0) return null;
      const count = integerBetween(random, 1, spare.length);
      const chosen = spare.splice(0, count).sort((a, b) => a - b);
      if (kind !== 'skew') return { kind, nodes: chosen };
      const offsetsMs = chosen.map(() => (random() < 0.5 ? -1 : 1) * integerBetween(random, SKEW_MS_MIN, SKEW_MS_MAX));
      return { kind, nodes: chosen, offsetsMs };
    }
    case 'slow': {
      const delayMs = integerBetween(random, SLOW_DELAY_MS_MIN, SLOW_DELAY_MS_MAX);
      return { kind, delayMs, jitterMs: Math.floor(delayMs / 2) };
    }
  }
}

export function planFaults(seed: number, { durationMs, nodes, nemeses }: ScheduleOptions): FaultWindow[] {
  const random = seededRandom(seed);
  const kinds = NEMESIS_KINDS.filter((kind) => nemeses.includes(kind));
  const windows: FaultWindow[] = [];
  if (kinds.length === 0) return windows;
  const minority = Math.floor((nodes - 1) / 2);
  let turn: NemesisKind[] = [];
  let at = WARMUP_MS;
  for (;;) {
    const length = integerBetween(random, FAULT_MS_MIN, FAULT_MS_MAX);
    // A window that cannot fit whole is shortened to the end, or dropped if too short.
    const stopMs = Math.min(at + length, durationMs - QUIET_MS_MIN);
    if (stopMs - at < FAULT_MS_MIN / 2) break;
    if (turn.length === 0) turn = shuffled(random, kinds);
    const first = turn.shift()!;
    const chosen = [first];
    if (kinds.length > 1 && random() < COMPOSED_CHANCE) {
      const others = kinds.filter((kind) => kind !== first);
      chosen.push(others[Math.floor(random() * others.length)]);
    }
    const spare = shuffled(random, Array.from({ length: nodes }, (_, i) => i)).slice(0, minority);
    const faults = chosen.map((kind) => drawFault(random, kind, nodes, spare)).filter((fault): fault is Fault => fault !== null);
    if (faults.length > 0) windows.push({ id: windows.length + 1, startMs: at, stopMs, faults });
    at = stopMs + integerBetween(random, QUIET_MS_MIN, QUIET_MS_MAX);
  }
  return windows;
}

export function nodeName(index: number): string {
  return `node${index + 1}`;
}

/** One line for people: "partition (halves): cut node1-node3 node2-node3", "kill node2". */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'partition':
      return `partition (${fault.shape}): cut ${fault.cuts.map(([a, b]) => `${nodeName(a)}-${nodeName(b)}`).join(' ')}`;
    case 'kill':
      return `kill -9 ${fault.nodes.map(nodeName).join(', ')}`;
    case 'pause':
      return `SIGSTOP ${fault.nodes.map(nodeName).join(', ')}`;
    case 'skew':
      return `clock skew ${fault.nodes.map((node, i) => `${nodeName(node)} ${fault.offsetsMs[i] >= 0 ? '+' : ''}${fault.offsetsMs[i]} ms`).join(', ')}`;
    case 'slow':
      return `slow network +${fault.delayMs} ms ±${fault.jitterMs} ms`;
  }
}
