import t from 'tap';
import fc from 'fast-check';
import { ConfigurationError } from '../../lib/errors.js';
import { NO_DELETION_TIME } from '../../lib/model/cell.js';
import { LeveledStrategy } from '../../lib/storage/compaction/lcs.js';
import { parseLeveledOptions, parseSizeTieredOptions, parseTimeWindowOptions } from '../../lib/storage/compaction/options.js';
import { droppableTombstoneRatio, type CompactionCandidate, type CompactionPlan, type CompactionStats } from '../../lib/storage/compaction/plan.js';
import { SizeTieredStrategy, sizeTieredBuckets } from '../../lib/storage/compaction/stcs.js';
import { strategyFor, validateCompactionOptions } from '../../lib/storage/compaction/strategy.js';
import { TimeWindowStrategy, windowStart } from '../../lib/storage/compaction/twcs.js';
import { makeTable, intType } from './fixtures/tables.js';
import { seededRandom } from '../../lib/model/random.js';
import { propertyHolds } from '../helpers/property.js';

const MiB = 1024 * 1024;
const DAY = 86400;
const NOW = 1_700_000_000;

/** Key bytes of a token: 8 bytes big-endian, so keys order like their tokens. */
function keyAt(token: bigint): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigInt64BE(token);
  return key;
}

interface SSTableSpec {
  generation: number;
  diskBytes: number;
  level?: number;
  first?: bigint;
  last?: bigint;
  stats?: Partial<CompactionStats>;
}

function sstable({ generation, diskBytes, level = 0, first = -1000n, last = 1000n, stats = {} }: SSTableSpec): CompactionCandidate {
  return {
    generation,
    firstToken: first,
    lastToken: last,
    firstKey: keyAt(first),
    lastKey: keyAt(last),
    stats: {
      minTimestamp: generation * 1000,
      maxTimestamp: generation * 1000 + 999,
      minLocalDeletionTime: NO_DELETION_TIME,
      maxLocalDeletionTime: NO_DELETION_TIME,
      partitionCount: 100,
      rowCount: 1000,
      tombstoneCount: 0,
      uncompressedBytes: diskBytes * 2,
      diskBytes,
      level,
      ...stats,
    },
  };
}

const generations = (plan: CompactionPlan | null) => (plan === null ? null : plan.inputs.map((s) => s.generation).sort((a, b) => a - b));
const NONE: ReadonlySet<number> = new Set();

function sizeTiered(options: Record<string, string> = {}, gcGraceSeconds = 864000): SizeTieredStrategy {
  return new SizeTieredStrategy(parseSizeTieredOptions(options), gcGraceSeconds);
}

// ---------------------------------------------------------------------------------
// Size-tiered

t.test('size-tiered: SSTables within bucket_low..bucket_high times a bucket average share it; others start a new bucket', async (t) => {
  const tables = [100, 110, 90, 120, 400, 420, 2000].map((mb, i) => sstable({ generation: i + 1, diskBytes: mb * MiB }));
  const buckets = sizeTieredBuckets(tables, parseSizeTieredOptions({}));
  t.same(
    buckets.map((b) => b.map((s) => s.generation)),
    [[3, 1, 2, 4], [5, 6], [7]],
  );
});

t.test('size-tiered: SSTables below min_sstable_size all share one bucket whatever their sizes', async (t) => {
  const tables = [1, 10, 1000, 40 * 1024].map((kb, i) => sstable({ generation: i + 1, diskBytes: kb * 1024 }));
  t.same(sizeTieredBuckets(tables, parseSizeTieredOptions({})).map((b) => b.length), [4]);
  // With the floor lowered, the same SSTables spread over tiers.
  t.same(sizeTieredBuckets(tables, parseSizeTieredOptions({ min_sstable_size: '0' })).length, 4);
});

t.test('size-tiered: a bucket is compacted only once it has min_threshold SSTables', async (t) => {
  const three = [1, 2, 3].map((g) => sstable({ generation: g, diskBytes: 100 * MiB }));
  t.equal(sizeTiered().next(three, NONE, NOW), null);
  const four = [...three, sstable({ generation: 4, diskBytes: 105 * MiB })];
  const plan = sizeTiered().next(four, NONE, NOW)!;
  t.same(generations(plan), [1, 2, 3, 4]);
  t.equal(plan.outputLevel, 0);
  t.equal(plan.maxOutputBytes, Infinity);
  t.same(generations(sizeTiered({ min_threshold: '3' }).next(three, NONE, NOW)), [1, 2, 3]);
});

t.test('size-tiered: a bucket is cut to its max_threshold smallest SSTables', async (t) => {
  const tables = Array.from({ length: 40 }, (_, i) => sstable({ generation: i + 1, diskBytes: (40 - i) * MiB }));
  const plan = sizeTiered().next(tables, NONE, NOW)!;
  t.equal(plan.inputs.length, 32);
  t.ok(plan.inputs.every((s) => s.stats.diskBytes <= 32 * MiB), 'the 32 smallest');
  t.equal(sizeTiered({ max_threshold: '8' }).next(tables, NONE, NOW)!.inputs.length, 8);
});

