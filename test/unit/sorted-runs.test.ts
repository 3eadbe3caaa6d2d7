import t from 'tap';
import { SortedRuns } from '../../lib/storage/sorted-runs.js';

/** A seeded random (mulberry32), so a failure replays. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

const byNumber = (a: number, b: number): number => a - b;

t.test('sorted() returns every item in order, across many runs and a pending tail', async (t) => {
  const random = randomFrom(7);
  const set = new SortedRuns<number>(byNumber);
  const added = new Set<number>();
  while (added.size < 20_000) {
    const value = Math.floor(random() * 1e9);
    if (added.has(value)) continue;
    added.add(value);
    set.add(value);
  }
  t.equal(set.size, 20_000);
  t.same(set.sorted(), [...added].sort(byNumber));
});

t.test('from() starts at the first item the predicate accepts and walks in order', async (t) => {
  const set = new SortedRuns<number>(byNumber);
  for (const value of [50, 10, 40, 20, 30]) set.add(value);
  t.same([...set.from((v) => v >= 25)], [30, 40, 50]);
  t.same([...set.from((v) => v > 50)], []);
  t.same([...set.from(() => true)], [10, 20, 30, 40, 50]);
});

t.test('a walk interleaved with writes and other walks sees every item after its position, once and in order', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = randomFrom(seed);
    const set = new SortedRuns<number>(byNumber);
    const added = new Set<number>();
    const add = (): number | undefined => {
      const value = Math.floor(random() * 1e6);
      if (added.has(value)) return undefined;
      added.add(value);
      set.add(value);
      return value;
    };
    for (let i = 0; i < 20_000; i++) add();
    const sorted = [...added].sort(byNumber);
    const start = sorted[Math.floor(sorted.length / 3)];
    const mustSee = new Set(sorted.filter((v) => v >= start));
    const seen: number[] = [];
    for (const value of set.from((v) => v >= start)) {
      seen.push(value);
      // Writes between steps, now and then a burst that sorts a new run, and other
      // walks: the runs are rebuilt under this one.
      const writes = seen.length === 500 || seen.length === 3_000 ? 5_000 : Math.floor(random() * 3);
      for (let i = 0; i < writes; i++) {
        const v = add();
        if (v !== undefined && v > value) mustSee.add(v);
      }
      if (random() < 0.05) [...set.from((v) => v >= Math.floor(random() * 1e6))].slice(0, 3);
    }
    let ordered = true;
    for (let i = 1; i < seen.length; i++) if (seen[i] <= seen[i - 1]) ordered = false;
    t.ok(ordered, `seed ${seed}: strictly increasing`);
    const returned = new Set(seen);
    t.ok(
      [...mustSee].every((v) => returned.has(v)),
      `seed ${seed}: every item present at the start or added after the position was returned`,
    );
    t.same(set.sorted(), [...added].sort(byNumber), `seed ${seed}: nothing lost`);
  }
});
