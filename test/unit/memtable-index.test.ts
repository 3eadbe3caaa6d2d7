import t from 'tap';
import { seededRandom } from '../../lib/model/random.js';
import { MemtableIndex } from '../../lib/storage/memtable-index.js';

interface Item {
  readonly high: number;
  readonly low: number;
  readonly key: Buffer;
}

/** An index over `items` (entry n is items[n]), as a memtable keeps one over its entries. */
function indexOver(items: Item[]): MemtableIndex {
  return new MemtableIndex((entry, key, high) => items[entry].high === high && items[entry].key.equals(key));
}

const item = (high: number, low: number, key: string): Item => ({ high, low, key: Buffer.from(key) });

t.test('finds every entry added, by key and token halves, through growth and colliding low halves', async (t) => {
  const random = seededRandom(5);
  const added: Item[] = [];
  const index = indexOver(added);
  for (let i = 0; i < 50_000; i++) {
    // One in four shares its low half with others (the probe must look further), and
    // low halves above 2^31 are unsigned as the memtable gives them.
    const low = i % 4 === 0 ? 0xfffffff0 + (i % 3) : Math.floor(random() * 2 ** 32);
    added.push(item(Math.floor(random() * 2 ** 32) | 0, low, `key-${i}`));
    index.add(i, low);
  }
  t.ok(added.every((it, i) => index.get(it.key, it.high, it.low) === i), 'every entry found');
  t.ok(added.every((it) => index.get(Buffer.from(`${it.key}!`), it.high, it.low) === -1), 'another key with the same token is absent');
  t.ok(added.every((it) => index.get(it.key, it.high ^ 1, it.low) === -1), 'the same key with another token is absent');
  t.equal(indexOver([]).get(Buffer.from('x'), 0, 0), -1, 'an empty index finds nothing');
});

t.test('keys that differ only in bytes share a token and are told apart', async (t) => {
  const items = [item(7, 9, 'a'), item(7, 9, 'b')];
  const index = indexOver(items);
  index.add(0, 9);
  t.equal(index.get(Buffer.from('b'), 7, 9), -1);
  index.add(1, 9);
  t.equal(index.get(Buffer.from('a'), 7, 9), 0);
  t.equal(index.get(Buffer.from('b'), 7, 9), 1);
});

t.test('entries are numbered in the order they are added', async (t) => {
  const index = indexOver([item(1, 1, 'a'), item(2, 2, 'b')]);
  t.throws(() => index.add(1, 2), RangeError, 'entry 1 before entry 0 is refused');
  index.add(0, 1);
  t.throws(() => index.add(0, 1), RangeError, 'and entry 0 twice');
});
