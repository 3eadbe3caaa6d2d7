/**
 * A flush rebuilt from a memtable's update arena (lib/storage/flush-source.ts) must
 * write what the memtable holds: the same partitions, in the same order, merged the
 * same way, whatever the history of writes (overwrites, deletions of every kind,
 * collections, other tables' updates in the same batches, keys whose tokens share
 * their high word or collide).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { tokenOfWords } from '../../lib/model/token.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { locateUpdates, partitionsFromUpdates, sortedOrder } from '../../lib/storage/flush-source.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutation, encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { COMPONENTS, componentPath } from '../../lib/storage/sstable/descriptor.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { type ArenaContents, UpdateArena, arenaBytes, forEachArenaUpdate } from '../../lib/storage/update-arena.js';
import { propertyHolds } from '../helpers/property.js';
import { plain } from '../helpers/plain.js';
import { bound, deletion, eventsTable, int, intType, makeTable, partitionOf, row, type RowSpec, text, textType, update } from './fixtures/tables.js';

const table = eventsTable();
const other = eventsTable({ name: 'other' });

interface PartitionSpec {
  readonly key: number;
  readonly deletedAt: number | null;
  readonly staticCell: [number, string | null] | null;
  readonly rangeTombstone: { from: number; to: number; at: number } | null;
  readonly rows: [number, RowSpec][];
}

const timestamp = fc.integer({ min: 1, max: 12 });
const rowSpec: fc.Arbitrary<RowSpec> = fc.record(
  {
    marker: timestamp,
    ttl: fc.constantFrom(0, 0, 60),
    deletedAt: timestamp,
    cells: fc.dictionary(fc.constantFrom('v', 'w'), fc.tuple(timestamp, fc.option(fc.constantFrom('a', 'b', ''), { nil: null }))),
    sets: fc.dictionary(
      fc.constant('tags'),
      fc.record(
        {
          deletedAt: timestamp,
          elements: fc.uniqueArray(fc.tuple(timestamp, fc.integer({ min: 0, max: 4 }), fc.boolean()), { maxLength: 3, selector: ([, element]) => element }),
        },
        { requiredKeys: ['elements'] },
      ),
    ),
  },
  { requiredKeys: [] },
);
const partitionSpec: fc.Arbitrary<PartitionSpec> = fc.record({
  key: fc.integer({ min: 0, max: 5 }),
  deletedAt: fc.option(timestamp, { nil: null }),
  staticCell: fc.option(fc.tuple(timestamp, fc.option(fc.constantFrom('s1', 's2'), { nil: null })), { nil: null }),
  rangeTombstone: fc.option(
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), timestamp).map(([a, b, at]) => ({ from: Math.min(a, b), to: Math.max(a, b), at })),
    { nil: null },
  ),
  // Rows in clustering order, one per clustering (as the CQL layer makes them).
  rows: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 6 }), rowSpec), { maxLength: 3, selector: ([ck]) => ck }).map((rows) => rows.sort((a, b) => a[0] - b[0])),
});

/**
 * Tokens made up so that keys share high words (which the flush's packed sort leaves
 * to a second pass) and keys 4 and 5 share a whole token (ordered by key then); any
 * function of the key serves, as the memtable and the flush both take the token given.
 */
function collidingToken(key: number): bigint {
  return tokenOfWords((key % 2) - 1, Math.imul(Math.min(key, 4), 0x9e3779b1) >>> 0);
}

/** Fresh objects every time: the memtable takes an update's objects and later writes change them in place. */
function build(spec: PartitionSpec, colliding: boolean): Partition {
  const rangeTombstones =
    spec.rangeTombstone === null
      ? []
      : [{ start: bound([int(spec.rangeTombstone.from)]), end: bound([int(spec.rangeTombstone.to)]), deletion: deletion(spec.rangeTombstone.at) }];
  const staticRow: Row | null = spec.staticCell === null ? null : row([], { cells: { s: spec.staticCell } });
  const partition = partitionOf(int(spec.key), {
    deletion: spec.deletedAt === null ? null : deletion(spec.deletedAt),
    staticRow,
    rangeTombstones,
    rows: spec.rows.map(([ck, rowSpecOf]) => row([int(ck)], rowSpecOf)),
  });
  return colliding ? { ...partition, token: collidingToken(spec.key) } : partition;
}

