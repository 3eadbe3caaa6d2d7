import { createHash } from 'node:crypto';
import t from 'tap';
import fc from 'fast-check';
import { NO_DELETION_TIME, liveCell, tombstoneCell } from '../../lib/model/cell.js';
import { emptyRow, type Partition, type Row } from '../../lib/model/partition.js';
import { MAX_TOKEN, MIN_TOKEN, compareKeys, murmur3Token } from '../../lib/model/token.js';
import { ProtocolError, ServerError } from '../../lib/errors.js';
import { DEFAULT_TABLE_OPTIONS, buildTable } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { CANONICAL_END, canonicalBytes, canonicalHead, canonicalRows, partitionDigest } from '../../lib/repair/digest.js';
import { MERKLE_DEPTH_MAX, MerkleTree, depthForPartitions, type TokenRange } from '../../lib/repair/merkle.js';
import { VALIDATION_ROWS_PER_PIECE, validate } from '../../lib/repair/validation.js';
import type { KeyRange, ReadFilter, ScanOptions } from '../../lib/storage/engine.js';
import { propertyHolds } from '../helpers/property.js';

const NOW = 1_700_000_000;
const FULL_RING: TokenRange = { start: MIN_TOKEN, end: MAX_TOKEN };
const intType = parseTypeName('int');
const textType = parseTypeName('text');

function eventsTable(): TableMetadata {
  return buildTable({
    keyspace: 'ks',
    name: 'events',
    columns: [
      { name: 'pk', type: intType, kind: 'partition_key' },
      { name: 'ck', type: intType, kind: 'clustering' },
      { name: 'v', type: textType, kind: 'regular' },
      { name: 'w', type: textType, kind: 'regular' },
      { name: 'tags', type: parseTypeName('set<int>'), kind: 'regular' },
      { name: 's', type: textType, kind: 'static' },
    ],
    options: DEFAULT_TABLE_OPTIONS,
  });
}

const int = (n: number): Buffer => intType.serialize(n);
const text = (s: string): Buffer => textType.serialize(s);

/** How one replica's copy of a partition may differ from the base copy. */
interface Variant {
  value?: string;
  timestamp?: number;
  ttl?: number;
  partitionDeletedAt?: number;
  rowDeletedAt?: number;
  rangeDeletedAt?: number;
  cellDeletedAt?: number;
  tagsDeletedAt?: number;
}

const BASE_TIMESTAMP = 1000;

/** Partition `pk`: a static cell and row ck=1 with a marker, `v` and tags {1, 2}. */
function partitionOf(pk: number, variant: Variant = {}): Partition {
  const key = int(pk);
  const timestamp = variant.timestamp ?? BASE_TIMESTAMP;
  const ttl = variant.ttl ?? 0;
  const staticRow = emptyRow([]);
  staticRow.cells.set('s', liveCell(BASE_TIMESTAMP, text(`static ${pk}`), 0, NOW));
  const row: Row = emptyRow([int(1)]);
  row.liveness = { timestamp: BASE_TIMESTAMP, ttl: 0, localDeletionTime: NO_DELETION_TIME };
  row.cells.set('v', liveCell(timestamp, text(variant.value ?? `value ${pk}`), ttl, NOW));
  if (variant.cellDeletedAt !== undefined) row.cells.set('w', tombstoneCell(variant.cellDeletedAt, NOW));
  if (variant.rowDeletedAt !== undefined) row.deletion = { markedForDeleteAt: variant.rowDeletedAt, localDeletionTime: NOW };
  row.complex.set('tags', {
    deletion: variant.tagsDeletedAt === undefined ? null : { markedForDeleteAt: variant.tagsDeletedAt, localDeletionTime: NOW },
    cells: [1, 2].map((element) => liveCell(BASE_TIMESTAMP, Buffer.alloc(0), 0, NOW, int(element))),
  });
  return {
    key,
    token: murmur3Token(key),
    deletion: variant.partitionDeletedAt === undefined ? null : { markedForDeleteAt: variant.partitionDeletedAt, localDeletionTime: NOW },
    staticRow,
    rangeTombstones:
      variant.rangeDeletedAt === undefined
        ? []
        : [{ start: { prefix: [int(5)], inclusive: true }, end: { prefix: [int(9)], inclusive: true }, deletion: { markedForDeleteAt: variant.rangeDeletedAt, localDeletionTime: NOW } }],
    rows: [row],
  };
}

