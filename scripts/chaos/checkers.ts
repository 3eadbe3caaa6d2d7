/**
 * The checkers of a chaos run: pure functions from the history (operations, final reads,
 * repairs) to a verdict with the violations found. What each one holds sibyl to:
 *
 * set          every acknowledged add is in the set read at ALL after the heal and the
 *              repair (no lost write); no read ever returns an element nobody added; a
 *              QUORUM read that starts after an add was acknowledged at QUORUM sees it.
 * register     a QUORUM read that starts after a QUORUM write was acknowledged returns
 *              that write or a later one (last-write-wins by write timestamp: "later"
 *              means a timestamp at least as high); no read returns a value nobody wrote.
 * delete       a row deleted at QUORUM is not seen by a QUORUM read that starts after
 *              the delete was acknowledged, and is still gone at ALL after the repair;
 *              acknowledged inserts never deleted are still there.
 * convergence  after the repair every replica of every key holds the same data (each
 *              replica read at ONE), and a second repair finds no differing Merkle tree.
 *
 * Write timestamps are the coordinator's clock when it took the request. That clock can
 * be skewed (the skew nemesis), so "later" is never assumed from real time alone: a
 * write's timestamp lies between its invoke and complete times shifted by its
 * coordinator's clock offset (unbounded above if the outcome is unknown: a request held
 * up in a paused node's socket can still run much later), and reads return the
 * WRITETIME of what they saw. A read is stale only if what it returned is certainly
 * older than a write acknowledged before it started. Without skew this is exactly the
 * real-time rule; with skew, a later write that loses to an earlier one with a higher
 * timestamp is Cassandra's documented behaviour, not a violation.
 */
import type { FinalReadRecord, History, OpRecord, ReadResult, RepairRecord, Workload } from './history.js';

/**
 * Slack on the bounds of a write timestamp: the client and the nodes read the same
 * system clock, but each process through its own monotonic origin, and a node may bump
 * a timestamp by a microsecond per write to keep them increasing.
 */
export const TIMESTAMP_SLACK_MS = 2;
/** Violations listed per checker (all are counted). */
export const VIOLATIONS_LISTED_MAX = 50;

export type CheckerName = 'set' | 'register' | 'delete' | 'convergence';

export interface Violation {
  kind: string;
  workload?: Workload;
  key?: number;
  message: string;
  /** The operations involved, by id. */
  ops?: number[];
}

export interface CheckResult {
  checker: CheckerName;
  valid: boolean;
  /** At most VIOLATIONS_LISTED_MAX. */
  violations: Violation[];
  violationCount: number;
  /** Counts for the summary: acknowledged writes, reads checked … */
  stats: Record<string, number>;
  /** Findings that are not violations (e.g. an unknown write that took effect). */
  notes: string[];
}

class Findings {
  readonly violations: Violation[] = [];
  count = 0;
  readonly notes: string[] = [];

  add(violation: Violation): void {
    this.count++;
    if (this.violations.length < VIOLATIONS_LISTED_MAX) this.violations.push(violation);
  }

  result(checker: CheckerName, stats: Record<string, number>): CheckResult {
    return { checker, valid: this.count === 0, violations: this.violations, violationCount: this.count, stats, notes: this.notes };
  }
}

/** The earliest timestamp (µs) a write can have been given. */
export function timestampFloorUs(op: OpRecord): number {
  return Math.floor((op.invokeMs + op.clockOffsetMs - TIMESTAMP_SLACK_MS) * 1000);
}

/** The latest timestamp (µs) a write can have been given; Infinity when its outcome is unknown. */
export function timestampCeilingUs(op: OpRecord): number {
  return op.outcome === 'ok' ? Math.ceil((op.completeMs + op.clockOffsetMs + TIMESTAMP_SLACK_MS) * 1000) : Infinity;
}

