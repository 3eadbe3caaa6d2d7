import t from 'tap';
import fc from 'fast-check';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { NO_DELETION_TIME } from '../../lib/model/cell.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { compareKeys } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import type { CompactionPlan } from '../../lib/storage/compaction/plan.js';
import { runCompaction, type CompactionInput, type CompactionProgress, type CompactionWriter } from '../../lib/storage/compaction/task.js';
import { Throttle } from '../../lib/storage/compaction/throttle.js';
import type { PartitionHeader } from '../../lib/storage/source.js';
import { generators, keyOf, liveView, meaning, mergeAll, minTimestamp, scanOf, table, type TimeDomain } from './fixtures/compaction.js';
import { int } from './fixtures/tables.js';
import { propertyHolds } from '../helpers/property.js';

/** An output SSTable in memory: what was written, and how. */
class MemoryWriter implements CompactionWriter<MemoryWriter> {
  readonly partitions: Partition[] = [];
  bytesWritten = 0;
  aborted = false;
  finished = false;
  failFinish = false;
  private current: Partition | null = null;

  constructor(
    readonly level: number,
    readonly expectedPartitions: number,
  ) {}

  async startPartition(header: PartitionHeader): Promise<void> {
    if (this.current !== null || this.finished) throw new Error('startPartition out of turn');
    const { key, token, deletion, staticRow, rangeTombstones } = header;
    this.current = { key, token, deletion, staticRow, rangeTombstones: [...rangeTombstones], rows: [] };
    this.bytesWritten += 20;
  }
  async addRow(row: Row): Promise<void> {
    if (this.current === null) throw new Error('addRow outside a partition');
    this.current.rows.push(row);
    this.bytesWritten += 50;
  }
  async endPartition(): Promise<void> {
    if (this.current === null) throw new Error('endPartition outside a partition');
    this.partitions.push(this.current);
    this.current = null;
  }
  async finish(): Promise<MemoryWriter> {
    if (this.current !== null) throw new Error('finish inside a partition');
    if (this.failFinish) throw new Error('disk full');
    this.finished = true;
    return this;
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

/** An input SSTable over in-memory partitions, with statistics to match. */
function inputOf(generation: number, partitions: readonly Partition[], fail?: { afterPartitions: number }): CompactionInput {
  const rowCount = partitions.reduce((sum, p) => sum + p.rows.length, 0);
  const sorted = [...partitions].sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
  const first = sorted[0] ?? { ...keyOf(0) };
  const last = sorted.at(-1) ?? first;
  return {
    generation,
    firstToken: first.token,
    firstKey: first.key,
    lastToken: last.token,
    lastKey: last.key,
    stats: {
      minTimestamp: 0,
      maxTimestamp: 0,
      minLocalDeletionTime: NO_DELETION_TIME,
      maxLocalDeletionTime: NO_DELETION_TIME,
      partitionCount: partitions.length,
      rowCount,
      tombstoneCount: 0,
      uncompressedBytes: 100 * (partitions.length + rowCount),
      diskBytes: 40 * (partitions.length + rowCount),
      level: 0,
    },
    scan: () =>
      fail === undefined
        ? scanOf(partitions)
        : (async function* () {
            let n = 0;
            for await (const source of scanOf(partitions)) {
              if (n++ === fail.afterPartitions) throw new Error('CRC mismatch in chunk');
              yield source;
            }
          })(),
  };
}

interface Run {
  inputs: CompactionInput[];
  table?: TableMetadata;
  maxOutputBytes?: number;
  nowSeconds?: number;
  maxPurgeableTimestamp?: (key: Buffer) => number;
  throttle?: Throttle;
  onProgress?: (progress: CompactionProgress) => void;
  signal?: AbortSignal;
  /** The index of the output whose finish fails. */
  failFinishOf?: number;
}

function run(options: Run) {
  const writers: MemoryWriter[] = [];
  const discarded: MemoryWriter[] = [];
  const plan: CompactionPlan = { inputs: options.inputs, outputLevel: 1, maxOutputBytes: options.maxOutputBytes ?? Infinity, reason: 'test' };
  const result = runCompaction<MemoryWriter>({
    plan,
    table: options.table ?? table,
    open: (generation) => options.inputs.find((input) => input.generation === generation)!,
    createWriter: async (level, expectedPartitions) => {
      const writer = new MemoryWriter(level, expectedPartitions);
      writer.failFinish = writers.length === options.failFinishOf;
      writers.push(writer);
      return writer;
    },
    maxPurgeableTimestamp: options.maxPurgeableTimestamp ?? (() => Infinity),
    nowSeconds: options.nowSeconds ?? 1000,
    throttle: options.throttle ?? new Throttle(0),
    onProgress: options.onProgress,
    discardOutput: async (output) => {
      discarded.push(output);
    },
    signal: options.signal,
  });
  return { result, writers, discarded };
}

// ---------------------------------------------------------------------------------
// Reads before and after a compaction

const T0 = 1000;
const TIMES: TimeDomain = {
  timestamps: { min: 1, max: 5 },
  deletionTimes: { min: T0, max: T0 + 100 },
  expiries: { min: T0 + 50, max: T0 + 250 },
};
const KEYS = [1, 2, 3];
const arbs = generators(TIMES, 4);

/** An SSTable-like source: a few writes to random keys, merged per key. */
const sstableArb = fc
  .array(fc.constantFrom(...KEYS).chain((pk) => arbs.partition(pk, { min: 0, max: 3 })), { minLength: 1, maxLength: 4 })
  .map((writes) => {
    const byKey = new Map<number, Partition[]>();
    for (const write of writes) {
      const pk = write.key.readInt32BE(0);
      byKey.set(pk, [...(byKey.get(pk) ?? []), write]);
    }
    return [...byKey.values()].map(mergeAll);
  });

t.test('a random history reads the same before and after compacting any subset of its SSTables, at any later time', async (t) => {
  let purgedSomething = 0;
  let splitOutputs = 0;
  propertyHolds(t, await fc.check(
    fc.asyncProperty(
      fc.array(sstableArb, { minLength: 1, maxLength: 5 }),
      fc.infiniteStream(fc.boolean()),
      fc.integer({ min: T0 + 100, max: T0 + 250 }),
      fc.integer({ min: 0, max: 150 }),
      fc.constantFrom(100, 300, Infinity),
      fc.integer({ min: 0, max: 300 }),
      async (sstables, picks, compactionNow, gcGrace, maxOutputBytes, laterBy) => {
        const chosen = sstables.map(() => picks.next().value);
        if (!chosen.includes(true)) chosen[0] = true;
        const compacted = sstables.filter((_, i) => chosen[i]);
        const untouched = sstables.filter((_, i) => !chosen[i]).flat();
        const withGrace: TableMetadata = { ...table, options: { ...table.options, gcGraceSeconds: gcGrace } };
        const { result, writers } = run({
          inputs: compacted.map((partitions, i) => inputOf(i + 1, partitions)),
          table: withGrace,
          maxOutputBytes,
          nowSeconds: compactionNow,
          maxPurgeableTimestamp: (key) => Math.min(...untouched.filter((p) => p.key.equals(key)).map(minTimestamp)),
        });
        const outputs = await result;
        if (outputs.length > 1) splitOutputs++;
        const written = outputs.flatMap((output) => output.partitions);
        for (let i = 1; i < written.length; i++) {
          const [a, b] = [written[i - 1], written[i]];
          if (compareKeys(a.token, a.key, b.token, b.key) >= 0) throw new Error('output partitions out of order or repeated');
        }
        if (writers.some((w) => w.aborted || !w.finished)) throw new Error('an output was not finished');
        for (const pk of KEYS) {
          const key = int(pk);
          const of = (parts: readonly Partition[]) => parts.filter((p) => p.key.equals(key));
          const beforeParts = [...of(compacted.flat()), ...of(untouched)];
          const afterParts = [...of(written), ...of(untouched)];
          const before = beforeParts.length === 0 ? null : mergeAll(beforeParts);
          const after = afterParts.length === 0 ? null : mergeAll(afterParts);
          const compactedMerged = of(compacted.flat());
          if (compactedMerged.length > 0 && meaning(mergeAll(compactedMerged)) !== (of(written)[0] ? meaning(of(written)[0]) : '')) {
            purgedSomething++;
          }
          for (const now of [compactionNow, compactionNow + 1, compactionNow + laterBy, compactionNow + 100_000]) {
            const [x, y] = [liveView(before, now), liveView(after, now)];
            if (x !== y) throw new Error(`key ${pk} at ${now} (compaction at ${compactionNow}, gc grace ${gcGrace}):\nbefore ${x}\nafter  ${y}`);
          }
        }
        return true;
      },
    ),
    { numRuns: 1000 },
  ), 'the property holds');
  t.ok(purgedSomething > 500, `compactions purged something (${purgedSomething} partitions)`);
  t.ok(splitOutputs > 40, `outputs were split (${splitOutputs} runs)`);
});

// ---------------------------------------------------------------------------------
// Outputs

function liveRowsPartition(pk: number, rows: number, timestamp = 10): Partition {
  return {
    ...keyOf(pk),
    deletion: null,
    staticRow: null,
    rangeTombstones: [],
    rows: Array.from({ length: rows }, (_, i) => ({
      clustering: [int(i), int(0)],
      liveness: { timestamp, ttl: 0, localDeletionTime: NO_DELETION_TIME },
      deletion: null,
      cells: new Map(),
      complex: new Map(),
    })),
  };
}

t.test('outputs are split between partitions once one reaches maxOutputBytes', async (t) => {
  const partitions = Array.from({ length: 20 }, (_, pk) => liveRowsPartition(pk, 1 + (pk % 4)));
  const { result, writers } = run({ inputs: [inputOf(1, partitions.slice(0, 12)), inputOf(2, partitions.slice(8))], maxOutputBytes: 200 });
  const outputs = await result;
  t.ok(outputs.length > 3, `${outputs.length} outputs`);
  t.same(outputs, writers);
  for (const output of outputs.slice(0, -1)) t.ok(output.bytesWritten >= 200, 'every output but the last is full');
  for (const output of outputs) {
    t.ok(output.bytesWritten - 20 - 50 * output.partitions.at(-1)!.rows.length < 200, 'a new output starts as soon as one is full');
    t.equal(output.level, 1);
    t.ok(output.expectedPartitions >= 1 && output.expectedPartitions <= 20);
  }
  const keys = outputs.flatMap((o) => o.partitions.map((p) => p.key.readInt32BE(0)));
  t.same([...keys].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i), 'every key once');
});

t.test('a compaction that purges everything writes no SSTable', async (t) => {
  const deletion: Partition = { ...liveRowsPartition(1, 0), deletion: { markedForDeleteAt: 20, localDeletionTime: 10 } };
  const { result, writers } = run({ inputs: [inputOf(1, [deletion]), inputOf(2, [liveRowsPartition(1, 2, 5)])], nowSeconds: 1_000_000 });
  t.same(await result, []);
  t.equal(writers.length, 0);
});

t.test('a partition whose rows are all purged keeps only its surviving tombstones', async (t) => {
  const deletion: Partition = { ...liveRowsPartition(1, 0), deletion: { markedForDeleteAt: 20, localDeletionTime: 999_999 } };
  const [output] = await run({ inputs: [inputOf(1, [deletion]), inputOf(2, [liveRowsPartition(1, 3)])], nowSeconds: 1_000_000 }).result;
  t.same(output.partitions.map((p) => [p.deletion, p.rows.length]), [[{ markedForDeleteAt: 20, localDeletionTime: 999_999 }, 0]]);
});

// ---------------------------------------------------------------------------------
// Failure, abort, progress, fairness

const manyPartitions = (count: number, rows = 3) => Array.from({ length: count }, (_, pk) => liveRowsPartition(pk, rows));

t.test('a failing input aborts the output being written, discards finished ones and rethrows', async (t) => {
  const { result, writers, discarded } = run({
    inputs: [inputOf(1, manyPartitions(50), { afterPartitions: 40 }), inputOf(2, manyPartitions(5))],
    maxOutputBytes: 1000,
  });
  await t.rejects(result, /CRC mismatch in chunk/);
  t.ok(writers.length > 1);
  const finished = writers.filter((w) => w.finished);
  t.ok(finished.length > 0, 'some outputs had been finished');
  t.same(discarded, finished, 'finished outputs discarded');
  t.ok(writers.filter((w) => !w.finished).every((w) => w.aborted), 'the unfinished output aborted');
});

t.test('an output that fails to finish is aborted, and the finished ones discarded', async (t) => {
  const { result, writers, discarded } = run({ inputs: [inputOf(1, manyPartitions(50))], maxOutputBytes: 1000, failFinishOf: 2 });
  await t.rejects(result, /disk full/);
  t.equal(writers.length, 3, 'no output opened after the failure');
  t.same(discarded, writers.slice(0, 2));
  t.ok(writers[2].aborted);
});

t.test('an abort signal stops the compaction and cleans up', async (t) => {
  const controller = new AbortController();
  let reports = 0;
  const { result, writers } = run({
    inputs: [inputOf(1, manyPartitions(2000))],
    signal: controller.signal,
    onProgress: () => {
      if (++reports === 3) controller.abort();
    },
  });
  await t.rejects(result, { name: 'AbortError' });
  t.equal(reports, 3, 'no progress after the abort');
  t.equal(writers.length, 1);
  t.ok(writers[0].aborted);
  const before = new AbortController();
  before.abort();
  await t.rejects(run({ inputs: [inputOf(1, manyPartitions(1))], signal: before.signal }).result, { name: 'AbortError' });
});

t.test('progress grows to the inputs total and the throttle is paid for all of it', async (t) => {
  const inputs = [inputOf(1, manyPartitions(300, 4)), inputOf(2, manyPartitions(100, 10))];
  const total = inputs.reduce((sum, i) => sum + i.stats.uncompressedBytes, 0);
  let clock = 0;
  const slept: number[] = [];
  const rate = total / 10; // ten seconds' worth
  const throttle = new Throttle(rate, {
    nowMillis: () => clock,
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
  });
  const reports: CompactionProgress[] = [];
  await run({ inputs, throttle, onProgress: (p) => reports.push(p) }).result;
  t.ok(reports.length > 5, `${reports.length} reports`);
  for (let i = 1; i < reports.length; i++) t.ok(reports[i].bytesRead >= reports[i - 1].bytesRead, 'never goes back');
  t.ok(reports.every((r) => r.bytesTotal === total && r.bytesRead <= total));
  t.same(reports.at(-1), { bytesRead: total, bytesTotal: total });
  t.ok(reports[Math.floor(reports.length / 2)].bytesRead < total, 'reports come along the way');
  t.ok(Math.abs(clock - 10_000) < 1, `throttled to ten seconds (${clock} ms)`);
});

t.test('a long compaction lets the event loop run', async (t) => {
  let turns = 0;
  let done = false;
  const spin = async () => {
    while (!done) {
      await nextTurn();
      turns++;
    }
  };
  const spinning = spin();
  // In-memory inputs never wait for I/O: only the task's own yields let others run.
  await run({ inputs: [inputOf(1, manyPartitions(3000, 2))] }).result;
  done = true;
  await spinning;
  t.ok(turns > 10, `other work ran ${turns} times during the compaction`);
});
