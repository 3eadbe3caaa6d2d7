import t, { type Test } from 'tap';
import { mkdtemp, rm, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_DELETION_TIME, type Cell, type DeletionTime, type LivenessInfo } from '../../lib/model/cell.js';
import { ALL_ROWS, type ClusteringBound, type Slice } from '../../lib/model/clustering.js';
import type { ComplexColumn, Partition, RangeTombstone, Row } from '../../lib/model/partition.js';
import { MAX_TOKEN, MIN_TOKEN, compareKeys, murmur3Token } from '../../lib/model/token.js';
import { CorruptSSTable } from '../../lib/errors.js';
import { DEFAULT_TABLE_OPTIONS, buildTable } from '../../lib/schema/schema.js';
import type { CompressionOptions, TableMetadata } from '../../lib/schema/metadata.js';
import { parseTypeName } from '../../lib/schema/types.js';
import type { KeyRange, PartitionPosition } from '../../lib/storage/engine.js';
import type { FileHandle, FileSystem, OpenMode } from '../../lib/storage/fs.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import type { PartitionSource } from '../../lib/storage/source.js';
import { ChunkCache, SSTableReader, listSSTables } from '../../lib/storage/sstable/reader.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';
import { decodeCompressionInfo } from '../../lib/storage/sstable/format.js';
import { seededRandom } from '../../lib/model/random.js';
import { plain } from '../helpers/plain.js';

// ---------------------------------------------------------------------------------
// Fixtures

const fs = new NodeFileSystem();

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-sstable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const LZ4: CompressionOptions = { class: 'LZ4Compressor', chunkLengthKb: 16, enabled: true };
const DEFLATE: CompressionOptions = { class: 'DeflateCompressor', chunkLengthKb: 4, enabled: true };
/** Tiny chunks: most records straddle a chunk boundary. */
const NONE_SMALL_CHUNKS: CompressionOptions = { class: '', chunkLengthKb: 1, enabled: false };

/** pk int, two clustering columns (the second DESC), simple, static and collection columns. */
function makeTable(compression: CompressionOptions = LZ4, bloomFilterFpChance = 0.01): TableMetadata {
  return buildTable({
    keyspace: 'ks',
    name: 'events',
    columns: [
      { name: 'pk', type: parseTypeName('int'), kind: 'partition_key' },
      { name: 'c1', type: parseTypeName('int'), kind: 'clustering', order: 'ASC' },
      { name: 'c2', type: parseTypeName('int'), kind: 'clustering', order: 'DESC' },
      { name: 'v', type: parseTypeName('text'), kind: 'regular' },
      { name: 'w', type: parseTypeName('blob'), kind: 'regular' },
      { name: 'tags', type: parseTypeName('set<int>'), kind: 'regular' },
      { name: 'm', type: parseTypeName('map<text, int>'), kind: 'regular' },
      { name: 's', type: parseTypeName('text'), kind: 'static' },
    ],
    options: { ...DEFAULT_TABLE_OPTIONS, compression, bloomFilterFpChance },
  });
}

const int = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** Deterministic random numbers (mulberry32): failures replay from the seed. */
function random(seed: number) {
  const next = seededRandom(seed);
  const below = (n: number): number => Math.floor(next() * n);
  return {
    below,
    chance: (p: number): boolean => next() < p,
    pick: <T>(items: readonly T[]): T => items[below(items.length)],
    bytes: (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => below(256))),
  };
}
type Random = ReturnType<typeof random>;

const EXTREME_TIMESTAMPS = [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0, -1, 63, 64, -64, 2 ** 31, -(2 ** 32)];
const NOW = 1_700_000_000;

function randomTimestamp(rng: Random, base: number): number {
  if (rng.chance(0.1)) return rng.pick(EXTREME_TIMESTAMPS);
  return rng.chance(0.6) ? base : base + rng.below(1000) - 500;
}

function randomDeletion(rng: Random, base: number): DeletionTime {
  return { markedForDeleteAt: randomTimestamp(rng, base), localDeletionTime: rng.chance(0.1) ? 0 : NOW + rng.below(100) };
}

function randomCell(rng: Random, base: number, value: () => Buffer, path?: Buffer): Cell {
  const timestamp = randomTimestamp(rng, base);
  switch (rng.below(4)) {
    case 0:
      return { timestamp, value: null, ttl: 0, localDeletionTime: NOW + rng.below(10), path };
    case 1: {
      const ttl = 1 + rng.below(100_000);
      return { timestamp, value: value(), ttl, localDeletionTime: NOW + ttl, path };
    }
    case 2:
      return { timestamp, value: Buffer.alloc(0), ttl: 0, localDeletionTime: NO_DELETION_TIME, path };
    default:
      return { timestamp, value: value(), ttl: 0, localDeletionTime: NO_DELETION_TIME, path };
  }
}