t.test('size-tiered: of several full buckets, the one with the smallest average size is compacted first', async (t) => {
  const big = [1, 2, 3, 4].map((g) => sstable({ generation: g, diskBytes: 1000 * MiB }));
  const small = [5, 6, 7, 8].map((g) => sstable({ generation: g, diskBytes: 100 * MiB }));
  t.same(generations(sizeTiered().next([...big, ...small], NONE, NOW)), [5, 6, 7, 8]);
});

t.test('size-tiered: SSTables being compacted are never chosen again', async (t) => {
  const tables = [1, 2, 3, 4, 5].map((g) => sstable({ generation: g, diskBytes: 100 * MiB }));
  t.equal(sizeTiered().next(tables, new Set([1, 2]), NOW), null);
  t.same(generations(sizeTiered().next(tables, new Set([2]), NOW)), [1, 3, 4, 5]);
});

t.test('size-tiered: enabled=false stops background compactions but not major ones', async (t) => {
  const tables = [1, 2, 3, 4].map((g) => sstable({ generation: g, diskBytes: 100 * MiB }));
  const strategy = sizeTiered({ enabled: 'false' });
  t.equal(strategy.next(tables, NONE, NOW), null);
  const plans = strategy.all(tables);
  t.equal(plans.length, 1);
  t.same(generations(plans[0]), [1, 2, 3, 4]);
  t.same(sizeTiered().all([]), []);
});

// ---------------------------------------------------------------------------------
// Tombstone compactions

/** An SSTable whose tombstones, deleted between `from` and `to`, are `share` of its contents. */
function tombstoned(generation: number, share: number, from: number, to: number, extra: Partial<SSTableSpec> = {}): CompactionCandidate {
  const rowCount = 1000;
  const tombstoneCount = Math.round((share * rowCount) / (1 - share));
  return sstable({
    generation,
    diskBytes: 100 * MiB,
    ...extra,
    stats: { tombstoneCount, rowCount, minLocalDeletionTime: from, maxLocalDeletionTime: to, ...extra.stats },
  });
}

t.test('droppable tombstone ratio counts only tombstones deleted before gcBefore', async (t) => {
  const stats = tombstoned(1, 0.5, 1000, 1999).stats;
  t.equal(droppableTombstoneRatio(stats, 2000, 3000), 0.5);
  t.equal(droppableTombstoneRatio(stats, 1000, 3000), 0);
  t.equal(droppableTombstoneRatio(stats, 1500, 3000), 0.25);
  t.equal(droppableTombstoneRatio(sstable({ generation: 1, diskBytes: 1 }).stats, 2000, 3000), 0);
  // Live cells record NO_DELETION_TIME as the latest deletion time; tombstones are
  // still deleted no later than now.
  const withLiveCells = tombstoned(2, 0.5, 1000, NO_DELETION_TIME).stats;
  t.equal(droppableTombstoneRatio(withLiveCells, 1500, 1999), 0.25);
  t.equal(droppableTombstoneRatio(withLiveCells, 2500, 1999), 0.5);
});

t.test('size-tiered: an SSTable alone is compacted when its droppable tombstones pass tombstone_threshold', async (t) => {
  const gcGrace = 1000;
  const strategy = sizeTiered({}, gcGrace);
  const old = tombstoned(1, 0.5, NOW - 5000, NOW - 4000);
  const younger = sstable({ generation: 2, diskBytes: 10 * MiB });
  const all = [old, younger];
  // First seen now: not old enough yet (tombstone_compaction_interval, one day).
  t.equal(strategy.next(all, NONE, NOW), null);
  t.equal(strategy.next(all, NONE, NOW + DAY - 1), null);
  const plan = strategy.next(all, NONE, NOW + DAY)!;
  t.same(generations(plan), [1]);
  t.match(plan.reason, /tombstone compaction: about 50% droppable/);
  t.equal(strategy.next(all, new Set([1]), NOW + DAY), null, 'not while it is compacting');
});

t.test('size-tiered: no tombstone compaction below tombstone_threshold or within gc grace', async (t) => {
  const gcGrace = 1000;
  const few = tombstoned(1, 0.15, NOW - 5000, NOW - 4000);
  // Deleted less than gc_grace_seconds before the check below.
  const recent = tombstoned(2, 0.9, NOW + DAY - gcGrace, NOW + DAY);
  for (const table of [few, recent]) {
    const strategy = sizeTiered({}, gcGrace);
    strategy.next([table], NONE, NOW);
    t.equal(strategy.next([table], NONE, NOW + DAY), null, `generation ${table.generation}`);
  }
  const strategy = sizeTiered({ tombstone_threshold: '0.1' }, gcGrace);
  strategy.next([few], NONE, NOW);
  t.same(generations(strategy.next([few], NONE, NOW + DAY)), [1], 'a lower threshold takes it');
  const quick = sizeTiered({ tombstone_compaction_interval: '0' }, gcGrace);
  t.same(generations(quick.next([tombstoned(3, 0.5, 0, 10)], NONE, NOW)), [3], 'interval 0: at once');
});