async function storeWith(table: TableMetadata, partitions: Partition[]) {
  const engine = new MemoryStorageEngine();
  const store = engine.openTable(table);
  await engine.apply(partitions.map((partition) => ({ tableId: table.id, partition })));
  return { engine, store };
}

const KEYS = Array.from({ length: 200 }, (_, i) => i);
const DEPTH = 8;

/** Leaves whose hashes differ between two trees of the same shape. */
function differingLeaves(a: MerkleTree, b: MerkleTree): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.leafCount; i++) if (!a.leafHash(i).equals(b.leafHash(i))) out.push(i);
  return out;
}

const contains = (range: TokenRange, token: bigint): boolean => token > range.start && token <= range.end;

t.test('replicas holding equal data build equal trees, whatever order the writes arrived in', async (t) => {
  const table = eventsTable();
  const a = await storeWith(table, KEYS.map((pk) => partitionOf(pk)));
  const b = await storeWith(table, [...KEYS].reverse().map((pk) => partitionOf(pk)));
  t.teardown(() => Promise.all([a.engine.close(), b.engine.close()]));
  const treeA = await validate(a.store, FULL_RING, DEPTH, NOW);
  const treeB = await validate(b.store, FULL_RING, DEPTH, NOW);
  t.ok(treeA.root().equals(treeB.root()));
  t.same(treeA.diff(treeB), []);
  const empty = new MerkleTree(FULL_RING, DEPTH);
  t.notOk(treeA.root().equals(empty.root()), 'data changes the root');
});

const VARIANTS: [string, Variant][] = [
  ['a cell value', { value: 'another value' }],
  ['a cell timestamp', { timestamp: BASE_TIMESTAMP + 1 }],
  ['a cell TTL', { ttl: 3600 }],
  ['a partition tombstone', { partitionDeletedAt: 10 }],
  ['a row tombstone', { rowDeletedAt: 10 }],
  ['a range tombstone', { rangeDeletedAt: 10 }],
  ['a cell tombstone', { cellDeletedAt: BASE_TIMESTAMP + 5 }],
  ['a collection tombstone', { tagsDeletedAt: 10 }],
];

for (const [what, variant] of VARIANTS) {
  t.test(`${what} present on one replica only makes exactly the leaf of that partition differ`, async (t) => {
    const table = eventsTable();
    const target = 57;
    const a = await storeWith(table, KEYS.map((pk) => partitionOf(pk)));
    const b = await storeWith(table, KEYS.map((pk) => partitionOf(pk, pk === target ? variant : {})));
    t.teardown(() => Promise.all([a.engine.close(), b.engine.close()]));
    const treeA = await validate(a.store, FULL_RING, DEPTH, NOW);
    const treeB = await validate(b.store, FULL_RING, DEPTH, NOW);
    const token = murmur3Token(int(target));
    t.same(differingLeaves(treeA, treeB), [treeA.leafOf(token)]);
    const ranges = treeA.diff(treeB);
    t.equal(ranges.length, 1);
    t.ok(contains(ranges[0], token), 'the differing range holds the partition');
    t.same(ranges, treeB.diff(treeA), 'diff is symmetric');
  });
}

t.test('a partition present on one replica only makes its leaf differ', async (t) => {
  const table = eventsTable();
  const a = await storeWith(table, KEYS.map((pk) => partitionOf(pk)));
  const b = await storeWith(table, KEYS.filter((pk) => pk !== 99).map((pk) => partitionOf(pk)));
  t.teardown(() => Promise.all([a.engine.close(), b.engine.close()]));
  const treeA = await validate(a.store, FULL_RING, DEPTH, NOW);
  const treeB = await validate(b.store, FULL_RING, DEPTH, NOW);
  t.same(differingLeaves(treeA, treeB), [treeA.leafOf(murmur3Token(int(99)))]);
});

