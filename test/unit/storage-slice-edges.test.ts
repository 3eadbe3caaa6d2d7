/**
 * Every storage read path returns what a simple model returns, for the slice lists a
 * read may bring (ReadFilter.slices): sorted by start and non-overlapping, but possibly
 * empty (an empty slice between two others once made SSTablePartition.backward drop a
 * row), touching at a bound, bounded by prefixes shorter than the clustering, and
 * unbounded with an inclusive flag of false (the replica codec decodes a missing flag
 * as false). Forward and reversed, with row limits, through:
 *   1. a memtable's partition source (rows() and rowsIfLoaded()),
 *   2. SSTable partitions, small ones and wide ones read through their row index
 *      (rows(), rowsIfLoaded(), findIfLoaded()'s source, a scan's source),
 *   3. LsmTableStore.read and scan over a memtable and several SSTables holding row,
 *      range and partition deletions.
 *
 * The model: a row is in a slice when comparator.inSlice says so; a slice list selects
 * the union, in table order (reversed when asked), cut after `limit` live rows. Slice
 * lists are generated, sorted and kept non-overlapping with positions on a line of
 * clusterings (startOf, endOf), built apart from lib/model/slices.ts so that they can
 * check it too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import type { ClusteringBound, Slice } from '../../lib/model/clustering.js';
import type { Partition, RangeTombstone, Row } from '../../lib/model/partition.js';
import { isRowLive } from '../../lib/model/merge.js';
import { isEmptySlice } from '../../lib/model/slices.js';
import { compareKeys } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { FULL_RANGE, type ReadFilter } from '../../lib/storage/engine.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import type { PartitionSource } from '../../lib/storage/source.js';
import type { RowIndex } from '../../lib/storage/sstable/format.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { testEngineOptions } from '../helpers/lsm-options.js';
import { propertyHolds } from '../helpers/property.js';
import { NOW, bound, deletion, int, intType, makeTable, partitionOf, row, slice, textType, update } from './fixtures/tables.js';

const fs = new NodeFileSystem();

// ---------------------------------------------------------------------------------
// Table shapes and positions

type Order = 'ASC' | 'DESC';

interface Shape {
  readonly name: string;
  readonly orders: readonly Order[];
  /** Row clusterings take values 0..size-1 per column; bounds also -1 and size. */
  readonly sizes: readonly number[];
}

const SHAPES: readonly Shape[] = [
  { name: '(c int)', orders: ['ASC'], sizes: [120] },
  { name: '(a int ASC, b int DESC)', orders: ['ASC', 'DESC'], sizes: [12, 10] },
];

const COMPRESSIONS = [
  { class: 'LZ4Compressor', chunkLengthKb: 16, enabled: true },
  { class: '', chunkLengthKb: 4, enabled: false },
] as const;

function tableOf(shape: Shape, compression: (typeof COMPRESSIONS)[number] = COMPRESSIONS[0]): TableMetadata {
  const table = makeTable({
    partitionKey: [['k', intType]],
    clustering: shape.orders.map((order, i): [string, typeof intType, Order] => [`c${i}`, intType, order]),
    regular: [['v', textType]],
  });
  return { ...table, options: { ...table.options, compression: { ...compression } } };
}

/** A bound as numbers: `values` is the prefix (empty: unbounded). */
interface BoundSpec {
  readonly values: readonly number[];
  readonly inclusive: boolean;
}

interface SliceSpec {
  readonly start: BoundSpec;
  readonly end: BoundSpec;
}

/**
 * A place on the line of clusterings, compared component by component: a clustering
 * is its values' ranks in table order (a DESC column negated); a bound is its prefix's
 * ranks and then -Infinity (just before the clusterings starting with the prefix) or
 * +Infinity (just after them). A missing component counts as 0, between the two.
 */
type Position = readonly number[];

function ranks(shape: Shape, values: readonly number[]): number[] {
  return values.map((value, i) => (shape.orders[i] === 'ASC' ? value : -value));
}

function clusteringAt(shape: Shape, values: readonly number[]): Position {
  return ranks(shape, values);
}

function startOf(shape: Shape, b: BoundSpec): Position {
  // An empty prefix is unbounded whatever its inclusive flag.
  if (b.values.length === 0) return [-Infinity];
  return [...ranks(shape, b.values), b.inclusive ? -Infinity : Infinity];
}

function endOf(shape: Shape, b: BoundSpec): Position {
  if (b.values.length === 0) return [Infinity];
  return [...ranks(shape, b.values), b.inclusive ? Infinity : -Infinity];
}

function comparePositions(a: Position, b: Position): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function isEmptySpec(shape: Shape, s: SliceSpec): boolean {
  return comparePositions(startOf(shape, s.start), endOf(shape, s.end)) >= 0;
}

