/**
 * The flush's flat path writes, byte for byte, the SSTable the decoded path writes,
 * for every shape of a plain one-row update: long values and clusterings (the copy
 * loops' thresholds), long column names (past the name cache), TTLs, tombstones,
 * extreme timestamps.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NO_DELETION_TIME, type Cell } from '../../lib/model/cell.js';
import { emptyRow, type Partition } from '../../lib/model/partition.js';
import { seededRandom } from '../../lib/model/random.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { partitionsFromUpdates } from '../../lib/storage/flush-source.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { COMPONENTS, componentPath } from '../../lib/storage/sstable/descriptor.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import type { ArenaContents } from '../../lib/storage/update-arena.js';
import { makeTable, intType, textType, partitionOf, update } from './fixtures/tables.js';

const fs = new NodeFileSystem();
const LONG = 'a_column_name_that_is_longer_than_forty_eight_bytes_for_sure_';

t.test('flat and decoded flushes write identical SSTables for varied plain rows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review5-flat-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const table = makeTable({
    name: 'wide',
    partitionKey: [['k', textType]],
    clustering: [['c', textType], ['d', intType, 'DESC']],
    regular: [['v', textType], ['w', textType], [LONG + '1', textType], [LONG + '2', textType], ['x', intType]],
  });
  let generation = 0;
  let flatRows = 0;
  const write = async (chunks: ArenaContents, flat: boolean): Promise<Buffer[]> => {
    const written = ++generation;
    const writer = await SSTableWriter.create(fs, dir, written, table, { expectedPartitions: 16, level: 0 });
    flatRows += await writer.appendAll(partitionsFromUpdates(table, chunks, flat));
    await writer.finishFiles();
    return Promise.all(COMPONENTS.map((c) => readFile(componentPath(dir, written, c))));
  };
  const stamps = [0, -1, 1, 63, 64, -64, 2 ** 31, -(2 ** 32), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1_700_000_000_000_000];
  let mismatches = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const next = seededRandom(seed);
    const below = (n: number) => Math.floor(next() * n);
    const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)];
    const memtable = new Memtable(table);
    const n = 1 + below(60);
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(`k${seed}-${i}`.repeat(1 + below(3) * 20));
      const r = emptyRow([Buffer.from('c'.repeat(pick([0, 1, 31, 32, 33, 100]))), intType.serialize(below(5) - 2)]);
      if (next() < 0.6) {
        const ttl = pick([0, 0, 5, 200]);
        r.liveness = { timestamp: pick(stamps), ttl, localDeletionTime: ttl > 0 ? 1_700_000_000 + ttl : pick([NO_DELETION_TIME, NO_DELETION_TIME, 0]) };
      }
      const names = ['v', 'w', LONG + '1', LONG + '2', 'x'].filter(() => next() < 0.5).sort(() => next() - 0.5);
      for (const name of names) {
        const kind = below(4);
        const cell: Cell =
          kind === 0
            ? { timestamp: pick(stamps), value: null, ttl: 0, localDeletionTime: 1_700_000_000 }
            : kind === 1
              ? { timestamp: pick(stamps), value: Buffer.from('v'.repeat(pick([0, 1, 63, 64, 65, 300]))), ttl: 60, localDeletionTime: 1_700_000_060 }
              : { timestamp: pick(stamps), value: Buffer.from('y'.repeat(pick([0, 1, 63, 64, 65, 300]))), ttl: 0, localDeletionTime: NO_DELETION_TIME };
        r.cells.set(name, cell);
      }
      const p: Partition = { ...partitionOf(key), rows: [r] };
      const u = update(table, p);
      const { bytes, bodies } = encodeMutationLocated([u]);
      memtable.apply(p, bytes, bodies[0], bodies[1]);
    }
    const chunks = memtable.updates!.contents();
    const [flat, decoded] = [await write(chunks, true), await write(chunks, false)];
    if (!flat.every((c, i) => c.equals(decoded[i]))) {
      mismatches++;
      t.comment(`seed ${seed}: components differ: ${COMPONENTS.filter((_, i) => !flat[i].equals(decoded[i])).join(', ')}`);
    }
  }
  t.equal(mismatches, 0, 'byte-identical SSTables');
  t.ok(flatRows > 100, `flat path taken (${flatRows})`);
});