function randomRow(rng: Random, clustering: Buffer[], isStatic: boolean): Row {
  const base = 1_700_000_000_000_000 + rng.below(1_000_000);
  let liveness: LivenessInfo | null = null;
  if (!isStatic && rng.chance(0.6)) {
    liveness = rng.chance(0.3)
      ? { timestamp: base, ttl: 3600, localDeletionTime: NOW + 3600 }
      : { timestamp: base, ttl: 0, localDeletionTime: NO_DELETION_TIME };
  }
  const deletion = !isStatic && rng.chance(0.1) ? randomDeletion(rng, base) : null;
  const cells = new Map<string, Cell>();
  const complex = new Map<string, ComplexColumn>();
  if (isStatic) {
    cells.set('s', randomCell(rng, base, () => Buffer.from(`static ${rng.below(1000)}`)));
  } else {
    // Random subsets in random order: the column table must keep whatever order a row has.
    if (rng.chance(0.8)) cells.set('v', randomCell(rng, base, () => Buffer.from('x'.repeat(rng.below(40)))));
    if (rng.chance(0.3)) cells.set('w', randomCell(rng, base, () => rng.bytes(rng.chance(0.05) ? 3000 : rng.below(30))));
    if (rng.chance(0.4)) {
      const paths = [...new Set(Array.from({ length: rng.below(5) }, () => rng.below(100)))].sort((a, b) => a - b);
      complex.set('tags', {
        deletion: rng.chance(0.3) ? randomDeletion(rng, base) : null,
        cells: paths.map((p) => randomCell(rng, base, () => Buffer.alloc(0), int(p))),
      });
    }
    if (rng.chance(0.2)) {
      // A column with nothing but its deletion.
      complex.set('m', { deletion: randomDeletion(rng, base), cells: [] });
    }
  }
  return { clustering, liveness, deletion, cells, complex };
}

function randomBound(rng: Random): ClusteringBound {
  const length = rng.below(3);
  return { prefix: Array.from({ length }, () => int(rng.below(50))), inclusive: rng.chance(0.5) };
}

function randomPartition(rng: Random, table: TableMetadata, key: Buffer, rowCount: number): Partition {
  const comparator = table.comparator;
  const seen = new Set<string>();
  const clusterings: Buffer[][] = [];
  while (clusterings.length < rowCount) {
    const c = [int(rng.below(50)), int(rng.below(1000))];
    const id = Buffer.concat(c).toString('hex');
    if (seen.has(id)) continue;
    seen.add(id);
    clusterings.push(c);
  }
  clusterings.sort((a, b) => comparator.compare(a, b));
  const rangeTombstones: RangeTombstone[] = Array.from({ length: rng.chance(0.3) ? rng.below(4) : 0 }, () => ({
    start: randomBound(rng),
    end: randomBound(rng),
    deletion: randomDeletion(rng, 1_700_000_000_000_000),
  })).sort((a, b) => comparator.compareStarts(a.start, b.start));
  return {
    key,
    token: murmur3Token(key),
    deletion: rng.chance(0.1) ? randomDeletion(rng, 1_700_000_000_000_000) : null,
    staticRow: rng.chance(0.3) ? randomRow(rng, [], true) : null,
    rangeTombstones,
    rows: clusterings.map((c) => randomRow(rng, c, false)),
  };
}

function sortPartitions(partitions: Partition[]): Partition[] {
  return partitions.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
}

function randomPartitions(rng: Random, table: TableMetadata, count: number, rowsMax: number): Partition[] {
  const keys = new Set<number>();
  while (keys.size < count) keys.add(rng.below(1_000_000) - 500_000);
  return sortPartitions([...keys].map((k) => randomPartition(rng, table, int(k), rng.below(rowsMax + 1))));
}

async function writeSSTable(
  dir: string,
  generation: number,
  table: TableMetadata,
  partitions: readonly Partition[],
  level = 0,
): Promise<SSTableReader> {
  const writer = await SSTableWriter.create(fs, dir, generation, table, { expectedPartitions: partitions.length, level });
  for (const partition of partitions) await writer.append(partition);
  return writer.finish();
}


async function collect(source: PartitionSource, slices: readonly Slice[] = [ALL_ROWS], reversed = false): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of source.rows(slices, reversed)) rows.push(row);
  return rows;
}

async function materialize(source: PartitionSource): Promise<Partition> {
  return {
    key: source.key,
    token: source.token,
    deletion: source.deletion,
    staticRow: source.staticRow,
    rangeTombstones: [...source.rangeTombstones],
    rows: await collect(source),
  };
}

/** Counts the reads of open file handles (of Index.db apart). */
class CountingFileSystem extends NodeFileSystem implements FileSystem {
  reads = 0;
  bytes = 0;
  indexReads = 0;
  reset(): void {
    this.reads = 0;
    this.bytes = 0;
    this.indexReads = 0;
  }
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    const counter = this;
    return {
      path: handle.path,
      async read(buffer, offset, length, position) {
        const n = await handle.read(buffer, offset, length, position);
        counter.reads++;
        counter.bytes += n;
        if (path.endsWith('-Index.db')) counter.indexReads++;
        return n;
      },
      write: (b, p) => handle.write(b, p),
      sync: () => handle.sync(),
      size: () => handle.size(),
      truncate: (l) => handle.truncate(l),
      close: () => handle.close(),
    };
  }
}

