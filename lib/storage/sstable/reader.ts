/**
 * An open SSTable. It keeps in memory what every read needs — statistics, the summary
 * (sampled partitions of the index and of the data chunks), the bloom filter and the
 * chunk offsets — and reads the rest on demand. A point read goes from the summary
 * straight to the data chunk where the partition starts (usually one read); only a
 * slice of a partition too large to rule out a row index also reads its index entry.
 * Scans walk Index.db block by block. Decompressed chunks are cached: in the node's
 * shared ChunkCache when one is given, else a few per reader. File handles stay open
 * for the reader's lifetime.
 */
import { CorruptSSTable, assert } from '../../errors.js';
import { compareKeys, tokenWords } from '../../model/token.js';
import type { TableMetadata } from '../../schema/metadata.js';
import type { KeyRange, PartitionPosition } from '../engine.js';
import type { FileHandle, FileSystem } from '../fs.js';
import type { PartitionSource } from '../source.js';
import { filterOf, type KeyFilter } from './bloom.js';
import { ChunkCache, ChunkReader, DataCursor, readFully, type ReadThrottle } from './chunks.js';
import { compressorNamed } from './compression.js';
import { COMPONENTS, componentPath, componentSuffix, temporaryPath, type Component } from './descriptor.js';
import {
  HEADER_BYTES,
  IndexBlockCursor,
  MAGIC,
  ROW_INDEX_BLOCK_BYTES,
  chunkPayload,
  compareHeaderKey,
  checkFileHeader,
  decodeCompressionInfo,
  decodeDigest,
  decodeFilter,
  decodeStatistics,
  decodeSummary,
  decodeToc,
  encodeStatistics,
  readPartitionHeader,
  type RowIndex,
  type SSTableStats,
  type SampleIndex,
  type Statistics,
  type Summary,
} from './format.js';
import { SSTablePartition, firstIndex, type RowContext } from './rows.js';

export type { SSTableStats } from './format.js';
export { listSSTables } from './descriptor.js';
export { ChunkCache } from './chunks.js';

/** Reads a whole component; a missing one is corruption of the SSTable. */
async function readComponent(fs: FileSystem, path: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptSSTable(`Corrupted: missing component ${path}`, path);
    throw error;
  }
}

/** True when a partition at (token, key) is at or after a range's start. */
function afterRangeStart(token: bigint, key: Buffer, start: PartitionPosition, inclusive: boolean): boolean {
  if (start.key === null) return inclusive ? token >= start.token : token > start.token;
  const c = compareKeys(token, key, start.token, start.key);
  return inclusive ? c >= 0 : c > 0;
}

/** True when a partition at (token, key) is at or before a range's end. */
function beforeRangeEnd(token: bigint, key: Buffer, end: PartitionPosition, inclusive: boolean): boolean {
  if (end.key === null) return inclusive ? token <= end.token : token < end.token;
  const c = compareKeys(token, key, end.token, end.key);
  return inclusive ? c <= 0 : c < 0;
}

export interface SSTableReaderOptions {
  /** A decompressed-chunk cache shared by the node's readers (see ChunkCache). */
  readonly chunkCache?: ChunkCache;
}

export class SSTableReader {
  private statistics: Statistics;
  private readonly context: RowContext;
  private checks = 0;
  private falsePositives = 0;
  private closed = false;
  /** Full paths of every component file. */
  readonly files: string[];

