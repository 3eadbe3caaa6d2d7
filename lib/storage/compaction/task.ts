/**
 * Runs one compaction plan: scans its input SSTables in (token, key) order through
 * mergeScans, purges what may be dropped (purge.ts) and streams the rest into new
 * SSTables, split between partitions once one reaches the plan's size. Cleanup is a
 * compaction with a partition filter (CompactionTask.keepPartition).
 *
 * It runs on the main thread without freezing it: reads are asynchronous, and every
 * CHECKPOINT_UNITS rows or partitions it pays the throttle for the input it consumed,
 * reports progress, checks for abort and yields to the event loop. Memory stays
 * bounded by one row per input plus the writer's buffers, whatever the data size.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ALL_ROWS, type Slice } from '../../model/clustering.js';
import type { Row } from '../../model/partition.js';
import type { TableMetadata } from '../../schema/metadata.js';
import { FULL_RANGE, type KeyRange } from '../engine.js';
import type { PartitionHeader, PartitionSource } from '../source.js';
import { mergeScans } from './merge-iterator.js';
import type { CompactionCandidate, CompactionPlan } from './plan.js';
import { isEmptyHeader, purgeContext, purgeHeader, purgeRow } from './purge.js';
import type { Throttle } from './throttle.js';

/** Rows plus partitions processed between two checkpoints (throttle, progress, abort
 *  check, yield to the event loop)… */
const CHECKPOINT_UNITS = 256;
/** …or sooner, once this long has passed: wide rows or slow inputs must not hold the
 *  event loop (writes wait behind it) for many milliseconds. */
const CHECKPOINT_INTERVAL_MS = 1;
const ALL_SLICES: readonly Slice[] = [ALL_ROWS];

/** An input SSTable as a compaction reads it; the SSTable reader satisfies this. */
export interface CompactionInput extends CompactionCandidate {
  scan(range: KeyRange): AsyncIterable<PartitionSource>;
}

/** An output SSTable being written; the SSTable writer satisfies this. */
export interface CompactionWriter<Output> {
  startPartition(header: PartitionHeader): Promise<void>;
  addRow(row: Row): Promise<void>;
  endPartition(): Promise<void>;
  /** Bytes written to disk so far. */
  readonly bytesWritten: number;
  /** Makes the SSTable visible and returns it (its reader). */
  finish(): Promise<Output>;
  /** Removes everything written. */
  abort(): Promise<void>;
}

export interface CompactionProgress {
  /** Estimated bytes of the inputs consumed so far (uncompressed). */
  readonly bytesRead: number;
  /** Uncompressed bytes of all inputs. */
  readonly bytesTotal: number;
}

export interface CompactionTask<Output> {
  readonly plan: CompactionPlan;
  readonly table: TableMetadata;
  /** The readable SSTable of an input generation. */
  open(generation: number): CompactionInput | Promise<CompactionInput>;
  /** A new output SSTable for `level`, its bloom filter sized for `expectedPartitions`. */
  createWriter(level: number, expectedPartitions: number): Promise<CompactionWriter<Output>>;
  /** The oldest timestamp of any data for the partition outside this compaction
   *  (other SSTables that may hold the key, memtables); Infinity when none. */
  maxPurgeableTimestamp(key: Buffer, token: bigint): number;
  /** The compaction's "now" (seconds), deciding TTL expiry and gc grace. */
  readonly nowSeconds: number;
  readonly throttle: Throttle;
  onProgress?(progress: CompactionProgress): void;
  /**
   * Partitions whose token fails this are left out of the outputs whole, data and
   * tombstones alike (cleanup: data of ranges this node no longer replicates, which no
   * read here will ask for again). Absent: every partition is kept.
   */
  keepPartition?(token: bigint): boolean;
  /** Deletes an output already finished when the compaction fails later on (its data
   *  is still in the inputs, so keeping it would only waste space). */
  discardOutput?(output: Output): Promise<void>;
  readonly signal?: AbortSignal;
}

/**
 * Runs the task and returns the finished outputs (none when everything was purged).
 * On failure or abort, the output being written is aborted, finished ones are
 * discarded, and the error is rethrown; the inputs are never touched.
 */
