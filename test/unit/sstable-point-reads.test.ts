/**
 * Point reads find every key present and no key absent, whatever tokens collide,
 * wherever a header lies split across a chunk's end, and with several summary samples
 * in one chunk, searched in any order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { compareKeys, tokenOfWords } from '../../lib/model/token.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { propertyHolds } from '../helpers/property.js';
import { int, intType, makeTable, partitionOf, row, text, textType } from './fixtures/tables.js';

const fs = new NodeFileSystem();
// Text keys of 120 bytes make header records of over 127 bytes (a two-byte length
// before a one-byte key length); others are shorter or longer. Small uncompressed
// chunks: headers often split across ends, and small partitions put two or three
// summary samples (one per 16 partitions) in a chunk.
const base = makeTable({ name: 'kv', partitionKey: [['k', textType]], clustering: [['c', intType]], regular: [['v', textType]] });
const tableWith = (chunkLengthKb: number) => ({ ...base, options: { ...base.options, compression: { class: '', chunkLengthKb, enabled: false } } });

for (const chunkLengthKb of [1, 2]) t.test(`a point read finds exactly the keys written (${chunkLengthKb} KiB chunks)`, async (t) => {
  const table = tableWith(chunkLengthKb);
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-starts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let generation = 0;
  // Each key: a token (few high words, so runs share one, and some whole tokens shared), rows and value sizes.
  const spec = fc.uniqueArray(
    fc.record({
      key: fc.integer({ min: 0, max: 5000 }),
      keyLength: fc.oneof({ arbitrary: fc.constant(4), weight: 18 }, { arbitrary: fc.constantFrom(120, 200), weight: 2 }),
      high: fc.integer({ min: -3, max: 3 }),
      low: fc.oneof(fc.constantFrom(0, 1, 7, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
      rows: fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.constant(2), weight: 1 }),
      size: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 8 }), weight: 9 }, { arbitrary: fc.integer({ min: 100, max: 300 }), weight: 1 }),
    }),
    { selector: (p) => p.key, minLength: 100, maxLength: 300 },
  );
  propertyHolds(
    t,
    await fc.check(
      fc.asyncProperty(spec, async (specs) => {
        const partitions: Partition[] = specs.map((s) => ({
          ...partitionOf(text(`${s.key}:`.padEnd(s.keyLength, 'k')), {
            rows: Array.from({ length: s.rows }, (_, c) => row([int(c)], { marker: 1, cells: { v: [1, 'x'.repeat(s.size)] } })),
          }),
          token: tokenOfWords(s.high * 0x10000000, s.low),
        }));
        partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
        const writer = await SSTableWriter.create(fs, dir, ++generation, table, { expectedPartitions: partitions.length, level: 0 });
        for (const p of partitions) await writer.append(p);
        const reader = await writer.finish();
        try {
          // Three passes, each in another order (the chunk cache then holds other chunks).
          const orders = [[...partitions].reverse(), partitions, partitions.filter((_, i) => i % 2 === 1).concat(partitions.filter((_, i) => i % 2 === 0))];
          for (const order of orders) {
            for (const p of order) {
              const found = await reader.get(p.key, p.token);
              if (found === null || !found.key.equals(p.key)) return false;
              // The search without waiting, now that the chunk is read, finds it too
              // (or stands aside, undefined, when a header lies split across chunks).
              const loaded = reader.findIfLoaded(p.key, p.token);
              if (loaded === null || (loaded !== undefined && !loaded.key.equals(p.key))) return false;
            }
            // Absent: keys not written, at a written token or just after it.
            for (const p of partitions) {
              if ((await reader.get(Buffer.concat([p.key, Buffer.from('-absent')]), p.token)) !== null) return false;
              const later = partitions.some((q) => q.token === p.token + 1n && q.key.equals(p.key));
              if (!later && (await reader.get(p.key, p.token + 1n)) !== null) return false;
            }
          }
          return true;
        } finally {
          await reader.close();
        }
      }),
      { numRuns: 25 },
    ),
    'the property holds',
  );
});
