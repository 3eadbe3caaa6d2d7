/**
 * The storage contract (lib/storage/engine.ts), as one suite every engine runs:
 * `storageSuite(t, 'memory', async () => new MemoryStorageEngine())`. It uses nothing
 * but the StorageEngine interface, so the durable engine runs it unchanged.
 */
import type { Test } from 'tap';
import { NO_DELETION_TIME, isLive, type Cell } from '../../lib/model/cell.js';
import { ALL_ROWS, type Slice } from '../../lib/model/clustering.js';
import { isRowLive } from '../../lib/model/merge.js';
import { emptyRow, type Partition, type RangeTombstone, type Row } from '../../lib/model/partition.js';
import { MIN_TOKEN, compareKeys, compositeKey, murmur3Token } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import type { KeyRange, PartitionPosition, ReadFilter, StorageEngine, TableStore } from '../../lib/storage/engine.js';
import { FULL_RANGE } from '../../lib/storage/engine.js';
import {
  NOW,
  bound,
  deletion,
  eventsTable,
  int,
  intType,
  makeTable,
  partitionOf,
  row,
  slice,
  update,
  type RowSpec,
} from './fixtures/tables.js';

type Factory = () => Promise<StorageEngine>;

const readAll = (nowSeconds = NOW): ReadFilter => ({
  slices: [ALL_ROWS],
  reversed: false,
  rowLimit: Infinity,
  nowSeconds,
});

function filterOf(slices: Slice[], options: Partial<ReadFilter> = {}): ReadFilter {
  return { slices, reversed: false, rowLimit: Infinity, nowSeconds: NOW, ...options };
}

/** `ck` values of the rows, in the order returned. */
const clusterings = (p: Partition | null): number[] => (p?.rows ?? []).map((r) => r.clustering[0].readInt32BE(0));

/** Live rows as { ck: { column: value } }, what a CQL reader would see at `now`. */
function visible(p: Partition | null, nowSeconds = NOW): Record<number, Record<string, string | number[]>> {
  const out: Record<number, Record<string, string | number[]>> = {};
  for (const r of p?.rows ?? []) {
    if (!isRowLive(r, nowSeconds)) continue;
    out[r.clustering[0].readInt32BE(0)] = rowValues(r, nowSeconds);
  }
  return out;
}

function rowValues(r: Row, nowSeconds = NOW): Record<string, string | number[]> {
  const values: Record<string, string | number[]> = {};
  for (const [column, cell] of r.cells) if (isLive(cell, nowSeconds)) values[column] = cell.value!.toString('utf8');
  for (const [column, complex] of r.complex) {
    const elements = complex.cells.filter((c) => isLive(c, nowSeconds)).map((c) => c.path!.readInt32BE(0));
    if (elements.length > 0) values[column] = elements;
  }
  return values;
}

type PartitionParts = Partial<Omit<Partition, 'key' | 'token' | 'rows'>>;

interface Fixture {
  engine: StorageEngine;
  table: TableMetadata;
  store: TableStore;
  /** Applies one update of partition `pk` with the given rows (by ck) and parts. */
  write(pk: number, rows: Record<number, RowSpec>, parts?: PartitionParts): Promise<void>;
  read(pk: number, filter?: ReadFilter): Promise<Partition | null>;
}

async function setUp(t: Test, factory: Factory, table: TableMetadata = eventsTable()): Promise<Fixture> {
  const engine = await factory();
  t.teardown(() => engine.close());
  const store = engine.openTable(table);
  return {
    engine,
    table,
    store,
    async write(pk, rows, parts = {}) {
      const built = Object.entries(rows)
        .map(([ck, spec]) => row([int(Number(ck))], spec))
        .sort((a, b) => table.comparator.compare(a.clustering, b.clustering));
      await engine.apply([update(table, partitionOf(int(pk), { ...parts, rows: built }))]);
    },
    read(pk, filter = readAll()) {
      const key = int(pk);
      return store.read(key, murmur3Token(key), filter);
    },
  };
}

async function collect(iterable: AsyncIterable<Partition>): Promise<Partition[]> {
  const out: Partition[] = [];
  for await (const p of iterable) out.push(p);
  return out;
}

