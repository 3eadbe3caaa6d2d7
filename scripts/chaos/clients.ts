/**
 * The clients of a chaos run: `clients` loops, each issuing one operation at a time to
 * a node picked at random (any node, down or not: a refused request is a recorded
 * failure), paced so that all together issue about `rate` operations per second, until
 * the deadline. Every operation is recorded when it completes, with its invoke and
 * complete times and its coordinator's clock offset at invoke.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Random } from '../../lib/model/random.js';
import type { ChaosCluster } from './cluster.js';
import { cql } from './client.js';
import { type HistoryLog, type OpRecord, wallClockMs } from './history.js';
import { CONSISTENCY, readResult, statementOf, type WorkloadGenerator } from './workloads.js';

/** Longest a client waits for one operation; above the nodes' 2 s request timeouts, so those answer first. */
export const OP_TIMEOUT_MS = 5_000;

export interface ClientOptions {
  clients: number;
  rate: number;
  deadlineMs: number;
}

export async function runClients(
  cluster: ChaosCluster,
  generator: WorkloadGenerator,
  random: Random,
  log: HistoryLog,
  { clients, rate, deadlineMs }: ClientOptions,
): Promise<void> {
  let nextId = 1;
  const intervalMs = (1000 * clients) / rate;
  const client = async (index: number) => {
    // Spread the clients' first operations over one interval.
    await sleep(intervalMs * (index / clients));
    while (wallClockMs() < deadlineMs) {
      const planned = generator.next();
      const node = cluster.nodes[Math.floor(random() * cluster.nodes.length)];
      const { query, params } = statementOf(planned);
      const clockOffsetMs = node.clockOffsetMs;
      const invokeMs = wallClockMs();
      const answer = await cql(node.http, query, params, CONSISTENCY, OP_TIMEOUT_MS);
      const completeMs = wallClockMs();
      const record: OpRecord = {
        type: 'op',
        id: nextId++,
        client: index,
        node: node.name,
        clockOffsetMs,
        workload: planned.workload,
        f: planned.f,
        key: planned.key,
        ...(planned.value === undefined ? {} : { value: planned.value }),
        invokeMs,
        completeMs,
        outcome: answer.outcome,
        ...(answer.error === undefined ? {} : { error: answer.error }),
        ...(planned.f === 'read' && answer.outcome === 'ok' ? { read: readResult(planned.workload, answer.rows) } : {}),
      };
      log.record(record);
      generator.completed(record);
      const wait = Math.min(intervalMs - (completeMs - invokeMs), deadlineMs - wallClockMs());
      if (wait > 0) await sleep(wait);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
}