// ---------------------------------------------------------------------------------
// Round trips

for (const [name, compression] of [
  ['LZ4', LZ4],
  ['Deflate', DEFLATE],
  ['no compression, 1 KiB chunks', NONE_SMALL_CHUNKS],
] as const) {
  t.test(`every field of every partition survives a write and read back (${name})`, async (t) => {
    const dir = await tempDir(t);
    const table = makeTable(compression);
    const rng = random(0xc0ffee);
    const partitions = randomPartitions(rng, table, 200, 40);
    // One wide partition whose rows fill several row-index blocks.
    const wideKey = int(600_000);
    const wide = randomPartition(rng, table, wideKey, 4000);
    partitions.push(wide);
    sortPartitions(partitions);

    const reader = await writeSSTable(dir, 1, table, partitions);
    t.teardown(() => reader.close());

    t.equal(reader.stats.compression, compression.enabled ? compression.class : '');
    t.equal(reader.stats.partitionCount, partitions.length);
    t.equal(reader.stats.rowCount, partitions.reduce((n, p) => n + p.rows.length, 0));
    t.equal(reader.firstToken, partitions[0].token);
    t.equal(reader.lastToken, partitions[partitions.length - 1].token);
    t.same(plain(reader.firstKey), plain(partitions[0].key));
    t.same(plain(reader.lastKey), plain(partitions[partitions.length - 1].key));

    let mismatches = 0;
    for (const partition of partitions) {
      const source = await reader.get(partition.key, partition.token);
      if (source === null) {
        t.fail(`partition ${partition.key.toString('hex')} not found`);
        continue;
      }
      const expected = JSON.stringify(plain(partition));
      const actual = JSON.stringify(plain(await materialize(source)));
      if (actual !== expected) {
        mismatches++;
        if (mismatches === 1) t.same(plain(await materialize(source)), plain(partition), `partition ${partition.key.toString('hex')}`);
      }
    }
    t.equal(mismatches, 0, 'point reads return exactly what was written');

    const scanned: unknown[] = [];
    for await (const source of reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) {
      scanned.push(plain(await materialize(source)));
    }
    t.equal(JSON.stringify(scanned), JSON.stringify(partitions.map(plain)), 'a full scan returns every partition in order');

    // Reopening from disk (not the writer's reader) gives the same answers.
    const reopened = await SSTableReader.open(fs, dir, 1, table);
    t.teardown(() => reopened.close());
    t.same(reopened.stats, reader.stats);
    const again = await reopened.get(wideKey, murmur3Token(wideKey));
    t.equal(JSON.stringify(plain(await materialize(again!))), JSON.stringify(plain(wide)));
    await reopened.verify();
  });
}

t.test('incompressible chunks are stored as they are and read back', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable({ class: 'LZ4Compressor', chunkLengthKb: 4, enabled: true });
  const rng = random(17);
  const partitions = sortPartitions(
    Array.from({ length: 200 }, (_, i) => {
      const key = int(i);
      const row: Row = {
        clustering: [int(0), int(0)],
        liveness: null,
        deletion: null,
        cells: new Map([['w', { timestamp: 1, value: rng.bytes(2000), ttl: 0, localDeletionTime: NO_DELETION_TIME }]]),
        complex: new Map(),
      };
      return { key, token: murmur3Token(key), deletion: null, staticRow: null, rangeTombstones: [], rows: [row] };
    }),
  );
  const reader = await writeSSTable(dir, 1, table, partitions);
  t.teardown(() => reader.close());
  const info = decodeCompressionInfo(await readFile(join(dir, 'sb-1-CompressionInfo.db')), 'CompressionInfo');
  const stored = Array.from({ length: info.chunkOffsets.length - 1 }, (_, i) => info.chunkOffsets[i + 1] - info.chunkOffsets[i]);
  const raw = stored.slice(0, -1).filter((length) => length === 4096 + 4).length;
  t.ok(raw >= stored.length / 2, `${raw} of ${stored.length} chunks stored uncompressed: their length plus the CRC`);
  for (const partition of partitions) {
    const source = await reader.get(partition.key, partition.token);
    t.equal(JSON.stringify(plain(await materialize(source!))), JSON.stringify(plain(partition)));
  }
});

t.test('writing a large partition lets the event loop run between chunks', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable({ class: 'LZ4Compressor', chunkLengthKb: 4, enabled: true });
  const key = int(1);
  const partition = randomPartition(random(23), table, key, 5000);
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: 1 });
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  await writer.append(partition);
  running = false;
  const chunks = Math.floor(writer.bytesWritten / 4096);
  t.ok(turns >= chunks / 2, `${turns} event-loop turns while writing ${chunks} chunks`);
  await (await writer.finish()).close();
});