const pkOf = (p: Partition): number => p.key.readInt32BE(0);

/** A range tombstone over `ck` values [from, to] (bounds inclusive unless told). */
function rangeTombstone(from: number, to: number, at: number, inclusive = [true, true]): RangeTombstone {
  return { start: bound([int(from)], inclusive[0]), end: bound([int(to)], inclusive[1]), deletion: deletion(at) };
}

export function storageSuite(t: Test, name: string, factory: Factory): void {
  const test = (title: string, body: (t: Test) => Promise<void>) => t.test(`${name}: ${title}`, body);

  // ------------------------------------------------------------------------------
  // Writes and point reads

  test('a written row reads back by its key, and other keys read null', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 10: { marker: 1, cells: { v: [1, 'a'] } } });
    t.same(visible(await f.read(1)), { 10: { v: 'a' } });
    t.equal(await f.read(2), null);
    const p = (await f.read(1))!;
    t.ok(p.key.equals(int(1)));
    t.equal(p.token, murmur3Token(int(1)));
  });

  test('a newer write overwrites a cell and an older one does not', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { cells: { v: [10, 'first'] } } });
    await f.write(1, { 1: { cells: { v: [20, 'second'], w: [20, 'w'] } } });
    await f.write(1, { 1: { cells: { v: [15, 'late but old'] } } });
    t.same(visible(await f.read(1)), { 1: { v: 'second', w: 'w' } });
  });

  test('on equal timestamps a tombstone wins, then the greater value', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { cells: { v: [10, 'b'] } } });
    await f.write(1, { 1: { cells: { v: [10, 'a'] } } });
    await f.write(1, { 2: { cells: { v: [10, 'a'] } } });
    await f.write(1, { 2: { cells: { v: [10, 'b'] } } });
    t.same(visible(await f.read(1)), { 1: { v: 'b' }, 2: { v: 'b' } });
    await f.write(1, { 1: { cells: { v: [10, null] } } });
    t.same(visible(await f.read(1)), { 2: { v: 'b' } });
  });

  test('a cell tombstone shadows older values and is returned to the reader', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { cells: { v: [10, 'x'], w: [10, 'y'] } } });
    await f.write(1, { 1: { cells: { v: [11, null] } } });
    const p = await f.read(1);
    t.same(visible(p), { 1: { w: 'y' } });
    const tombstone = p!.rows[0].cells.get('v')!;
    t.equal(tombstone.value, null, 'the tombstone itself is returned');
    t.equal(tombstone.timestamp, 11);
    await f.write(1, { 1: { cells: { v: [12, 'back'] } } });
    t.same(visible(await f.read(1)), { 1: { v: 'back', w: 'y' } }, 'a newer write is not shadowed');
  });

  test('a row deletion shadows older data of that row only, and is returned', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 5, cells: { v: [5, 'a'] } }, 2: { marker: 5, cells: { v: [5, 'b'] } } });
    await f.write(1, { 1: { deletedAt: 6 } });
    const p = await f.read(1);
    t.same(visible(p), { 2: { v: 'b' } });
    t.same(clusterings(p), [1, 2], 'the deleted row comes back as a tombstone');
    t.equal(p!.rows[0].deletion!.markedForDeleteAt, 6);
    t.equal(p!.rows[0].cells.size, 0, 'no shadowed cell is returned');
    t.equal(p!.rows[0].liveness, null, 'no shadowed row marker is returned');
    await f.write(1, { 1: { cells: { w: [7, 'after'] } } });
    t.same(visible(await f.read(1)), { 1: { w: 'after' }, 2: { v: 'b' } });
  });

  test('a partition deletion shadows older rows and static columns, and is returned', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 5 }, 2: { marker: 9 } }, { staticRow: row([], { cells: { s: [5, 'static'] } }) });
    await f.write(1, {}, { deletion: deletion(8) });
    const p = await f.read(1);
    t.equal(p!.deletion!.markedForDeleteAt, 8);
    t.same(clusterings(p), [2]);
    t.equal(p!.staticRow, null);
    t.same(visible(p), { 2: {} });
  });

  test('a partition holding only tombstones is still returned', async (t) => {
    const f = await setUp(t, factory);
    await f.write(3, {}, { deletion: deletion(8) });
    const p = await f.read(3);
    t.not(p, null);
    t.equal(p!.deletion!.markedForDeleteAt, 8);
    t.same(p!.rows, []);
    t.same((await collect(f.store.scan(FULL_RANGE, readAll()))).map(pkOf), [3]);
  });

  test("TTL expiry is judged at the reader's nowSeconds", async (t) => {
    const f = await setUp(t, factory);
    // Written at NOW with a 10 s TTL: live through NOW + 9, expired from NOW + 10.
    await f.write(1, {
      1: { marker: 5, ttl: 10, cells: { v: [5, 'short'] } },
      2: { marker: 5, cells: { v: [5, 'forever'] } },
    });
    t.same(visible(await f.read(1, readAll(NOW + 9)), NOW + 9), { 1: { v: 'short' }, 2: { v: 'forever' } });
    const later = await f.read(1, readAll(NOW + 10));
    t.same(visible(later, NOW + 10), { 2: { v: 'forever' } });
    t.equal(later!.rows[0].cells.get('v')!.ttl, 10, 'expired cells are returned as they are');
    // The row limit counts live rows at the reader's now: the expired row does not count.
    const limited = await f.read(1, filterOf([ALL_ROWS], { rowLimit: 1, nowSeconds: NOW + 10 }));
    t.same(clusterings(limited), [1, 2]);
  });

  // ------------------------------------------------------------------------------
  // Slices, range tombstones, reversal, limits

  test('slices select rows in table order', async (t) => {
    const f = await setUp(t, factory);
    const rows: Record<number, RowSpec> = {};
    for (let ck = 0; ck < 10; ck++) rows[ck] = { marker: 1 };
    await f.write(1, rows);
    const read = (slices: Slice[]) => f.read(1, filterOf(slices)).then(clusterings);
    t.same(await read([slice(bound([int(2)]), bound([int(4)]))]), [2, 3, 4]);
    t.same(await read([slice(bound([int(2)], false), bound([int(4)], false))]), [3]);
    t.same(await read([slice(bound([]), bound([int(1)]))]), [0, 1], 'empty start prefix: from the first row');
    t.same(await read([slice(bound([int(8)]), bound([]))]), [8, 9], 'empty end prefix: to the last row');
    const twoSlices = [slice(bound([int(1)]), bound([int(2)])), slice(bound([int(6)], false), bound([int(8)]))];
    t.same(await read(twoSlices), [1, 2, 7, 8]);
    t.same(await read([slice(bound([int(20)]), bound([int(30)]))]), []);
  });

  test('reversed reads return rows in reverse order and count the limit from the end', async (t) => {
    const f = await setUp(t, factory);
    const rows: Record<number, RowSpec> = {};
    for (let ck = 0; ck < 10; ck++) rows[ck] = { marker: 1 };
    await f.write(1, rows);
    const read = (slices: Slice[], options: Partial<ReadFilter>) =>
      f.read(1, filterOf(slices, options)).then(clusterings);
    t.same(await read([ALL_ROWS], { reversed: true }), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    t.same(await read([ALL_ROWS], { reversed: true, rowLimit: 3 }), [9, 8, 7]);
    t.same(await read([ALL_ROWS], { rowLimit: 3 }), [0, 1, 2]);
    const twoSlices = [slice(bound([int(1)]), bound([int(3)])), slice(bound([int(7)]), bound([int(9)]))];
    t.same(await read(twoSlices, { reversed: true, rowLimit: 4 }), [9, 8, 7, 3]);
    t.same(await read(twoSlices, { reversed: false, rowLimit: 4 }), [1, 2, 3, 7]);
    t.same(await read([ALL_ROWS], { rowLimit: 0 }), []);
  });

  test('a descending clustering column orders rows and slices descending', async (t) => {
    const table = makeTable({ partitionKey: [['pk', intType]], clustering: [['ck', intType, 'DESC']] });
    const f = await setUp(t, factory, table);
    await f.write(1, { 1: { marker: 1 }, 2: { marker: 1 }, 3: { marker: 1 } });
    t.same(clusterings(await f.read(1)), [3, 2, 1]);
    // In table order a slice runs from the higher value down to the lower one.
    t.same(clusterings(await f.read(1, filterOf([slice(bound([int(3)], false), bound([int(1)]))]))), [2, 1]);
    t.same(clusterings(await f.read(1, filterOf([ALL_ROWS], { reversed: true, rowLimit: 2 }))), [1, 2]);
  });

  test('the row limit counts only live rows', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 1 }, 2: { marker: 1 }, 3: { marker: 1 }, 4: { marker: 1 } });
    await f.write(1, { 2: { deletedAt: 2 } });
    const p = await f.read(1, filterOf([ALL_ROWS], { rowLimit: 2 }));
    t.same(clusterings(p), [1, 2, 3], 'the deleted row is returned but not counted');
    t.same(Object.keys(visible(p)).map(Number), [1, 3]);
  });

  test('range tombstones shadow older rows inside their bounds only, and are returned', async (t) => {
    const f = await setUp(t, factory);
    const rows: Record<number, RowSpec> = {};
    for (let ck = 0; ck < 10; ck++) rows[ck] = { marker: 5, cells: { v: [5, `v${ck}`] } };
    await f.write(1, rows);
    await f.write(1, {}, { rangeTombstones: [rangeTombstone(2, 4, 6), rangeTombstone(6, 8, 6, [false, true])] });
    await f.write(1, { 3: { cells: { w: [7, 'newer'] } } });
    const p = await f.read(1);
    t.same(clusterings(p), [0, 1, 3, 5, 6, 9]);
    t.same(p!.rows[2].cells.get('v'), undefined, 'the older cell of a rewritten row stays shadowed');
    t.same(rowValues(p!.rows[2]), { w: 'newer' });
    t.equal(p!.rangeTombstones.length, 2);
  });

  test('reads keep the range tombstones that intersect their slices', async (t) => {
    const f = await setUp(t, factory);
    const rangeTombstones = [rangeTombstone(2, 4, 6), rangeTombstone(7, 8, 6)];
    await f.write(1, { 0: { marker: 9 }, 5: { marker: 9 } }, { rangeTombstones });
    const p = await f.read(1, filterOf([slice(bound([int(3)]), bound([int(5)]))]));
    t.same(clusterings(p), [5]);
    t.same(
      p!.rangeTombstones.map((rt) => [rt.start.prefix[0].readInt32BE(0), rt.end.prefix[0].readInt32BE(0)]),
      [[2, 4]],
      'the [7, 8] tombstone misses the slice',
    );
  });

  test('the static row is returned with any slice and only a partition deletion shadows it', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 1 } }, { staticRow: row([], { cells: { s: [5, 'shared'] } }) });
    await f.write(1, {}, { rangeTombstones: [{ start: bound([]), end: bound([]), deletion: deletion(6) }] });
    const p = await f.read(1, filterOf([slice(bound([int(50)]), bound([int(60)]))]));
    t.same(p!.rows, []);
    t.same(rowValues(p!.staticRow!), { s: 'shared' });
    t.same(visible(await f.read(1)), {}, 'the range tombstone removed the row');
  });

  test('collection elements merge across writes in element order', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { sets: { tags: { elements: [[1, 3], [1, -5]] } } } });
    await f.write(1, { 1: { sets: { tags: { elements: [[2, 1], [2, 3, true]] } } } });
    t.same(visible(await f.read(1)), { 1: { tags: [-5, 1] } }, 'int order, not byte order; removed element gone');
    await f.write(1, { 1: { sets: { tags: { deletedAt: 3, elements: [[4, 7]] } } } });
    t.same(visible(await f.read(1)), { 1: { tags: [7] } }, 'overwrite: older elements shadowed');
  });

  test('several updates in one mutation all take effect, across tables too', async (t) => {
    const f = await setUp(t, factory);
    const other = eventsTable();
    const otherStore = f.engine.openTable(other);
    await f.engine.apply([
      update(f.table, partitionOf(int(1), { rows: [row([int(1)], { cells: { v: [1, 'a'] } })] })),
      update(f.table, partitionOf(int(1), { rows: [row([int(1)], { cells: { w: [1, 'b'] } })] })),
      update(f.table, partitionOf(int(1), { rows: [row([int(2)], { cells: { v: [1, 'c'] } })] })),
      update(other, partitionOf(int(1), { rows: [row([int(1)], { cells: { v: [1, 'elsewhere'] } })] })),
    ]);
    t.same(visible(await f.read(1)), { 1: { v: 'a', w: 'b' }, 2: { v: 'c' } });
    t.same(visible(await otherStore.read(int(1), murmur3Token(int(1)), readAll())), { 1: { v: 'elsewhere' } });
  });

  test('a mutation naming an unknown table is rejected and changes nothing', async (t) => {
    const f = await setUp(t, factory);
    const unknown = { ...f.table, id: 'ffffffff-ffff-4fff-8fff-ffffffffffff' };
    await t.rejects(
      f.engine.apply([
        update(f.table, partitionOf(int(1), { rows: [row([int(1)], { marker: 1 })] })),
        update(unknown, partitionOf(int(1), { rows: [row([int(1)], { marker: 1 })] })),
      ]),
    );
    t.equal(await f.read(1), null);
  });

  test('partitions returned earlier are not changed by later writes', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { cells: { v: [1, 'old'] } } });
    const before = await f.read(1);
    await f.write(1, { 1: { cells: { v: [2, 'new'] } }, 2: { marker: 2 } });
    t.same(visible(before), { 1: { v: 'old' } });
    t.same(visible(await f.read(1)), { 1: { v: 'new' }, 2: {} });
  });

  test('openTable again keeps the data and takes the new metadata', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 1, cells: { v: [5, 'x'], w: [5, 'y'] } } });
    const altered = { ...f.table, droppedColumns: new Map([['v', 6]]) };
    const store = f.engine.openTable(altered);
    t.equal(store.metadata, altered);
    t.equal(f.engine.table(f.table.id), store);
    // Cells of a dropped column written before the drop never come back.
    t.same(visible(await store.read(int(1), murmur3Token(int(1)), readAll())), { 1: { w: 'y' } });
    await f.write(1, { 1: { cells: { v: [7, 'readded'] } } });
    t.same(visible(await store.read(int(1), murmur3Token(int(1)), readAll())), { 1: { v: 'readded', w: 'y' } });
  });

  test('composite partition keys store and read like any key', async (t) => {
    const table = makeTable({ partitionKey: [['a', intType], ['b', intType]], regular: [['v', intType]] });
    const engine = await factory();
    t.teardown(() => engine.close());
    const store = engine.openTable(table);
    const key = compositeKey([int(1), int(2)]);
    const cell: Cell = { timestamp: 1, value: int(7), ttl: 0, localDeletionTime: NO_DELETION_TIME };
    const r: Row = { ...emptyRow([]), cells: new Map([['v', cell]]) };
    await engine.apply([update(table, { ...partitionOf(key), rows: [r] })]);
    const p = await store.read(key, murmur3Token(key), readAll());
    t.ok(p!.rows[0].cells.get('v')!.value!.equals(int(7)));
    const swapped = compositeKey([int(2), int(1)]);
    t.equal(await store.read(swapped, murmur3Token(swapped), readAll()), null);
  });

  // ------------------------------------------------------------------------------
  // Scans

  async function ringOf(t: Test, count: number) {
    const f = await setUp(t, factory);
    for (let pk = 0; pk < count; pk++) await f.write(pk, { 1: { marker: 1 } });
    const sorted = Array.from({ length: count }, (_, pk) => ({ pk, key: int(pk), token: murmur3Token(int(pk)) })).sort(
      (a, b) => compareKeys(a.token, a.key, b.token, b.key),
    );
    const scan = async (range: KeyRange, filter = readAll()) => (await collect(f.store.scan(range, filter))).map(pkOf);
    const at = (i: number): PartitionPosition => ({ token: sorted[i].token, key: sorted[i].key });
    const wholeToken = (i: number): PartitionPosition => ({ token: sorted[i].token, key: null });
    const pks = (from: number, to: number) => sorted.slice(from, to + 1).map((e) => e.pk);
    return { f, sorted, scan, at, wholeToken, pks };
  }

  test('a full scan returns every partition in token order', async (t) => {
    const { scan, sorted } = await ringOf(t, 30);
    t.same(await scan(FULL_RANGE), sorted.map((e) => e.pk));
    const minimum: PartitionPosition = { token: MIN_TOKEN, key: null };
    const fromMinimum: KeyRange = { start: minimum, startInclusive: true, end: null, endInclusive: true };
    t.same(await scan(fromMinimum), sorted.map((e) => e.pk));
  });

  test('scan bounds: inclusive and exclusive positions with keys', async (t) => {
    const { scan, at, pks } = await ringOf(t, 20);
    t.same(await scan({ start: at(5), startInclusive: true, end: at(12), endInclusive: true }), pks(5, 12));
    t.same(await scan({ start: at(5), startInclusive: false, end: at(12), endInclusive: false }), pks(6, 11));
    t.same(await scan({ start: at(5), startInclusive: false, end: null, endInclusive: true }), pks(6, 19));
    t.same(await scan({ start: null, startInclusive: true, end: at(3), endInclusive: false }), pks(0, 2));
    t.same(await scan({ start: at(7), startInclusive: false, end: at(7), endInclusive: true }), [], 'empty range');
    t.same(await scan({ start: at(7), startInclusive: true, end: at(7), endInclusive: true }), pks(7, 7));
  });

  test('scan bounds: whole-token positions (key null) include or exclude every key of the token', async (t) => {
    const { scan, wholeToken, sorted, pks } = await ringOf(t, 20);
    const [from, to] = [wholeToken(5), wholeToken(12)];
    t.same(await scan({ start: from, startInclusive: true, end: to, endInclusive: true }), pks(5, 12));
    t.same(await scan({ start: from, startInclusive: false, end: to, endInclusive: false }), pks(6, 11));
    // A token between two keys' tokens: inclusive or not, the range starts after the lower key.
    const between: PartitionPosition = { token: sorted[5].token + 1n, key: null };
    t.ok(between.token < sorted[6].token, 'fixture: no key has the in-between token');
    t.same(await scan({ start: between, startInclusive: true, end: wholeToken(8), endInclusive: true }), pks(6, 8));
    t.same(await scan({ start: between, startInclusive: false, end: wholeToken(8), endInclusive: true }), pks(6, 8));
    t.same(await scan({ start: null, startInclusive: true, end: between, endInclusive: true }), pks(0, 5));
  });

  test('scan reads each partition with the filter', async (t) => {
    const f = await setUp(t, factory);
    for (let pk = 0; pk < 5; pk++) await f.write(pk, { 1: { marker: 1 }, 2: { marker: 1 }, 3: { marker: 1 } });
    const partitions = await collect(f.store.scan(FULL_RANGE, filterOf([ALL_ROWS], { reversed: true, rowLimit: 2 })));
    t.equal(partitions.length, 5);
    for (const p of partitions) t.same(clusterings(p), [3, 2]);
  });

  test('scan with rowsPerPiece hands out wide partitions in pieces that add up to the whole', async (t) => {
    const f = await setUp(t, factory);
    const rows = (from: number, to: number) => {
      const out: Record<number, RowSpec> = {};
      for (let ck = from; ck < to; ck++) out[ck] = { marker: 1, cells: { v: [1, `v${ck}`] } };
      return out;
    };
    await f.write(1, rows(0, 7), { staticRow: row([], { cells: { s: [1, 'static'] } }), rangeTombstones: [rangeTombstone(100, 200, 1)] });
    await f.write(2, rows(0, 3));
    await f.write(3, {}, { deletion: deletion(9) });
    await f.write(4, rows(0, 6));
    const whole = await collect(f.store.scan(FULL_RANGE, readAll()));
    const pieces = await collect(f.store.scan(FULL_RANGE, readAll(), { rowsPerPiece: 3 }));
    // Reassembled: consecutive pieces with one key are one partition.
    const joined: Partition[] = [];
    for (const piece of pieces) {
      const last = joined.at(-1);
      if (last !== undefined && last.key.equals(piece.key)) {
        t.ok(piece.rows.length > 0, 'a later piece has rows');
        t.same([piece.deletion, piece.staticRow, piece.rangeTombstones], [null, null, []], 'a later piece has rows only');
        last.rows.push(...piece.rows);
      } else {
        joined.push({ ...piece, rows: [...piece.rows] });
      }
    }
    t.same(joined, whole);
    t.ok(pieces.every((p) => p.rows.length <= 3), 'no piece over 3 rows');
    const count = (pk: number) => pieces.filter((p) => pkOf(p) === pk).length;
    t.same([count(1), count(2), count(3), count(4)], [3, 1, 1, 2], '7 rows: 3 pieces, 3: 1, none: 1, 6: 2');
    const limited = await collect(f.store.scan(FULL_RANGE, filterOf([ALL_ROWS], { rowLimit: 4 }), { rowsPerPiece: 3 }));
    t.same(limited.filter((p) => pkOf(p) === 1).map((p) => p.rows.length), [3, 1], 'the row limit counts across pieces');
  });

  test('scan keeps going across writes made between its steps', async (t) => {
    const { f, sorted } = await ringOf(t, 20);
    const maxToken = sorted[sorted.length - 1].token;
    let after = 1000;
    while (murmur3Token(int(after)) <= maxToken) after++;
    let before = 2000;
    while (murmur3Token(int(before)) >= sorted[0].token) before++;
    const seen: number[] = [];
    for await (const p of f.store.scan(FULL_RANGE, readAll())) {
      if (seen.length === 0) {
        await f.write(after, { 1: { marker: 1 } });
        await f.write(before, { 1: { marker: 1 } });
      }
      seen.push(pkOf(p));
    }
    t.same(seen, [...sorted.map((e) => e.pk), after], 'a key after the position is seen, one before it is not');
  });

  test('a long scan lets timers run', async (t) => {
    const f = await setUp(t, factory);
    const one = (pk: number) => update(f.table, partitionOf(int(pk), { rows: [row([int(1)], { marker: 1 })] }));
    await f.engine.apply(Array.from({ length: 5000 }, (_, pk) => one(pk)));
    let timerRan = false;
    setImmediate(() => (timerRan = true));
    let count = 0;
    let inOrder = true;
    let previous: Partition | null = null;
    let timerRanDuringScan = false;
    for await (const p of f.store.scan(FULL_RANGE, readAll())) {
      count++;
      if (previous !== null && compareKeys(previous.token, previous.key, p.token, p.key) >= 0) inOrder = false;
      previous = p;
      if (timerRan) timerRanDuringScan = true;
    }
    t.equal(count, 5000);
    t.ok(inOrder, 'in token order');
    t.ok(timerRanDuringScan, 'the event loop turned while the scan ran');
  });

  // ------------------------------------------------------------------------------
  // Truncate, drop, close

  test('truncate removes all data and keeps the table', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 1 } });
    await f.write(2, { 1: { marker: 1 } });
    await f.engine.truncate(f.table.id);
    t.equal(await f.read(1), null);
    t.same(await collect(f.store.scan(FULL_RANGE, readAll())), []);
    t.equal(f.engine.table(f.table.id), f.store);
    await f.write(3, { 1: { marker: 1 } });
    t.same(visible(await f.read(3)), { 1: {} }, 'writes after truncate work');
  });

  test('dropTable removes the table and its data', async (t) => {
    const f = await setUp(t, factory);
    await f.write(1, { 1: { marker: 1 } });
    await f.engine.dropTable(f.table.id);
    t.equal(f.engine.table(f.table.id), undefined);
    await t.rejects(f.write(1, { 2: { marker: 1 } }), 'writes to a dropped table are rejected');
    const reopened = f.engine.openTable(f.table);
    t.equal(await reopened.read(int(1), murmur3Token(int(1)), readAll()), null, 're-created table starts empty');
  });
}
