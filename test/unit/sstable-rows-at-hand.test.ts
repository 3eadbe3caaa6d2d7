/**
 * A point read of a small partition whose chunk is already read is answered without
 * waiting: SSTableReader.findIfLoaded finds it and SSTablePartition.rowsIfLoaded
 * decodes its rows at once. Both must give exactly what find() and rows() give, for
 * any slices, forwards and reversed, and stand aside (undefined) where they cannot.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ALL_ROWS, type Slice } from '../../lib/model/clustering.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { compareKeys } from '../../lib/model/token.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { plain } from '../helpers/plain.js';
import { propertyHolds } from '../helpers/property.js';
import { bound, int, intType, makeTable, partitionOf, row, slice, textType } from './fixtures/tables.js';

const fs = new NodeFileSystem();
const base = makeTable({ name: 'kv', partitionKey: [['k', intType]], clustering: [['c', intType]], regular: [['v', textType]] });

/** Sorted, non-overlapping slices over clustering values 0..40 from sorted cut points. */
function slicesOf(cuts: number[], inclusive: boolean[]): Slice[] {
  const slices: Slice[] = [];
  for (let i = 0; i + 1 < cuts.length; i += 2) {
    // Consecutive slices touch at most at an exclusive bound: never overlap.
    const start = bound([int(cuts[i])], inclusive[i] && (i === 0 || cuts[i] !== cuts[i - 1]));
    slices.push(slice(start, bound([int(cuts[i + 1])], inclusive[i + 1])));
  }
  return slices.length === 0 ? [ALL_ROWS] : slices;
}

for (const compression of [
  { class: 'LZ4Compressor', chunkLengthKb: 16, enabled: true },
  { class: '', chunkLengthKb: 1, enabled: false },
]) {
  t.test(`rows at hand are exactly the rows read (${compression.chunkLengthKb} KiB chunks)`, async (t) => {
    const table = { ...base, options: { ...base.options, compression } };
    const dir = await mkdtemp(join(tmpdir(), 'sibyl-at-hand-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    let generation = 0;
    let atHand = 0;
    let found = 0;
    const partitionSpec = fc.record({
      key: fc.integer({ min: 0, max: 1_000_000 }),
      // Some partitions with more rows than rowsIfLoaded decodes at once.
      clusterings: fc.oneof(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 14, maxLength: 24 }),
      ),
      size: fc.integer({ min: 0, max: 60 }),
    });
    const readSpec = fc.record({
      cuts: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 6 }),
      inclusive: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      reversed: fc.boolean(),
    });
    const spec = fc.record({
      partitions: fc.uniqueArray(partitionSpec, { selector: (p) => p.key, minLength: 20, maxLength: 60 }),
      reads: fc.array(readSpec, { minLength: 3, maxLength: 3 }),
    });
    propertyHolds(
      t,
      await fc.check(
        fc.asyncProperty(spec, async ({ partitions: specs, reads }) => {
          const partitions: Partition[] = specs.map((s) =>
            partitionOf(int(s.key), {
              rows: [...s.clusterings].sort((a, b) => a - b).map((c) => row([int(c)], { marker: 1, cells: { v: [1 + c, 'v'.repeat(s.size)] } })),
            }),
          );
          partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
          const writer = await SSTableWriter.create(fs, dir, ++generation, table, { expectedPartitions: partitions.length, level: 0 });
          for (const p of partitions) await writer.append(p);
          const reader = await writer.finish();
          try {
            for (const p of partitions) {
              const source = await reader.find(p.key, p.token);
              if (source === null) return false;
              // find() read the chunk: the search without waiting finds the same partition,
              // unless the header lies split across chunks.
              const loaded = reader.findIfLoaded(p.key, p.token);
              if (loaded !== undefined) {
                found++;
                if (loaded === null || !loaded.key.equals(p.key)) return false;
              }
              const absent = int(-1 - p.rows.length);
              if (reader.findIfLoaded(absent, p.token) !== undefined && reader.findIfLoaded(absent, p.token) !== null) return false;
              for (const read of reads) {
                const slices = slicesOf([...read.cuts].sort((a, b) => a - b), read.inclusive);
                const rows: Row[] = [];
                for await (const r of source.rows(slices, read.reversed)) rows.push(r);
                const loaded = source.rowsIfLoaded!(slices, read.reversed);
                if (loaded === undefined) continue;
                const now = [...loaded];
                // More rows than rowsIfLoaded decodes at once: a small limit must not pay for them.
                if (p.rows.length > 16) return false;
                atHand++;
                if (JSON.stringify(plain(now)) !== JSON.stringify(plain(rows))) return false;
              }
            }
            return true;
          } finally {
            await reader.close();
          }
        }),
        { numRuns: 30 },
      ),
      'the property holds',
    );
    // The comparisons above only mean something if the fast paths answered.
    t.ok(found > 0, `findIfLoaded answered ${found} times`);
    t.ok(atHand > 0, `rowsIfLoaded answered ${atHand} times`);
  });
}

t.test('reversed slices around an empty one: both paths return the row the empty slice ends at', async (t) => {
  // The counterexample fast-check once found: rows() reversed dropped row 30.
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-at-hand-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const p = partitionOf(int(7), { rows: [0, 30].map((c) => row([int(c)], { marker: 1, cells: { v: [1 + c, 'v'] } })) });
  const writer = await SSTableWriter.create(fs, dir, 1, base, { expectedPartitions: 1, level: 0 });
  await writer.append(p);
  const reader = await writer.finish();
  t.teardown(() => reader.close());
  const source = (await reader.find(p.key, p.token))!;
  const slices = slicesOf([0, 0, 0, 30, 30, 30], [false, false, false, true, false, false]);
  t.equal(slices.length, 3, 'an empty slice, (0, 30], an empty slice');
  for (const reversed of [false, true]) {
    const rows: Row[] = [];
    for await (const r of source.rows(slices, reversed)) rows.push(r);
    t.same(rows.map((r) => r.clustering[0].readInt32BE()), [30], `rows(), ${reversed ? 'reversed' : 'forward'}`);
    const atHand = [...(source.rowsIfLoaded!(slices, reversed) ?? [])];
    t.same(atHand.map((r) => r.clustering[0].readInt32BE()), [30], `rowsIfLoaded(), ${reversed ? 'reversed' : 'forward'}`);
  }
});

t.test('a partition whose chunk is not read yet is not at hand', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-at-hand-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const partitions = Array.from({ length: 200 }, (_, k) => partitionOf(int(k), { rows: [row([int(0)], { marker: 1, cells: { v: [1, 'x'.repeat(100)] } })] }));
  partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
  const table = { ...base, options: { ...base.options, compression: { class: '', chunkLengthKb: 1, enabled: false } } };
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: partitions.length, level: 0 });
  for (const p of partitions) await writer.append(p);
  const reader = await writer.finish();
  t.teardown(() => reader.close());
  const [first, last] = [partitions[0], partitions[partitions.length - 1]];
  t.equal(reader.findIfLoaded(last.key, last.token), undefined, 'no chunk is cached yet');
  const source = await reader.find(first.key, first.token);
  t.ok(source?.key.equals(first.key), 'find() reads the chunk');
  t.equal(reader.findIfLoaded(last.key, last.token), undefined, 'the last partition lies in another chunk');
  t.ok(reader.findIfLoaded(first.key, first.token)?.key.equals(first.key), 'the first one is at hand now');
});
