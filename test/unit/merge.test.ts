import t from 'tap';
import fc from 'fast-check';
import {
  NO_DELETION_TIME,
  reconcileCells,
  supersedingDeletion,
  type Cell,
  type DeletionTime,
  type LivenessInfo,
} from '../../lib/model/cell.js';
import { ALL_ROWS, ClusteringComparator, type ClusteringBound, type Slice } from '../../lib/model/clustering.js';
import {
  applyUpdate,
  filterPartition,
  hasLiveData,
  isRowLive,
  mergePartitions,
  purgePartition,
  withoutDroppedColumns,
  type PartitionFilter,
} from '../../lib/model/merge.js';
import type { ComplexColumn, Partition, RangeTombstone, Row } from '../../lib/model/partition.js';
import { cellForm, deletionForm, hex, meaningOver, rangeDeletionAt, slicesOver } from './fixtures/compaction.js';
import { propertyHolds } from '../helpers/property.js';

// A table with two clustering columns, each a single unsigned byte: 4 x 16 possible
// rows. Small domains make generated histories collide on rows, cells and timestamps.
const comparator = new ClusteringComparator([Buffer.compare, Buffer.compare]);
const FIRST_VALUES = 4;
const SECOND_VALUES = 16;
const KEY = Buffer.from('pk');
const TOKEN = 42n;
const NOW = 105;
const readEverything: PartitionFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds: NOW };

const byte = (v: number): Buffer => Buffer.from([v]);
const DOMAIN: Buffer[][] = [];
for (let x = 0; x < FIRST_VALUES; x++) for (let y = 0; y < SECOND_VALUES; y++) DOMAIN.push([byte(x), byte(y)]);

// ---------------------------------------------------------------------------------
// Generators

const timestampArb = fc.integer({ min: 1, max: 8 });
const deletionArb: fc.Arbitrary<DeletionTime> = fc.record({
  markedForDeleteAt: timestampArb,
  localDeletionTime: fc.integer({ min: 100, max: 101 }),
});

function cellArb(path?: Buffer): fc.Arbitrary<Cell> {
  const value = fc.integer({ min: 0, max: 2 }).map(byte);
  return fc.oneof(
    fc.record({ timestamp: timestampArb, value }).map(({ timestamp, value }) => ({
      timestamp,
      value,
      ttl: 0,
      localDeletionTime: NO_DELETION_TIME,
      path,
    })),
    fc
      .record({ timestamp: timestampArb, value, ttl: fc.constantFrom(5, 10), expiry: fc.constantFrom(104, 110) })
      .map(({ timestamp, value, ttl, expiry }) => ({ timestamp, value, ttl, localDeletionTime: expiry, path })),
    fc
      .record({ timestamp: timestampArb, localDeletionTime: fc.integer({ min: 100, max: 101 }) })
      .map(({ timestamp, localDeletionTime }) => ({ timestamp, value: null, ttl: 0, localDeletionTime, path })),
  );
}

const livenessArb: fc.Arbitrary<LivenessInfo> = fc.oneof(
  timestampArb.map((timestamp) => ({ timestamp, ttl: 0, localDeletionTime: NO_DELETION_TIME })),
  fc
    .record({ timestamp: timestampArb, ttl: fc.constantFrom(5, 10), expiry: fc.constantFrom(104, 110) })
    .map(({ timestamp, ttl, expiry }) => ({ timestamp, ttl, localDeletionTime: expiry })),
);

const complexArb: fc.Arbitrary<ComplexColumn> = fc
  .record({
    deletion: fc.option(deletionArb, { nil: null }),
    paths: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  })
  .chain(({ deletion, paths }) =>
    fc
      .tuple(...[...paths].sort((a, b) => a - b).map((p) => cellArb(byte(p))))
      .map((cells) => ({ deletion, cells })),
  );

