/**
 * Closing a reader while its reads are in flight leaves none of its chunks in a shared
 * cache: the cache's byte count returns to what the other readers hold.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition } from '../../lib/model/partition.js';
import { compareKeys } from '../../lib/model/token.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { ChunkCache, SSTableReader } from '../../lib/storage/sstable/reader.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { eventsTable, int, partitionOf, row } from './fixtures/tables.js';

const node = new NodeFileSystem();

for (const [name, fs] of [['node fs', node]] as const) {
  t.test(`a reader closed mid-read leaves nothing in the shared cache (${name})`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sibyl-review5-close-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const base = eventsTable();
    const table = { ...base, options: { ...base.options, compression: { class: '', chunkLengthKb: 1, enabled: false } } };
    const ps: Partition[] = Array.from({ length: 300 }, (_, k) => partitionOf(int(k), { rows: Array.from({ length: 1 + (k % 7) }, (_, c) => row([int(c)], { marker: 1, cells: { v: [1, 'x'.repeat(50)] } })) }));
    ps.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
    const writer = await SSTableWriter.create(node, dir, 1, table, { expectedPartitions: ps.length, level: 0 });
    for (const p of ps) await writer.append(p);
    await (await writer.finish()).close();
    const cache = new ChunkCache(1 << 20);
    const reader = await SSTableReader.open(fs, dir, 1, table, { chunkCache: cache });
    const reads = ps.map(async (p) => {
      const source = await reader.get(p.key, p.token);
      if (source !== null) for await (const _ of source.rows([ALL_ROWS], false));
    }).map((read) => read.catch(() => undefined));
    const scan = (async () => {
      for await (const source of reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) for await (const _ of source.rows([ALL_ROWS], false));
    })().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 3));
    await reader.close();
    await Promise.allSettled([...reads, scan]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(cache.bytes, 0, 'no bytes held for the closed reader');
  });
}