t.test('statistics describe the content', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const partitions = randomPartitions(random(7), table, 50, 20);
  const reader = await writeSSTable(dir, 3, table, partitions, 2);
  t.teardown(() => reader.close());

  let minTimestamp = Infinity;
  let maxTimestamp = -Infinity;
  let minLdt = Infinity;
  let maxLdt = -Infinity;
  let tombstones = 0;
  const note = (timestamp: number, ldt: number) => {
    minTimestamp = Math.min(minTimestamp, timestamp);
    maxTimestamp = Math.max(maxTimestamp, timestamp);
    minLdt = Math.min(minLdt, ldt);
    maxLdt = Math.max(maxLdt, ldt);
  };
  const deletion = (d: DeletionTime | null) => {
    if (d === null) return;
    note(d.markedForDeleteAt, d.localDeletionTime);
    tombstones++;
  };
  const cell = (c: Cell) => {
    note(c.timestamp, c.localDeletionTime);
    if (c.value === null) tombstones++;
  };
  const row = (r: Row) => {
    if (r.liveness) note(r.liveness.timestamp, r.liveness.localDeletionTime);
    deletion(r.deletion);
    r.cells.forEach(cell);
    for (const c of r.complex.values()) {
      deletion(c.deletion);
      c.cells.forEach(cell);
    }
  };
  for (const p of partitions) {
    deletion(p.deletion);
    p.rangeTombstones.forEach((rt) => deletion(rt.deletion));
    if (p.staticRow) row(p.staticRow);
    p.rows.forEach(row);
  }
  const stats = reader.stats;
  t.equal(stats.minTimestamp, minTimestamp);
  t.equal(stats.maxTimestamp, maxTimestamp);
  t.equal(stats.minLocalDeletionTime, minLdt);
  t.equal(stats.maxLocalDeletionTime, maxLdt);
  t.equal(stats.tombstoneCount, tombstones);
  t.equal(stats.level, 2);
  t.equal(stats.minToken, partitions[0].token);
  t.equal(stats.maxToken, partitions[partitions.length - 1].token);
  t.equal(stats.diskBytes, (await readFile(join(dir, 'sb-3-Data.db'))).length, 'diskBytes is the size of Data.db');
  t.ok(stats.uncompressedBytes > 0);
  t.same(
    reader.files.map((f) => f.slice(dir.length + 1)).sort(),
    ['CompressionInfo', 'Data', 'Digest', 'Filter', 'Index', 'Statistics', 'Summary', 'TOC'].map((c) => `sb-3-${c}.db`).sort(),
  );
});

// ---------------------------------------------------------------------------------
// Point reads and the bloom filter

t.test('absent keys: null, and the bloom filter rejects about as many as its target rate promises', async (t) => {
  const dir = await tempDir(t);
  const fpChance = 0.01;
  const table = makeTable(LZ4, fpChance);
  const count = 10_000;
  const keys = sortPartitions(
    Array.from({ length: count }, (_, i) => {
      const key = int(2 * i); // even keys present, odd ones absent
      return { key, token: murmur3Token(key), deletion: null, staticRow: null, rangeTombstones: [], rows: [] } as Partition;
    }),
  );
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: count });
  for (const p of keys) {
    await writer.startPartition({ ...p, deletion: { markedForDeleteAt: 1, localDeletionTime: NOW } });
    await writer.endPartition();
  }
  const reader = await writer.finish();
  t.teardown(() => reader.close());

  let maybe = 0;
  let inBounds = 0;
  let found = 0;
  for (let i = 0; i < count; i++) {
    const key = int(2 * i + 1);
    const token = murmur3Token(key);
    if (reader.mayContain(key, token)) maybe++;
    if (token >= reader.firstToken && token <= reader.lastToken) inBounds++;
    if ((await reader.get(key, token)) !== null) found++;
  }
  t.equal(found, 0, 'no absent key is found');
  const rate = maybe / count;
  t.ok(rate >= fpChance / 2 && rate <= fpChance * 2, `observed false-positive rate ${rate} within 2x of ${fpChance}`);
  t.equal(reader.bloomFalsePositives, maybe, 'get() counts the false positives it met');
  t.equal(reader.bloomChecks, inBounds, 'get() counts its bloom checks (tokens out of bounds skip the filter)');

  for (const p of keys.slice(0, 200)) {
    t.ok(reader.mayContain(p.key, p.token), 'no false negatives');
    const found = await reader.get(p.key, p.token);
    t.same(found?.deletion, { markedForDeleteAt: 1, localDeletionTime: NOW });
  }
  t.equal(reader.mayContain(int(1), MIN_TOKEN), false, 'a token outside the SSTable is rejected without the filter');
});

