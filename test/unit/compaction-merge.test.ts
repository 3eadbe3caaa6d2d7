import t from 'tap';
import fc from 'fast-check';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { filterPartition, purgePartition } from '../../lib/model/merge.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { compareKeys } from '../../lib/model/token.js';
import { mergeScans, mergeSources } from '../../lib/storage/compaction/merge-iterator.js';
import { pathComparatorsOf } from '../../lib/schema/cell-paths.js';
import type { PartitionSource } from '../../lib/storage/source.js';
import {
  comparator,
  generators,
  keyOf,
  meaning,
  mergeAll,
  readSource,
  rowForm,
  scanOf,
  slicesArb,
  sourceOf,
  table,
  type SourceProbe,
} from './fixtures/compaction.js';
import { int } from './fixtures/tables.js';
import { propertyHolds } from '../helpers/property.js';

const arbs = generators();
/** Sources hold purged data, as memtables and SSTables do. */
const storedPartition = (pk: number, rowCount?: { min: number; max: number }) =>
  arbs.partition(pk, rowCount).map((p) => purgePartition(comparator, p, pathComparatorsOf(table)));

/** Fails with both sides shown when a merged read differs from the reference. */
function sameRead(actual: Partition, expected: Partition): true {
  const a = JSON.stringify({ meaning: meaning({ ...actual, rows: [] }), rows: actual.rows.map(rowForm) });
  const e = JSON.stringify({ meaning: meaning({ ...expected, rows: [] }), rows: expected.rows.map(rowForm) });
  if (a !== e) throw new Error(`merged read differs:\n${a}\n${e}`);
  return true;
}

t.test('mergeSources reads, for any slices and direction, as mergePartitions of the sources then filterPartition', async (t) => {
  propertyHolds(t, await fc.check(
    fc.asyncProperty(
      fc.array(storedPartition(1), { minLength: 1, maxLength: 4 }),
      slicesArb,
      fc.boolean(),
      async (parts, slices, reversed) => {
        const merged = mergeAll(parts);
        const expected = filterPartition(comparator, merged, { slices, reversed, rowLimit: Infinity, nowSeconds: 0 });
        const actual = await readSource(mergeSources(table, parts.map((p) => sourceOf(p))), slices, reversed);
        // Range tombstones of the header are the whole partition's, not just the slices'.
        return sameRead(actual, { ...expected, rangeTombstones: merged.rangeTombstones });
      },
    ),
    { numRuns: 600 },
  ), 'the property holds');
});

