/**
 * The workloads of a chaos run, in keyspace `chaos` (every value written is unique in
 * its workload, so a read names the write it saw):
 *
 * set       `sets (id, v, PRIMARY KEY (id, v))`: adds insert element v into set `id`
 *           (a few sets, many elements); reads fetch a whole set. All at QUORUM.
 * register  `registers (k PRIMARY KEY, v)`: writes overwrite one of a few keys; reads
 *           fetch v and WRITETIME(v). All at QUORUM.
 * delete    `rows (k PRIMARY KEY, v)`: each key is inserted once, deleted once after the
 *           insert was acknowledged, and read (mostly after its delete) with WRITETIME.
 *
 * The generator picks the next operation from a seeded random; it is told each outcome
 * so the delete workload deletes acknowledged rows and reads deleted ones. Its queues
 * are bounded.
 */
import type { Random } from '../../lib/model/random.js';
import type { Consistency } from './client.js';
import type { OpFunction, OpRecord, ReadResult, Workload } from './history.js';

export const KEYSPACE = 'chaos';
export const SET_COUNT = 4;
export const REGISTER_COUNT = 5;
/** Acknowledged rows waiting to be deleted, and deleted rows kept for reads. */
const ROWS_QUEUED_MAX = 500;

export function schemaStatements(replicationFactor: number): string[] {
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${KEYSPACE} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${replicationFactor}}`,
    `CREATE TABLE IF NOT EXISTS ${KEYSPACE}.sets (id int, v int, PRIMARY KEY (id, v))`,
    `CREATE TABLE IF NOT EXISTS ${KEYSPACE}.registers (k int PRIMARY KEY, v int)`,
    `CREATE TABLE IF NOT EXISTS ${KEYSPACE}.rows (k int PRIMARY KEY, v int)`,
  ];
}

export const TABLE_OF: Record<Workload, string> = { set: 'sets', register: 'registers', delete: 'rows' };

export interface PlannedOp {
  workload: Workload;
  f: OpFunction;
  key: number;
  value?: number;
}

/** The statement and parameters of an operation. */
export function statementOf(op: PlannedOp): { query: string; params: unknown[] } {
  switch (`${op.workload}/${op.f}`) {
    case 'set/add':
      return { query: `INSERT INTO ${KEYSPACE}.sets (id, v) VALUES (?, ?)`, params: [op.key, op.value] };
    case 'register/write':
      return { query: `INSERT INTO ${KEYSPACE}.registers (k, v) VALUES (?, ?)`, params: [op.key, op.value] };
    case 'delete/insert':
      return { query: `INSERT INTO ${KEYSPACE}.rows (k, v) VALUES (?, ?)`, params: [op.key, op.value] };
    case 'delete/delete':
      return { query: `DELETE FROM ${KEYSPACE}.rows WHERE k = ?`, params: [op.key] };
    default:
      return readStatement(op.workload, op.key);
  }
}

export function readStatement(workload: Workload, key: number): { query: string; params: unknown[] } {
  return workload === 'set'
    ? { query: `SELECT v FROM ${KEYSPACE}.sets WHERE id = ?`, params: [key] }
    : { query: `SELECT v, WRITETIME(v) FROM ${KEYSPACE}.${TABLE_OF[workload]} WHERE k = ?`, params: [key] };
}

/** Rows of a read as a ReadResult; set reads have no write time. */
export function readResult(workload: Workload, rows: readonly Record<string, unknown>[]): ReadResult {
  const values = rows.map((row) => Number(row.v)).sort((a, b) => a - b);
  if (workload === 'set') return { values };
  const writetime = rows.length === 1 ? rows[0]['writetime(v)'] : null;
  return { values, writetimeUs: writetime === null || writetime === undefined ? null : Number(writetime) };
}

export const CONSISTENCY: Consistency = 'QUORUM';

export class WorkloadGenerator {
  private nextValue = 1;
  private nextRow = 1;
  private readonly toDelete: number[] = [];
  private readonly deleted: number[] = [];

  constructor(
    private readonly random: Random,
    private readonly workloads: readonly Workload[],
  ) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  next(): PlannedOp {
    const workload = this.pick(this.workloads);
    switch (workload) {
      case 'set':
        return this.random() < 0.6
          ? { workload, f: 'add', key: Math.floor(this.random() * SET_COUNT), value: this.nextValue++ }
          : { workload, f: 'read', key: Math.floor(this.random() * SET_COUNT) };
      case 'register':
        return this.random() < 0.5
          ? { workload, f: 'write', key: Math.floor(this.random() * REGISTER_COUNT), value: this.nextValue++ }
          : { workload, f: 'read', key: Math.floor(this.random() * REGISTER_COUNT) };
      case 'delete': {
        const roll = this.random();
        if (roll < 0.3 && this.toDelete.length > 0) {
          const key = this.toDelete.splice(Math.floor(this.random() * this.toDelete.length), 1)[0];
          return { workload, f: 'delete', key };
        }
        if (roll < 0.6 && this.deleted.length > 0) return { workload, f: 'read', key: this.pick(this.deleted) };
        const key = this.nextRow++;
        return { workload, f: 'insert', key, value: key };
      }
    }
  }

  /** Learns an outcome: acknowledged rows become deletable, deletes make rows worth reading. */
  completed(op: OpRecord): void {
    if (op.workload !== 'delete') return;
    if (op.f === 'insert' && op.outcome === 'ok') pushBounded(this.toDelete, op.key);
    if (op.f === 'delete' && op.outcome !== 'fail') pushBounded(this.deleted, op.key);
  }
}

function pushBounded(queue: number[], key: number): void {
  if (queue.length >= ROWS_QUEUED_MAX) queue.shift();
  queue.push(key);
}

/** The keys a workload touched, for the final reads. */
export function keysTouched(ops: readonly OpRecord[], workload: Workload): number[] {
  return [...new Set(ops.filter((op) => op.workload === workload).map((op) => op.key))].sort((a, b) => a - b);
}