t.test('a point read reads the chunk where the partition starts, and neither the index nor a wide neighbour', async (t) => {
  const dir = await tempDir(t);
  // No bloom filter (fp chance 1): absent keys must be ruled out by the data walk.
  const table = makeTable(LZ4, 1);
  const rng = random(11);
  const partitions = randomPartitions(rng, table, 2000, 3);
  // A wide partition (~1 MB) in the middle, and an absent key right after it.
  const wideAt = 1000;
  const wide = randomPartition(rng, table, partitions[wideAt].key, 12_000);
  partitions[wideAt] = wide;
  let absent: Buffer | null = null;
  for (let k = 600_000; absent === null; k++) {
    const token = murmur3Token(int(k));
    if (token > wide.token && token < partitions[wideAt + 1].token) absent = int(k);
  }
  await (await writeSSTable(dir, 1, table, partitions)).close();
  const counting = new CountingFileSystem();
  // A new reader for each check: nothing comes from the chunk cache.
  let reader: SSTableReader | null = null;
  const fresh = async (): Promise<SSTableReader> => {
    await reader?.close();
    reader = await SSTableReader.open(counting, dir, 1, table);
    counting.reset();
    return reader;
  };
  t.teardown(() => reader?.close());
  const chunkBytes = 16 * 1024;

  for (const target of [partitions[1234], partitions[wideAt - 1], partitions[wideAt + 1]]) {
    const source = await (await fresh()).get(target.key, target.token);
    t.equal(JSON.stringify(plain(await materialize(source!))), JSON.stringify(plain(target)));
    t.ok(counting.reads <= 2, `${counting.reads} reads`);
    t.ok(counting.bytes <= 2 * chunkBytes, `${counting.bytes} bytes read`);
    t.equal(counting.indexReads, 0, 'Index.db is not read');
  }

  t.equal(await (await fresh()).get(absent!, murmur3Token(absent!)), null, 'a key between the wide partition and the next is absent');
  t.ok(counting.reads >= 1 && counting.bytes <= 2 * chunkBytes, `${counting.bytes} bytes read for it`);

  const source = (await (await fresh()).get(wide.key, wide.token))!;
  t.ok(counting.bytes <= 2 * chunkBytes, `the wide partition's header: ${counting.bytes} bytes read`);
  const last = wide.rows[wide.rows.length - 1];
  const found = await collect(source, [{ start: { prefix: last.clustering, inclusive: true }, end: { prefix: [], inclusive: true } }]);
  t.equal(JSON.stringify(plain(found)), JSON.stringify(plain([last])), 'a slice of a wide partition read by get() uses its row index');
  t.equal(counting.indexReads, 1, 'one Index.db read for the row index');
  const dataBytes = (await readFile(join(dir, 'sb-1-Data.db'))).length;
  t.ok(counting.bytes < dataBytes / 4, `${counting.bytes} of ${dataBytes} bytes read`);
});

t.test('a shared chunk cache serves repeated reads from memory and stays within its budget', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable({ class: 'LZ4Compressor', chunkLengthKb: 4, enabled: true });
  const partitions = randomPartitions(random(13), table, 600, 4);
  await (await writeSSTable(dir, 1, table, partitions)).close();
  await (await writeSSTable(dir, 2, table, partitions.slice(0, 100))).close();
  const cache = new ChunkCache(5 * 4096);
  const counting = new CountingFileSystem();
  const first = await SSTableReader.open(counting, dir, 1, table, { chunkCache: cache });
  const second = await SSTableReader.open(counting, dir, 2, table, { chunkCache: cache });
  t.teardown(() => Promise.all([first.close(), second.close()]));

  const target = partitions[50];
  for (const reader of [first, second]) {
    counting.reset();
    await materialize((await reader.get(target.key, target.token))!);
    t.equal(counting.reads, 1, 'the first read goes to disk');
    counting.reset();
    const again = await materialize((await reader.get(target.key, target.token))!);
    t.equal(counting.reads, 0, 'the second comes from the cache');
    t.equal(JSON.stringify(plain(again)), JSON.stringify(plain(target)));
  }
  // Reading everything pushes the oldest chunks out: the budget holds five.
  for await (const source of first.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) await collect(source);
  counting.reset();
  await materialize((await second.get(target.key, target.token))!);
  t.equal(counting.reads, 1, 'evicted by the scan, read again');
  t.ok(cache.bytes <= cache.bytesMax, `${cache.bytes} bytes cached of ${cache.bytesMax}`);
  const before = cache.bytes;
  await second.close();
  t.ok(cache.bytes < before, 'a closed reader\'s chunks leave the cache');
});

t.test('a scan reads the next data chunk and index block ahead of the partition it serves', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable({ class: 'LZ4Compressor', chunkLengthKb: 4, enabled: true });
  const partitions = randomPartitions(random(17), table, 600, 4);
  await (await writeSSTable(dir, 1, table, partitions)).close();
  const cache = new ChunkCache(64 << 20);
  const counting = new CountingFileSystem();
  const reader = await SSTableReader.open(counting, dir, 1, table, { chunkCache: cache });
  t.teardown(() => reader.close());
  counting.reset();
  const scan = reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })[Symbol.asyncIterator]();
  await collect((await scan.next()).value!);
  // Let the reads started on the way finish.
  for (let i = 0; i < 20 && cache.bytes < 2 * 4096; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(cache.bytes, 2 * 4096, 'the first partition\'s chunk and the next one');
  t.equal(counting.indexReads, 2, 'the first index block and the next one');
  await scan.return?.(undefined);
  // A scan stopped early leaves nothing behind: the reader closes cleanly (teardown).
});

// ---------------------------------------------------------------------------------
// Slices on a wide partition