function rowArb(clustering: Buffer[]): fc.Arbitrary<Row> {
  return fc
    .record({
      liveness: fc.option(livenessArb, { nil: null }),
      deletion: fc.option(deletionArb, { freq: 4, nil: null }),
      a: fc.option(cellArb(), { nil: undefined }),
      b: fc.option(cellArb(), { nil: undefined }),
      s: fc.option(complexArb, { nil: undefined }),
    })
    .map(({ liveness, deletion, a, b, s }) => {
      const cells = new Map<string, Cell>();
      if (a) cells.set('a', a);
      if (b) cells.set('b', b);
      const complex = new Map<string, ComplexColumn>();
      if (s) complex.set('s', s);
      return { clustering, liveness, deletion, cells, complex };
    });
}

const boundArb: fc.Arbitrary<ClusteringBound> = fc.record({
  prefix: fc.oneof(
    fc.constant([] as Buffer[]),
    fc.integer({ min: 0, max: FIRST_VALUES - 1 }).map((x) => [byte(x)]),
    fc
      .tuple(fc.integer({ min: 0, max: FIRST_VALUES - 1 }), fc.integer({ min: 0, max: SECOND_VALUES - 1 }))
      .map(([x, y]) => [byte(x), byte(y)]),
  ),
  inclusive: fc.boolean(),
});

const rangeTombstoneArb: fc.Arbitrary<RangeTombstone> = fc.record({
  start: boundArb,
  end: boundArb,
  deletion: deletionArb,
});

function partitionArb(rowCount: { min: number; max: number } = { min: 0, max: 6 }): fc.Arbitrary<Partition> {
  return fc
    .record({
      deletion: fc.option(deletionArb, { freq: 4, nil: null }),
      staticRow: fc.option(rowArb([]), { freq: 3, nil: null }),
      rangeTombstones: fc.array(rangeTombstoneArb, { maxLength: 3 }),
      positions: fc.uniqueArray(fc.integer({ min: 0, max: DOMAIN.length - 1 }), {
        minLength: rowCount.min,
        maxLength: rowCount.max,
      }),
    })
    .chain(({ deletion, staticRow, rangeTombstones, positions }) =>
      fc.tuple(...[...positions].sort((a, b) => a - b).map((p) => rowArb(DOMAIN[p]))).map((rows) => ({
        key: KEY,
        token: TOKEN,
        deletion,
        staticRow,
        rangeTombstones,
        rows,
      })),
    );
}

const filterArb: fc.Arbitrary<PartitionFilter> = fc.record({
  slices: slicesOver(FIRST_VALUES, SECOND_VALUES, byte),
  reversed: fc.boolean(),
  rowLimit: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 4 })),
  nowSeconds: fc.constantFrom(100, 105, 120),
});

// ---------------------------------------------------------------------------------
// Observing partitions

const meaning = (p: Partition, positions: readonly Buffer[][] = DOMAIN): string => meaningOver(comparator, positions, p);

/** Everything deleting data at a clustering: partition, range and row deletions. */
function deletionAt(p: Partition, clustering: Buffer[]): DeletionTime | null {
  const row = p.rows.find((r) => comparator.compare(r.clustering, clustering) === 0);
  const outer = supersedingDeletion(p.deletion, rangeDeletionAt(comparator, p.rangeTombstones, clustering));
  return supersedingDeletion(outer, row?.deletion);
}

/** Fails (returns a reason) when anything in `p` is shadowed by a deletion in `p`, a
 *  row is empty, or rows / element cells are out of order. */
