/**
 * Anti-entropy repair sessions (`sibyl repair`).
 *
 * A repair on node X covers, for each chosen table, the token ranges X replicates (or
 * with primaryRangeOnly only X's primary ranges, so running it on every node repairs each
 * range once). Per range: every live replica builds a Merkle tree by validation
 * (VALIDATION verb; X's own directly), X compares the trees, and the leaves where a
 * replica differs are streamed: X pulls each distinct differing version once, then
 * pushes to each replica the leaves where it still differs from the reconciled data
 * (repair-session.ts), so every replica ends with the reconciled data. A replica that
 * is down or dies mid-way fails that range, not the repair: the result says which
 * ranges failed and why.
 *
 * Ranges are repaired one after another (repair-session.ts does one), so a repair
 * holds at most one range's trees and streams at a time whatever the data size; the
 * ring and schema are the ones at start. At the end one RepairRecord per table goes to
 * system state (succeeded only if every range of the table did).
 */
import { randomUUID } from 'node:crypto';
import type { ClusterView } from '../cluster/cluster-view.js';
import { replicaPlacement } from '../cluster/replication.js';
import { InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';
import { SILENT_NET_LOGGER, type NetLogger, type Transport } from '../net/transport.js';
import type { SchemaManager } from '../schema/manager.js';
import type { TableMetadata } from '../schema/metadata.js';
import { SYSTEM_KEYSPACES } from '../schema/schema.js';
import type { StorageEngine } from '../storage/engine.js';
import type { RepairRecord, SystemStore } from '../system/system-store.js';
import { LivenessWatch } from './repair-liveness.js';
import { depthForPiece, planRanges, rateAndEta, totalWidth, type PlannedRange } from './repair-plan.js';
import { repairRange, type RangeSessionDeps } from './repair-session.js';
import { Validator } from './repair-validator.js';
import type { StreamService, StreamStats } from './streaming.js';
import type { ValidationThrottle } from './validation.js';

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
  /**
   * This node's partition count estimate for a table, which sizes the trees (about one
   * partition per leaf). Without it every tree has a single leaf: correct, but any
   * difference streams the whole range.
   */
  readonly partitionsEstimate?: (tableId: string) => number;
  /** Paces validation by the bytes it hashes: the node passes compaction's throttle, so both share compaction_throughput. Absent: unthrottled. */
  readonly validationThrottle?: ValidationThrottle;
  readonly logger?: NetLogger;
}

/** Default for RepairServiceOptions.validationTimeoutMs: a deep tree of a big range takes minutes. */
export const VALIDATION_TIMEOUT_MS_DEFAULT = 30 * 60_000;
/** Finished repairs whose progress stays queryable; older ones are only in the history. */
export const FINISHED_REPAIRS_KEPT_MAX = 100;
/** Failure reasons kept per repair; the count of ranges failed stays exact. */
export const REPAIR_ERRORS_MAX = 100;

/** One table of a repair and the ranges to repair in it. */
interface TablePlan {
  readonly table: TableMetadata;
  readonly ranges: readonly PlannedRange[];
  /** Depth of each piece of each range, as ranges[i].pieces[j]. */
  readonly depths: readonly (readonly number[])[];
}

/** A repair's counters while it runs; RepairProgress is its snapshot. */
class RepairRun {
  state: RepairState = 'running';
  rangesDone = 0;
  rangesFailed = 0;
  rangesDiffering = 0;
  partitionsStreamed = 0;
  bytesStreamed = 0;
  finishedAtMs: number | null = null;
  errorsLeftOut = 0;
  readonly errors: string[] = [];
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(
    readonly id: string,
    readonly keyspaces: readonly string[],
    readonly primaryRangeOnly: boolean,
    readonly rangesTotal: number,
    readonly startedAtMs: number,
  ) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
  }

  addError(reason: string): void {
    if (this.errors.length < REPAIR_ERRORS_MAX) this.errors.push(reason);
    else this.errorsLeftOut++;
  }

  end(state: RepairState, atMs: number): void {
    this.state = state;
    this.finishedAtMs = atMs;
    this.finish();
  }

  snapshot(nowMs: number): RepairProgress {
    const elapsedMs = (this.finishedAtMs ?? nowMs) - this.startedAtMs;
    const { bytesPerSecond, etaMs } = rateAndEta(elapsedMs, this.bytesStreamed, this.rangesDone, this.rangesTotal);
    const leftOut = this.errorsLeftOut === 0 ? [] : [`… and ${this.errorsLeftOut} more`];
    return {
      id: this.id,
      state: this.state,
      keyspaces: this.keyspaces,
      primaryRangeOnly: this.primaryRangeOnly,
      rangesTotal: this.rangesTotal,
      rangesDone: this.rangesDone,
      rangesFailed: this.rangesFailed,
      rangesDiffering: this.rangesDiffering,
      partitionsStreamed: this.partitionsStreamed,
      bytesStreamed: this.bytesStreamed,
      startedAtMs: this.startedAtMs,
      finishedAtMs: this.finishedAtMs,
      bytesPerSecond,
      etaMs: this.state === 'running' ? etaMs : 0,
      errors: [...this.errors, ...leftOut],
    };
  }
}