/** Comparable form; complex columns by name, empty ones dropped (encoding keeps no trace of them). */
function normal(partitions: Iterable<Partition>): string {
  const normalRow = (r: Row | null) =>
    r === null
      ? null
      : {
          ...r,
          complex: new Map([...r.complex].filter(([, c]) => c.deletion !== null || c.cells.length > 0).sort(([a], [b]) => (a < b ? -1 : 1))),
        };
  return JSON.stringify([...partitions].map((p) => plain({ ...p, staticRow: normalRow(p.staticRow), rows: p.rows.map(normalRow) })));
}

/** Every partition as a point read of the memtable gives it. */
async function readBack(memtable: Memtable): Promise<Partition[]> {
  const read: Partition[] = [];
  for (const p of memtable.partitions()) {
    const source = memtable.get(p.key, p.token)!;
    const rows: Row[] = [];
    for await (const r of source.rows([ALL_ROWS], false)) rows.push(r);
    read.push({ key: source.key, token: source.token, deletion: source.deletion, staticRow: source.staticRow, rangeTombstones: [...source.rangeTombstones], rows });
  }
  return read;
}

t.test('partitions rebuilt from the update arena are exactly what the memtable flushes and reads', async (t) => {
  const batches = fc.array(fc.tuple(fc.array(partitionSpec, { minLength: 1, maxLength: 4 }), fc.array(partitionSpec, { maxLength: 2 })), {
    minLength: 1,
    maxLength: 12,
  });
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(batches, fc.boolean(), fc.boolean(), async (history, colliding, inPlace) => {
        const memtable = new Memtable(table);
        // inPlace: each mutation is encoded into the memtable's arena (as the engine does
        // for one table's), the other table's updates left there unrecorded.
        const space = inPlace ? (length: number) => memtable.reservePayload(length) : null;
        for (const [ours, theirs] of history) {
          const updates = [...ours.map((spec) => update(table, build(spec, colliding))), ...theirs.map((spec) => update(other, build(spec, colliding)))];
          const { bytes: payload, bodies } = encodeMutationLocated(updates, space);
          updates.forEach((u, i) => {
            if (u.tableId === table.id) memtable.apply(u.partition, payload, bodies[2 * i], bodies[2 * i + 1]);
          });
        }
        const rebuilt = normal(partitionsFromUpdates(table, memtable.updates!.contents()));
        return normal(memtable.partitions()) === rebuilt && normal(await readBack(memtable)) === rebuilt;
      }),
      { numRuns: 400 },
    ),
    'the property holds',
  );
});

t.test('a write without its bytes drops the arena: the memtable is flushed from its objects', async (t) => {
  const memtable = new Memtable(table);
  const first = update(table, partitionOf(int(1), { rows: [row([int(1)], { cells: { v: [1, 'a'] } })] }));
  const { bytes, bodies } = encodeMutationLocated([first]);
  memtable.apply(first.partition, bytes, bodies[0], bodies[1]);
  t.ok(memtable.updates, 'kept while every write brings its bytes');
  const sizeWithBytes = memtable.sizeBytes;
  memtable.apply(partitionOf(int(2), { rows: [row([int(1)], { cells: { v: [1, text('b').toString()] } })] }));
  t.equal(memtable.updates, null, 'dropped at the first write without them');
  t.ok(memtable.sizeBytes < sizeWithBytes + 1024, 'and no longer counted in its size');
  const third = update(table, partitionOf(int(3), { rows: [row([int(1)], { cells: { v: [1, 'c'] } })] }));
  memtable.apply(third.partition, encodeMutation([third]));
  t.equal(memtable.updates, null, 'a payload without the place of the update in it brings no bytes either');
  t.equal([...memtable.partitions()].length, 3, 'every write is held');
});