t.test('size-tiered: no tombstone compaction while an overlapping SSTable holds older data, unless unchecked', async (t) => {
  const gcGrace = 1000;
  // Generation 2's data is older than generation 3's newest write and overlaps it.
  const candidate = tombstoned(3, 0.5, NOW - 5000, NOW - 4000);
  const older = sstable({ generation: 2, diskBytes: 10 * MiB });
  const disjoint = sstable({ generation: 1, diskBytes: 10 * MiB, first: 5000n, last: 6000n });
  const checked = sizeTiered({}, gcGrace);
  checked.next([candidate, older], NONE, NOW);
  t.equal(checked.next([candidate, older], NONE, NOW + DAY), null);
  const withDisjoint = sizeTiered({}, gcGrace);
  withDisjoint.next([candidate, disjoint], NONE, NOW);
  t.same(generations(withDisjoint.next([candidate, disjoint], NONE, NOW + DAY)), [3], 'older data elsewhere on the ring does not count');
  const unchecked = sizeTiered({ unchecked_tombstone_compaction: 'true' }, gcGrace);
  unchecked.next([candidate, older], NONE, NOW);
  t.same(generations(unchecked.next([candidate, older], NONE, NOW + DAY)), [3]);
});

// ---------------------------------------------------------------------------------
// Options

t.test('compaction options: unknown keys are refused naming them and the class', async (t) => {
  t.throws(() => validateCompactionOptions('SizeTieredCompactionStrategy', { sstable_size_in_mb: '10', foo: '1' }), {
    constructor: ConfigurationError,
    message: 'Properties specified [sstable_size_in_mb, foo] are not understood by SizeTieredCompactionStrategy',
  });
  t.doesNotThrow(() => validateCompactionOptions('LeveledCompactionStrategy', { sstable_size_in_mb: '10', fanout_size: '4', min_threshold: '4' }));
  t.doesNotThrow(() =>
    validateCompactionOptions('TimeWindowCompactionStrategy', { compaction_window_unit: 'DAYS', compaction_window_size: '1' }),
  );
  t.doesNotThrow(() => validateCompactionOptions('SizeTieredCompactionStrategy', {}));
});

t.test('compaction options: bad values are refused with Cassandra-like messages', async (t) => {
  const cases: [Parameters<typeof validateCompactionOptions>[0], Record<string, string>, RegExp][] = [
    ['SizeTieredCompactionStrategy', { min_threshold: 'x' }, /x is not a parsable int \(base10\) for min_threshold/],
    ['SizeTieredCompactionStrategy', { min_threshold: '1' }, /Min compaction threshold cannot be less than 2 \(got 1\)/],
    ['SizeTieredCompactionStrategy', { min_threshold: '8', max_threshold: '4' }, /cannot be greater than max compaction threshold/],
    ['SizeTieredCompactionStrategy', { bucket_low: '1.5', bucket_high: '1.2' }, /bucket_high value \(1.2\) is less than or equal to the bucket_low value \(1.5\)/],
    ['SizeTieredCompactionStrategy', { bucket_low: 'half' }, /half is not a parsable float for bucket_low/],
    ['SizeTieredCompactionStrategy', { min_sstable_size: '-1' }, /min_sstable_size must be non negative/],
    ['SizeTieredCompactionStrategy', { tombstone_threshold: '-0.5' }, /tombstone_threshold must be greater than 0/],
    ['SizeTieredCompactionStrategy', { tombstone_compaction_interval: '-1' }, /tombstone_compaction_interval must be nonnegative/],
    ['SizeTieredCompactionStrategy', { enabled: 'yes' }, /enabled should either be 'true' or 'false', not yes/],
    ['LeveledCompactionStrategy', { sstable_size_in_mb: '0' }, /sstable_size_in_mb must be larger than 0, but was 0/],
    ['LeveledCompactionStrategy', { fanout_size: '1' }, /fanout_size must be larger than 1, but was 1/],
    ['TimeWindowCompactionStrategy', { compaction_window_unit: 'WEEKS' }, /WEEKS is not valid for compaction_window_unit/],
    ['TimeWindowCompactionStrategy', { compaction_window_size: '0' }, /compaction_window_size must be greater than 1, but was 0/],
    ['TimeWindowCompactionStrategy', { timestamp_resolution: 'FORTNIGHTS' }, /FORTNIGHTS is not valid for timestamp_resolution/],
    ['TimeWindowCompactionStrategy', { expired_sstable_check_frequency_seconds: '-1' }, /must not be negative, but was -1/],
    ['TimeWindowCompactionStrategy', { unsafe_aggressive_sstable_expiration: 'true' }, /unsafe_aggressive_sstable_expiration is not supported/],
    ['TimeWindowCompactionStrategy', { min_threshold: '1' }, /Min compaction threshold cannot be less than 2 \(got 1\)/],
  ];
  for (const [cls, options, message] of cases) {
    t.throws(() => validateCompactionOptions(cls, options), { constructor: ConfigurationError, message }, JSON.stringify(options));
  }
});

