/**
 * The record of a chaos run, as JSON lines (history.jsonl): one `op` line per client
 * operation once it completed (with its invoke and complete times, so concurrency is
 * visible), one `nemesis` line per fault applied or healed, and after the fault window
 * one `final` line per read the checkers use (an ALL read of each key, then a read at
 * ONE of each key on each of its replicas) and one `repair` line per repair run.
 *
 * Times are wall-clock milliseconds with a fraction (performance.timeOrigin + now()),
 * the clock sibyl nodes take write timestamps from, so a write's timestamp can be
 * bounded by its invoke and complete times plus its coordinator's clock offset.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export type Workload = 'set' | 'register' | 'delete';
export const WORKLOADS: readonly Workload[] = ['set', 'register', 'delete'];

/**
 * ok: acknowledged. fail: certainly not applied (refused before anything was sent:
 * Unavailable, Overloaded, connection refused, invalid). unknown: may or may not have
 * been applied, now or later (timeouts on either side, errors after sending).
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

/** add: a set element; write: a register value; insert / delete: a row of the delete workload. */
export type OpFunction = 'add' | 'read' | 'write' | 'insert' | 'delete';

/** What a read returned: the values (set elements, or the one row's value) and the write time of a single row. */
export interface ReadResult {
  /** Ascending. */
  values: number[];
  /** WRITETIME of the value in µs, when one row was read from a register or the delete workload. */
  writetimeUs?: number | null;
}

export interface OpRecord {
  type: 'op';
  id: number;
  client: number;
  /** The node the request went to (its coordinator): node1 … */
  node: string;
  /** That node's clock offset when the operation ran (clock skew nemesis), in ms. */
  clockOffsetMs: number;
  workload: Workload;
  f: OpFunction;
  /** Partition key: set id, register key, delete-workload row key. */
  key: number;
  /** The value written by add / write / insert. */
  value?: number;
  invokeMs: number;
  completeMs: number;
  outcome: Outcome;
  /** Error code or message for fail and unknown. */
  error?: string;
  /** For reads that returned. */
  read?: ReadResult;
}

export type FaultPhase = 'start' | 'stop' | 'heal';

export interface NemesisRecord {
  type: 'nemesis';
  atMs: number;
  phase: FaultPhase;
  /** Id of the scheduled fault window (-1 for the final heal). */
  window: number;
  kind: string;
  /** What was done, for people: "cut node1,node2 | node3,node4,node5". */
  description: string;
  /** Set when applying the fault failed. */
  error?: string;
}

export interface FinalReadRecord {
  type: 'final';
  workload: Workload;
  key: number;
  /** 'ALL' for the read at ALL, else the replica node read at ONE. */
  replica: string;
  atMs: number;
  ok: boolean;
  error?: string;
  read?: ReadResult;
}

export interface RepairRecord {
  type: 'repair';
  /** 1: the repair after the heal; 2: the check that nothing differs any more. */
  round: number;
  node: string;
  atMs: number;
  state: string;
  rangesTotal: number;
  rangesDiffering: number;
  rangesFailed: number;
  errors: string[];
}

export type HistoryRecord = OpRecord | NemesisRecord | FinalReadRecord | RepairRecord;

/** The whole history in memory, split by kind, for the checkers and the report. */
export interface History {
  ops: OpRecord[];
  nemesis: NemesisRecord[];
  finals: FinalReadRecord[];
  repairs: RepairRecord[];
}

export function emptyHistory(): History {
  return { ops: [], nemesis: [], finals: [], repairs: [] };
}

export function addRecord(history: History, record: HistoryRecord): void {
  switch (record.type) {
    case 'op':
      history.ops.push(record);
      break;
    case 'nemesis':
      history.nemesis.push(record);
      break;
    case 'final':
      history.finals.push(record);
      break;
    case 'repair':
      history.repairs.push(record);
      break;
  }
}

/** Parses history.jsonl text back into a History (for re-checking a run offline). */
export function parseHistory(text: string): History {
  const history = emptyHistory();
  for (const line of text.split('\n')) if (line.trim() !== '') addRecord(history, JSON.parse(line) as HistoryRecord);
  return history;
}

/** Now, on the clock sibyl nodes use for write timestamps (before their offset). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Keeps the history in memory and appends each record to history.jsonl as it happens. */
export class HistoryLog {
  readonly history = emptyHistory();
  private readonly stream: WriteStream;

  constructor(file: string) {
    this.stream = createWriteStream(file, { flags: 'w' });
  }

  record(record: HistoryRecord): void {
    addRecord(this.history, record);
    this.stream.write(`${JSON.stringify(record)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