/** A read the checkers look at: a client read at QUORUM or a final read. */
interface CheckedRead {
  /** Op id, or undefined for final reads. */
  id?: number;
  key: number;
  invokeMs: number;
  read: ReadResult;
  /** "op 12 (QUORUM read on node2)" / "final read at ALL" / "final read at ONE on node3". */
  label: string;
}

function groupByKey<T extends { key: number }>(items: readonly T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const group = groups.get(item.key);
    if (group === undefined) groups.set(item.key, [item]);
    else group.push(item);
  }
  return groups;
}

function opsOf(history: History, workload: Workload): OpRecord[] {
  return history.ops.filter((op) => op.workload === workload);
}

/** Successful client reads and final reads (ALL and per replica) of a workload. */
function readsOf(history: History, workload: Workload): CheckedRead[] {
  const reads: CheckedRead[] = [];
  for (const op of opsOf(history, workload)) {
    if (op.f === 'read' && op.outcome === 'ok' && op.read !== undefined) {
      reads.push({ id: op.id, key: op.key, invokeMs: op.invokeMs, read: op.read, label: `op ${op.id} (QUORUM read on ${op.node})` });
    }
  }
  for (const final of history.finals) {
    if (final.workload === workload && final.ok && final.read !== undefined) {
      const label = final.replica === 'ALL' ? 'final read at ALL' : `final read at ONE on replica ${final.replica}`;
      reads.push({ key: final.key, invokeMs: final.atMs, read: final.read, label });
    }
  }
  return reads;
}

function finalAll(history: History, workload: Workload, key: number): FinalReadRecord | undefined {
  return history.finals.find((final) => final.workload === workload && final.key === key && final.replica === 'ALL');
}

function countOutcomes(ops: readonly OpRecord[], f: OpRecord['f'], prefix: string, stats: Record<string, number>): void {
  for (const outcome of ['ok', 'fail', 'unknown'] as const) stats[`${prefix}_${outcome}`] = ops.filter((op) => op.f === f && op.outcome === outcome).length;
}

/** The acknowledged writes of a key in completion order, with the running highest timestamp floor. */
class AcknowledgedWrites {
  private readonly completes: number[] = [];
  /** highest[i]: the write with the highest floor among the first i + 1. */
  private readonly highest: { floorUs: number; op: OpRecord }[] = [];

  constructor(writes: readonly OpRecord[], floorOf: (op: OpRecord) => number) {
    const sorted = writes.filter((op) => op.outcome === 'ok').sort((a, b) => a.completeMs - b.completeMs);
    for (const op of sorted) {
      const floorUs = floorOf(op);
      const previous = this.highest[this.highest.length - 1];
      this.completes.push(op.completeMs);
      this.highest.push(previous !== undefined && previous.floorUs >= floorUs ? previous : { floorUs, op });
    }
  }

  /** Of the writes acknowledged before `timeMs`, the one whose timestamp is surely highest. */
  latestBefore(timeMs: number): { floorUs: number; op: OpRecord } | undefined {
    let low = 0;
    let high = this.completes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.completes[middle] < timeMs) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : this.highest[low - 1];
  }
}