function randomSlices(rng: Random, table: TableMetadata): Slice[] {
  const comparator = table.comparator;
  // Bounds within a window of ~20 c1 values (~2000 rows), so each run reads a few blocks.
  const window = rng.below(200);
  const bound = (): ClusteringBound => {
    const length = rng.chance(0.05) ? 0 : 1 + rng.below(2);
    return { prefix: [int(window - 2 + rng.below(24)), int(rng.below(100))].slice(0, length), inclusive: rng.chance(0.5) };
  };
  // Sorted, non-overlapping: sort candidate bounds and pair them up.
  const count = 1 + rng.below(4);
  const starts = Array.from({ length: count * 2 }, bound);
  const points = starts.sort((a, b) => comparator.compareStarts(a, b));
  const slices: Slice[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    const start = points[i];
    const end = points[i + 1];
    if (start.prefix.length === 0 && i > 0) continue;
    const slice = { start, end };
    const previous = slices[slices.length - 1];
    // Keep only slices that start after the previous one ends.
    if (previous !== undefined && comparator.compareStarts(slice.start, { prefix: previous.end.prefix, inclusive: !previous.end.inclusive }) < 0) continue;
    if (previous !== undefined && previous.end.prefix.length === 0) continue;
    slices.push(slice);
  }
  return slices;
}

t.test('slices and reversed slices of a wide partition return exactly the rows a filter would', async (t) => {
  const dir = await tempDir(t);
  // Uncompressed, so bytes read measure rows read.
  const table = makeTable({ class: '', chunkLengthKb: 4, enabled: false });
  const comparator = table.comparator;
  const key = int(42);
  const rows: Row[] = [];
  for (let a = 0; a < 200; a++) {
    for (let b = 99; b >= 0; b--) {
      // c2 is DESC: within one c1, larger c2 first.
      rows.push({
        clustering: [int(a), int(b)],
        liveness: { timestamp: 1000 + a * 100 + b, ttl: 0, localDeletionTime: NO_DELETION_TIME },
        deletion: null,
        cells: new Map([['v', { timestamp: 1000 + a * 100 + b, value: Buffer.from(`row ${a}/${b}`), ttl: 0, localDeletionTime: NO_DELETION_TIME }]]),
        complex: new Map(),
      });
    }
  }
  const partition: Partition = { key, token: murmur3Token(key), deletion: null, staticRow: null, rangeTombstones: [], rows };
  const written = await writeSSTable(dir, 1, table, [partition]);
  await written.close();
  const counting = new CountingFileSystem();
  const reader = await SSTableReader.open(counting, dir, 1, table);
  t.teardown(() => reader.close());
  const dataBytes = reader.stats.diskBytes;
  const source = (await reader.get(key, partition.token))!;

  // Compared as one string each: deep comparison of 20k-element arrays is slow.
  const ids = (list: Row[]) => list.map((r) => `${r.clustering[0].readInt32BE()}/${r.clustering[1].readInt32BE()}`);
  const text = (list: Row[]) => ids(list).join(' ');
  t.equal(text(await collect(source, [ALL_ROWS])), text(rows), 'all rows in table order');
  t.equal(text(await collect(source, [ALL_ROWS], true)), text([...rows].reverse()), 'all rows reversed');
  const full = await collect(source, [ALL_ROWS]);
  t.equal(JSON.stringify(plain(full)), JSON.stringify(plain(rows)), 'rows read through the row index are intact');

  const rng = random(99);
  for (let run = 0; run < 25; run++) {
    const slices = randomSlices(rng, table);
    const expected = slices.flatMap((slice) => rows.filter((r) => comparator.inSlice(r.clustering, slice)));
    const label = JSON.stringify(plain(slices));
    t.equal(text(await collect(source, slices)), text(expected), `forward ${label}`);
    t.equal(text(await collect(source, slices, true)), text(expected.reverse()), `reversed ${label}`);
  }

  // Empty slices among others (as a replica may be sent): reading backwards must not
  // drop the rows of the slice before an empty one that ends where it ends.
  const edge = (a: number, inclusive: boolean) => ({ prefix: [int(a)], inclusive });
  const withEmpty: Slice[] = [
    { start: edge(5, false), end: edge(5, false) },
    { start: edge(5, false), end: edge(120, true) },
    { start: edge(120, false), end: edge(120, false) },
  ];
  const inside = rows.filter((r) => comparator.inSlice(r.clustering, withEmpty[1]));
  t.equal(inside.length, 115 * 100);
  t.equal(text(await collect(source, withEmpty)), text(inside), 'forward, with empty slices');
  t.equal(text(await collect(source, withEmpty, true)), text([...inside].reverse()), 'reversed, with empty slices');

  // A small slice in the middle seeks through the row index.
  const middle: Slice = { start: { prefix: [int(120), int(50)], inclusive: true }, end: { prefix: [int(120), int(40)], inclusive: true } };
  for (const reversed of [false, true]) {
    counting.reset();
    const found = await collect(source, [middle], reversed);
    t.equal(found.length, 11);
    // At most two row-index blocks (64 KiB each) and the chunks they straddle.
    t.ok(counting.bytes < dataBytes / 4, `${reversed ? 'reversed' : 'forward'}: read ${counting.bytes} of ${dataBytes} bytes`);
  }
});