t.test('the arena keeps updates in order with their token words, a large one in a chunk of its own', async (t) => {
  const arena = new UpdateArena();
  const framed = Buffer.concat([Buffer.from('xx'), Buffer.alloc(3 << 20, 7), Buffer.from('abcyy')]);
  const updates: [start: number, end: number, high: number, low: number][] = [
    [framed.length - 5, framed.length - 4, -(2 ** 31), 0],
    [2, 2 + (3 << 20), 17, 2 ** 32 - 1],
    [framed.length - 4, framed.length - 2, 2 ** 31 - 1, 5],
  ];
  for (const [start, end, high, low] of updates) arena.append(framed, start, end, high, low);
  const seen: [Buffer, number, number][] = [];
  forEachArenaUpdate(arena.contents(), (bytes, _chunk, start, end, high, low) => seen.push([Buffer.from(bytes.subarray(start, end)), high, low]));
  t.same(
    seen.map(([bytes, high, low]) => [bytes.length, high, low]),
    updates.map(([start, end, high, low]) => [end - start, high, low]),
  );
  t.ok(seen[0][0].toString() === 'a' && seen[1][0].every((byte) => byte === 7) && seen[2][0].toString() === 'bc', 'bytes intact');
  t.equal(arena.contents().chunks.length, 3, 'a small chunk, the large one, a new small one');
  t.ok(arena.sizeBytes >= 3 << 20, 'its size counts every chunk');
});

t.test('a mutation encoded into space the arena reserved is recorded where it lies; any other is copied', async (t) => {
  const arena = new UpdateArena();
  const bytesOf = (contents: ReturnType<UpdateArena['contents']>) => {
    const seen: string[] = [];
    forEachArenaUpdate(contents, (bytes, _chunk, start, end) => seen.push(bytes.toString('latin1', start, end)));
    return seen;
  };
  const reserved = arena.reserve(6)!;
  reserved.write('abcdef', 'latin1');
  arena.append(reserved, 0, 2, 1, 1);
  arena.append(reserved, 3, 6, 2, 2);
  const elsewhere = Buffer.from('xyz');
  arena.append(elsewhere, 0, 3, 3, 3);
  t.same(bytesOf(arena.contents()), ['ab', 'def', 'xyz'], 'the updates, in order; the unrecorded byte is never read');
  reserved.write('AB', 0, 'latin1');
  elsewhere.write('XYZ', 0, 'latin1');
  t.same(bytesOf(arena.contents()), ['AB', 'def', 'xyz'], 'the reserved space is the arena itself; other bytes were copied');

  const older = arena.reserve(4)!;
  older.write('1234', 'latin1');
  arena.reserve((1 << 20) - 4); // a new chunk: `older` is no longer in the last one
  arena.append(older, 0, 4, 4, 4);
  older.write('5678', 'latin1');
  t.equal(bytesOf(arena.contents()).at(-1), '1234', 'space in an earlier chunk is copied, so nothing depends on which chunk is last');
  t.equal(arena.reserve((1 << 20) + 1), null, 'a mutation larger than a chunk gets no space');
});

t.test('the packed sort orders updates as the comparison sort does, high words shared or not', async (t) => {
  propertyHolds(
    t,
    await fc.check(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom(-(2 ** 31), -1, 0, 2 ** 31 - 1), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }), (specs) => {
        const arena = new UpdateArena();
        for (const [key, high, lowPick] of specs) {
          // Tokens are a function of the key here too: (high, low) from the key's number.
          const token = tokenOfWords(key % 2 === 0 ? high : -high - 1, [0, 1, 2 ** 31, 2 ** 32 - 1][(key + lowPick) % 4]);
          const [tokenHigh, tokenLow] = [Number(BigInt.asIntN(32, token >> 32n)), Number(BigInt.asUintN(32, token))];
          const { bytes, bodies } = encodeMutationLocated([update(table, { ...partitionOf(int(key)), token })]);
          arena.append(bytes, bodies[0], bodies[1], tokenHigh, tokenLow);
        }
        const chunks = arenaBytes(arena.contents());
        const located = locateUpdates(arena.contents());
        return Buffer.from(sortedOrder(chunks, located).buffer).equals(Buffer.from(sortedOrder(chunks, located, false).buffer));
      }),
      { numRuns: 300 },
    ),
    'the property holds',
  );
});

