/**
 * A flush rebuilt from a memtable's payloads (lib/storage/flush-source.ts) must write
 * what the memtable holds: the same partitions, in the same order, merged the same way,
 * whatever the history of writes (overwrites, deletions of every kind, collections,
 * other tables' updates in the same batches).
 */
import fc from 'fast-check';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { partitionsFromPayloads } from '../../lib/storage/flush-source.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutation, encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { PayloadArena, forEachPayload } from '../../lib/storage/payload-arena.js';
import { propertyHolds } from '../helpers/property.js';
import { plain } from '../helpers/plain.js';
import { bound, deletion, eventsTable, int, partitionOf, row, type RowSpec, text, update } from './fixtures/tables.js';

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

/** Fresh objects every time: the memtable takes an update's objects and later writes change them in place. */
function build(spec: PartitionSpec): Partition {
  const rangeTombstones =
    spec.rangeTombstone === null
      ? []
      : [{ start: bound([int(spec.rangeTombstone.from)]), end: bound([int(spec.rangeTombstone.to)]), deletion: deletion(spec.rangeTombstone.at) }];
  const staticRow: Row | null = spec.staticCell === null ? null : row([], { cells: { s: spec.staticCell } });
  return partitionOf(int(spec.key), {
    deletion: spec.deletedAt === null ? null : deletion(spec.deletedAt),
    staticRow,
    rangeTombstones,
    rows: spec.rows.map(([ck, rowSpecOf]) => row([int(ck)], rowSpecOf)),
  });
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

t.test('partitions rebuilt from the payloads are exactly what the memtable flushes and reads', async (t) => {
  const batches = fc.array(fc.tuple(fc.array(partitionSpec, { minLength: 1, maxLength: 4 }), fc.array(partitionSpec, { maxLength: 2 }), fc.boolean()), {
    minLength: 1,
    maxLength: 12,
  });
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(batches, async (history) => {
        const memtable = new Memtable(table);
        for (const [ours, theirs, located] of history) {
          const updates = [...ours.map((spec) => update(table, build(spec))), ...theirs.map((spec) => update(other, build(spec)))];
          // Kept as bytes where the memtable can (the engine's way), as objects elsewhere.
          const { bytes: payload, bodies } = encodeMutationLocated(updates);
          updates.forEach((u, i) => {
            if (u.tableId !== table.id) return;
            if (located) memtable.apply(u.partition, payload, bodies[2 * i], bodies[2 * i + 1]);
            else memtable.apply(u.partition, payload);
          });
        }
        const chunks = memtable.payloads!.chunks();
        const rebuilt = normal(partitionsFromPayloads(table, chunks));
        return normal(memtable.partitions()) === rebuilt && normal(await readBack(memtable)) === rebuilt;
      }),
      { numRuns: 400 },
    ),
    'the property holds',
  );
});

t.test('a write without its payload drops the payloads: the memtable is flushed from its objects', async (t) => {
  const memtable = new Memtable(table);
  const first = update(table, partitionOf(int(1), { rows: [row([int(1)], { cells: { v: [1, 'a'] } })] }));
  memtable.apply(first.partition, encodeMutation([first]));
  t.ok(memtable.payloads, 'kept while every write brings one');
  const sizeWithPayload = memtable.sizeBytes;
  memtable.apply(partitionOf(int(2), { rows: [row([int(1)], { cells: { v: [1, text('b').toString()] } })] }));
  t.equal(memtable.payloads, null, 'dropped at the first write without one');
  t.ok(memtable.sizeBytes < sizeWithPayload + 1024, 'and no longer counted in its size');
});

t.test('the arena keeps payloads in order, a large one in a chunk of its own', async (t) => {
  const arena = new PayloadArena();
  const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(3 << 20, 7), Buffer.from('bc')];
  for (const payload of payloads) arena.append(payload);
  const seen: Buffer[] = [];
  forEachPayload(arena.chunks(), (payload) => seen.push(Buffer.from(payload)));
  t.same(seen.map((b) => b.length), payloads.map((b) => b.length));
  t.ok(seen[2].every((byte) => byte === 7) && seen[3].toString() === 'bc', 'bytes intact');
  t.equal(arena.chunks().length, 3, 'a small chunk, the large one, a new small one');
  t.ok(arena.sizeBytes >= 3 << 20, 'its size counts every chunk');
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
  t.equal(normal(partitionsFromPayloads(table, memtable.payloads!.chunks())), first, 'the flush writes the same');
});