export function checkSet(history: History): CheckResult {
  const findings = new Findings();
  const ops = opsOf(history, 'set');
  const adds = ops.filter((op) => op.f === 'add');
  const addsByKey = groupByKey(adds);
  const readsByKey = groupByKey(readsOf(history, 'set'));
  const stats: Record<string, number> = {};
  countOutcomes(ops, 'add', 'adds', stats);
  stats.reads_checked = 0;
  stats.lost = 0;
  stats.unknown_adds_present = 0;
  const keys = new Set([...addsByKey.keys(), ...readsByKey.keys()]);
  for (const key of [...keys].sort((a, b) => a - b)) {
    const keyAdds = addsByKey.get(key) ?? [];
    const added = new Map(keyAdds.map((op) => [op.value!, op]));
    const acknowledged = keyAdds.filter((op) => op.outcome === 'ok').sort((a, b) => a.completeMs - b.completeMs);
    const final = finalAll(history, 'set', key);
    if (final === undefined || !final.ok || final.read === undefined) {
      findings.add({ kind: 'final-read-failed', workload: 'set', key, message: `set ${key}: the final read at ALL failed (${final?.error ?? 'not made'})` });
    } else {
      const present = new Set(final.read.values);
      const lost = acknowledged.filter((op) => !present.has(op.value!));
      stats.lost += lost.length;
      for (const op of lost) {
        findings.add({
          kind: 'lost-write',
          workload: 'set',
          key,
          ops: [op.id],
          message: `set ${key}: element ${op.value} was acknowledged (op ${op.id} on ${op.node}) but is missing from the final read at ALL`,
        });
      }
      stats.unknown_adds_present += keyAdds.filter((op) => op.outcome !== 'ok' && present.has(op.value!)).length;
    }
    for (const read of readsByKey.get(key) ?? []) {
      stats.reads_checked++;
      const seen = new Set(read.read.values);
      for (const value of read.read.values) {
        if (!added.has(value)) {
          findings.add({ kind: 'phantom-value', workload: 'set', key, ops: read.id === undefined ? [] : [read.id], message: `set ${key}: ${read.label} returned ${value}, which nobody added` });
        }
      }
      const missing = acknowledged.filter((op) => op.completeMs < read.invokeMs && !seen.has(op.value!));
      if (missing.length > 0 && read.id !== undefined) {
        findings.add({
          kind: 'stale-read',
          workload: 'set',
          key,
          ops: [read.id, ...missing.slice(0, 5).map((op) => op.id)],
          message:
            `set ${key}: ${read.label} missed ${missing.length} element(s) acknowledged before it started, ` +
            `e.g. ${missing.slice(0, 5).map((op) => `${op.value} (op ${op.id})`).join(', ')}`,
        });
      }
    }
  }
  if (stats.unknown_adds_present > 0) findings.notes.push(`${stats.unknown_adds_present} add(s) with an unknown or failed outcome took effect (allowed)`);
  return findings.result('set', stats);
}

/** Timestamps seen by reads, by value: exact write times of the writes they returned. */
function observedTimestamps(reads: readonly CheckedRead[]): Map<number, number> {
  const seen = new Map<number, number>();
  for (const { read } of reads) {
    if (read.values.length === 1 && typeof read.writetimeUs === 'number') seen.set(read.values[0], read.writetimeUs);
  }
  return seen;
}

export function checkRegister(history: History): CheckResult {
  const findings = new Findings();
  const ops = opsOf(history, 'register');
  const writes = ops.filter((op) => op.f === 'write');
  const reads = readsOf(history, 'register');
  const exact = observedTimestamps(reads);
  const stats: Record<string, number> = {};
  countOutcomes(ops, 'write', 'writes', stats);
  stats.reads_checked = 0;
  const writesByKey = groupByKey(writes);
  for (const [key, keyReads] of groupByKey(reads)) {
    const keyWrites = writesByKey.get(key) ?? [];
    const written = new Map(keyWrites.map((op) => [op.value!, op]));
    const acknowledged = new AcknowledgedWrites(keyWrites, (op) => exact.get(op.value!) ?? timestampFloorUs(op));
    for (const read of keyReads) {
      stats.reads_checked++;
      const latest = acknowledged.latestBefore(read.invokeMs);
      const ids = (op?: OpRecord) => [...(read.id === undefined ? [] : [read.id]), ...(op === undefined ? [] : [op.id])];
      if (read.read.values.length === 0) {
        if (latest !== undefined) {
          findings.add({
            kind: 'stale-read',
            workload: 'register',
            key,
            ops: ids(latest.op),
            message: `register ${key}: ${read.label} found no value although write ${latest.op.value} (op ${latest.op.id}) was acknowledged before it started`,
          });
        }
        continue;
      }
      const value = read.read.values[0];
      const writer = written.get(value);
      if (writer === undefined) {
        findings.add({ kind: 'phantom-value', workload: 'register', key, ops: ids(), message: `register ${key}: ${read.label} returned ${value}, which nobody wrote` });
        continue;
      }
      if (latest === undefined || latest.op.value === value) continue;
      const timestampUs = read.read.writetimeUs ?? exact.get(value) ?? timestampCeilingUs(writer);
      if (timestampUs < latest.floorUs) {
        findings.add({
          kind: 'stale-read',
          workload: 'register',
          key,
          ops: [...ids(latest.op), writer.id],
          message:
            `register ${key}: ${read.label} returned ${value} (written by op ${writer.id}, timestamp ${timestampUs}) although ` +
            `write ${latest.op.value} (op ${latest.op.id} on ${latest.op.node}, timestamp >= ${latest.floorUs}) was acknowledged before it started`,
        });
      }
    }
  }
  for (const key of writesByKey.keys()) {
    const final = finalAll(history, 'register', key);
    if (final === undefined || !final.ok) {
      findings.add({ kind: 'final-read-failed', workload: 'register', key, message: `register ${key}: the final read at ALL failed (${final?.error ?? 'not made'})` });
    }
  }
  return findings.result('register', stats);
}