t.test('strategyFor builds the strategy the table names, with its options', async (t) => {
  const table = (cls: 'SizeTieredCompactionStrategy' | 'LeveledCompactionStrategy' | 'TimeWindowCompactionStrategy', options: Record<string, string>) => {
    const base = makeTable({ partitionKey: [['pk', intType]] });
    return { ...base, options: { ...base.options, compaction: { class: cls, options } } };
  };
  t.type(strategyFor(table('SizeTieredCompactionStrategy', {})), SizeTieredStrategy);
  t.type(strategyFor(table('TimeWindowCompactionStrategy', {})), TimeWindowStrategy);
  const leveled = strategyFor(table('LeveledCompactionStrategy', { sstable_size_in_mb: '2', fanout_size: '4' }));
  t.type(leveled, LeveledStrategy);
  t.equal((leveled as LeveledStrategy).targetBytes(1), 8 * MiB);
  t.equal((leveled as LeveledStrategy).targetBytes(2), 32 * MiB);
  t.equal(new LeveledStrategy(parseLeveledOptions({}), 0).targetBytes(1), 1600 * MiB, 'defaults: 160 MiB, fanout 10');
});

// ---------------------------------------------------------------------------------
// Leveled

const SSTABLE_MB = 1;
const leveled = (options: Record<string, string> = {}) =>
  new LeveledStrategy(parseLeveledOptions({ sstable_size_in_mb: String(SSTABLE_MB), fanout_size: '4', ...options }), 864000);

t.test('leveled: four L0 SSTables go to L1 with the L1 SSTables they overlap, and only those', async (t) => {
  const level0 = [1, 2, 3].map((g) => sstable({ generation: g, diskBytes: MiB / 4, first: 100n * BigInt(g), last: 100n * BigInt(g) + 250n }));
  const level1 = [
    sstable({ generation: 10, diskBytes: MiB, level: 1, first: 0n, last: 99n }),
    sstable({ generation: 11, diskBytes: MiB, level: 1, first: 150n, last: 300n }),
    sstable({ generation: 12, diskBytes: MiB, level: 1, first: 301n, last: 360n }),
    sstable({ generation: 13, diskBytes: MiB, level: 1, first: 700n, last: 800n }),
  ];
  t.equal(leveled().next([...level0, ...level1], NONE, NOW), null, 'three small L0 SSTables wait');
  const fourth = sstable({ generation: 4, diskBytes: MiB / 4, first: 550n, last: 560n });
  const plan = leveled().next([...level0, fourth, ...level1], NONE, NOW)!;
  t.same(generations(plan), [1, 2, 3, 4, 11, 12], 'L0 spans 100..560: generations 11 and 12 overlap it');
  t.equal(plan.outputLevel, 1);
  t.equal(plan.maxOutputBytes, SSTABLE_MB * MiB);
  t.notOk(plan.moveOnly);
});

t.test('leveled: L0 holding more than the L1 target is compacted even with fewer than four SSTables', async (t) => {
  const big = sstable({ generation: 1, diskBytes: 5 * MiB });
  t.same(generations(leveled().next([big], NONE, NOW)), [1]);
});

t.test('leveled: a level over its target sends one SSTable up with what it overlaps there', async (t) => {
  // L1 target with fanout 4: 4 MiB; five 1 MiB SSTables exceed it.
  const level1 = [0, 1, 2, 3, 4].map((i) =>
    sstable({ generation: 10 + i, diskBytes: MiB, level: 1, first: BigInt(i * 100), last: BigInt(i * 100 + 99) }),
  );
  const level2 = [
    sstable({ generation: 20, diskBytes: MiB, level: 2, first: 50n, last: 120n }),
    sstable({ generation: 21, diskBytes: MiB, level: 2, first: 121n, last: 150n }),
  ];
  const strategy = leveled();
  const first = strategy.next([...level1, ...level2], NONE, NOW)!;
  t.same(generations(first), [10, 20], 'the first SSTable of L1 with the L2 SSTable it overlaps');
  t.equal(first.outputLevel, 2);
  t.notOk(first.moveOnly);
  const second = strategy.next([...level1, ...level2], NONE, NOW)!;
  t.same(generations(second), [11, 20, 21]);
  const third = strategy.next([...level1, ...level2], NONE, NOW)!;
  t.same(generations(third), [12]);
  t.ok(third.moveOnly, 'nothing in L2 overlaps it: it can just move up');
});

t.test('leveled: SSTables of a level are picked round-robin over the ring, wrapping around', async (t) => {
  const level1 = Array.from({ length: 6 }, (_, i) =>
    sstable({ generation: 100 - i, diskBytes: MiB, level: 1, first: BigInt(i * 10), last: BigInt(i * 10 + 9) }),
  );
  const strategy = leveled();
  const picked: number[] = [];
  for (let i = 0; i < 8; i++) picked.push(strategy.next(level1, NONE, NOW)!.inputs[0].generation);
  t.same(picked, [100, 99, 98, 97, 96, 95, 100, 99]);
  // The next pick skips SSTables being compacted and resumes after the last picked.
  t.equal(strategy.next(level1, new Set([98]), NOW)!.inputs[0].generation, 97);
});