function shadowedData(p: Partition): string | null {
  const check = (row: Row, outer: DeletionTime | null): string | null => {
    const dead = (ts: number, d: DeletionTime | null) => d !== null && ts <= d.markedForDeleteAt;
    if (row.deletion && dead(row.deletion.markedForDeleteAt, outer)) return 'covered row deletion';
    const effective = supersedingDeletion(outer, row.deletion);
    if (row.liveness && dead(row.liveness.timestamp, effective)) return 'shadowed row marker';
    for (const cell of row.cells.values()) if (dead(cell.timestamp, effective)) return 'shadowed cell';
    for (const c of row.complex.values()) {
      if (c.deletion && dead(c.deletion.markedForDeleteAt, effective)) return 'covered complex deletion';
      const inner = supersedingDeletion(effective, c.deletion);
      for (const cell of c.cells) if (dead(cell.timestamp, inner)) return 'shadowed element';
      for (let i = 1; i < c.cells.length; i++) {
        if (Buffer.compare(c.cells[i - 1].path!, c.cells[i].path!) >= 0) return 'elements out of order';
      }
      if (c.deletion === null && c.cells.length === 0) return 'empty complex column';
    }
    if (!row.liveness && !row.deletion && row.cells.size === 0 && row.complex.size === 0) return 'empty row';
    return null;
  };
  if (p.staticRow) {
    const reason = check(p.staticRow, p.deletion);
    if (reason) return `static: ${reason}`;
  }
  for (const rt of p.rangeTombstones) {
    if (p.deletion && rt.deletion.markedForDeleteAt <= p.deletion.markedForDeleteAt) return 'covered range tombstone';
  }
  for (let i = 0; i < p.rows.length; i++) {
    if (i > 0 && comparator.compare(p.rows[i - 1].clustering, p.rows[i].clustering) >= 0) return 'rows out of order';
    const row = p.rows[i];
    const reason = check(row, supersedingDeletion(p.deletion, rangeDeletionAt(comparator, p.rangeTombstones, row.clustering)));
    if (reason) return `row ${row.clustering.map(hex).join(':')}: ${reason}`;
  }
  return null;
}

/** Throws, showing both, when two partitions differ in meaning (fast-check then
 *  reports the shrunk inputs with this message). */
function sameMeaning(x: Partition, y: Partition, positions: readonly Buffer[][] = DOMAIN): true {
  const mx = meaning(x, positions);
  const my = meaning(y, positions);
  if (mx !== my) throw new Error(`partitions differ:\n${mx}\n${my}`);
  return true;
}

const merge = (a: Partition, b: Partition): Partition => mergePartitions(comparator, a, b);
const mergeAll = (parts: readonly Partition[]): Partition => parts.reduce(merge);
const later = (a: DeletionTime | null, b: DeletionTime | null): boolean =>
  b === null || (a !== null && a.markedForDeleteAt >= b.markedForDeleteAt);

// ---------------------------------------------------------------------------------
// Algebra

t.test('merging is commutative', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), partitionArb(), (a, b) => sameMeaning(merge(a, b), merge(b, a))),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('merging is associative', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), partitionArb(), partitionArb(), (a, b, c) =>
      sameMeaning(merge(merge(a, b), c), merge(a, merge(b, c))),
    ),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('merging is idempotent', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), partitionArb(), (a, b) => {
      const merged = merge(a, b);
      return sameMeaning(merge(a, a), purgePartition(comparator, a)) && sameMeaning(merge(merged, merged), merged);
    }),
    { numRuns: 500 },
  ), 'the property holds');
});

