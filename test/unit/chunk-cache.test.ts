/**
 * The chunk cache's eviction (CLOCK): a chunk read again since it was added gets a
 * second chance, so chunks read once go first; when every chunk was read again, the
 * oldest goes. The newest chunk, and chunks still being read, stay even over the budget.
 */
import t from 'tap';
import { ChunkCache } from '../../lib/storage/sstable/chunks.js';

const CHUNK = 100;
const bytes = Buffer.alloc(CHUNK);

function cacheOf(chunks: number, indexes: number[]) {
  const cache = new ChunkCache(chunks * CHUNK);
  const space = cache.space();
  /** A chunk read: its bytes are there (as ChunkReader sets them once its read is done). */
  const add = (index: number) => {
    const entry = cache.add(space, index, Promise.resolve(bytes), CHUNK);
    entry.value = bytes;
    return entry;
  };
  for (const index of indexes) add(index);
  const held = () => [...space.keys()].sort((a, b) => a - b);
  return { cache, space, add, held };
}

t.test('a chunk read again outlives chunks read once', async (t) => {
  const { cache, space, add, held } = cacheOf(3, [0, 1, 2]);
  t.ok(cache.get(space, 0), 'chunk 0 is read again');
  add(3);
  t.same(held(), [0, 2, 3], 'the oldest chunk read only once (1) went, not 0');
  add(4);
  t.same(held(), [0, 3, 4], 'then the next one read once (2)');
  t.equal(cache.bytes, 3 * CHUNK);
});

t.test('when every chunk was read again, the oldest goes', async (t) => {
  const { cache, space, add, held } = cacheOf(3, [0, 1, 2]);
  for (const index of [2, 0, 1]) cache.get(space, index);
  add(3);
  t.same(held(), [1, 2, 3]);
  // The second chances were used up: 1 and 2 go before 3, which was read again.
  cache.get(space, 3);
  add(4);
  add(5);
  t.same(held(), [3, 4, 5]);
});

t.test('the newest chunk stays even alone over the budget; removal frees its bytes', async (t) => {
  const { cache, space, add, held } = cacheOf(0.5, [7]);
  t.same(held(), [7]);
  t.equal(cache.bytes, CHUNK);
  add(8);
  t.same(held(), [8]);
  cache.clear(space);
  t.same(held(), []);
  t.equal(cache.bytes, 0);
});

t.test('a chunk still being read is not evicted: the budget waits for it', async (t) => {
  const { cache, space, add, held } = cacheOf(2, [0]);
  const reading = cache.add(space, 1, new Promise<Buffer>(() => undefined), CHUNK);
  add(2);
  t.same(held(), [1, 2], 'chunk 0 went; chunk 1, still being read, stays');
  add(3);
  t.same(held(), [1, 3], 'again: only read chunks go');
  reading.value = bytes;
  add(4);
  t.same(held(), [3, 4], 'once read, it can go');
  // Only chunks being read and the newest: nothing can go, the budget is exceeded.
  const { cache: busy, space: busySpace } = cacheOf(1, []);
  for (const index of [0, 1, 2]) busy.add(busySpace, index, new Promise<Buffer>(() => undefined), CHUNK);
  t.equal(busy.bytes, 3 * CHUNK, 'three reads in flight, over a budget of one');
});