function containsAt(shape: Shape, s: SliceSpec, values: readonly number[]): boolean {
  const at = clusteringAt(shape, values);
  return comparePositions(startOf(shape, s.start), at) < 0 && comparePositions(at, endOf(shape, s.end)) < 0;
}

const toBound = (b: BoundSpec): ClusteringBound => bound(b.values.map(int), b.inclusive);
const toSlice = (s: SliceSpec): Slice => slice(toBound(s.start), toBound(s.end));
const numbers = (clustering: readonly Buffer[]): number[] => clustering.map((c) => c.readInt32BE(0));
const fromBound = (b: ClusteringBound): BoundSpec => ({ values: numbers(b.prefix), inclusive: b.inclusive });

function describeSlices(slices: readonly SliceSpec[]): string {
  const side = (b: BoundSpec, infinity: string) => (b.values.length === 0 ? infinity : b.values.join(':'));
  const text = slices.map(
    (s) => `${s.start.inclusive ? '[' : '('}${side(s.start, '-inf')}, ${side(s.end, '+inf')}${s.end.inclusive ? ']' : ')'}`,
  );
  return `[${text.join(' ')}]`;
}

/** Every full clustering of the shape, bound values (-1, size) included, in table order. */
function lattice(shape: Shape, withOutside: boolean): number[][] {
  let points: number[][] = [[]];
  for (const size of shape.sizes) {
    const values = Array.from({ length: withOutside ? size + 2 : size }, (_, i) => (withOutside ? i - 1 : i));
    points = points.flatMap((p) => values.map((v) => [...p, v]));
  }
  return points.sort((a, b) => comparePositions(clusteringAt(shape, a), clusteringAt(shape, b)));
}

// ---------------------------------------------------------------------------------
// Slice lists

const clusteringArb = (shape: Shape): fc.Arbitrary<number[]> =>
  fc.tuple(...shape.sizes.map((size) => fc.integer({ min: 0, max: size - 1 }))) as fc.Arbitrary<number[]>;

interface BoundDraw {
  values: number[];
  length: number;
  inclusive: boolean;
}

const boundDrawArb = (shape: Shape): fc.Arbitrary<BoundDraw> =>
  fc.record({
    values: fc.tuple(...shape.sizes.map((size) => fc.integer({ min: -1, max: size }))) as fc.Arbitrary<number[]>,
    // Mostly full bounds, often prefixes, sometimes unbounded (with either flag).
    length: fc.oneof(
      { weight: 4, arbitrary: fc.constant(shape.sizes.length) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: shape.sizes.length }) },
      { weight: 1, arbitrary: fc.constant(0) },
    ),
    inclusive: fc.boolean(),
  });

const drawn = (d: BoundDraw): BoundSpec => ({ values: d.values.slice(0, d.length), inclusive: d.inclusive });

type SliceKind = 'free' | 'touching' | 'point' | 'nested' | 'inverted';

interface SliceDraw {
  kind: SliceKind;
  start: BoundDraw;
  end: BoundDraw;
  /** For 'nested': whether the start or the end has the longer prefix. */
  longerEnd: boolean;
}

const sliceDrawArb = (shape: Shape): fc.Arbitrary<SliceDraw> =>
  fc.record({
    kind: fc.constantFrom<SliceKind>('free', 'free', 'touching', 'point', 'nested', 'inverted'),
    start: boundDrawArb(shape),
    end: boundDrawArb(shape),
    longerEnd: fc.boolean(),
  });

/** One slice, made non-empty or empty as its kind says (not always: a draw is a draw). */
function sliceOfDraw(shape: Shape, draw: SliceDraw, previous: SliceSpec | undefined): SliceSpec {
  let start = drawn(draw.start);
  let end = drawn(draw.end);
  const swapped = (): SliceSpec => ({ start: { ...start, values: end.values }, end: { ...end, values: start.values } });
  switch (draw.kind) {
    case 'free':
      // Mostly non-empty: the prefixes in order.
      return isEmptySpec(shape, { start, end }) ? swapped() : { start, end };
    case 'inverted':
      // Start after end: empty.
      return isEmptySpec(shape, { start, end }) ? { start, end } : swapped();
    case 'touching':
      // Starts where the previous slice ends, on the other side of its bound.
      if (previous !== undefined && previous.end.values.length > 0) {
        start = { values: previous.end.values, inclusive: !previous.end.inclusive };
      }
      return isEmptySpec(shape, { start, end }) ? { start, end: { ...end, values: [] } } : { start, end };
    case 'point':
      // [x, x] (a clustering or a prefix's block), [x, x), (x, x] or (x, x): the last three empty.
      return { start, end: { values: start.values, inclusive: end.inclusive } };
    case 'nested': {
      // One prefix extends the other: (1) to (1:5] is empty, [1] to (1:5] is not.
      const full = draw.start.values;
      const shorter = Math.min(draw.start.length, shape.sizes.length - 1);
      const longer = { values: full, inclusive: end.inclusive };
      const short = { values: full.slice(0, shorter), inclusive: start.inclusive };
      return draw.longerEnd ? { start: short, end: longer } : { start: { ...longer, inclusive: start.inclusive }, end: { ...short, inclusive: end.inclusive } };
    }
  }
}