  private constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    readonly generation: number,
    statistics: Statistics,
    private readonly summary: Summary,
    private readonly filter: KeyFilter,
    private readonly chunks: ChunkReader,
    private readonly index: FileHandle,
    table: TableMetadata,
  ) {
    this.statistics = statistics;
    this.context = { chunks, comparator: table.comparator, columns: statistics.columns };
    this.files = COMPONENTS.map((component) => componentPath(dir, generation, component));
  }

  /** Opens a complete SSTable, verifying the checksums of its TOC, statistics, summary,
   *  filter and compression info and the sizes of its data and index files. Without a
   *  shared `chunkCache` the reader keeps a few chunks of its own. */
  static async open(
    fs: FileSystem,
    dir: string,
    generation: number,
    table: TableMetadata,
    options: SSTableReaderOptions = {},
  ): Promise<SSTableReader> {
    const path = (component: Component): string => componentPath(dir, generation, component);
    const toc = decodeToc(await readComponent(fs, path('TOC')), path('TOC'));
    for (const component of COMPONENTS) {
      if (component !== 'TOC' && !toc.includes(componentSuffix(component))) {
        throw new CorruptSSTable(`Corrupted: ${path('TOC')}: ${componentSuffix(component)} is not listed`, path('TOC'));
      }
    }
    const statistics = decodeStatistics(await readComponent(fs, path('Statistics')), path('Statistics'));
    const summary = decodeSummary(await readComponent(fs, path('Summary')), path('Summary'));
    const filterBits = decodeFilter(await readComponent(fs, path('Filter')), path('Filter'));
    const info = decodeCompressionInfo(await readComponent(fs, path('CompressionInfo')), path('CompressionInfo'));
    const compressor = compressorNamed(info.compressor);
    if (compressor === undefined) {
      throw new CorruptSSTable(`Unknown compressor '${info.compressor}' in ${path('CompressionInfo')}`, path('CompressionInfo'));
    }
    const startsAtFirst = (samples: SampleIndex) => samples.length > 0 && samples.key(0).equals(statistics.firstKey);
    if (!startsAtFirst(summary.indexBlocks) || !startsAtFirst(summary.dataChunks)) {
      throw new CorruptSSTable(`Corrupted: ${path('Summary')}: does not start at the SSTable's first key`, path('Summary'));
    }
    const data = await fs.open(path('Data'), 'r');
    let index: FileHandle | null = null;
    try {
      index = await fs.open(path('Index'), 'r');
      const dataLength = info.chunkOffsets[info.chunkOffsets.length - 1];
      if ((await data.size()) !== dataLength) {
        throw new CorruptSSTable(`Corrupted: ${data.path}: ${await data.size()} bytes, expected ${dataLength}`, data.path);
      }
      if ((await index.size()) !== summary.indexLength) {
        throw new CorruptSSTable(`Corrupted: ${index.path}: ${await index.size()} bytes, expected ${summary.indexLength}`, index.path);
      }
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      await readFully(data, header, 0);
      checkFileHeader(header, MAGIC.data, data.path);
      await readFully(index, header, 0);
      checkFileHeader(header, MAGIC.index, index.path);
    } catch (error) {
      await data.close();
      await index?.close();
      throw error;
    }
    const filter = filterOf(filterBits);
    const chunks = new ChunkReader(data, info, compressor, options.chunkCache ?? null);
    return new SSTableReader(fs, dir, generation, statistics, summary, filter, chunks, index, table);
  }

  get stats(): SSTableStats {
    return this.statistics.stats;
  }
  get firstToken(): bigint {
    return this.statistics.stats.minToken;
  }
  get lastToken(): bigint {
    return this.statistics.stats.maxToken;
  }
  get firstKey(): Buffer {
    return this.statistics.firstKey;
  }
  get lastKey(): Buffer {
    return this.statistics.lastKey;
  }
  /** get() calls that consulted the bloom filter (the token was within bounds). */
  get bloomChecks(): number {
    return this.checks;
  }
  /** get() calls where the bloom filter said "maybe" but the key was not there. */
  get bloomFalsePositives(): number {
    return this.falsePositives;
  }

  /** False when the SSTable certainly does not hold the key: the token is out of its
   *  bounds or the bloom filter says so. Counts nothing (admits() does). */
  mayContain(key: Buffer, token: bigint): boolean {
    return token >= this.firstToken && token <= this.lastToken && this.filter.mightContain(key, token);
  }

  /** One partition's source — header read now, rows lazily — or null. */
  async get(key: Buffer, token: bigint): Promise<PartitionSource | null> {
    return this.admits(key, token) ? this.find(key, token) : null;
  }

  /** Whether a read must look for the key here (then with find()): mayContain, counted
   *  as a bloom check when the token is within bounds. */
  admits(key: Buffer, token: bigint): boolean {
    if (token < this.firstToken || token > this.lastToken) return false;
    this.checks++;
    return this.filter.mightContain(key, token);
  }

  /** The partition of a key admits() let through, or null (a bloom false positive, counted). */
  async find(key: Buffer, token: bigint): Promise<PartitionSource | null> {
    const found = await this.search(key, token);
    if (found === null) this.falsePositives++;
    return found;
  }

  /** find() without waiting, when the chunk to search is cached (most reads of hot
   *  data); undefined when it has to be read. */
  findIfLoaded(key: Buffer, token: bigint): PartitionSource | null | undefined {
    this.assertOpen();
    const [high, low] = tokenWords(token);
    const sample = this.summary.dataChunks.lastAtOrBefore(high, low, key);
    let found: PartitionSource | null = null;
    if (sample >= 0) {
      const end = this.sampleEnd(sample);
      const cursor = new DataCursor(this.chunks, this.summary.dataChunks.positions[sample]);
      const order = cursor.walkHeadersIfLoaded(high, low, key, end);
      if (order === undefined) return undefined;
      if (order === 0) found = this.partitionFound(cursor, end, token);
    }
    if (found === null) this.falsePositives++;
    return found;
  }

  /** Where the partitions that start after a data sample end: the next sample's position. */
  private sampleEnd(sample: number): number {
    const positions = this.summary.dataChunks.positions;
    return sample + 1 < positions.length ? positions[sample + 1] : this.chunks.dataLength;
  }

  /**
   * Walks the partitions that start between the last data-chunk sample at or before
   * the key and the next sample, reading chunks as it goes: the partition, if present,
   * is among them.
   */
  private async search(key: Buffer, token: bigint): Promise<PartitionSource | null> {
    this.assertOpen();
    const [high, low] = tokenWords(token);
    const sample = this.summary.dataChunks.lastAtOrBefore(high, low, key);
    if (sample < 0) return null;
    const end = this.sampleEnd(sample);
    const file = this.chunks.path;
    const cursor = new DataCursor(this.chunks, this.summary.dataChunks.positions[sample]);
    while (cursor.position < end) {
      const order = cursor.walkHeadersIfLoaded(high, low, key, end);
      if (order === 1) return null;
      if (order === 0) return this.partitionFound(cursor, end, token);
      // A chunk to read, or a header split across two chunks.
      const position = cursor.position;
      const record = await cursor.next();
      const read = compareHeaderKey(record, high, low, key, file);
      if (read > 0) return null;
      if (read === 0) return this.partitionOf(record, position, end, cursor, token);
      if (!cursor.skipPartitionIfLoaded()) return null;
    }
    return null;
  }

  /** The partition whose header walkHeadersIfLoaded stopped at. */
  private partitionFound(cursor: DataCursor, end: number, token: bigint): PartitionSource {
    const position = cursor.position;
    return this.partitionOf(cursor.nextIfLoaded()!, position, end, cursor, token);
  }

  /** The partition with this header record at `position`, its rows at the cursor. */
  private partitionOf(record: Buffer, position: number, end: number, cursor: DataCursor, token: bigint): PartitionSource {
    const header = readPartitionHeader(record, this.statistics.columns, this.chunks.path);
    // The next partition starts at `end` at the latest, so a partition with less room
    // than one row-index block has no row index; a bigger one may have one, looked up
    // in Index.db if a slice needs it.
    const rowIndex = end - position <= ROW_INDEX_BLOCK_BYTES ? null : () => this.rowIndexOf(header.key, token);
    return new SSTablePartition(this.context, header, position, cursor, rowIndex);
  }

  /** The row index of a partition the data holds, from its Index.db entry. */
  private async rowIndexOf(key: Buffer, token: bigint): Promise<RowIndex | null> {
    const [high, low] = tokenWords(token);
    // The block to look in is the last one starting at or before the key.
    const block = this.summary.indexBlocks.lastAtOrBefore(high, low, key);
    if (block >= 0) {
      const entries = new IndexBlockCursor(await this.readIndexBlock(block), this.index.path);
      while (entries.next()) {
        const order = entries.compareTo(high, low, key);
        if (order === 0) return entries.rowIndex();
        if (order > 0) break;
      }
    }
    throw new CorruptSSTable(`Corrupted: ${this.index.path}: no entry for key 0x${key.toString('hex')}, which the data holds`, this.index.path);
  }

  /** Partitions within `range` in (token, key) order; rows are read when asked for. */
  async *scan(range: KeyRange): AsyncGenerator<PartitionSource> {
    this.assertOpen();
    const { start, end } = range;
    if (start !== null && start.token > this.lastToken) return;
    if (end !== null && end.token < this.firstToken) return;
    const blocks = this.summary.indexBlocks;
    // The block before the first one that starts inside the range may hold its start.
    let block =
      start === null
        ? 0
        : Math.max(0, firstIndex(blocks.length, (b) => afterRangeStart(blocks.token(b), blocks.key(b), start, range.startInclusive)) - 1);
    // Read-ahead: the next index block and the next data chunk are read while this
    // one's partitions are served, so the scan seldom waits for the disk.
    let nextBlock: Promise<Buffer> | null = null;
    let prefetchedChunk = -1;
    const { chunkLength } = this.chunks;
    for (; block < blocks.length; block++) {
      const current = nextBlock ?? this.readIndexBlock(block);
      nextBlock = block + 1 < blocks.length ? this.readIndexBlock(block + 1) : null;
      // A scan stopped before it needs the next block leaves its read unawaited.
      nextBlock?.catch(() => undefined);
      const entries = new IndexBlockCursor(await current, this.index.path);
      while (entries.next()) {
        const token = entries.token();
        const key = entries.key();
        if (start !== null && !afterRangeStart(token, key, start, range.startInclusive)) continue;
        if (end !== null && !beforeRangeEnd(token, key, end, range.endInclusive)) return;
        const chunk = Math.floor(entries.position / chunkLength);
        if (chunk >= prefetchedChunk) {
          prefetchedChunk = chunk + 1;
          this.chunks.prefetch(prefetchedChunk);
        }
        yield await this.partitionAt(entries.position, entries.rowIndex(), key);
      }
    }
  }

  private async readIndexBlock(block: number): Promise<Buffer> {
    this.assertOpen();
    const { positions } = this.summary.indexBlocks;
    const start = positions[block];
    const stored = Buffer.allocUnsafe((block + 1 < positions.length ? positions[block + 1] : this.summary.indexLength) - start);
    await readFully(this.index, stored, start);
    const entries = chunkPayload(stored);
    if (entries === null) {
      throw new CorruptSSTable(`Corrupted: ${this.index.path}: index block ${block} at byte ${start} fails its CRC32C check`, this.index.path);
    }
    return entries;
  }

  private async partitionAt(position: number, rowIndex: RowIndex | null, key: Buffer): Promise<PartitionSource> {
    const cursor = new DataCursor(this.chunks, position);
    const header = readPartitionHeader(await cursor.next(), this.statistics.columns, this.chunks.path);
    if (!header.key.equals(key)) {
      throw new CorruptSSTable(
        `Corrupted: ${this.chunks.path}: the index points at byte ${position} for key 0x${key.toString('hex')}, which holds 0x${header.key.toString('hex')}`,
        this.chunks.path,
      );
    }
    return new SSTablePartition(this.context, header, position, cursor, rowIndex);
  }

  /** Reads the whole data file, checking every chunk and the file against Digest.db
   *  (what `nodetool verify` does); throws CorruptSSTable on the first mismatch.
   *  `throttle` paces the reads (the engine passes compaction_throughput's). */
  async verify(throttle?: ReadThrottle): Promise<void> {
    this.assertOpen();
    const digestPath = componentPath(this.dir, this.generation, 'Digest');
    const expected = decodeDigest(await readComponent(this.fs, digestPath), digestPath);
    const actual = await this.chunks.fileChecksum(throttle);
    if (actual !== expected) {
      throw new CorruptSSTable(`Corrupted: ${this.chunks.path}: its CRC32C does not match ${digestPath}`, this.chunks.path);
    }
  }

  /** Records a new level (leveled compaction moves SSTables without rewriting them):
   *  new statistics under a temporary name, synced, renamed over the old ones. */
  async setLevel(level: number): Promise<void> {
    assert(Number.isSafeInteger(level) && level >= 0, `invalid level ${level}`);
    const statistics: Statistics = { ...this.statistics, stats: { ...this.statistics.stats, level } };
    const temporary = temporaryPath(this.dir, this.generation, 'Statistics');
    await this.fs.writeFile(temporary, encodeStatistics(statistics));
    await this.fs.rename(temporary, componentPath(this.dir, this.generation, 'Statistics'));
    await this.fs.syncDir(this.dir);
    this.statistics = statistics;
  }

  private assertOpen(): void {
    if (this.closed) assert(false, `SSTable ${this.generation} in ${this.dir} is closed`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chunks.close();
    await this.index.close();
  }

  /** Closes the reader and removes every component, the TOC first: if a crash stops
   *  this half-way, what is left has no TOC and listSSTables removes it. */
  async delete(): Promise<void> {
    await this.close();
    const toc = componentPath(this.dir, this.generation, 'TOC');
    await this.fs.unlink(toc);
    await this.fs.syncDir(this.dir);
    for (const file of this.files) {
      if (file !== toc && (await this.fs.exists(file))) await this.fs.unlink(file);
    }
    await this.fs.syncDir(this.dir);
  }
}