// ---------------------------------------------------------------------------------
// Scans

t.test('a scan honours inclusive, exclusive and whole-token range bounds', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable(NONE_SMALL_CHUNKS);
  const rng = random(5);
  const partitions = randomPartitions(rng, table, 400, 2);
  const reader = await writeSSTable(dir, 1, table, partitions);
  t.teardown(() => reader.close());

  const after = (p: Partition, s: PartitionPosition, inclusive: boolean) => {
    if (s.key === null) return inclusive ? p.token >= s.token : p.token > s.token;
    const c = compareKeys(p.token, p.key, s.token, s.key);
    return inclusive ? c >= 0 : c > 0;
  };
  const before = (p: Partition, e: PartitionPosition, inclusive: boolean) => {
    if (e.key === null) return inclusive ? p.token <= e.token : p.token < e.token;
    const c = compareKeys(p.token, p.key, e.token, e.key);
    return inclusive ? c <= 0 : c < 0;
  };
  const position = (): PartitionPosition | null => {
    const choice = rng.below(6);
    if (choice === 0) return null;
    if (choice === 1) return { token: rng.pick([MIN_TOKEN, MAX_TOKEN]), key: null };
    const p = rng.pick(partitions);
    if (choice === 2) return { token: p.token, key: null };
    if (choice === 3) return { token: p.token + BigInt(rng.below(3)) - 1n, key: null };
    return { token: p.token, key: p.key };
  };
  for (let run = 0; run < 80; run++) {
    let start = position();
    let end = position();
    if (start !== null && end !== null && (start.token > end.token || (start.token === end.token && start.key !== null && end.key !== null && Buffer.compare(start.key, end.key) > 0))) {
      [start, end] = [end, start];
    }
    const range: KeyRange = { start, startInclusive: rng.chance(0.5), end, endInclusive: rng.chance(0.5) };
    const expected = partitions.filter(
      (p) => (range.start === null || after(p, range.start, range.startInclusive)) && (range.end === null || before(p, range.end, range.endInclusive)),
    );
    const found: Buffer[] = [];
    for await (const source of reader.scan(range)) found.push(source.key);
    t.same(
      found.map((k) => k.toString('hex')),
      expected.map((p) => p.key.toString('hex')),
      JSON.stringify(plain(range)),
    );
  }
});

// ---------------------------------------------------------------------------------
// Visibility, deletion, level

t.test('an SSTable without a TOC is invisible and listSSTables removes its leftovers', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const partitions = randomPartitions(random(3), table, 20, 3);
  await (await writeSSTable(dir, 1, table, partitions)).close();
  await (await writeSSTable(dir, 2, table, partitions)).close();
  await (await writeSSTable(dir, 5, table, partitions)).close();
  // Generation 2 crashed before its TOC rename; generation 3 while writing; generation
  // 5 during a setLevel; an unrelated file stays.
  await rm(join(dir, 'sb-2-TOC.db'));
  const abandoned = await SSTableWriter.create(fs, dir, 3, table, { expectedPartitions: 10 });
  for (const p of partitions) await abandoned.append(p);
  await writeFile(join(dir, 'sb-5-Statistics.db.tmp'), 'half');
  await writeFile(join(dir, 'notes.txt'), 'keep me');

  t.same(await listSSTables(fs, dir), [1, 5]);
  t.same(
    (await readdir(dir)).sort(),
    [
      'notes.txt',
      ...['CompressionInfo', 'Data', 'Digest', 'Filter', 'Index', 'Statistics', 'Summary', 'TOC'].flatMap((c) => [`sb-1-${c}.db`, `sb-5-${c}.db`]),
    ].sort(),
  );
  await abandoned.abort();
  await t.rejects(SSTableReader.open(fs, dir, 2, table), CorruptSSTable);
});

t.test('an aborted writer leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const writer = await SSTableWriter.create(fs, dir, 9, table, { expectedPartitions: 10 });
  for (const p of randomPartitions(random(4), table, 10, 5)) await writer.append(p);
  await writer.abort();
  t.same(await readdir(dir), []);
});

t.test('setLevel persists across reopening; delete removes every component', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const reader = await writeSSTable(dir, 4, table, randomPartitions(random(8), table, 30, 3));
  t.equal(reader.stats.level, 0);
  const before = reader.stats;
  await reader.setLevel(3);
  t.equal(reader.stats.level, 3);
  const reopened = await SSTableReader.open(fs, dir, 4, table);
  t.same(reopened.stats, { ...before, level: 3 });
  await reopened.close();
  await reader.delete();
  t.same(await readdir(dir), []);
  t.same(await listSSTables(fs, dir), []);
});