t.test('merge output holds nothing shadowed, no empty rows, and rows in order', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), partitionArb(), (a, b) => {
      const reason = shadowedData(merge(a, b));
      if (reason !== null) throw new Error(reason);
    }),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('a deletion is never undone by merging older data', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), fc.array(partitionArb(), { minLength: 1, maxLength: 3 }), (a, others) => {
      const merged = mergeAll([a, ...others]);
      if (!later(merged.deletion, a.deletion)) return false;
      for (const clustering of DOMAIN) {
        const before = deletionAt(a, clustering);
        if (!later(deletionAt(merged, clustering), before)) return false;
        // Nothing written at or before that deletion is visible at this row.
        const row = merged.rows.find((r) => comparator.compare(r.clustering, clustering) === 0);
        if (row && before) {
          const old = (ts: number) => ts <= before.markedForDeleteAt;
          if (row.liveness && old(row.liveness.timestamp)) return false;
          if ([...row.cells.values()].some((c) => old(c.timestamp))) return false;
          if ([...row.complex.values()].some((c) => c.cells.some((e) => old(e.timestamp)))) return false;
        }
      }
      return true;
    }),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('a partition deletion shadows every older row and the static row, and they stay gone', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb(), partitionArb(), (data, older) => {
      const tombstone: Partition = {
        key: KEY,
        token: TOKEN,
        deletion: { markedForDeleteAt: 8, localDeletionTime: 100 },
        staticRow: null,
        rangeTombstones: [],
        rows: [],
      };
      // Every generated timestamp is <= 8, so everything is covered by the tombstone.
      const merged = merge(merge(data, tombstone), older);
      return merged.rows.length === 0 && merged.staticRow === null && merged.rangeTombstones.length === 0;
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('random history read before and after merging in any order gives the same result', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(
      fc.array(partitionArb(), { minLength: 2, maxLength: 5 }),
      fc.func(fc.integer()),
      filterArb,
      (history, shuffleKey, filter) => {
        const shuffled = history
          .map((p, i) => ({ p, k: shuffleKey(i) }))
          .sort((x, y) => x.k - y.k)
          .map(({ p }) => p);
        const inOrder = mergeAll(history);
        const otherOrder = mergeAll(shuffled);
        if (meaning(inOrder) !== meaning(otherOrder)) return false;
        // Reading sources then merging what was read equals reading the merge, for any
        // slices (row limits and reversal apply after the merge, as a reader does).
        const sliceOnly: PartitionFilter = { ...filter, reversed: false, rowLimit: Infinity };
        const reads = shuffled.map((p) => filterPartition(comparator, p, sliceOnly));
        const readThenMerge = filterPartition(comparator, mergeAll(reads), filter);
        const mergeThenRead = filterPartition(comparator, inOrder, filter);
        const inSlices = DOMAIN.filter((c) => filter.slices.some((s) => comparator.inSlice(c, s)));
        return meaning(readThenMerge, inSlices) === meaning(mergeThenRead, inSlices);
      },
    ),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('applying a small update to a wide partition equals the full merge', async (t) => {
  let spliced = 0;
  let splicedUnderRangeDeletions = 0;
  propertyHolds(t, fc.check(
    fc.property(
      partitionArb({ min: 48, max: 64 }),
      partitionArb({ min: 0, max: 2 }),
      fc.constantFrom('as generated', 'update without deletions', 'no partition deletions'),
      (wide, update, shape) => {
        // Updates bringing no new partition or range deletion take the splicing path.
        const base = shape === 'no partition deletions' ? { ...wide, deletion: null } : wide;
        const stored = purgePartition(comparator, base);
        const u: Partition = shape === 'as generated' ? update : { ...update, deletion: null, rangeTombstones: [] };
        if (shape !== 'as generated' && u.rows.length * 32 <= stored.rows.length) {
          spliced++;
          if (stored.rangeTombstones.length > 0) splicedUnderRangeDeletions++;
        }
        return sameMeaning(applyUpdate(comparator, stored, u), merge(stored, u));
      },
    ),
    { numRuns: 1000 },
  ), 'the property holds');
  t.ok(spliced > 100, `the splicing path ran (${spliced} times)`);
  t.ok(splicedUnderRangeDeletions > 30, `with stored range tombstones (${splicedUnderRangeDeletions} times)`);
});

// ---------------------------------------------------------------------------------
// Reconciliation rules

const simpleRow = (clustering: Buffer[], cells: Map<string, Cell>, complex = new Map<string, ComplexColumn>()) => ({
  clustering,
  liveness: null,
  deletion: null,
  cells,
  complex,
});
const bare = (parts: Partial<Partition>): Partition => ({
  key: KEY,
  token: TOKEN,
  deletion: null,
  staticRow: null,
  rangeTombstones: [],
  rows: [],
  ...parts,
});
const cellRow = (ck: number, cell: Cell): Partition => ({
  key: KEY,
  token: TOKEN,
  deletion: null,
  staticRow: null,
  rangeTombstones: [],
  rows: [simpleRow([byte(ck), byte(0)], new Map([['a', cell]]))],
});
const live = (timestamp: number, value: number, ttl = 0): Cell => ({
  timestamp,
  value: byte(value),
  ttl,
  localDeletionTime: ttl > 0 ? 100 + ttl : NO_DELETION_TIME,
});
const dead = (timestamp: number, localDeletionTime = 100): Cell => ({
  timestamp,
  value: null,
  ttl: 0,
  localDeletionTime,
});
const mergedCell = (x: Cell, y: Cell): Cell => merge(cellRow(0, x), cellRow(0, y)).rows[0].cells.get('a')!;

t.test('the higher timestamp wins whatever the values', async (t) => {
  t.same(mergedCell(live(5, 1), live(4, 2)), live(5, 1));
  t.same(mergedCell(live(4, 2), live(5, 1)), live(5, 1));
  t.same(mergedCell(dead(4), live(5, 0)), live(5, 0));
  t.same(mergedCell(live(5, 0), dead(6)), dead(6));
});

t.test('on a timestamp tie a tombstone wins over a value', async (t) => {
  t.same(mergedCell(live(5, 2), dead(5)), dead(5));
  t.same(mergedCell(dead(5), live(5, 2)), dead(5));
});

t.test('on a timestamp tie between values the greater value wins', async (t) => {
  t.same(mergedCell(live(5, 1), live(5, 2)), live(5, 2));
  t.same(mergedCell(live(5, 2), live(5, 1)), live(5, 2));
});

t.test('cell reconciliation picks the same cell in either argument order', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(cellArb(), cellArb(), (x, y) => {
      const [xy, yx] = [reconcileCells(x, y), reconcileCells(y, x)];
      return JSON.stringify(cellForm(xy)) === JSON.stringify(cellForm(yx));
    }),
    { numRuns: 2000 },
  ), 'the property holds');
});

