/**
 * Anti-entropy repair sessions (`sibyl repair`). (API fixed by the lead; body: the repair helper.)
 *
 * A repair on node X covers, for each chosen table, the token ranges X replicates (or
 * with primaryRangeOnly only X's primary ranges, so running it on every node repairs each
 * range once). Per range: every live replica builds a Merkle tree by validation
 * (VALIDATION verb; X's own directly), X compares the trees, and the ranges where a
 * replica differs are streamed: X pulls each differing replica's data for its differing
 * ranges, then pushes the union of differing ranges to every other replica, so every
 * replica ends with the reconciled data. A replica that is down or dies mid-way fails
 * that range, not the repair: the result says which ranges failed and why.
 */
import type { ClusterView } from '../cluster/cluster-view.js';
import type { Clock } from '../model/clock.js';
import type { NetLogger, Transport } from '../net/transport.js';
import type { SchemaManager } from '../schema/manager.js';
import type { StorageEngine } from '../storage/engine.js';
import type { RepairRecord, SystemStore } from '../system/system-store.js';
import type { StreamService } from './streaming.js';

export interface RepairOptions {
  /** No keyspace: every non-system keyspace. */
  readonly keyspace?: string;
  /** No tables: every table of the keyspace. */
  readonly tables?: readonly string[];
  /** --pr: only this node's primary ranges. */
  readonly primaryRangeOnly?: boolean;
}

export type RepairState = 'running' | 'succeeded' | 'failed';

/** A repair as `sibyl repair` shows it while it runs and when it is done. */
export interface RepairProgress {
  readonly id: string;
  readonly state: RepairState;
  readonly keyspaces: readonly string[];
  readonly primaryRangeOnly: boolean;
  /** (table, range) pairs to repair, done so far, and failed among them. */
  readonly rangesTotal: number;
  readonly rangesDone: number;
  readonly rangesFailed: number;
  /** Ranges where some replica differed. */
  readonly rangesDiffering: number;
  readonly partitionsStreamed: number;
  readonly bytesStreamed: number;
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  /** Streamed bytes per second so far. */
  readonly bytesPerSecond: number;
  /** Estimated time left from ranges done so far; null before the first range is done. */
  readonly etaMs: number | null;
  /** Why ranges failed, one line each ("ks.t (a, b]: /127.0.0.2:7000 is down"). */
  readonly errors: readonly string[];
}

export interface RepairServiceOptions {
  readonly view: ClusterView;
  readonly transport: Transport;
  readonly storage: StorageEngine;
  readonly schema: SchemaManager;
  readonly system: SystemStore;
  readonly streams: StreamService;
  readonly clock: Clock;
  /** Longest wait for one replica's Merkle tree (default 30 min); a dead replica fails sooner. */
  readonly validationTimeoutMs?: number;
  readonly logger?: NetLogger;
}

export class RepairService {
  constructor(readonly options: RepairServiceOptions) {}

  /** Registers the VALIDATION verb. Call once. */
  register(): void {
    // Not built yet: the repair helper registers VALIDATION here.
  }

  /**
   * Starts a repair in the background and returns its id at once; InvalidRequest for an
   * unknown keyspace or table. Poll progress(id) until its state is not 'running'.
   */
  start(options: RepairOptions): string {
    void options;
    throw new Error('RepairService.start: not built yet');
  }

  /** A repair started since this node started, or undefined. */
  progress(id: string): RepairProgress | undefined {
    void id;
    throw new Error('RepairService.progress: not built yet');
  }

  /** Resolves when the repair ends, with its final progress. */
  wait(id: string): Promise<RepairProgress> {
    void id;
    throw new Error('RepairService.wait: not built yet');
  }

  /** Recorded repairs (system state), oldest first; scoped like start(). */
  history(keyspace?: string, tables?: readonly string[]): Promise<RepairRecord[]> {
    void keyspace, tables;
    throw new Error('RepairService.history: not built yet');
  }
}