t.test('the writer refuses partitions and rows out of order', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const [a, b] = randomPartitions(random(2), table, 2, 0);
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: 2 });
  await writer.append(b);
  await t.rejects(writer.startPartition(a), /out of order/);
  await t.rejects(writer.startPartition(b), /out of order/, 'the same key twice');
  await writer.abort();

  const rows = await SSTableWriter.create(fs, dir, 2, table, { expectedPartitions: 1 });
  await rows.startPartition(a);
  const row = (c1: number, c2: number): Row => ({ clustering: [int(c1), int(c2)], liveness: null, deletion: null, cells: new Map(), complex: new Map() });
  await rows.addRow(row(1, 5));
  await rows.addRow(row(1, 4)); // c2 is DESC
  await t.rejects(rows.addRow(row(1, 6)), /clustering order/);
  await t.rejects(rows.addRow(row(1, 4)), /clustering order/);
  await rows.abort();
});

// ---------------------------------------------------------------------------------
// Corruption

async function rejectsCorrupt(t: Test, promise: Promise<unknown>, file: string, what: string): Promise<void> {
  try {
    await promise;
    t.fail(`${what}: no error`);
  } catch (error) {
    t.type(error, CorruptSSTable, what);
    t.equal((error as CorruptSSTable).file, file, `${what}: names the file`);
  }
}

t.test('a flipped byte in a data chunk fails the reads of that chunk only, naming the file', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable({ class: 'LZ4Compressor', chunkLengthKb: 1, enabled: true });
  const partitions = randomPartitions(random(21), table, 300, 3);
  await (await writeSSTable(dir, 1, table, partitions)).close();
  const dataPath = join(dir, 'sb-1-Data.db');
  const info = decodeCompressionInfo(await readFile(join(dir, 'sb-1-CompressionInfo.db')), 'CompressionInfo');
  const chunkCount = info.chunkOffsets.length - 1;
  t.ok(chunkCount > 10, `${chunkCount} chunks`);
  const victim = Math.floor(chunkCount / 2);
  const data = await readFile(dataPath);
  data[(info.chunkOffsets[victim] + info.chunkOffsets[victim + 1]) >>> 1] ^= 0x40;
  await writeFile(dataPath, data);

  const reader = await SSTableReader.open(fs, dir, 1, table);
  t.teardown(() => reader.close());
  let failed = 0;
  let succeeded = 0;
  for (const partition of partitions) {
    try {
      const source = await reader.get(partition.key, partition.token);
      t.equal(JSON.stringify(plain(await materialize(source!))), JSON.stringify(plain(partition)));
      succeeded++;
    } catch (error) {
      t.type(error, CorruptSSTable);
      t.equal((error as CorruptSSTable).file, dataPath);
      t.match((error as Error).message, dataPath);
      failed++;
    }
  }
  t.ok(failed > 0, `${failed} partitions in the corrupted chunk fail`);
  t.ok(succeeded > partitions.length - 30, `${succeeded} partitions elsewhere still read`);
  await t.rejects(reader.verify(), CorruptSSTable);
});

t.test('verify compares the whole data file with Digest.db', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  await (await writeSSTable(dir, 1, table, randomPartitions(random(41), table, 50, 2))).close();
  await (await writeSSTable(dir, 2, table, randomPartitions(random(42), table, 50, 2))).close();
  const reader = await SSTableReader.open(fs, dir, 1, table);
  t.teardown(() => reader.close());
  await reader.verify();
  // Every chunk still passes its own CRC: only the file digest can tell.
  const digest = (generation: number) => join(dir, `sb-${generation}-Digest.db`);
  await writeFile(digest(1), await readFile(digest(2)));
  await t.rejects(reader.verify(), { name: 'CorruptSSTable', message: /does not match .*sb-1-Digest\.db/ });
});

t.test('corrupted statistics, summary, TOC or index are detected', async (t) => {
  const dir = await tempDir(t);
  const table = makeTable();
  const partitions = randomPartitions(random(31), table, 500, 1);
  await (await writeSSTable(dir, 1, table, partitions)).close();
  for (const component of ['Statistics', 'Summary', 'TOC', 'Filter', 'CompressionInfo']) {
    const path = join(dir, `sb-1-${component}.db`);
    const original = await readFile(path);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1] ^= 0x01;
    await writeFile(path, damaged);
    await rejectsCorrupt(t, SSTableReader.open(fs, dir, 1, table), path, component);
    await writeFile(path, original);
  }
  const missing = join(dir, 'sb-1-Filter.db');
  const filter = await readFile(missing);
  await rm(missing);
  await rejectsCorrupt(t, SSTableReader.open(fs, dir, 1, table), missing, 'missing component');
  await writeFile(missing, filter);

  const indexPath = join(dir, 'sb-1-Index.db');
  const index = await readFile(indexPath);
  index[index.length - 10] ^= 0x01;
  await writeFile(indexPath, index);
  const reader = await SSTableReader.open(fs, dir, 1, table);
  t.teardown(() => reader.close());
  const scanned: Buffer[] = [];
  const scan = async () => {
    for await (const source of reader.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) scanned.push(source.key);
  };
  await rejectsCorrupt(t, scan(), indexPath, 'damaged index block');
  t.ok(scanned.length >= 128, `the blocks before the damaged one scan (${scanned.length} partitions)`);
  const last = partitions[partitions.length - 1];
  t.ok(await reader.get(last.key, last.token), 'point reads do not need the index');
});