t.test('leveled: no plan writes into a level where a running compaction may write the same keys', async (t) => {
  const level1 = [0, 1, 2, 3, 4].map((i) =>
    sstable({ generation: 10 + i, diskBytes: MiB, level: 1, first: BigInt(i * 100), last: BigInt(i * 100 + 99) }),
  );
  // L2 has a gap at 100..199: L1's generation 11 overlaps nothing in L2.
  const level2 = [sstable({ generation: 20, diskBytes: MiB, level: 2, first: 0n, last: 99n })];
  // A running compaction of generation 10 (with 20) writes L2 within 0..99 only.
  const plan = leveled().next([...level1, ...level2], new Set([10, 20]), NOW)!;
  t.same(generations(plan), [11]);
  // A running L0 → L1 compaction does not block L1 → L2 plans: they write different levels.
  const level0 = [1, 2].map((g) => sstable({ generation: g, diskBytes: MiB / 8, first: 0n, last: 1000n }));
  t.same(generations(leveled().next([...level0, ...level1, ...level2], new Set([1, 2, 10, 20]), NOW)), [11]);
  // But a running L0 → L1 covering the ring blocks another L0 → L1.
  const moreLevel0 = [3, 4, 5, 6].map((g) => sstable({ generation: g, diskBytes: MiB / 8, first: 0n, last: 1000n }));
  const few = [sstable({ generation: 30, diskBytes: MiB, level: 1, first: 2000n, last: 2100n })];
  t.equal(leveled().next([...level0, ...moreLevel0, ...few], new Set([1, 2]), NOW), null);
});

t.test('leveled: with more than 32 SSTables in L0, L0 is first compacted size-tiered within itself', async (t) => {
  const level0 = Array.from({ length: 40 }, (_, i) => sstable({ generation: i + 1, diskBytes: MiB / 8 }));
  const plan = leveled().next(level0, NONE, NOW)!;
  t.equal(plan.outputLevel, 0);
  t.equal(plan.inputs.length, 32);
  t.match(plan.reason, /L0 behind/);
});

t.test('leveled: a major compaction puts everything in the lowest level that holds it', async (t) => {
  const tables = Array.from({ length: 10 }, (_, i) => sstable({ generation: i + 1, diskBytes: MiB, level: i % 3 }));
  const [plan] = leveled().all(tables);
  t.equal(plan.inputs.length, 10);
  t.equal(plan.outputLevel, 2, '10 MiB: over L1 (4 MiB), within L2 (16 MiB)');
  t.equal(plan.maxOutputBytes, MiB);
});

/**
 * A simulated table: flushes add L0 SSTables of random keys; plans run concurrently
 * and finish in any order, their outputs split at the SSTable size.
 */
interface SimulatedSSTable extends CompactionCandidate {
  tokens: bigint[];
}

const KEY_BYTES = MiB / 16;

function simulated(generation: number, tokens: bigint[], level: number): SimulatedSSTable {
  const base = sstable({ generation, diskBytes: tokens.length * KEY_BYTES, level, first: tokens[0], last: tokens.at(-1)! });
  return { ...base, tokens };
}

function overlappingPairsAbove0(tables: readonly SimulatedSSTable[]): string | null {
  const byLevel = new Map<number, SimulatedSSTable[]>();
  for (const s of tables) if (s.stats.level > 0) byLevel.set(s.stats.level, [...(byLevel.get(s.stats.level) ?? []), s]);
  for (const [level, list] of byLevel) {
    list.sort((a, b) => (a.firstToken < b.firstToken ? -1 : 1));
    for (let i = 1; i < list.length; i++) {
      if (list[i].firstToken <= list[i - 1].lastToken) {
        return `L${level}: ${list[i - 1].generation} [${list[i - 1].firstToken}, ${list[i - 1].lastToken}] overlaps ${list[i].generation} [${list[i].firstToken}, ${list[i].lastToken}]`;
      }
    }
  }
  return null;
}