export class RepairService {
  private readonly validator: Validator;
  private readonly liveness: LivenessWatch;
  private readonly session: RangeSessionDeps;
  private readonly logger: NetLogger;
  /** Running repairs and the last FINISHED_REPAIRS_KEPT_MAX finished ones, oldest first. */
  private readonly runs = new Map<string, RepairRun>();

  constructor(readonly options: RepairServiceOptions) {
    this.validator = new Validator(
      options.storage,
      options.validationThrottle,
    );
    this.liveness = new LivenessWatch(options.view);
    this.session = {
      validator: this.validator,
      transport: options.transport,
      streams: options.streams,
      liveness: this.liveness,
      validationTimeoutMs: options.validationTimeoutMs ?? VALIDATION_TIMEOUT_MS_DEFAULT,
    };
    this.logger = options.logger ?? SILENT_NET_LOGGER;
  }

  /** Registers the VALIDATION verb. Call once. */
  register(): void {
    this.validator.register(this.options.transport);
  }

  /**
   * Starts a repair in the background and returns its id at once; InvalidRequest for an
   * unknown keyspace or table. Poll progress(id) until its state is not 'running'.
   */
  start(options: RepairOptions): string {
    const tables = this.resolve(options.keyspace, options.tables);
    const primaryRangeOnly = options.primaryRangeOnly === true;
    const plans = tables.map((table) => this.plan(table, primaryRangeOnly));
    const rangesTotal = plans.reduce((sum, plan) => sum + plan.ranges.length, 0);
    const keyspaces = [...new Set(tables.map((table) => table.keyspace))];
    const run = new RepairRun(randomUUID(), keyspaces, primaryRangeOnly, rangesTotal, this.options.clock.nowMillis());
    this.runs.set(run.id, run);
    this.logger.info(
      { repair: run.id, keyspaces, tables: tables.length, ranges: rangesTotal, primaryRangeOnly },
      `Repair ${run.id} started: ${rangesTotal} ranges of ${tables.length} tables`,
    );
    void this.execute(run, plans);
    return run.id;
  }

  /** A repair started since this node started, or undefined. */
  progress(id: string): RepairProgress | undefined {
    return this.runs.get(id)?.snapshot(this.options.clock.nowMillis());
  }

  /** Resolves when the repair ends, with its final progress. */
  async wait(id: string): Promise<RepairProgress> {
    const run = this.runs.get(id);
    if (run === undefined) throw new InvalidRequest(`Unknown repair ${id}`);
    await run.finished;
    return run.snapshot(this.options.clock.nowMillis());
  }

  /** Recorded repairs (system state), oldest first; scoped like start(). */
  async history(keyspace?: string, tables?: readonly string[]): Promise<RepairRecord[]> {
    const records: RepairRecord[] = [];
    for (const table of this.resolve(keyspace, tables)) records.push(...(await this.options.system.repairHistory(table.keyspace, table.name)));
    return records.sort((a, b) => a.startedAtMs - b.startedAtMs);
  }