t.test('a wide partition kept as bytes turns into objects at its first read; reads and flushes stay the same', async (t) => {
  const memtable = new Memtable(table);
  const wide = update(table, partitionOf(int(1), { rows: Array.from({ length: 200 }, (_, ck) => row([int(ck)], { marker: 3, cells: { v: [3, `value ${ck}`] } })) }));
  const narrow = update(table, partitionOf(int(2), { rows: [row([int(1)], { marker: 3, cells: { v: [3, 'x'] } })] }));
  const { bytes, bodies } = encodeMutationLocated([wide, narrow]);
  memtable.apply(wide.partition, bytes, bodies[0], bodies[1]);
  memtable.apply(narrow.partition, bytes, bodies[2], bodies[3]);
  const before = memtable.sizeBytes;
  const first = normal(await readBack(memtable));
  const grown = memtable.sizeBytes;
  t.ok(grown > before + 200 * 100, `its objects are accounted once read (${before} → ${grown} B)`);
  t.equal(normal(await readBack(memtable)), first, 'a second read sees the same');
  t.equal(memtable.sizeBytes, grown, 'and costs nothing more');
  t.equal(normal(partitionsFromUpdates(table, memtable.updates!.contents())), first, 'the flush writes the same');
});

t.test('an SSTable written with flat rows is, byte for byte, the one written from decoded partitions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-flat-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const fs = new NodeFileSystem();
  const keyOnly = makeTable({ name: 'kv', partitionKey: [['k', intType]], regular: [['v', textType], ['w', textType]] });
  let generation = 0;
  let flatRows = 0;
  const write = async (target: TableMetadata, chunks: ArenaContents, flat: boolean): Promise<Buffer[]> => {
    const written = ++generation;
    const writer = await SSTableWriter.create(fs, dir, written, target, { expectedPartitions: 16, level: 0 });
    flatRows += await writer.appendAll(partitionsFromUpdates(target, chunks, flat));
    await writer.finishFiles();
    return Promise.all(COMPONENTS.map((component) => readFile(componentPath(dir, written, component))));
  };
  // Plain one-row partitions (what the flat path takes) among any others; most keys
  // written once, some several times.
  const plainSpec: fc.Arbitrary<PartitionSpec> = fc.record({
    key: fc.integer({ min: 0, max: 5 }),
    deletedAt: fc.constant(null),
    staticCell: fc.constant(null),
    rangeTombstone: fc.constant(null),
    rows: fc
      .tuple(
        fc.integer({ min: 0, max: 6 }),
        fc.record(
          {
            marker: timestamp,
            ttl: fc.constantFrom(0, 60),
            cells: fc.dictionary(fc.constantFrom('v', 'w'), fc.tuple(timestamp, fc.option(fc.constantFrom('a', 'b', ''), { nil: null }))),
          },
          { requiredKeys: [] },
        ),
      )
      .map((spec): [number, RowSpec][] => [spec]),
  });
  const batches = fc.array(fc.array(fc.tuple(fc.oneof(plainSpec, partitionSpec), fc.boolean()), { minLength: 1, maxLength: 4 }), {
    minLength: 1,
    maxLength: 10,
  });
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(batches, fc.boolean(), async (history, clustered) => {
        const target = clustered ? table : keyOnly;
        const memtable = new Memtable(target);
        let fresh = 100;
        for (const specs of history) {
          const updates = specs.map(([spec, once]) => {
            const built = build(once ? { ...spec, key: fresh++ } : spec, false);
            // The key-only table has no clustering, static or collection columns.
            const partition = clustered
              ? built
              : { ...built, staticRow: null, rangeTombstones: [], rows: built.rows.slice(0, 1).map((r) => ({ ...r, clustering: [], complex: new Map() })) };
            return update(target, partition);
          });
          const { bytes, bodies } = encodeMutationLocated(updates);
          updates.forEach((u, i) => memtable.apply(u.partition, bytes, bodies[2 * i], bodies[2 * i + 1]));
        }
        const chunks = memtable.updates!.contents();
        const [flat, decoded] = [await write(target, chunks, true), await write(target, chunks, false)];
        return flat.every((component, i) => component.equals(decoded[i]));
      }),
      { numRuns: 150 },
    ),
    'the property holds',
  );
  t.ok(flatRows > 100, `the flat path was taken (${flatRows} rows)`);
});