t.test('element cells merge in the column path order, not byte order', async (t) => {
  const descending = (a: Buffer, b: Buffer) => Buffer.compare(b, a);
  const setRow = (paths: number[], timestamp: number): Partition => {
    const cells = paths.map((p) => ({ ...live(timestamp, 0), path: byte(p) }));
    return bare({ rows: [simpleRow([byte(0), byte(0)], new Map(), new Map([['s', { deletion: null, cells }]]))] });
  };
  const merged = mergePartitions(comparator, setRow([9, 5, 1], 1), setRow([7, 5, 3], 2), (column) => {
    t.equal(column, 's');
    return descending;
  });
  const elements = merged.rows[0].complex.get('s')!.cells;
  t.same(elements.map((c) => c.path![0]), [9, 7, 5, 3, 1]);
  t.equal(elements.find((c) => c.path![0] === 5)!.timestamp, 2);
});

t.test('a complex deletion shadows older elements but not newer ones', async (t) => {
  const withSet = (deletion: DeletionTime | null, cells: Cell[]): Partition =>
    bare({ rows: [simpleRow([byte(0), byte(0)], new Map(), new Map([['s', { deletion, cells }]]))] });
  const merged = merge(
    withSet(null, [{ ...live(3, 0), path: byte(1) }, { ...live(6, 0), path: byte(2) }]),
    withSet({ markedForDeleteAt: 5, localDeletionTime: 100 }, []),
  );
  const column = merged.rows[0].complex.get('s')!;
  t.same(column.cells.map((c) => c.path![0]), [2]);
  t.equal(column.deletion!.markedForDeleteAt, 5);
});

t.test('range tombstones shadow rows inside their bounds only, and never the static row', async (t) => {
  const rows = [0, 1, 2, 3].map((x) => ({
    clustering: [byte(x), byte(0)],
    liveness: { timestamp: 2, ttl: 0, localDeletionTime: NO_DELETION_TIME },
    deletion: null,
    cells: new Map(),
    complex: new Map(),
  }));
  const staticRow = simpleRow([], new Map([['a', live(2, 1)]]));
  const data = bare({ staticRow, rows });
  const tombstone = bare({
    rangeTombstones: [
      {
        start: { prefix: [byte(1)], inclusive: false },
        end: { prefix: [byte(3)], inclusive: false },
        deletion: { markedForDeleteAt: 3, localDeletionTime: 100 },
      },
    ],
  });
  const merged = merge(data, tombstone);
  t.same(merged.rows.map((r) => r.clustering[0][0]), [0, 1, 3]);
  t.equal(merged.staticRow, staticRow, 'static row untouched (and not copied)');
  t.equal(merged.rangeTombstones.length, 1);
});

t.test('merging shares untouched rows instead of copying them', async (t) => {
  const a = cellRow(0, live(1, 1));
  const b = cellRow(1, live(1, 1));
  const merged = merge(a, b);
  t.equal(merged.rows[0], a.rows[0]);
  t.equal(merged.rows[1], b.rows[0]);
  t.equal(merge(a, { ...a, rows: [] }), a, 'nothing new: the input itself');
});

