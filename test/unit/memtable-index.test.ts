import t from 'tap';
import { seededRandom } from '../../lib/model/random.js';
import { MemtableIndex } from '../../lib/storage/memtable-index.js';

interface Item {
  readonly high: number;
  readonly low: number;
  readonly key: Buffer;
  keyEquals(key: Buffer): boolean;
}

const item = (high: number, low: number, key: string): Item => ({
  high,
  low,
  key: Buffer.from(key),
  keyEquals(other: Buffer) {
    return this.key.equals(other);
  },
});

t.test('finds every item added, by key and token halves, through growth and colliding low halves', async (t) => {
  const random = seededRandom(5);
  const index = new MemtableIndex<Item>();
  const added: Item[] = [];
  for (let i = 0; i < 50_000; i++) {
    // One in four shares its low half with others (the probe must look further), and
    // low halves above 2^31 are unsigned as the memtable gives them.
    const low = i % 4 === 0 ? 0xfffffff0 + (i % 3) : Math.floor(random() * 2 ** 32);
    const next = item(Math.floor(random() * 2 ** 32) | 0, low, `key-${i}`);
    index.add(next);
    added.push(next);
  }
  t.ok(added.every((it) => index.get(it.key, it.high, it.low) === it), 'every item found');
  t.ok(added.every((it) => index.get(Buffer.from(`${it.key}!`), it.high, it.low) === undefined), 'another key with the same token is absent');
  t.ok(added.every((it) => index.get(it.key, it.high ^ 1, it.low) === undefined), 'the same key with another token is absent');
  t.equal(new MemtableIndex<Item>().get(Buffer.from('x'), 0, 0), undefined, 'an empty index finds nothing');
});

t.test('keys that differ only in bytes share a token and are told apart', async (t) => {
  const index = new MemtableIndex<Item>();
  const a = item(7, 9, 'a');
  const b = item(7, 9, 'b');
  index.add(a);
  t.equal(index.get(Buffer.from('b'), 7, 9), undefined);
  index.add(b);
  t.equal(index.get(Buffer.from('a'), 7, 9), a);
  t.equal(index.get(Buffer.from('b'), 7, 9), b);
});