t.test('a partition split across sources reads as itself', async (t) => {
  propertyHolds(t, await fc.check(
    fc.asyncProperty(
      storedPartition(1, { min: 0, max: 10 }),
      fc.integer({ min: 1, max: 4 }),
      fc.infiniteStream(fc.integer({ min: 0, max: 3 })),
      slicesArb,
      fc.boolean(),
      async (whole, count, choices, slices, reversed) => {
        const pieces: Partition[] = Array.from({ length: count }, () => ({ ...whole, deletion: null, staticRow: null, rangeTombstones: [], rows: [] }));
        const pick = () => pieces[choices.next().value % count];
        pick().deletion = whole.deletion;
        pick().staticRow = whole.staticRow;
        for (const rt of whole.rangeTombstones) pick().rangeTombstones.push(rt);
        for (const row of whole.rows) pick().rows.push(row);
        const expected = filterPartition(comparator, whole, { slices, reversed, rowLimit: Infinity, nowSeconds: 0 });
        const actual = await readSource(mergeSources(table, pieces.map((p) => sourceOf(p))), slices, reversed);
        return sameRead(actual, { ...expected, rangeTombstones: whole.rangeTombstones });
      },
    ),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('mergeScans yields every key once, in ring order, merged across scans', async (t) => {
  const KEYS = [1, 2, 3, 4, 5, 6];
  const scanArb = fc
    .subarray(KEYS)
    .chain((keys) => (keys.length === 0 ? fc.constant([] as Partition[]) : fc.tuple(...keys.map((pk) => storedPartition(pk)))));
  propertyHolds(t, await fc.check(
    fc.asyncProperty(fc.array(scanArb, { minLength: 1, maxLength: 4 }), async (scans) => {
      const seen: Partition[] = [];
      for await (const source of mergeScans(table, scans.map((partitions) => scanOf(partitions)))) seen.push(await readSource(source));
      const expectedKeys = KEYS.filter((pk) => scans.some((scan) => scan.some((p) => p.key.equals(int(pk)))))
        .map(keyOf)
        .sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
      if (JSON.stringify(seen.map((p) => p.key.toString('hex'))) !== JSON.stringify(expectedKeys.map((k) => k.key.toString('hex')))) {
        throw new Error('keys out of order or missing');
      }
      for (const partition of seen) {
        const pieces = scans.flatMap((scan) => scan.filter((p) => p.key.equals(partition.key)));
        const merged = mergeAll(pieces);
        sameRead(partition, merged);
      }
      return true;
    }),
    { numRuns: 200 },
  ), 'the property holds');
});

/** A partition with `count` live rows at clusterings (x, 0) for x in `firsts`. */
function liveRows(firsts: number[]): Partition {
  const rows: Row[] = firsts.map((x) => ({
    clustering: [int(x), int(0)],
    liveness: { timestamp: 1, ttl: 0, localDeletionTime: 0x7fffffff },
    deletion: null,
    cells: new Map(),
    complex: new Map(),
  }));
  return { ...keyOf(1), deletion: null, staticRow: null, rangeTombstones: [], rows };
}

t.test('a merged row stream pulls at most one row ahead from each source', async (t) => {
  const layouts = [
    [0, 3, 6, 9, 12],
    [1, 2, 3, 4, 20, 21],
    [5, 6, 7, 30],
  ];
  for (const reversed of [false, true]) {
    const probes: SourceProbe[] = layouts.map(() => ({ pulled: [], closed: 0 }));
    const merged = mergeSources(table, layouts.map((firsts, i) => sourceOf(liveRows(firsts), probes[i])));
    const consumed: number[] = [];
    for await (const row of merged.rows([ALL_ROWS], reversed)) {
      const x = row.clustering[0].readInt32BE(0);
      consumed.push(x);
      layouts.forEach((firsts, i) => {
        // Rows of this source at or before the one just yielded, plus one pending.
        const reached = firsts.filter((f) => (reversed ? f >= x : f <= x)).length;
        t.ok(probes[i].pulled[0] <= reached + 1, `source ${i} pulled ${probes[i].pulled[0]} rows when ${reached} were needed`);
      });
    }
    const all = [...new Set(layouts.flat())].sort((a, b) => a - b);
    t.same(consumed, reversed ? all.reverse() : all, `rows merged in ${reversed ? 'reverse' : 'table'} order`);
  }
});

t.test('stopping early closes every source iterator', async (t) => {
  const probes: SourceProbe[] = [0, 1].map(() => ({ pulled: [], closed: 0 }));
  const merged = mergeSources(table, [sourceOf(liveRows([0, 2, 4]), probes[0]), sourceOf(liveRows([1, 3, 5]), probes[1])]);
  for await (const row of merged.rows([ALL_ROWS], false)) {
    t.ok(row);
    break;
  }
  t.same(probes.map((p) => p.closed), [1, 1], 'row iterators closed');

  let scansClosed = 0;
  const scans = [1, 2, 3].map((pk) => scanOf([liveRows([pk]), { ...liveRows([0]), ...keyOf(pk + 10) }], () => scansClosed++));
  for await (const partition of mergeScans(table, scans)) {
    t.ok(partition);
    break;
  }
  t.equal(scansClosed, 3, 'scans closed');
});

t.test('a source failing mid-merge fails the merge and closes the other sources', async (t) => {
  const probe: SourceProbe = { pulled: [], closed: 0 };
  const failing: PartitionSource = {
    ...sourceOf(liveRows([])),
    async *rows() {
      yield liveRows([1]).rows[0];
      throw new Error('bad chunk');
    },
  };
  const merged = mergeSources(table, [sourceOf(liveRows([0, 2, 4]), probe), failing]);
  await t.rejects(readSource(merged), /bad chunk/);
  t.equal(probe.closed, 1);
});