  /** The tables a scope names: every non-system keyspace's, one keyspace's, or some of one's. */
  private resolve(keyspace?: string, tables?: readonly string[]): TableMetadata[] {
    const schema = this.options.schema.current;
    if (keyspace === undefined) {
      return [...schema.keyspaces.values()].filter((ks) => !SYSTEM_KEYSPACES.has(ks.name)).flatMap((ks) => [...ks.tables.values()]);
    }
    // System keyspaces hold node-local state: there is nothing to reconcile across nodes.
    if (SYSTEM_KEYSPACES.has(keyspace)) throw new InvalidRequest(`Keyspace '${keyspace}' is node-local: it is never repaired`);
    return schema.tablesOf(keyspace, tables);
  }

  /** The ranges of `table` to repair and each tree's depth, on the ring as it is now. */
  private plan(table: TableMetadata, primaryRangeOnly: boolean): TablePlan {
    const { view, schema, partitionsEstimate } = this.options;
    const replication = schema.current.keyspace(table.keyspace)!.replication;
    const ring = view.ring();
    const ranges = planRanges(ring, replication, view.local.id, primaryRangeOnly);
    if (ranges.length === 0) return { table, ranges, depths: [] };
    // Depths come from everything this node replicates (its partitions are spread over
    // all of it), even when only the primary ranges are repaired.
    const replicatedWidth = totalWidth(replicaPlacement(ring, replication).rangesReplicatedBy(view.local.id));
    const estimate = partitionsEstimate?.(table.id) ?? 0;
    const depths = ranges.map((planned) => planned.pieces.map((piece) => depthForPiece(estimate, piece, replicatedWidth)));
    return { table, ranges, depths };
  }

  private async execute(run: RepairRun, plans: readonly TablePlan[]): Promise<void> {
    const { clock, system } = this.options;
    const onStreamed = (chunk: StreamStats) => {
      run.partitionsStreamed += chunk.partitions;
      run.bytesStreamed += chunk.bytes;
    };
    let failed = false;
    try {
      for (const { table, ranges, depths } of plans) {
        let tableFailed = false;
        for (let i = 0; i < ranges.length; i++) {
          const outcome = await repairRange(this.session, {
            table,
            planned: ranges[i],
            depths: depths[i],
            nowSeconds: clock.nowSeconds(),
            onStreamed,
          }).catch((error: unknown) => ({ differing: false, errors: [`${table.keyspace}.${table.name}: ${(error as Error).message}`] }));
          run.rangesDone++;
          if (outcome.differing) run.rangesDiffering++;
          if (outcome.errors.length > 0) {
            run.rangesFailed++;
            tableFailed = true;
            for (const reason of outcome.errors) run.addError(reason);
            this.logger.warn({ repair: run.id, errors: outcome.errors }, `Repair ${run.id}: range failed: ${outcome.errors[0]}`);
          }
        }
        failed ||= tableFailed;
        await system.recordRepair({
          id: run.id,
          keyspace: table.keyspace,
          table: table.name,
          ranges: ranges.map(({ range }) => ({ start: range.start.toString(), end: range.end.toString() })),
          startedAtMs: run.startedAtMs,
          finishedAtMs: clock.nowMillis(),
          succeeded: !tableFailed,
        });
      }
    } catch (error) {
      // Recording failed (the node is stopping): the repair ends, failed, with the reason.
      failed = true;
      run.addError(`repair stopped: ${(error as Error).message}`);
    }
    run.end(failed ? 'failed' : 'succeeded', clock.nowMillis());
    this.forgetOldRuns();
    const done = run.snapshot(clock.nowMillis());
    this.logger.info(
      { repair: run.id, state: done.state, rangesFailed: done.rangesFailed, bytesStreamed: done.bytesStreamed },
      `Repair ${run.id} ${done.state}: ${done.rangesDone - done.rangesFailed}/${done.rangesTotal} ranges repaired, ` +
        `${done.rangesDiffering} differing, ${done.partitionsStreamed} partitions (${done.bytesStreamed} bytes) streamed`,
    );
  }

  /** Keeps the progress of running repairs and of the last FINISHED_REPAIRS_KEPT_MAX finished ones. */
  private forgetOldRuns(): void {
    let finished = 0;
    for (const run of this.runs.values()) if (run.state !== 'running') finished++;
    for (const [id, run] of this.runs) {
      if (finished <= FINISHED_REPAIRS_KEPT_MAX) break;
      if (run.state === 'running') continue;
      this.runs.delete(id);
      finished--;
    }
  }
}