/**
 * A slice list as storage may be handed one: sorted by start (ties in drawn order),
 * non-overlapping, empty slices kept wherever they sort.
 */
function sliceList(shape: Shape, draws: readonly SliceDraw[]): SliceSpec[] {
  const made: SliceSpec[] = [];
  for (const draw of draws) made.push(sliceOfDraw(shape, draw, made[made.length - 1]));
  // Array.prototype.sort is stable: equal starts stay in drawn order.
  made.sort((a, b) => comparePositions(startOf(shape, a.start), startOf(shape, b.start)));
  const kept: SliceSpec[] = [];
  // The end of the last non-empty slice kept: a later one must not start before it.
  let reach: Position = [-Infinity];
  for (const s of made) {
    if (isEmptySpec(shape, s)) {
      kept.push(s);
    } else if (comparePositions(startOf(shape, s.start), reach) >= 0) {
      kept.push(s);
      reach = endOf(shape, s.end);
    }
  }
  return kept;
}

interface ReadDraw {
  slices: SliceDraw[];
  reversed: boolean;
  limit: number;
}

const readDrawArb = (shape: Shape): fc.Arbitrary<ReadDraw> =>
  fc.record({
    slices: fc.array(sliceDrawArb(shape), { maxLength: 5 }),
    reversed: fc.boolean(),
    limit: fc.oneof({ weight: 2, arbitrary: fc.constant(Infinity) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }) }),
  });

interface Read {
  readonly specs: readonly SliceSpec[];
  readonly slices: readonly Slice[];
  readonly reversed: boolean;
  readonly limit: number;
  readonly text: string;
}

/** How often the slice lists read had the features this file is about. */
const seen = { emptyAmongOthers: 0, emptyReversed: 0, touching: 0, shortPrefix: 0, unboundedExclusive: 0 };

function tally(shape: Shape, specs: readonly SliceSpec[], reversed: boolean): void {
  const empty = specs.filter((s) => isEmptySpec(shape, s)).length;
  if (empty > 0 && specs.length - empty >= 2) seen.emptyAmongOthers++;
  if (empty > 0 && reversed) seen.emptyReversed++;
  const nonEmpty = specs.filter((s) => !isEmptySpec(shape, s));
  if (nonEmpty.some((s, i) => i > 0 && comparePositions(startOf(shape, s.start), endOf(shape, nonEmpty[i - 1].end)) === 0)) seen.touching++;
  const bounds = specs.flatMap((s) => [s.start, s.end]);
  if (bounds.some((b) => b.values.length > 0 && b.values.length < shape.sizes.length)) seen.shortPrefix++;
  if (bounds.some((b) => b.values.length === 0 && !b.inclusive)) seen.unboundedExclusive++;
}

function readOf(shape: Shape, draw: ReadDraw): Read {
  const specs = sliceList(shape, draw.slices);
  tally(shape, specs, draw.reversed);
  const limit = draw.limit === Infinity ? 'no limit' : `limit ${draw.limit}`;
  return {
    specs,
    slices: specs.map(toSlice),
    reversed: draw.reversed,
    limit: draw.limit,
    text: `slices ${describeSlices(specs)}, ${draw.reversed ? 'reversed' : 'forward'}, ${limit}`,
  };
}

/**
 * The model's membership: comparator.inSlice over the list. Checked against the
 * positions (and lib/model/slices.ts's isEmptySlice against theirs), so that the
 * generator, the model and the library agree on what a slice is before rows are compared.
 */
function inSlices(table: TableMetadata, shape: Shape, read: Read, values: readonly number[]): boolean {
  const clustering = values.map(int);
  const inside = read.slices.some((s) => table.comparator.inSlice(clustering, s));
  const byPosition = read.specs.some((s) => containsAt(shape, s, values));
  if (inside !== byPosition) {
    throw new Error(`model disagreement: inSlice says ${inside}, positions say ${byPosition} for ${values.join(':')} in ${read.text}`);
  }
  return inside;
}

function checkEmptiness(table: TableMetadata, shape: Shape, read: Read): void {
  read.specs.forEach((s, i) => {
    const empty = isEmptySlice(table.comparator, read.slices[i]);
    if (empty !== isEmptySpec(shape, s)) {
      throw new Error(`isEmptySlice says ${empty} for ${describeSlices([s])}, positions say ${!empty}`);
    }
  });
}

// ---------------------------------------------------------------------------------
// Rows as compared

