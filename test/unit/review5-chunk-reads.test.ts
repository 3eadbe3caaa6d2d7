/**
 * Point reads and scans through a small shared chunk cache, many at once, return what
 * was written: the cursor's takeIfCached and the search's "between two samples" logic
 * must hold whatever the cache holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { compareKeys, murmur3Token } from '../../lib/model/token.js';
import { seededRandom } from '../../lib/model/random.js';
import type { TableMetadata } from '../../lib/schema/metadata.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import type { PartitionSource } from '../../lib/storage/source.js';
import { ChunkCache, SSTableReader } from '../../lib/storage/sstable/reader.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { plain } from '../helpers/plain.js';
import { eventsTable, int, partitionOf, row } from './fixtures/tables.js';

const fs = new NodeFileSystem();

async function collect(source: PartitionSource): Promise<Partition> {
  const rows: Row[] = [];
  for await (const r of source.rows([ALL_ROWS], false)) rows.push(r);
  return { key: source.key, token: source.token, deletion: source.deletion, staticRow: source.staticRow, rangeTombstones: [...source.rangeTombstones], rows };
}

for (const compression of [
  { class: '', chunkLengthKb: 1, enabled: false },
  { class: 'LZ4Compressor', chunkLengthKb: 1, enabled: true },
]) {
  for (const budget of [0, 1024, 3 * 1024, 64 * 1024]) {
    t.test(`concurrent reads through a ${budget}-byte cache return what was written (${compression.class || 'none'})`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'sibyl-review5-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      const base = eventsTable();
      const table: TableMetadata = { ...base, options: { ...base.options, compression } };
      const next = seededRandom(budget + 7);
      const partitions: Partition[] = [];
      for (let k = 0; k < 400; k++) {
        const rowCount = next() < 0.1 ? 1 + Math.floor(next() * 80) : 1 + Math.floor(next() * 3);
        const rows = Array.from({ length: rowCount }, (_, ck) => row([int(ck)], { marker: 5, cells: { v: [5, 'x'.repeat(Math.floor(next() * 60))] } }));
        partitions.push(partitionOf(int(k * 2), { rows }));
      }
      partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
      const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: partitions.length, level: 0 });
      for (const p of partitions) await writer.append(p);
      await (await writer.finish()).close();
      const cache = new ChunkCache(budget);
      const reader = await SSTableReader.open(fs, dir, 1, table, { chunkCache: cache });
      t.teardown(() => reader.close());
      const expected = new Map(partitions.map((p) => [p.key.toString('hex'), JSON.stringify(plain(p))]));
      let wrong = 0;
      for (let round = 0; round < 4; round++) {
        const reads = Array.from({ length: 300 }, async () => {
          const k = Math.floor(next() * 800);
          const key = int(k);
          const source = await reader.get(key, murmur3Token(key));
          const want = expected.get(key.toString('hex'));
          const got = source === null ? undefined : JSON.stringify(plain(await collect(source)));
          if (got !== want) wrong++;
        });
        const scan = (async () => {
          const seen: string[] = [];
          for await (const source of reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) seen.push(JSON.stringify(plain(await collect(source))));
          if (seen.join('\n') !== partitions.map((p) => JSON.stringify(plain(p))).join('\n')) wrong += 1000;
        })();
        await Promise.all([...reads, scan]);
      }
      t.equal(wrong, 0, 'every read and scan returns what was written');
      t.ok(cache.bytes <= Math.max(cache.bytesMax, 1024), `cache within budget (${cache.bytes})`);
    });
  }
}