t.test('leveled: over long random runs of flushes and concurrent compactions, L1+ SSTables never overlap and levels drain', async (t) => {
  let plansRun = 0;
  let moves = 0;
  let deepest = 0;
  propertyHolds(t, fc.check(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const random = seededRandom(seed);
      const strategy = leveled();
      let tables: SimulatedSSTable[] = [];
      let generation = 1;
      const running: CompactionPlan[] = [];
      const compacting = new Set<number>();
      const flush = () => {
        const tokens = new Set<bigint>();
        const count = 4 + Math.floor(random() * 12);
        const start = Math.floor(random() * 3000);
        const width = 50 + Math.floor(random() * 3000);
        while (tokens.size < count) tokens.add(BigInt(start + Math.floor(random() * width)));
        tables.push(simulated(generation++, [...tokens].sort((a, b) => (a < b ? -1 : 1)), 0));
      };
      const start = (): boolean => {
        const plan = strategy.next(tables, compacting, NOW);
        if (plan === null) return false;
        if (plan.inputs.length === 0) throw new Error('empty plan');
        for (const input of plan.inputs) {
          if (compacting.has(input.generation)) throw new Error(`generation ${input.generation} planned twice`);
          compacting.add(input.generation);
        }
        running.push(plan);
        return true;
      };
      const finish = (index: number) => {
        const [plan] = running.splice(index, 1);
        const inputs = plan.inputs as SimulatedSSTable[];
        const gone = new Set(inputs.map((s) => s.generation));
        for (const g of gone) compacting.delete(g);
        let outputs: SimulatedSSTable[];
        if (plan.moveOnly) {
          moves++;
          outputs = inputs.map((s) => simulated(s.generation, s.tokens, plan.outputLevel));
        } else {
          const tokens = [...new Set(inputs.flatMap((s) => s.tokens))].sort((a, b) => (a < b ? -1 : 1));
          outputs = [];
          let chunk: bigint[] = [];
          for (const token of tokens) {
            chunk.push(token);
            if (chunk.length * KEY_BYTES >= plan.maxOutputBytes) {
              outputs.push(simulated(generation++, chunk, plan.outputLevel));
              chunk = [];
            }
          }
          if (chunk.length > 0) outputs.push(simulated(generation++, chunk, plan.outputLevel));
        }
        tables = [...tables.filter((s) => !gone.has(s.generation)), ...outputs];
        plansRun++;
        deepest = Math.max(deepest, plan.outputLevel);
        const overlap = overlappingPairsAbove0(tables);
        if (overlap !== null) throw new Error(`after "${plan.reason}": ${overlap}`);
      };
      for (let step = 0; step < 300; step++) {
        const action = random();
        if (action < 0.35) flush();
        else if (action < 0.7 || running.length === 0) start();
        else finish(Math.floor(random() * running.length));
      }
      // Quiesce: no more flushes; run everything to the end.
      for (let step = 0; ; step++) {
        if (step > 10_000) throw new Error('compactions never settle');
        while (start());
        if (running.length === 0) break;
        finish(Math.floor(random() * running.length));
      }
      const level0 = tables.filter((s) => s.stats.level === 0);
      if (level0.length >= 4) throw new Error(`L0 left with ${level0.length} SSTables`);
      const maxLevel = Math.max(0, ...tables.map((s) => s.stats.level));
      for (let level = 1; level <= maxLevel; level++) {
        const bytes = tables.filter((s) => s.stats.level === level).reduce((sum, s) => sum + s.stats.diskBytes, 0);
        if (bytes > strategy.targetBytes(level)) throw new Error(`L${level} left over its target: ${bytes} bytes`);
      }
    }),
    { numRuns: 25 },
  ), 'the property holds');
  t.ok(plansRun > 500, `plans ran (${plansRun})`);
  t.ok(moves > 0, `some SSTables moved up without a rewrite (${moves})`);
  t.ok(deepest >= 2, `data reached L${deepest}`);
});

// ---------------------------------------------------------------------------------
// Time-window

const HOUR = 3600;
const MICROS = 1_000_000;

/** An SSTable whose writes span [from, to] seconds (timestamps in µs). */
function timed(generation: number, from: number, to: number, extra: Partial<SSTableSpec> = {}): CompactionCandidate {
  return sstable({ generation, diskBytes: MiB, ...extra, stats: { minTimestamp: from * MICROS, maxTimestamp: to * MICROS, ...extra.stats } });
}

const timeWindow = (options: Record<string, string> = {}, gcGraceSeconds = 864000) =>
  new TimeWindowStrategy(parseTimeWindowOptions({ compaction_window_unit: 'HOURS', compaction_window_size: '1', ...options }), gcGraceSeconds);

t.test('time-window options: defaults are one day, microsecond timestamps, a check for expired SSTables every 10 minutes', async (t) => {
  const defaults = parseTimeWindowOptions({});
  t.equal(defaults.windowSeconds, DAY);
  t.equal(defaults.timestampsPerSecond, 1e6);
  t.equal(defaults.expiredCheckSeconds, 600);
  t.equal(defaults.minThreshold, 4, 'size-tiered settings for the newest window');
  const custom = parseTimeWindowOptions({ compaction_window_unit: 'minutes', compaction_window_size: '15', timestamp_resolution: 'MILLISECONDS' });
  t.equal(custom.windowSeconds, 900);
  t.equal(custom.timestampsPerSecond, 1000);
  // A window is the same span of time whatever unit the timestamps are in.
  t.equal(windowStart(NOW * 1000 + 999, custom), Math.floor(NOW / 900) * 900);
  t.equal(windowStart(NOW * MICROS + 999, { ...custom, timestampsPerSecond: 1e6 }), Math.floor(NOW / 900) * 900);
});