interface RowView {
  c: number[];
  marker: number | null;
  v: [number, string] | null;
  deletion: number | null;
}

function viewOf(r: Row): RowView {
  const cell = r.cells.get('v');
  return {
    c: numbers(r.clustering),
    marker: r.liveness?.timestamp ?? null,
    v: cell === undefined ? null : [cell.timestamp, cell.value === null ? '<tombstone>' : cell.value.toString('utf8')],
    deletion: r.deletion?.markedForDeleteAt ?? null,
  };
}

/** Short enough to read in a report: long values as their length. */
function brief(rows: readonly RowView[]): string {
  return JSON.stringify(
    rows.map((r) => ({ ...r, v: r.v === null ? null : [r.v[0], r.v[1].length > 12 ? `${r.v[1].slice(0, 8)}…(${r.v[1].length})` : r.v[1]] })),
  );
}

function expectRows(actual: readonly RowView[], expected: readonly RowView[], what: string, read: Read): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}, ${read.text}:\n  expected ${brief(expected)}\n  actual   ${brief(actual)}`);
  }
}

/** Up to `limit` rows of a source (none of the sources' rows here are dead). */
async function take(rows: AsyncIterable<Row>, limit: number): Promise<RowView[]> {
  const out: RowView[] = [];
  if (limit <= 0) return out;
  for await (const r of rows) {
    out.push(viewOf(r));
    if (out.length >= limit) break;
  }
  return out;
}

function takeNow(rows: Iterable<Row>, limit: number): RowView[] {
  const out: RowView[] = [];
  if (limit <= 0) return out;
  for (const r of rows) {
    out.push(viewOf(r));
    if (out.length >= limit) break;
  }
  return out;
}

/** Live rows only (no deletions): the model's rows of a source for a read. */
function modelRows(table: TableMetadata, shape: Shape, stored: readonly RowView[], read: Read): RowView[] {
  const inOrder = [...stored].sort((a, b) => comparePositions(clusteringAt(shape, a.c), clusteringAt(shape, b.c)));
  const selected = inOrder.filter((r) => inSlices(table, shape, read, r.c));
  if (read.reversed) selected.reverse();
  return read.limit <= 0 ? [] : selected.slice(0, read.limit);
}

// ---------------------------------------------------------------------------------
// 1. The memtable

t.test('a memtable partition source gives the model\'s rows, through rows() and rowsIfLoaded()', async (t) => {
  let reads = 0;
  const spec = fc.constantFrom(...SHAPES).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      writes: fc.array(fc.record({ key: fc.integer({ min: 0, max: 1 }), at: clusteringArb(shape), size: fc.integer({ min: 0, max: 12 }) }), {
        minLength: 1,
        maxLength: 40,
      }),
      // Writes go in as updates of this many rows: later ones are spliced into the rows.
      perUpdate: fc.integer({ min: 1, max: 6 }),
      reads: fc.array(readDrawArb(shape), { minLength: 1, maxLength: 4 }),
    }),
  );
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(spec, async ({ shape, writes, perUpdate, reads: readDraws }) => {
        const table = tableOf(shape);
        const memtable = new Memtable(table);
        const stored = new Map<number, Map<string, RowView>>();
        for (let from = 0; from < writes.length; from += perUpdate) {
          for (const key of [0, 1]) {
            // One update's rows are ascending and distinct; the last write of a clustering wins.
            const rows = new Map<string, Row>();
            writes.slice(from, from + perUpdate).forEach((w, i) => {
              if (w.key !== key) return;
              const ts = from + i + 1;
              const value = `${ts}`.padEnd(w.size, 'x');
              rows.set(JSON.stringify(w.at), row(w.at.map(int), { marker: ts, cells: { v: [ts, value] } }));
              const views = stored.get(key) ?? new Map<string, RowView>();
              views.set(JSON.stringify(w.at), { c: w.at, marker: ts, v: [ts, value], deletion: null });
              stored.set(key, views);
            });
            if (rows.size === 0) continue;
            const sorted = [...rows.values()].sort((a, b) => table.comparator.compare(a.clustering, b.clustering));
            memtable.apply(partitionOf(int(key), { rows: sorted }));
          }
        }
        for (const draw of readDraws) {
          const read = readOf(shape, draw);
          checkEmptiness(table, shape, read);
          for (const key of [0, 1, 2]) {
            const source = memtable.get(int(key), partitionOf(int(key)).token);
            const views = stored.get(key);
            if (views === undefined) {
              if (source !== null) throw new Error(`memtable: key ${key} was never written but is found`);
              continue;
            }
            if (source === null) throw new Error(`memtable: key ${key} was written but is not found`);
            const expected = modelRows(table, shape, [...views.values()], read);
            expectRows(await take(source.rows(read.slices, read.reversed), read.limit), expected, `memtable rows(), key ${key}`, read);
            const atHand = source.rowsIfLoaded?.(read.slices, read.reversed);
            if (atHand === undefined) throw new Error('a memtable has its rows at hand');
            expectRows(takeNow(atHand, read.limit), expected, `memtable rowsIfLoaded(), key ${key}`, read);
            reads++;
          }
        }
        return true;
      }),
      { numRuns: 800, includeErrorInReport: true },
    ),
    'the memtable gives the model\'s rows',
  );
  t.ok(reads > 0, `${reads} reads compared`);
});

// ---------------------------------------------------------------------------------
// 2. SSTable partitions

t.test('SSTable partitions, small and wide, give the model\'s rows on every path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-slice-edges-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let generation = 0;
  let atHand = 0;
  let indexed = 0;
  const tables = new Map(SHAPES.map((shape) => [shape, COMPRESSIONS.map((compression) => tableOf(shape, compression))]));
  const spec = fc.constantFrom(...SHAPES).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      compression: fc.integer({ min: 0, max: COMPRESSIONS.length - 1 }),
      // Small partitions, at most as many rows as rowsIfLoaded decodes at once.
      small: fc.array(
        fc.record({
          clusterings: fc.uniqueArray(clusteringArb(shape), { selector: (c) => c.join(':'), minLength: 1, maxLength: 16 }),
          size: fc.integer({ min: 0, max: 60 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      // A wide partition: most clusterings of the shape, rows big enough that the
      // partition spans several row index blocks (ROW_INDEX_BLOCK_BYTES, 64 KiB).
      wide: fc.record({ gapEvery: fc.integer({ min: 2, max: 9 }), gapAt: fc.nat({ max: 8 }), size: fc.integer({ min: 1500, max: 2200 }) }),
      reads: fc.array(readDrawArb(shape), { minLength: 2, maxLength: 4 }),
    }),
  );
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(spec, async ({ shape, compression, small, wide, reads: readDraws }) => {
        const table = tables.get(shape)![compression];
        const contents = new Map<number, RowView[]>();
        const partitions: Partition[] = [];
        const add = (key: number, clusterings: number[][], size: number): void => {
          const views = clusterings.map((c, i): RowView => {
            const ts = 1000 * key + i + 1;
            return { c, marker: ts, v: [ts, `${key}:${c.join(':')}:`.padEnd(size, 'y')], deletion: null };
          });
          views.sort((a, b) => comparePositions(clusteringAt(shape, a.c), clusteringAt(shape, b.c)));
          contents.set(key, views);
          const rows = views.map((r) => row(r.c.map(int), { marker: r.marker!, cells: { v: [r.v![0], r.v![1]] } }));
          partitions.push(partitionOf(int(key), { rows }));
        };
        add(0, lattice(shape, false).filter((_, i) => i % wide.gapEvery !== wide.gapAt % wide.gapEvery), wide.size);
        small.forEach((p, i) => add(i + 1, p.clusterings, p.size));
        partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
        const writer = await SSTableWriter.create(fs, dir, ++generation, table, { expectedPartitions: partitions.length, level: 0 });
        for (const p of partitions) await writer.append(p);
        const reader = await writer.finish();
        try {
          const reads = readDraws.map((draw) => readOf(shape, draw));
          const check = async (source: PartitionSource, how: string): Promise<void> => {
            const key = source.key.readInt32BE(0);
            for (const read of reads) {
              checkEmptiness(table, shape, read);
              const expected = modelRows(table, shape, contents.get(key)!, read);
              expectRows(await take(source.rows(read.slices, read.reversed), read.limit), expected, `${how} rows(), key ${key}`, read);
              const now = source.rowsIfLoaded?.(read.slices, read.reversed);
              if (now === undefined) continue;
              if (key === 0) throw new Error('a wide partition must not decode all its rows at once');
              atHand++;
              expectRows(takeNow(now, read.limit), expected, `${how} rowsIfLoaded(), key ${key}`, read);
            }
          };
          for (const p of partitions) {
            const source = await reader.find(p.key, p.token);
            if (source === null) throw new Error(`SSTable: key ${p.key.readInt32BE(0)} not found`);
            if (p.key.readInt32BE(0) === 0) {
              // The wide partition must really be read through its row index. (A peek at
              // SSTablePartition's private index(): nothing public says.)
              const index = await (source as unknown as { index(): Promise<RowIndex | null> }).index();
              if (index === null || index.offsets.length < 2) throw new Error(`the wide partition has ${index?.offsets.length ?? 0} index blocks`);
              indexed++;
            }
            await check(source, 'find()');
            const loaded = reader.findIfLoaded(p.key, p.token);
            if (loaded !== undefined && loaded !== null) await check(loaded, 'findIfLoaded()');
          }
          let scanned = 0;
          for await (const source of reader.scan(FULL_RANGE)) {
            await check(source, 'scan()');
            scanned++;
          }
          if (scanned !== partitions.length) throw new Error(`scan() found ${scanned} of ${partitions.length} partitions`);
          return true;
        } finally {
          await reader.close();
        }
      }),
      { numRuns: 80, includeErrorInReport: true },
    ),
    'SSTable partitions give the model\'s rows',
  );
  t.ok(indexed > 0, `${indexed} wide partitions read through their row index`);
  t.ok(atHand > 0, `rowsIfLoaded answered ${atHand} times`);
});

// ---------------------------------------------------------------------------------
// 3. The LSM table store

type Write =
  | { kind: 'insert'; key: number; at: number[]; marker: boolean; ts: number; value: string }
  | { kind: 'deleteRow'; key: number; at: number[]; ts: number }
  | { kind: 'deleteRange'; key: number; range: SliceSpec; ts: number }
  | { kind: 'deletePartition'; key: number; ts: number };

type OpDraw =
  | { kind: 'insert'; key: number; at: number[]; marker: boolean; size: number; ts: number }
  | { kind: 'deleteRow'; key: number; at: number[]; ts: number }
  | { kind: 'deleteRange'; key: number; range: SliceDraw; ts: number }
  | { kind: 'deletePartition'; key: number; ts: number };

const KEYS = [0, 1];
/** Read as well, never written: the store must answer null. */
const ABSENT_KEY = 2;

const opDrawArb = (shape: Shape): fc.Arbitrary<OpDraw> => {
  const key = fc.integer({ min: 0, max: KEYS.length - 1 });
  // Timestamps out of write order, so newer data lands in older SSTables too.
  const ts = fc.integer({ min: 1, max: 400 });
  // Writes collide more often in a corner of the clusterings.
  const at = fc.oneof(clusteringArb(shape), fc.tuple(...shape.sizes.map(() => fc.integer({ min: 0, max: 3 }))) as fc.Arbitrary<number[]>);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), key, at, marker: fc.boolean(), size: fc.integer({ min: 0, max: 20 }), ts }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteRow' as const), key, at, ts }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteRange' as const), key, range: sliceDrawArb(shape), ts }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deletePartition' as const), key, ts }) },
  );
};

interface ExpectedPartition {
  deletion: number | null;
  rows: RowView[];
  /** The newest range deletion covering each lattice clustering inside the slices. */
  covering: Map<string, number | null>;
}

/** What a read of `key` must return, from every write of it. Null when never written. */
function expectedRead(table: TableMetadata, shape: Shape, writes: readonly Write[], key: number, read: Read): ExpectedPartition | null {
  const mine = writes.filter((w) => w.key === key);
  if (mine.length === 0) return null;
  let partitionDeletion = -Infinity;
  for (const w of mine) if (w.kind === 'deletePartition') partitionDeletion = Math.max(partitionDeletion, w.ts);
  // Range deletions a partition deletion supersedes are gone.
  const ranges = mine.flatMap((w) => (w.kind === 'deleteRange' && w.ts > partitionDeletion ? [w] : []));
  const rangeDeletionAt = (values: readonly number[]): number | null => {
    let newest: number | null = null;
    for (const r of ranges) if (containsAt(shape, r.range, values) && (newest === null || r.ts > newest)) newest = r.ts;
    return newest;
  };
  const clusterings = new Map<string, { at: number[]; marker: number; cell: [number, string] | null; rowDeletion: number }>();
  for (const w of mine) {
    if (w.kind !== 'insert' && w.kind !== 'deleteRow') continue;
    const id = w.at.join(':');
    const c = clusterings.get(id) ?? { at: w.at, marker: -Infinity, cell: null, rowDeletion: -Infinity };
    if (w.kind === 'deleteRow') c.rowDeletion = Math.max(c.rowDeletion, w.ts);
    else {
      if (w.marker) c.marker = Math.max(c.marker, w.ts);
      if (c.cell === null || w.ts > c.cell[0]) c.cell = [w.ts, w.value];
    }
    clusterings.set(id, c);
  }
  const rows: RowView[] = [];
  for (const c of clusterings.values()) {
    if (!inSlices(table, shape, read, c.at)) continue;
    // A deletion covers every write at or before its timestamp.
    const outer = Math.max(partitionDeletion, rangeDeletionAt(c.at) ?? -Infinity);
    const rowDeletion = c.rowDeletion > outer ? c.rowDeletion : null;
    const effective = Math.max(outer, c.rowDeletion);
    const view: RowView = {
      c: c.at,
      marker: c.marker > effective ? c.marker : null,
      v: c.cell !== null && c.cell[0] > effective ? c.cell : null,
      deletion: rowDeletion,
    };
    // A row with nothing live is returned as its row tombstone, if it has one in force.
    if (view.marker !== null || view.v !== null || view.deletion !== null) rows.push(view);
  }
  rows.sort((a, b) => comparePositions(clusteringAt(shape, a.c), clusteringAt(shape, b.c)));
  if (read.reversed) rows.reverse();
  // Cut after `limit` live rows; dead rows before the cut are kept.
  const cut: RowView[] = [];
  let live = 0;
  for (const r of rows) {
    if (live >= read.limit) break;
    cut.push(r);
    if (r.marker !== null || r.v !== null) live++;
  }
  const covering = new Map<string, number | null>();
  for (const values of lattice(shape, true)) {
    if (inSlices(table, shape, read, values)) covering.set(values.join(':'), rangeDeletionAt(values));
  }
  return { deletion: partitionDeletion === -Infinity ? null : partitionDeletion, rows: cut, covering };
}

/**
 * The range tombstones a read returns, as the engine defines them (rangeTombstonesWithin):
 * each one reaches into some non-empty slice (starts before the slice ends and ends
 * after it starts), and inside the slices they delete exactly what the writes' range deletions
 * not superseded by the partition deletion do.
 */
function checkRangeTombstones(shape: Shape, got: readonly RangeTombstone[], expected: ExpectedPartition, what: string, read: Read): void {
  const ranges = got.map((rt) => ({ range: { start: fromBound(rt.start), end: fromBound(rt.end) }, ts: rt.deletion.markedForDeleteAt }));
  for (const { range } of ranges) {
    const reaches = read.specs.some(
      (s) =>
        comparePositions(startOf(shape, s.start), endOf(shape, s.end)) < 0 && // an empty slice reaches nothing
        comparePositions(startOf(shape, range.start), endOf(shape, s.end)) < 0 &&
        comparePositions(startOf(shape, s.start), endOf(shape, range.end)) < 0,
    );
    if (!reaches) throw new Error(`${what}: range tombstone ${describeSlices([range])} is outside ${read.text}`);
  }
  for (const [id, newest] of expected.covering) {
    const values = id.split(':').map(Number);
    let actual: number | null = null;
    for (const r of ranges) if (containsAt(shape, r.range, values) && (actual === null || r.ts > actual)) actual = r.ts;
    if (actual !== newest) {
      throw new Error(
        `${what}: at ${id} the range tombstones returned delete at ${actual}, the writes at ${newest}; returned ` +
          `${JSON.stringify(ranges.map((r) => [describeSlices([r.range]), r.ts]))}, ${read.text}`,
      );
    }
  }
}

function checkPartition(
  shape: Shape,
  got: Partition | null,
  expected: ExpectedPartition | null,
  what: string,
  read: Read,
): void {
  if (expected === null || got === null) {
    if (expected !== got) throw new Error(`${what}: expected ${expected === null ? 'null' : 'a partition'}, got ${got === null ? 'null' : 'a partition'}`);
    return;
  }
  const deletion = got.deletion?.markedForDeleteAt ?? null;
  if (deletion !== expected.deletion) throw new Error(`${what}: partition deletion ${deletion}, expected ${expected.deletion}`);
  const rows = got.rows.map(viewOf);
  // Dead rows come back as their tombstones only (and the model says which).
  for (const r of got.rows) {
    if (!isRowLive(r, NOW) && (r.liveness !== null || r.cells.size > 0)) throw new Error(`${what}: a dead row carries data: ${brief([viewOf(r)])}`);
  }
  expectRows(rows, expected.rows, what, read);
  checkRangeTombstones(shape, got.rangeTombstones, expected, what, read);
}

t.test('LsmTableStore read and scan over a memtable and SSTables with deletions give the model\'s partition', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-slice-edges-lsm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const engine = await LsmStorageEngine.open(
    // Flushes only when asked; no compaction (it would merge the SSTables the reads should merge).
    testEngineOptions(fs, dir, { commitlogSync: 'periodic', autoCompaction: false, compactionCheckIntervalMs: 0 }),
    [],
  );
  t.teardown(() => engine.close());
  let reads = 0;
  let sstablesMax = 0;
  let tombstonesSeen = 0;
  const spec = fc.constantFrom(...SHAPES).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      compression: fc.integer({ min: 0, max: COMPRESSIONS.length - 1 }),
      // A wide partition of key 0 written first, in one mutation: its SSTable has a row index.
      wide: fc.option(fc.record({ gapEvery: fc.integer({ min: 2, max: 9 }), ts: fc.integer({ min: 1, max: 400 }) }), { freq: 2 }),
      // Each phase but the last is flushed to an SSTable of its own; the last stays in
      // the memtable unless `flushLast`.
      phases: fc.array(fc.array(opDrawArb(shape), { maxLength: 10 }), { minLength: 1, maxLength: 4 }),
      flushLast: fc.boolean(),
      reads: fc.array(readDrawArb(shape), { minLength: 2, maxLength: 4 }),
    }),
  );
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(spec, async ({ shape, compression, wide, phases, flushLast, reads: readDraws }) => {
        const table = tableOf(shape, COMPRESSIONS[compression]);
        const store = engine.openTable(table);
        try {
          const writes: Write[] = [];
          // Timestamps are unique (ties have rules of their own, not tested here).
          let serial = 0;
          const unique = (ts: number): number => ts * 1000 + ++serial;
          if (wide !== null) {
            const ts = unique(wide.ts);
            const rows: Row[] = [];
            lattice(shape, false).forEach((at, i) => {
              if (i % wide.gapEvery === 0) return;
              const value = `${ts}:${at.join(':')}:`.padEnd(1500, 'w');
              writes.push({ kind: 'insert', key: 0, at, marker: true, ts, value });
              rows.push(row(at.map(int), { marker: ts, cells: { v: [ts, value] } }));
            });
            await engine.apply([update(table, partitionOf(int(0), { rows }))]);
          }
          for (let phase = 0; phase < phases.length; phase++) {
            for (const op of phases[phase]) {
              const ts = unique(op.ts);
              const key = int(op.key);
              let write: Write;
              let partition: Partition;
              switch (op.kind) {
                case 'insert': {
                  const value = `${ts}`.padEnd(op.size, 'i');
                  write = { kind: 'insert', key: op.key, at: op.at, marker: op.marker, ts, value };
                  const r = row(op.at.map(int), op.marker ? { marker: ts, cells: { v: [ts, value] } } : { cells: { v: [ts, value] } });
                  partition = partitionOf(key, { rows: [r] });
                  break;
                }
                case 'deleteRow':
                  write = { kind: 'deleteRow', key: op.key, at: op.at, ts };
                  partition = partitionOf(key, { rows: [row(op.at.map(int), { deletedAt: ts })] });
                  break;
                case 'deleteRange': {
                  // A range deletion covers something: an empty draw is turned around or unbounded.
                  let range = sliceOfDraw(shape, op.range, undefined);
                  if (isEmptySpec(shape, range)) range = { start: range.end, end: range.start };
                  if (isEmptySpec(shape, range)) range = { start: range.start, end: { values: [], inclusive: true } };
                  write = { kind: 'deleteRange', key: op.key, range, ts };
                  partition = partitionOf(key, { rangeTombstones: [{ start: toBound(range.start), end: toBound(range.end), deletion: deletion(ts) }] });
                  break;
                }
                case 'deletePartition':
                  write = { kind: 'deletePartition', key: op.key, ts };
                  partition = partitionOf(key, { deletion: deletion(ts) });
                  break;
              }
              writes.push(write);
              await engine.apply([update(table, partition)]);
            }
            if (phase < phases.length - 1 || flushLast) await engine.flush(table.id);
          }
          sstablesMax = Math.max(sstablesMax, engine.stats(table.id).sstableCount);
          for (const draw of readDraws) {
            const read = readOf(shape, draw);
            checkEmptiness(table, shape, read);
            const filter: ReadFilter = { slices: read.slices, reversed: read.reversed, rowLimit: read.limit, nowSeconds: NOW };
            const expected = new Map<number, ExpectedPartition | null>();
            for (const key of [...KEYS, ABSENT_KEY]) {
              const want = expectedRead(table, shape, writes, key, read);
              expected.set(key, want);
              const got = await store.read(int(key), partitionOf(int(key)).token, filter);
              tombstonesSeen += got?.rangeTombstones.length ?? 0;
              checkPartition(shape, got, want, `read() of key ${key}`, read);
              reads++;
            }
            const scanned: number[] = [];
            for await (const got of store.scan(FULL_RANGE, filter)) {
              const key = got.key.readInt32BE(0);
              scanned.push(key);
              checkPartition(shape, got, expected.get(key) ?? null, `scan() of key ${key}`, read);
            }
            const written = KEYS.filter((k) => expected.get(k) !== null);
            if (scanned.length !== written.length || !written.every((k) => scanned.includes(k))) {
              throw new Error(`scan() found keys ${scanned.join(',')}, the writes wrote ${written.join(',')}`);
            }
          }
          return true;
        } finally {
          await engine.dropTable(table.id);
        }
      }),
      { numRuns: 150, includeErrorInReport: true },
    ),
    'the LSM store gives the model\'s partitions',
  );
  t.ok(reads > 0, `${reads} reads compared`);
  t.ok(sstablesMax >= 3, `reads merged up to ${sstablesMax} SSTables`);
  t.ok(tombstonesSeen > 0, `${tombstonesSeen} range tombstones returned`);
});

t.test('the slice lists read had every feature this file is about', async (t) => {
  for (const [feature, count] of Object.entries(seen)) t.ok(count > 0, `${feature}: ${count} reads`);
});