// ---------------------------------------------------------------------------------
// Filtering and liveness

t.test('filterPartition selects slice rows, reverses, and stops after rowLimit live rows', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(partitionArb({ min: 0, max: 12 }), filterArb, (raw, filter) => {
      const p = purgePartition(comparator, raw);
      const result = filterPartition(comparator, p, filter);
      // The model: rows in any slice, in read order, until rowLimit live rows.
      const ordered = p.rows.filter((r) => filter.slices.some((s) => comparator.inSlice(r.clustering, s)));
      if (filter.reversed) ordered.reverse();
      const expected: Row[] = [];
      let liveRows = 0;
      for (const row of ordered) {
        if (liveRows >= filter.rowLimit) break;
        expected.push(row);
        if (isRowLive(row, filter.nowSeconds)) liveRows++;
      }
      if (result.rows.length !== expected.length || result.rows.some((r, i) => r !== expected[i])) return false;
      if (result.staticRow !== p.staticRow || result.deletion !== p.deletion) return false;
      // Kept tombstones cover every selected position exactly as the originals do.
      const inSlices = DOMAIN.filter((c) => filter.slices.some((s) => comparator.inSlice(c, s)));
      const coverage = (tombstones: RangeTombstone[], c: Buffer[]) => deletionForm(rangeDeletionAt(comparator, tombstones, c));
      return inSlices.every(
        (c) => JSON.stringify(coverage(result.rangeTombstones, c)) === JSON.stringify(coverage(p.rangeTombstones, c)),
      );
    }),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('filterPartition drops range tombstones that miss every slice', async (t) => {
  const rt = (from: number, to: number): RangeTombstone => ({
    start: { prefix: [byte(from)], inclusive: true },
    end: { prefix: [byte(to)], inclusive: false },
    deletion: { markedForDeleteAt: 1, localDeletionTime: 100 },
  });
  const p = bare({ rangeTombstones: [rt(0, 1), rt(1, 2), rt(2, 3)] });
  const only1: Slice = { start: { prefix: [byte(1)], inclusive: true }, end: { prefix: [byte(1)], inclusive: true } };
  const result = filterPartition(comparator, p, { ...readEverything, slices: [only1] });
  t.same(result.rangeTombstones, [rt(1, 2)], '[0,1) and [2,3) do not touch block 1');
});

t.test('a row is live by a live marker or a live cell, at the reader\'s now', async (t) => {
  const row = (liveness: LivenessInfo | null, cells: Cell[]): Row => ({
    clustering: [byte(0), byte(0)],
    liveness,
    deletion: null,
    cells: new Map(cells.map((c, i) => [`c${i}`, c])),
    complex: new Map(),
  });
  t.ok(isRowLive(row({ timestamp: 1, ttl: 0, localDeletionTime: NO_DELETION_TIME }, []), NOW));
  t.ok(isRowLive(row({ timestamp: 1, ttl: 10, localDeletionTime: 110 }, []), 109));
  t.notOk(isRowLive(row({ timestamp: 1, ttl: 10, localDeletionTime: 110 }, []), 110), 'marker expired');
  t.notOk(isRowLive(row(null, [dead(1)]), NOW), 'only a tombstone');
  t.ok(isRowLive(row(null, [dead(1), live(1, 1, 10)]), 109));
  t.notOk(isRowLive(row(null, [live(1, 1, 10)]), 110), 'cell expired');
  const partition = bare({ staticRow: row(null, [live(1, 1)]) });
  t.ok(hasLiveData(partition, NOW), 'static data alone is live data');
  t.notOk(hasLiveData({ ...partition, staticRow: null, rows: [row(null, [dead(1)])] }, NOW));
});

t.test('cells of a dropped column written before the drop are hidden', async (t) => {
  const p = cellRow(0, live(5, 1));
  t.equal(withoutDroppedColumns(p, new Map([['a', 4]])), p, 'written after the drop: visible');
  t.same(withoutDroppedColumns(p, new Map([['a', 5]])).rows, [], 'written at the drop: hidden, empty row dropped');
  t.equal(withoutDroppedColumns(p, new Map([['other', 9]])), p);
});