t.test('time-window: an older window with two SSTables or more is compacted into one; a window of one is left alone', async (t) => {
  const base = Math.floor(NOW / HOUR) * HOUR;
  const sstables = [
    timed(1, base - 3 * HOUR + 10, base - 3 * HOUR + 20), // window -3: alone
    timed(2, base - 2 * HOUR + 10, base - 2 * HOUR + 20), // window -2: three
    timed(3, base - 2 * HOUR + 30, base - 2 * HOUR + 40, { diskBytes: 50 * MiB }),
    timed(4, base - 2 * HOUR + 50, base - HOUR - 1),
    timed(5, base + 10, base + 20), // newest window: fewer than min_threshold
    timed(6, base + 30, base + 40),
  ];
  const strategy = timeWindow();
  const plan = strategy.next(sstables, NONE, NOW);
  t.same(generations(plan), [2, 3, 4], 'the whole of window -2, whatever the sizes');
  t.match(plan?.reason, /time-window .*: 3 SSTables/);
  t.equal(plan?.maxOutputBytes, Infinity, 'into one SSTable');
  t.equal(strategy.next(sstables, new Set([2, 3, 4]), NOW), null, 'nothing else: window -3 has one, the newest too few');
  // An SSTable's window is that of its newest write, however old its oldest is.
  const straddling = [timed(7, base - 5 * HOUR, base - 2 * HOUR + 5), timed(8, base - 2 * HOUR + 6, base - 2 * HOUR + 9), timed(9, base, base + 1)];
  t.same(generations(timeWindow().next(straddling, NONE, NOW)), [7, 8]);
  // max_threshold bounds one compaction; the smallest go first.
  const many = Array.from({ length: 6 }, (_, i) => timed(10 + i, base - HOUR + i, base - HOUR + i, { diskBytes: (6 - i) * MiB }));
  t.same(generations(timeWindow({ min_threshold: '2', max_threshold: '4' }).next([...many, timed(20, base, base)], NONE, NOW)), [12, 13, 14, 15]);
});

t.test('time-window: the newest window compacts size-tiered, from min_threshold SSTables of a similar size', async (t) => {
  const base = Math.floor(NOW / HOUR) * HOUR;
  const newest = [1, 2, 3].map((g) => timed(g, base + g, base + g));
  const strategy = timeWindow();
  t.equal(strategy.next(newest, NONE, NOW), null, 'three flushes: fewer than min_threshold');
  const four = [...newest, timed(4, base + 4, base + 4)];
  const plan = strategy.next(four, NONE, NOW);
  t.same(generations(plan), [1, 2, 3, 4]);
  t.match(plan?.reason, /\(newest\), size-tiered/);
  // Sizes matter there: a big SSTable does not join four small ones.
  const mixed = [...four, timed(5, base + 5, base + 5, { diskBytes: 100 * MiB })];
  t.same(generations(strategy.next(mixed, NONE, NOW)), [1, 2, 3, 4]);
  // The newest window is the newest data's, not the wall clock's: a table written in
  // the past still compacts its last window size-tiered.
  const past = [1, 2, 3].map((g) => timed(g, base - 30 * DAY + g, base - 30 * DAY + g));
  t.equal(timeWindow().next(past, NONE, NOW), null, 'three in the (past) newest window');
  // An SSTable being compacted counts too: newer data there closes the past window.
  const running = timed(9, base + 50, base + 60);
  t.same(generations(timeWindow().next([...past, running], new Set([9]), NOW)), [1, 2, 3], 'the past window is closed: all of it into one');
});

t.test('time-window: fully expired SSTables are dropped once they shadow nothing, checked every expired_sstable_check_frequency_seconds', async (t) => {
  const base = Math.floor(NOW / HOUR) * HOUR;
  const gcGrace = HOUR;
  // Every cell expired two hours ago (TTL data): max local deletion time in the past.
  const expired = timed(1, base - 5 * HOUR, base - 5 * HOUR + 10, { stats: { maxLocalDeletionTime: NOW - 2 * HOUR, minLocalDeletionTime: NOW - 3 * HOUR } });
  const live = timed(2, base - 4 * HOUR, base - 4 * HOUR + 10);
  const strategy = timeWindow({ expired_sstable_check_frequency_seconds: '600' }, gcGrace);
  const plan = strategy.next([expired, live], NONE, NOW);
  t.same(generations(plan), [1]);
  t.match(plan?.reason, /1 fully expired SSTables/);
  t.same(generations(strategy.next([expired, live], NONE, NOW)), [1], 'asked again at once: the same plan');
  // Still within gc grace: kept.
  const recent = timed(3, base - 5 * HOUR, base - 5 * HOUR + 10, { stats: { maxLocalDeletionTime: NOW - HOUR / 2 } });
  t.equal(timeWindow({}, gcGrace).next([recent, live], NONE, NOW), null);
  // Older data in an overlapping SSTable may be shadowed by its tombstones: kept.
  const older = timed(4, base - 6 * HOUR, base - 6 * HOUR + 10);
  t.equal(timeWindow({}, gcGrace).next([expired, older], NONE, NOW), null, 'overlaps older data');
  const elsewhere = timed(5, base - 6 * HOUR, base - 6 * HOUR + 10, { first: 5000n, last: 6000n });
  t.same(generations(timeWindow({}, gcGrace).next([expired, elsewhere], NONE, NOW)), [1], 'older data elsewhere on the ring does not count');
  const bothExpired = timed(6, base - 6 * HOUR, base - 6 * HOUR + 10, { stats: { maxLocalDeletionTime: NOW - 2 * HOUR } });
  t.same(generations(timeWindow({}, gcGrace).next([expired, bothExpired], NONE, NOW)), [1, 6], 'expired together: dropped together');
  // A check that found nothing is not repeated before the frequency has passed.
  const checking = timeWindow({ expired_sstable_check_frequency_seconds: '600' }, gcGrace);
  t.equal(checking.next([live], NONE, NOW), null);
  t.equal(checking.next([expired, live], NONE, NOW + 599), null, 'not looked for yet');
  t.same(generations(checking.next([expired, live], NONE, NOW + 600)), [1]);
  t.equal(checking.next([expired, live], new Set([1]), NOW + 600), null, 'not while it is being compacted');
  // Its output is expired again when the purge had to keep its tombstones (older data of
  // its keys in a memtable, which the strategy does not see): not rewritten at once.
  const rewritten = timed(7, base - 5 * HOUR, base - 5 * HOUR + 10, { stats: { maxLocalDeletionTime: NOW - 2 * HOUR } });
  t.equal(checking.next([rewritten, live], NONE, NOW + 601), null, 'another expired set waits for the check frequency');
  t.same(generations(checking.next([rewritten, live], NONE, NOW + 1200)), [7], 'then it is tried again');
  const eager = timeWindow({ expired_sstable_check_frequency_seconds: '0' }, gcGrace);
  t.same(generations(eager.next([expired, live], NONE, NOW)), [1]);
  t.equal(eager.next([rewritten, live], NONE, NOW + 1), null, 'a minute at least, even checking all the time');
  t.same(generations(eager.next([rewritten, live], NONE, NOW + 60)), [7]);
});