t.test('validation of a sub-range hashes only the partitions inside it', async (t) => {
  const table = eventsTable();
  const tokens = KEYS.map((pk) => murmur3Token(int(pk))).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  // (tokens[49], tokens[149]]: the start token excluded, the end token included.
  const range = { start: tokens[49], end: tokens[149] };
  const inside = KEYS.filter((pk) => contains(range, murmur3Token(int(pk))));
  t.equal(inside.length, 100);
  const a = await storeWith(table, KEYS.map((pk) => partitionOf(pk)));
  const b = await storeWith(table, inside.map((pk) => partitionOf(pk)));
  t.teardown(() => Promise.all([a.engine.close(), b.engine.close()]));
  const treeA = await validate(a.store, range, 5, NOW);
  const treeB = await validate(b.store, range, 5, NOW);
  t.ok(treeA.root().equals(treeB.root()), 'partitions outside the range are not hashed');
  const outsideOnly = await validate(a.store, { start: tokens[149], end: MAX_TOKEN }, 5, NOW);
  t.notOk(outsideOnly.root().equals(new MerkleTree({ start: tokens[149], end: MAX_TOKEN }, 5).root()));
});

t.test('leaves split the range evenly and leafOf agrees with leafRange', async (t) => {
  const tree = new MerkleTree(FULL_RING, 3);
  t.equal(tree.leafCount, 8);
  let previousEnd = FULL_RING.start;
  for (let i = 0; i < tree.leafCount; i++) {
    const leaf = tree.leafRange(i);
    t.equal(leaf.start, previousEnd, `leaf ${i} starts where the previous one ends`);
    t.equal(tree.leafOf(leaf.end), i, `leaf ${i} holds its end`);
    if (leaf.start + 1n <= leaf.end) t.equal(tree.leafOf(leaf.start + 1n), i, `leaf ${i} holds the token after its start`);
    // The ring's width (2^64 - 1) is not a multiple of 8: leaves differ by at most one token.
    const evenWidth = (FULL_RING.end - FULL_RING.start) / 8n;
    t.ok(leaf.end - leaf.start === evenWidth || leaf.end - leaf.start === evenWidth + 1n, `leaf ${i} has an even share`);
    previousEnd = leaf.end;
  }
  t.equal(previousEnd, FULL_RING.end);
  const small = new MerkleTree({ start: 0n, end: 10n }, 2);
  t.same([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n].map((token) => small.leafOf(token)), [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]);
  t.throws(() => small.leafOf(0n), ServerError, 'the start token is outside the range');
  t.throws(() => small.leafOf(11n), ServerError);
});

t.test('partitions must be added in token order, and not after the tree is read', async (t) => {
  const tree = new MerkleTree({ start: 0n, end: 100n }, 2);
  tree.add(50n, Buffer.from('a'));
  tree.add(50n, Buffer.from('b'));
  t.throws(() => tree.add(49n, Buffer.from('c')), /out of token order/);
  tree.root();
  t.throws(() => tree.add(60n, Buffer.from('d')), /already read/);
  t.throws(() => new MerkleTree({ start: 10n, end: 10n }, 2), /non-wrapping/);
  t.throws(() => new MerkleTree({ start: 0n, end: 10n }, MERKLE_DEPTH_MAX + 1), /depth/);
});

t.test('a leaf hash depends on its partitions and their order; an empty leaf hashes to zeros', async (t) => {
  const build = (digests: string[]) => {
    const tree = new MerkleTree({ start: 0n, end: 100n }, 1);
    for (const digest of digests) tree.add(10n, Buffer.from(digest));
    return tree;
  };
  t.notOk(build(['a', 'b']).leafHash(0).equals(build(['b', 'a']).leafHash(0)));
  t.notOk(build(['a', 'a']).leafHash(0).equals(build([]).leafHash(0)), 'equal digests do not cancel out');
  t.ok(build([]).leafHash(0).equals(Buffer.alloc(32)));
  t.ok(build(['a']).leafHash(1).equals(Buffer.alloc(32)));
});