export function checkDelete(history: History): CheckResult {
  const findings = new Findings();
  const ops = opsOf(history, 'delete');
  const stats: Record<string, number> = {};
  countOutcomes(ops, 'insert', 'inserts', stats);
  countOutcomes(ops, 'delete', 'deletes', stats);
  stats.reads_checked = 0;
  stats.deletes_lost_to_skew = 0;
  const byKey = groupByKey(ops);
  const readsByKey = groupByKey(readsOf(history, 'delete'));
  for (const [key, keyOps] of byKey) {
    const insert = keyOps.find((op) => op.f === 'insert');
    const deletes = new AcknowledgedWrites(
      keyOps.filter((op) => op.f === 'delete'),
      timestampFloorUs,
    );
    const invokedDeletes = keyOps.filter((op) => op.f === 'delete');
    const rowTimestamp = (read: ReadResult): number =>
      typeof read.writetimeUs === 'number' ? read.writetimeUs : insert === undefined ? Infinity : timestampCeilingUs(insert);
    for (const read of readsByKey.get(key) ?? []) {
      stats.reads_checked++;
      if (read.read.values.length === 0) continue;
      if (insert === undefined || read.read.values[0] !== insert.value) {
        findings.add({ kind: 'phantom-value', workload: 'delete', key, ops: read.id === undefined ? [] : [read.id], message: `row ${key}: ${read.label} returned ${read.read.values[0]}, which nobody inserted` });
        continue;
      }
      const deleted = deletes.latestBefore(read.invokeMs);
      if (deleted === undefined) continue;
      if (rowTimestamp(read.read) < deleted.floorUs) {
        const final = read.id === undefined;
        findings.add({
          kind: final ? 'deleted-row-resurrected' : 'deleted-row-visible',
          workload: 'delete',
          key,
          ops: [...(read.id === undefined ? [] : [read.id]), deleted.op.id, insert.id],
          message:
            `row ${key}: ${read.label} returned the row although its delete (op ${deleted.op.id} on ${deleted.op.node}) was acknowledged ` +
            `before the read started${final ? ' and the cluster was repaired' : ''}`,
        });
      } else if (read.id === undefined && read.label === 'final read at ALL') {
        stats.deletes_lost_to_skew++;
      }
    }
    const final = finalAll(history, 'delete', key);
    if (insert === undefined) continue;
    if (final === undefined || !final.ok || final.read === undefined) {
      findings.add({ kind: 'final-read-failed', workload: 'delete', key, message: `row ${key}: the final read at ALL failed (${final?.error ?? 'not made'})` });
    } else if (insert.outcome === 'ok' && invokedDeletes.every((op) => op.outcome === 'fail') && final.read.values.length === 0) {
      findings.add({
        kind: 'lost-write',
        workload: 'delete',
        key,
        ops: [insert.id],
        message: `row ${key}: the insert was acknowledged (op ${insert.id} on ${insert.node}) and never deleted, but the final read at ALL found nothing`,
      });
    }
  }
  if (stats.deletes_lost_to_skew > 0) {
    findings.notes.push(`${stats.deletes_lost_to_skew} acknowledged delete(s) lost to an insert with a later timestamp (clock skew; last write wins)`);
  }
  return findings.result('delete', stats);
}