t.test('time-window: enabled=false stops background compactions; a major compaction takes everything', async (t) => {
  const base = Math.floor(NOW / HOUR) * HOUR;
  const sstables = [timed(1, base - 2 * HOUR, base - 2 * HOUR), timed(2, base - 2 * HOUR + 1, base - 2 * HOUR + 1), timed(3, base, base)];
  t.equal(timeWindow({ enabled: 'false' }).next(sstables, NONE, NOW), null);
  const major = timeWindow().all(sstables);
  t.equal(major.length, 1);
  t.same(generations(major[0]), [1, 2, 3]);
  t.same(timeWindow().all([]), []);
});

// ---------------------------------------------------------------------------------
// Pending compactions (an estimate for tablestats)

t.test('pending compactions: size-tiered counts full buckets, max_threshold at a time', async (t) => {
  const small = (n: number, from: number) => Array.from({ length: n }, (_, i) => sstable({ generation: from + i, diskBytes: MiB }));
  const big = (n: number, from: number) => Array.from({ length: n }, (_, i) => sstable({ generation: from + i, diskBytes: 500 * MiB }));
  t.equal(sizeTiered().pending(small(3, 1)), 0);
  t.equal(sizeTiered().pending(small(4, 1)), 1);
  t.equal(sizeTiered({ max_threshold: '4' }).pending(small(9, 1)), 3, 'nine in one bucket, four at a time');
  t.equal(sizeTiered().pending([...small(4, 1), ...big(4, 10)]), 2, 'two buckets');
  t.equal(sizeTiered({ enabled: 'false' }).pending(small(8, 1)), 0);
});

t.test('pending compactions: leveled counts a full L0 and the SSTables each level holds over its target', async (t) => {
  const strategy = leveled();
  const l0 = (n: number) => Array.from({ length: n }, (_, i) => sstable({ generation: 100 + i, diskBytes: MiB / 4 }));
  t.equal(strategy.pending(l0(3)), 0);
  t.equal(strategy.pending(l0(4)), 1);
  // L1's target is 4 × 1 MiB: six 1 MiB SSTables are two over.
  const level1 = Array.from({ length: 6 }, (_, i) => sstable({ generation: i + 1, diskBytes: MiB, level: 1, first: BigInt(i * 100), last: BigInt(i * 100 + 99) }));
  t.equal(strategy.pending(level1), 2);
  t.equal(strategy.pending([...level1, ...l0(5)]), 3);
});

t.test('pending compactions: time-window counts closed windows of two or more and full buckets of the newest', async (t) => {
  const base = Math.floor(NOW / HOUR) * HOUR;
  const window = (offset: number, n: number, from: number) =>
    Array.from({ length: n }, (_, i) => timed(from + i, base + offset * HOUR + i, base + offset * HOUR + i));
  t.equal(timeWindow().pending([...window(-3, 1, 1), ...window(0, 3, 10)]), 0, 'one in a closed window, three in the newest');
  t.equal(timeWindow().pending([...window(-3, 2, 1), ...window(-2, 5, 5), ...window(0, 4, 10)]), 3);
  t.equal(timeWindow({ max_threshold: '4' }).pending(window(-2, 9, 1).concat(window(0, 1, 20))), 3, 'nine in a closed window, four at a time');
});