t.test('each partition is hashed into the leaf whose range holds its token, at the edges too', async (t) => {
  const tree = new MerkleTree({ start: 0n, end: 10n }, 2); // leaves (0,2] (2,5] (5,7] (7,10]
  const tokens = [1n, 2n, 3n, 5n, 6n, 7n, 8n, 10n];
  for (const token of tokens) tree.add(token, Buffer.from(`partition ${token}`));
  for (let leaf = 0; leaf < tree.leafCount; leaf++) {
    const expected = createHash('sha256');
    for (const token of tokens.filter((token) => tree.leafOf(token) === leaf)) expected.update(Buffer.from(`partition ${token}`));
    t.same(tree.leafHash(leaf), expected.digest(), `leaf ${leaf}`);
  }
});

t.test('a wide partition validated piece by piece hashes as it would whole, and still tells one row apart', async (t) => {
  const table = eventsTable();
  const wide = (changed: number | null): Partition => {
    const base = partitionOf(7);
    const rows = Array.from({ length: 50 }, (_, ck) => {
      const row = emptyRow([int(ck)]);
      row.cells.set('v', liveCell(ck === changed ? BASE_TIMESTAMP + 1 : BASE_TIMESTAMP, text(`row ${ck}`), 0, NOW));
      return row;
    });
    return { ...base, rows };
  };
  const { store } = await storeWith(table, [wide(null), partitionOf(8), partitionOf(9)]);
  const whole = await validate(store, FULL_RING, 4, NOW, undefined, Infinity);
  for (const rowsPerPiece of [1, 7, 50, 1024]) {
    t.ok((await validate(store, FULL_RING, 4, NOW, undefined, rowsPerPiece)).root().equals(whole.root()), `pieces of ${rowsPerPiece} rows`);
  }
  // The canonical form in parts is the whole form (each a view the next call reuses: copied).
  const p = wide(null);
  const parts = Buffer.concat([
    Buffer.from(canonicalHead(p)),
    Buffer.from(canonicalRows(p.rows.slice(0, 20))),
    Buffer.from(canonicalRows(p.rows.slice(20))),
    CANONICAL_END,
  ]);
  t.ok(parts.equals(canonicalBytes(p)));
  // By default validation holds at most VALIDATION_ROWS_PER_PIECE rows of a partition.
  const asked: (number | undefined)[] = [];
  const spy = { scan: (range: KeyRange, filter: ReadFilter, options?: ScanOptions) => (asked.push(options?.rowsPerPiece), store.scan(range, filter, options)) };
  await validate(spy, FULL_RING, 4, NOW);
  t.same(asked, [VALIDATION_ROWS_PER_PIECE]);
  const { store: other } = await storeWith(table, [wide(33), partitionOf(8), partitionOf(9)]);
  t.notOk((await validate(other, FULL_RING, 4, NOW, undefined, 7)).root().equals(whole.root()), 'one row differs in one piece');
});

t.test('adjacent differing leaves are merged into one range', async (t) => {
  const range = { start: 0n, end: 800n };
  const a = new MerkleTree(range, 3);
  const b = new MerkleTree(range, 3);
  for (const token of [50n, 150n, 250n, 450n, 750n]) a.add(token, Buffer.from([1]));
  for (const token of [450n]) b.add(token, Buffer.from([1]));
  t.same(a.diff(b), [
    { start: 0n, end: 300n },
    { start: 700n, end: 800n },
  ]);
  t.throws(() => a.diff(new MerkleTree(range, 2)), /cannot compare/);
});