export async function runCompaction<Output>(task: CompactionTask<Output>): Promise<Output[]> {
  const { plan, table, signal } = task;
  signal?.throwIfAborted();
  const inputs = await Promise.all(plan.inputs.map((input) => task.open(input.generation)));
  const meter = new InputMeter(inputs);
  const expectedPartitions = expectedPartitionsPerOutput(inputs, plan.maxOutputBytes);
  const outputs = new Outputs(() => task.createWriter(plan.outputLevel, expectedPartitions), plan.maxOutputBytes);
  let units = 0;
  let bytesPaid = 0;
  let checkpointAtMs = performance.now() + CHECKPOINT_INTERVAL_MS;
  const checkpointDue = (): boolean => ++units % CHECKPOINT_UNITS === 0 || performance.now() >= checkpointAtMs;

  const checkpoint = async (): Promise<void> => {
    checkpointAtMs = performance.now() + CHECKPOINT_INTERVAL_MS;
    signal?.throwIfAborted();
    const bytesRead = meter.bytesRead();
    await task.throttle.consume(bytesRead - bytesPaid, signal);
    bytesPaid = bytesRead;
    task.onProgress?.({ bytesRead, bytesTotal: meter.bytesTotal });
    await nextTurn();
  };

  try {
    const scans = inputs.map((input, index) => meter.counted(index, input.scan(FULL_RANGE)));
    for await (const partition of mergeScans(table, scans)) {
      if (task.keepPartition !== undefined && !task.keepPartition(partition.token)) {
        // Its rows are never read: the scans move past them.
        if (checkpointDue()) await checkpoint();
        continue;
      }
      const context = purgeContext(
        task.nowSeconds,
        table.options.gcGraceSeconds,
        task.maxPurgeableTimestamp(partition.key, partition.token),
      );
      const header = purgeHeader(partition, context);
      // A partition is only started once something of it survives the purge.
      let writer = isEmptyHeader(header) ? null : await outputs.startPartition(header);
      for await (const row of partition.rows(ALL_SLICES, false)) {
        const purged = purgeRow(row, context);
        if (purged !== null) {
          writer ??= await outputs.startPartition(header);
          await writer.addRow(purged);
        }
        if (checkpointDue()) await checkpoint();
      }
      if (writer !== null) await outputs.endPartition();
      if (checkpointDue()) await checkpoint();
    }
    await outputs.finish();
    await task.throttle.consume(meter.bytesTotal - bytesPaid);
    task.onProgress?.({ bytesRead: meter.bytesTotal, bytesTotal: meter.bytesTotal });
    return outputs.finished;
  } catch (error) {
    await outputs.abandon((output) => task.discardOutput?.(output));
    throw error;
  }
}

/** The output SSTables of one compaction: the one being written and those finished. */
class Outputs<Output> {
  readonly finished: Output[] = [];
  private writer: CompactionWriter<Output> | null = null;

  constructor(
    private readonly create: () => Promise<CompactionWriter<Output>>,
    private readonly maxOutputBytes: number,
  ) {}

  /** Starts a partition in the current output, opening one if there is none. */
  async startPartition(header: PartitionHeader): Promise<CompactionWriter<Output>> {
    this.writer ??= await this.create();
    await this.writer.startPartition(header);
    return this.writer;
  }

  /** Ends the partition; a full output is finished, so the next partition opens a new one. */
  async endPartition(): Promise<void> {
    const writer = this.writer!;
    await writer.endPartition();
    if (writer.bytesWritten >= this.maxOutputBytes) await this.finish();
  }

  async finish(): Promise<void> {
    if (this.writer === null) return;
    // Only a finished writer is forgotten: one whose finish fails is still aborted.
    this.finished.push(await this.writer.finish());
    this.writer = null;
  }

  /**
   * After a failure: aborts the output being written and discards the finished ones.
   * The caller must see the original failure, so cleanup failures are not thrown:
   * they leave temporary files that start-up removes, or finished outputs that only
   * duplicate data the inputs still hold.
   */
  async abandon(discard: (output: Output) => Promise<void> | undefined): Promise<void> {
    await Promise.allSettled([this.writer?.abort(), ...this.finished.map(discard)]);
  }
}

/** Bloom filters are sized per output: the inputs' partitions shared among the
 *  expected number of outputs (an overestimate when inputs share keys). */
function expectedPartitionsPerOutput(inputs: readonly CompactionInput[], maxOutputBytes: number): number {
  let partitions = 0;
  let diskBytes = 0;
  for (const input of inputs) {
    partitions += input.stats.partitionCount;
    diskBytes += input.stats.diskBytes;
  }
  const outputs = Number.isFinite(maxOutputBytes) ? Math.max(1, Math.ceil(diskBytes / maxOutputBytes)) : 1;
  return Math.max(1, Math.ceil(partitions / outputs));
}

/**
 * Estimates how much of each input has been consumed, from the partitions and rows
 * read out of it against its recorded counts: wide partitions advance the estimate
 * row by row, narrow ones partition by partition.
 */
class InputMeter {
  readonly bytesTotal: number;
  private readonly partitions: number[];
  private readonly rows: number[];

  constructor(private readonly inputs: readonly CompactionInput[]) {
    this.bytesTotal = inputs.reduce((total, input) => total + input.stats.uncompressedBytes, 0);
    this.partitions = inputs.map(() => 0);
    this.rows = inputs.map(() => 0);
  }

  bytesRead(): number {
    let bytes = 0;
    for (let i = 0; i < this.inputs.length; i++) {
      const { partitionCount, rowCount, uncompressedBytes } = this.inputs[i].stats;
      const share = Math.max(
        partitionCount > 0 ? this.partitions[i] / partitionCount : 0,
        rowCount > 0 ? this.rows[i] / rowCount : 0,
      );
      bytes += Math.min(1, share) * uncompressedBytes;
    }
    return Math.round(bytes);
  }

  /** The scan of input `index`, counting what is read from it. */
  async *counted(index: number, scan: AsyncIterable<PartitionSource>): AsyncGenerator<PartitionSource> {
    for await (const source of scan) {
      this.partitions[index]++;
      yield {
        key: source.key,
        token: source.token,
        deletion: source.deletion,
        staticRow: source.staticRow,
        rangeTombstones: source.rangeTombstones,
        rows: (slices, reversed) => this.countedRows(index, source.rows(slices, reversed)),
      };
    }
  }

  private async *countedRows(index: number, rows: AsyncIterable<Row>): AsyncGenerator<Row> {
    for await (const row of rows) {
      this.rows[index]++;
      yield row;
    }
  }
}
