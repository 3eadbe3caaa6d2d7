/**
 * Bloom filters never say "absent" for a key they hold: the token-blocked layout at
 * extreme tokens and sizes, and SSTables whose Filter.db has the old key-hash layout.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { MAX_TOKEN, MIN_TOKEN, compareKeys, tokenOfWords } from '../../lib/model/token.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { BloomFilter, TokenBloomFilter, filterOf } from '../../lib/storage/sstable/bloom.js';
import { componentPath } from '../../lib/storage/sstable/descriptor.js';
import { decodeFilter, encodeFilter } from '../../lib/storage/sstable/format.js';
import { SSTableReader } from '../../lib/storage/sstable/reader.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { eventsTable, int, partitionOf, row } from './fixtures/tables.js';

const fs = new NodeFileSystem();

t.test('a token-blocked filter holds every token added, extremes included, through Filter.db', async (t) => {
  const key = Buffer.from('k');
  const tokens = [MIN_TOKEN, MAX_TOKEN, 0n, -1n, 1n, tokenOfWords(-1, 0), tokenOfWords(0, 0xffffffff), tokenOfWords(0x7fffffff, 0), tokenOfWords(-0x80000000, 0xffffffff)];
  for (let i = 0; i < 2000; i++) tokens.push(tokenOfWords((Math.imul(i, 0x9e3779b1) | 0) ^ 0x5bd1e995, Math.imul(i + 7, 0x85ebca6b) >>> 0));
  for (const [n, p] of [[1, 0.01], [10, 0.5], [3000, 0.01], [1_000_000, 0.001], [5, 0.999999]] as const) {
    const filter = TokenBloomFilter.sized(n, p);
    for (const token of tokens) filter.add(key, token);
    const read = filterOf(decodeFilter(encodeFilter(filter), 'Filter.db'));
    const missed = tokens.filter((token) => !read.mightContain(key, token)).length;
    t.equal(missed, 0, `no false negative (n=${n}, p=${p}, bits=${filter.bitCount}, k=${filter.hashCount})`);
  }
});

t.test('an SSTable with an old key-hash Filter.db is read as before', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review5-bloom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const table = eventsTable();
  const ps: Partition[] = Array.from({ length: 500 }, (_, k) => partitionOf(int(k), { rows: [row([int(1)], { marker: 1, cells: { v: [1, 'x'] } })] }));
  ps.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: ps.length, level: 0 });
  for (const p of ps) await writer.append(p);
  await (await writer.finish()).close();
  const old = BloomFilter.sized(ps.length, 0.01);
  for (const p of ps) old.add(p.key);
  await writeFile(componentPath(dir, 1, 'Filter'), encodeFilter(old));
  const reader = await SSTableReader.open(fs, dir, 1, table);
  t.teardown(() => reader.close());
  let missing = 0;
  for (const p of ps) if ((await reader.get(p.key, p.token)) === null) missing++;
  t.equal(missing, 0, 'every key found');
  let admitted = 0;
  for (let k = 10_000; k < 12_000; k++) {
    const key = int(k);
    if (reader.mayContain(key, partitionOf(key).token)) admitted++;
  }
  t.ok(admitted < 200, `absent keys mostly rejected (${admitted} of 2000 admitted)`);
});
