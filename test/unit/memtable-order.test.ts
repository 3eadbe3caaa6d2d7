import t from 'tap';
import { seededRandom as randomFrom } from '../../lib/model/random.js';
import { MemtableOrder } from '../../lib/storage/memtable-order.js';

/** An item ordered by (high, low), both 32-bit: high signed, as a token's halves. */
interface Item {
  readonly high: number;
  readonly low: number;
}
const compare = (a: Item, b: Item): number => (a.high !== b.high ? a.high - b.high : a.low - b.low);
const highOf = (item: Item): number => item.high;
const name = (item: Item): string => `${item.high}:${item.low}`;

/** Random items; `spread` < 1 squeezes the high halves into a narrow band (one bucket). */
function itemMaker(random: () => number, spread: number): () => Item {
  return () => ({
    high: Math.floor((random() - 0.5) * spread * 2 ** 32) | 0,
    low: Math.floor(random() * 2 ** 32),
  });
}

t.test('all() returns every item in token order, negative tokens first', async (t) => {
  for (const spread of [1, 1e-6]) {
    const make = itemMaker(randomFrom(7), spread);
    const order = new MemtableOrder<Item>(compare, highOf);
    const added: Item[] = [];
    for (let i = 0; i < 20_000; i++) {
      const item = make();
      added.push(item);
      order.add(item);
    }
    t.equal(order.size, 20_000);
    t.same([...order.all()].map(name), added.sort(compare).map(name), `spread ${spread}`);
  }
});

t.test('from() starts at the first item the predicate accepts and walks in order', async (t) => {
  const order = new MemtableOrder<Item>(compare, highOf);
  const items = [2 ** 31 - 1, -(2 ** 31), 0, -1, 5, 1 << 20].map((high) => ({ high, low: 0 }));
  for (const item of items) order.add(item);
  t.same([...order.from(0, (item) => item.high >= 0)].map((item) => item.high), [0, 5, 1 << 20, 2 ** 31 - 1]);
  t.same([...order.from(6, (item) => item.high > 5)].map((item) => item.high), [1 << 20, 2 ** 31 - 1]);
  t.same([...order.all()].map((item) => item.high), [-(2 ** 31), -1, 0, 5, 1 << 20, 2 ** 31 - 1]);
  t.same([...new MemtableOrder<Item>(compare, highOf).all()], [], 'an empty order walks nothing');
});

t.test('a walk interleaved with writes and other walks sees every item after its position, once and in order', async (t) => {
  for (const [seed, spread] of [
    [1, 1],
    [2, 1],
    [3, 1e-3],
    [4, 1e-7],
  ]) {
    const random = randomFrom(seed);
    const make = itemMaker(random, spread);
    const order = new MemtableOrder<Item>(compare, highOf);
    const added: Item[] = [];
    const add = (): Item => {
      const item = make();
      added.push(item);
      order.add(item);
      return item;
    };
    for (let i = 0; i < 20_000; i++) add();
    const sorted = [...added].sort(compare);
    const start = sorted[Math.floor(sorted.length / 3)];
    const mustSee = new Set(sorted.filter((item) => compare(item, start) >= 0));
    const seen: Item[] = [];
    for (const item of order.from(start.high, (candidate) => compare(candidate, start) >= 0)) {
      seen.push(item);
      // Writes between steps (some in the bucket being walked), and other walks.
      const writes = seen.length === 500 || seen.length === 3_000 ? 2_000 : Math.floor(random() * 3);
      for (let i = 0; i < writes; i++) {
        const written = add();
        if (compare(written, item) > 0) mustSee.add(written);
      }
      if (random() < 0.05) {
        // Another walk takes a few items (and sorts the leaves it passes).
        const other = order.from(-(2 ** 31), () => true);
        for (let i = 0; i < 3; i++) other.next();
      }
    }
    let ordered = true;
    for (let i = 1; i < seen.length; i++) if (compare(seen[i - 1], seen[i]) >= 0) ordered = false;
    t.ok(ordered, `seed ${seed}: strictly increasing`);
    const returned = new Set(seen);
    t.ok(
      [...mustSee].every((item) => returned.has(item)),
      `seed ${seed}: every item present at the start or added after the position was returned`,
    );
    t.same([...order.all()].map(name), [...added].sort(compare).map(name), `seed ${seed}: nothing lost`);
  }
});

t.test('a walk goes on in order when the leaf it stands in splits under it', async (t) => {
  const order = new MemtableOrder<Item>(compare, highOf);
  // All in one top-level slot (high halves 0 .. 2^20 - 1, the top 8 bits 0), ascending: one sorted leaf.
  const items: Item[] = Array.from({ length: 1000 }, (_, i) => ({ high: i * 1024, low: 0 }));
  for (const item of items) order.add(item);
  const walk = order.from(0, () => true);
  const seen: Item[] = [];
  for (let i = 0; i < 10; i++) seen.push(walk.next().value as Item);
  // Enough writes into the same slot to split the leaf, before and after the position.
  const more: Item[] = Array.from({ length: 600 }, (_, i) => ({ high: i * 1024 + 512, low: 0 }));
  for (const item of more) order.add(item);
  for (let next = walk.next(); !next.done; next = walk.next()) seen.push(next.value);
  const expected = [...items, ...more].sort(compare).filter((item) => compare(item, seen[9]) > 0);
  t.same(seen.slice(0, 10).map(name), items.slice(0, 10).map(name), 'the first steps');
  t.same(seen.slice(10).map(name), expected.map(name), 'then every item after the position, in order, once');
});