/** A read's content in one comparable string. */
function readContent(read: ReadResult | undefined): string {
  if (read === undefined) return '?';
  return read.writetimeUs === undefined || read.writetimeUs === null ? JSON.stringify(read.values) : `${JSON.stringify(read.values)}@${read.writetimeUs}`;
}

export function checkConvergence(history: History, replicationFactor: number): CheckResult {
  const findings = new Findings();
  const stats: Record<string, number> = { keys_compared: 0, replica_reads: 0, repairs_checked: 0 };
  const groups = new Map<string, FinalReadRecord[]>();
  for (const final of history.finals) {
    if (final.replica === 'ALL') continue;
    const id = `${final.workload}/${final.key}`;
    const group = groups.get(id);
    if (group === undefined) groups.set(id, [final]);
    else group.push(final);
  }
  for (const [id, replicas] of groups) {
    const [workload, key] = [replicas[0].workload, replicas[0].key];
    stats.keys_compared++;
    stats.replica_reads += replicas.length;
    const failed = replicas.filter((replica) => !replica.ok);
    if (failed.length > 0) {
      findings.add({ kind: 'replica-read-failed', workload, key, message: `${id}: reading ${failed.map((f) => `${f.replica} (${f.error})`).join(', ')} at ONE failed` });
      continue;
    }
    if (replicas.length < replicationFactor) {
      findings.add({ kind: 'replica-missing', workload, key, message: `${id}: ${replicas.length} replicas read, expected ${replicationFactor}` });
    }
    const contents = new Set(replicas.map((replica) => readContent(replica.read)));
    if (contents.size > 1) {
      findings.add({
        kind: 'replicas-differ',
        workload,
        key,
        message: `${id}: replicas differ after repair: ${replicas.map((replica) => `${replica.replica} ${readContent(replica.read)}`).join('; ')}`,
      });
    }
  }
  const byRound = (round: number): RepairRecord[] => history.repairs.filter((repair) => repair.round === round);
  for (const repair of history.repairs) {
    stats.repairs_checked++;
    if (repair.state !== 'succeeded') {
      findings.add({ kind: 'repair-failed', message: `repair round ${repair.round} on ${repair.node} ${repair.state}: ${repair.errors.slice(0, 3).join('; ') || 'no reason given'}` });
    }
  }
  for (const repair of byRound(2)) {
    if (repair.rangesDiffering > 0) {
      findings.add({
        kind: 'merkle-differs',
        message: `the check repair on ${repair.node} found ${repair.rangesDiffering} range(s) whose Merkle trees still differ after the repair`,
      });
    }
  }
  if (history.repairs.length === 0) findings.notes.push('no repair ran: Merkle trees not compared');
  return findings.result('convergence', stats);
}

/** Every checker that applies to the workloads run. */
export function checkAll(history: History, workloads: readonly Workload[], replicationFactor: number): CheckResult[] {
  const results: CheckResult[] = [];
  if (workloads.includes('set')) results.push(checkSet(history));
  if (workloads.includes('register')) results.push(checkRegister(history));
  if (workloads.includes('delete')) results.push(checkDelete(history));
  results.push(checkConvergence(history, replicationFactor));
  return results;
}
