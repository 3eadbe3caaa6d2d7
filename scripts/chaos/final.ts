/**
 * After the fault window: wait until every node sees every other UP, until the hints
 * are delivered, repair (each node its primary ranges, so every range once), repair a
 * second time to check that no Merkle tree differs any more, then read every key the
 * workloads touched at ALL and at ONE on each of its replicas. Everything lands in the
 * history; the checkers judge it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosCluster, ChaosNode } from './cluster.js';
import { cql } from './client.js';
import { type FinalReadRecord, type HistoryLog, wallClockMs, type Workload } from './history.js';
import { KEYSPACE, keysTouched, readResult, readStatement, TABLE_OF } from './workloads.js';

const CONVERGE_TIMEOUT_MS = 60_000;
const HINTS_TIMEOUT_MS = 30_000;
const REPAIR_TIMEOUT_MS = 120_000;
const POLL_MS = 500;
const READ_TIMEOUT_MS = 5_000;
/** A final read is tried this many times: one timeout is no violation, a persistent one is. */
const READ_ATTEMPTS_MAX = 3;
/** Final reads in flight at once. */
const READS_PARALLEL_MAX = 8;

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as T & { error?: { code: string; message: string } };
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`.trim());
  return body;
}

export async function waitConverged(cluster: ChaosCluster): Promise<void> {
  await cluster.waitUntil('every node sees every node UP and NORMAL', CONVERGE_TIMEOUT_MS, () => cluster.allUp());
}

/** Waits until no node holds hints; resolves the number still held when it gave up. */
export async function waitHintsDelivered(cluster: ChaosCluster): Promise<number> {
  const deadline = Date.now() + HINTS_TIMEOUT_MS;
  for (;;) {
    let pending = 0;
    for (const node of cluster.nodes) {
      try {
        const { targets } = await getJson<{ targets: { hints: number }[] }>(`http://${node.http}/v1/admin/hints`);
        pending += targets.reduce((sum, target) => sum + target.hints, 0);
      } catch {
        pending += 1; // not answering: cannot tell, so not done
      }
    }
    if (pending === 0 || Date.now() > deadline) return pending;
    await sleep(POLL_MS);
  }
}

interface RepairProgress {
  id: string;
  state: string;
  rangesTotal: number;
  rangesDiffering: number;
  rangesFailed: number;
  errors: string[];
}

/** Repairs `node`'s primary ranges of the chaos keyspace and records the outcome. */
async function repairOn(node: ChaosNode, round: number, log: HistoryLog): Promise<void> {
  let progress: RepairProgress;
  try {
    const { id } = await getJson<{ id: string }>(`http://${node.http}/v1/admin/repair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keyspace: KEYSPACE, primaryRangeOnly: true }),
    });
    const deadline = Date.now() + REPAIR_TIMEOUT_MS;
    for (;;) {
      progress = await getJson<RepairProgress>(`http://${node.http}/v1/admin/repair/${encodeURIComponent(id)}`);
      if (progress.state !== 'running') break;
      if (Date.now() > deadline) {
        progress = { ...progress, state: 'timed out', errors: [`still running after ${REPAIR_TIMEOUT_MS / 1000} s`] };
        break;
      }
      await sleep(POLL_MS);
    }
  } catch (error) {
    progress = { id: '', state: 'failed to run', rangesTotal: 0, rangesDiffering: 0, rangesFailed: 0, errors: [(error as Error).message] };
  }
  log.record({
    type: 'repair',
    round,
    node: node.name,
    atMs: wallClockMs(),
    state: progress.state,
    rangesTotal: progress.rangesTotal,
    rangesDiffering: progress.rangesDiffering,
    rangesFailed: progress.rangesFailed,
    errors: [...progress.errors],
  });
}

/** Round 1 repairs; round 2 must find nothing left to repair (the Merkle check). */
export async function repairTwice(cluster: ChaosCluster, log: HistoryLog): Promise<void> {
  for (const round of [1, 2]) for (const node of cluster.nodes) await repairOn(node, round, log);
}

async function finalRead(http: string, workload: Workload, key: number, replica: string, log: HistoryLog): Promise<void> {
  const { query, params } = readStatement(workload, key);
  const consistency = replica === 'ALL' ? 'ALL' : 'ONE';
  let record: FinalReadRecord | undefined;
  for (let attempt = 1; attempt <= READ_ATTEMPTS_MAX; attempt++) {
    const atMs = wallClockMs();
    const answer = await cql(http, query, params, consistency, READ_TIMEOUT_MS);
    record =
      answer.outcome === 'ok'
        ? { type: 'final', workload, key, replica, atMs, ok: true, read: readResult(workload, answer.rows) }
        : { type: 'final', workload, key, replica, atMs, ok: false, error: `${answer.error} (${attempt} attempts)` };
    if (record.ok) break;
    await sleep(POLL_MS * attempt);
  }
  log.record(record!);
}

/** Each key's replicas, by asking node1 (getendpoints). */
async function replicasOf(cluster: ChaosCluster, workload: Workload, key: number): Promise<ChaosNode[]> {
  const query = new URLSearchParams({ keyspace: KEYSPACE, table: TABLE_OF[workload], key: String(key) });
  const { replicas } = await getJson<{ replicas: { address: string }[] }>(`http://${cluster.nodes[0].http}/v1/admin/endpoints?${query}`);
  return replicas.map((replica) => {
    const node = cluster.nodeAt(replica.address);
    if (node === undefined) throw new Error(`getendpoints named ${replica.address}, which is no node of this run`);
    return node;
  });
}

/** Runs `tasks` with at most READS_PARALLEL_MAX at a time. */
async function bounded(tasks: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(READS_PARALLEL_MAX, tasks.length) }, worker));
}

export async function readEverything(cluster: ChaosCluster, workloads: readonly Workload[], log: HistoryLog): Promise<void> {
  const tasks: (() => Promise<void>)[] = [];
  const coordinator = cluster.nodes[0].http;
  for (const workload of workloads) {
    for (const key of keysTouched(log.history.ops, workload)) {
      tasks.push(async () => {
        await finalRead(coordinator, workload, key, 'ALL', log);
        let replicas: ChaosNode[];
        try {
          replicas = await replicasOf(cluster, workload, key);
        } catch (error) {
          log.record({ type: 'final', workload, key, replica: '?', atMs: wallClockMs(), ok: false, error: (error as Error).message });
          return;
        }
        // A replica coordinating a read at ONE answers from its own data first.
        for (const replica of replicas) await finalRead(replica.http, workload, key, replica.name, log);
      });
    }
  }
  await bounded(tasks);
}