t.test('a tree survives serialization and corruption is detected', async (t) => {
  const tree = new MerkleTree({ start: -1000n, end: 5000n }, 4);
  for (const token of [-900n, -10n, 7n, 4999n]) tree.add(token, Buffer.from(`digest ${token}`));
  const bytes = tree.toBuffer();
  t.equal(bytes.length, 22 + 16 * 32 + 4);
  t.equal(bytes.subarray(0, 4).toString('latin1'), 'SMKT');
  const copy = MerkleTree.fromBuffer(bytes);
  t.equal(copy.depth, 4);
  t.same(copy.range, tree.range);
  t.ok(copy.root().equals(tree.root()));
  t.same(copy.diff(tree), []);
  t.throws(() => copy.add(4999n, Buffer.from('x')), /already read/, 'a received tree is complete');

  for (const offset of [5, 10, 40, bytes.length - 1]) {
    const damaged = Buffer.from(bytes);
    damaged[offset] ^= 0x01;
    t.throws(() => MerkleTree.fromBuffer(damaged), ProtocolError, `a flipped bit at ${offset} is caught`);
  }
  t.throws(() => MerkleTree.fromBuffer(bytes.subarray(0, bytes.length - 1)), /Corrupt Merkle tree/);
  t.throws(() => MerkleTree.fromBuffer(Buffer.from('not a tree at all, not at all')), /bad magic/);
  const future = Buffer.from(bytes);
  future[4] = 2;
  t.throws(() => MerkleTree.fromBuffer(future), /version 2/);
});

t.test('depth follows the expected partition count, capped at 15', async (t) => {
  t.equal(depthForPartitions(0), 0);
  t.equal(depthForPartitions(1), 0);
  t.equal(depthForPartitions(2), 1);
  t.equal(depthForPartitions(1000), 10);
  t.equal(depthForPartitions(1024), 10);
  t.equal(depthForPartitions(1025), 11);
  t.equal(depthForPartitions(10_000_000), MERKLE_DEPTH_MAX);
});

t.test('diff covers the mutated partition and nothing else (property)', async (t) => {
  const mutation = fc.oneof(
    fc.record({ value: fc.string({ minLength: 1, maxLength: 8 }).map((s) => `changed ${s}`) }),
    fc.record({ timestamp: fc.integer({ min: BASE_TIMESTAMP + 1, max: 2 ** 50 }) }),
    fc.record({ ttl: fc.integer({ min: 1, max: 10 ** 8 }) }),
    fc.record({ partitionDeletedAt: fc.integer({ min: 0, max: 2 ** 50 }) }),
    fc.record({ rowDeletedAt: fc.integer({ min: 0, max: 2 ** 50 }) }),
    fc.record({ rangeDeletedAt: fc.integer({ min: 0, max: 2 ** 50 }) }),
    fc.record({ cellDeletedAt: fc.integer({ min: 0, max: 2 ** 50 }) }),
    fc.record({ tagsDeletedAt: fc.integer({ min: 0, max: 2 ** 50 }) }),
  );
  const treeOf = (partitions: Partition[], depth: number): MerkleTree => {
    const tree = new MerkleTree(FULL_RING, depth);
    const ordered = [...partitions].sort((x, y) => compareKeys(x.token, x.key, y.token, y.key));
    for (const partition of ordered) tree.add(partition.token, partitionDigest(partition));
    return tree;
  };
  propertyHolds(t, fc.check(
    fc.property(
      fc.uniqueArray(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 60 }),
      fc.nat(),
      mutation,
      fc.integer({ min: 0, max: 10 }),
      (keys, pick, variant, depth) => {
        const target = keys[pick % keys.length];
        const token = murmur3Token(int(target));
        const a = treeOf(keys.map((pk) => partitionOf(pk)), depth);
        const b = treeOf(keys.map((pk) => partitionOf(pk, pk === target ? (variant as Variant) : {})), depth);
        const ranges = a.diff(b);
        return ranges.length === 1 && ranges[0].start === a.leafRange(a.leafOf(token)).start && ranges[0].end === a.leafRange(a.leafOf(token)).end;
      },
    ),
    { numRuns: 200 },
  ), 'the property holds');
});
