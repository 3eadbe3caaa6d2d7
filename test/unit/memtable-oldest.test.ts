/**
 * A memtable's oldest timestamp (compaction's purge bound: nothing older than it may be
 * purged while the memtable could hold data for the key) counts every timestamp of
 * every write, whether the write is kept as its bytes or as objects, new or merged.
 */
import t from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { seededRandom } from '../../lib/model/random.js';
import { murmur3Token } from '../../lib/model/token.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { deletion, eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();

/** Every timestamp an update carries, the way a reader would list them. */
function timestampsOf(p: Partition): number[] {
  const all: number[] = [];
  if (p.deletion !== null) all.push(p.deletion.markedForDeleteAt);
  for (const rt of p.rangeTombstones) all.push(rt.deletion.markedForDeleteAt);
  for (const r of p.staticRow === null ? p.rows : [p.staticRow, ...p.rows]) {
    if (r.liveness !== null) all.push(r.liveness.timestamp);
    if (r.deletion !== null) all.push(r.deletion.markedForDeleteAt);
    for (const cell of r.cells.values()) all.push(cell.timestamp);
    for (const complex of r.complex.values()) {
      if (complex.deletion !== null) all.push(complex.deletion.markedForDeleteAt);
      for (const cell of complex.cells) all.push(cell.timestamp);
    }
  }
  return all;
}

/** A random write: mostly plain rows (kept as bytes), some with deletions, sets, statics, several rows. */
function randomUpdate(next: () => number): Partition {
  const ts = () => 1000 + Math.floor(next() * 100_000);
  const key = int(Math.floor(next() * 50));
  const rows = [];
  const count = next() < 0.8 ? 1 : 2 + Math.floor(next() * 3);
  for (let i = 0; i < count; i++) {
    const spec: Parameters<typeof row>[1] = { cells: { v: [ts(), 'v'] } };
    if (next() < 0.5) spec.marker = ts();
    if (next() < 0.1) spec.deletedAt = ts();
    if (next() < 0.2) spec.sets = { tags: { elements: [[ts(), 1, false]], ...(next() < 0.3 ? { deletedAt: ts() } : {}) } };
    rows.push(row([int(i * 2)], spec));
  }
  const parts: Partial<Partition> = { rows };
  if (next() < 0.1) parts.deletion = deletion(ts());
  if (next() < 0.1) parts.staticRow = { ...row([], { cells: { s: [ts(), 's'] } }), clustering: [] };
  const p = partitionOf(key, parts);
  return { ...p, token: murmur3Token(key) };
}

t.test('the oldest timestamp written is the minimum over all writes, bytes or objects', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const next = seededRandom(seed);
    const memtable = new Memtable(table);
    let expected = Infinity;
    t.equal(memtable.minTimestampWritten, Infinity, 'an empty memtable holds nothing old');
    for (let i = 0; i < 400; i++) {
      const p = randomUpdate(next);
      expected = Math.min(expected, ...timestampsOf(p));
      if (next() < 0.7) {
        const { bytes, bodies } = encodeMutationLocated([update(table, p)]);
        memtable.apply(p, bytes, bodies[0], bodies[1]);
      } else {
        memtable.apply(p);
      }
      if (memtable.minTimestampWritten !== expected) {
        t.fail(`seed ${seed}, write ${i}: ${memtable.minTimestampWritten} != ${expected}`);
        break;
      }
    }
    t.equal(memtable.minTimestampWritten, expected, `seed ${seed}: the oldest of 400 writes`);
  }
});

t.test('a plain write kept as bytes counts its oldest cell, marker or set element', async (t) => {
  const cases: [string, Parameters<typeof row>[1], number][] = [
    ['a cell', { marker: 500, cells: { v: [90, 'x'], w: [400, 'y'] } }, 90],
    ['the row marker', { marker: 70, cells: { v: [90, 'x'] } }, 70],
    ['a set element', { cells: { v: [90, 'x'] }, sets: { tags: { elements: [[60, 3, false]] } } }, 60],
  ];
  for (const [what, spec, oldest] of cases) {
    const memtable = new Memtable(table);
    const p = { ...partitionOf(int(1), { rows: [row([int(1)], spec)] }), token: murmur3Token(int(1)) };
    const { bytes, bodies } = encodeMutationLocated([update(table, p)]);
    memtable.apply(p, bytes, bodies[0], bodies[1]);
    t.equal(memtable.minTimestampWritten, oldest, what);
  }
});
