/**
 * Validation is paced by a throttle (compaction_throughput in a node): it reports the
 * bytes it hashed, so a repair's scans cannot take the node's whole disk and CPU.
 */
import t from 'tap';
import { VALIDATION_ROWS_PER_TURN_MAX, validate } from '../../lib/repair/validation.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { Throttle } from '../../lib/storage/compaction/throttle.js';
import { MAX_TOKEN, MIN_TOKEN } from '../../lib/model/token.js';
import { NOW, table, update } from '../helpers/cluster.js';

const WHOLE_RING = { start: MIN_TOKEN, end: MAX_TOKEN };

t.test('validation hands the bytes it hashes to its throttle', async (t) => {
  const storage = new MemoryStorageEngine();
  const store = storage.openTable(table);
  const value = 'x'.repeat(1000);
  for (let pk = 0; pk < 300; pk++) await storage.apply([update(pk, [[1, value]])]);
  const consumed: number[] = [];
  const tree = await validate(store, WHOLE_RING, 8, NOW, { consume: async (bytes) => void consumed.push(bytes) });
  const total = consumed.reduce((a, b) => a + b, 0);
  // 300 partitions of one row: a row and a partition count toward each batch.
  const batches = Math.floor((300 * 2) / VALIDATION_ROWS_PER_TURN_MAX);
  t.equal(consumed.length, batches + 1, `paced every batch of rows, and the rest at the end (${consumed.length} calls)`);
  t.ok(total >= 300 * 1000 && total < 300 * 2000, `about the data hashed: ${total} bytes for 300 KB of values`);
  const unthrottled = await validate(store, WHOLE_RING, 8, NOW);
  t.ok(tree.root().equals(unthrottled.root()), 'the throttle changes the pace, not the tree');
});

t.test('a throttled validation takes as long as its bytes allow', async (t) => {
  const storage = new MemoryStorageEngine();
  const store = storage.openTable(table);
  for (let pk = 0; pk < 200; pk++) await storage.apply([update(pk, [[1, 'y'.repeat(1000)]])]);
  // A virtual clock: waits move time forward instead of sleeping.
  let now = 0;
  const throttle = new Throttle(50_000, { nowMillis: () => now, sleep: async (ms) => void (now += ms) });
  await validate(store, WHOLE_RING, 8, NOW, throttle);
  // About 200 KB at 50 KB/s: some 3 s of virtual time (one second of burst allowance).
  t.ok(now >= 2_000 && now <= 5_000, `${now} ms of virtual time`);
});
