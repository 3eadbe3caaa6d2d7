/**
 * Writes one SSTable, streaming: partitions arrive in (token, key) order and rows in
 * clustering order, one at a time, so neither a flush nor a compaction ever holds a
 * whole wide partition. The writer buffers one uncompressed chunk, one index block and
 * the index state (summary samples, bloom filter, the open partition's row index).
 *
 * Visibility: every component is written under a temporary name and synced, then
 * renamed into place; the directory is synced; then the TOC is written, renamed and
 * the directory synced again. Until that last rename the SSTable does not exist
 * (listSSTables removes what a crash leaves), and after it every component is durable.
 *
 * Calls must not overlap: await each one before the next. Encoding, compression and
 * checksums run synchronously; sealed chunks are gathered into batches written while
 * encoding goes on (one write in flight per writer). A call that sealed a chunk lets
 * the event loop turn; any other returns an already settled promise (a flush writes
 * hundreds of thousands of records: an await chain per record cost more than encoding
 * them).
 */
import { crc32c } from '@node-rs/crc32';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { NO_DELETION_TIME, type Cell, type DeletionTime } from '../../model/cell.js';
import type { Partition, RangeTombstone, Row } from '../../model/partition.js';
import { assert } from '../../errors.js';
import type { TableMetadata } from '../../schema/metadata.js';
import { FlatRow } from '../flat-row.js';
import type { FileHandle, FileSystem } from '../fs.js';
import type { PartitionHeader } from '../source.js';
import { TokenBloomFilter } from './bloom.js';
import { compressorFor, type Compressor } from './compression.js';
import { COMPONENTS, componentPath, componentSuffix, temporaryPath, type Component } from './descriptor.js';
import {
  ByteWriter,
  ColumnIds,
  HEADER_BYTES,
  MAGIC,
  ROW_INDEX_BLOCK_BYTES,
  encodeChunk,
  encodeCompressionInfo,
  encodeDataHeader,
  encodeDigest,
  encodeFilter,
  encodeStatistics,
  encodeSummary,
  encodeToc,
  seal,
  writeHeader,
  writeIndexEntry,
  writePartitionHeader,
  writeFlatRowBody,
  writeRowBody,
  type SSTableStats,
  type Samples,
} from './format.js';
import type { ChunkCache } from './chunks.js';
import { SSTableReader } from './reader.js';

/** A data sample starts every chunk's first partition, and one in this many partitions
 *  besides: a point read scans the partition headers from the sample before its key to
 *  the next one (about half of them), so samples only per chunk meant ~50 headers per
 *  read of small partitions, and one in 32 meant ~16 (a fifth of a warm read's CPU).
 *  Each sample costs its key and 20 bytes of memory (SampleIndex). */
const DATA_SAMPLE_PARTITIONS_MAX = 16;
/** Index entries per index block, i.e. the summary samples every this many entries… */
const INDEX_BLOCK_ENTRIES_MAX = 128;
/** …or sooner when entries are large (wide partitions' row indexes), so a point read
 *  reads one small block. */
const INDEX_BLOCK_BYTES_MAX = 64 * 1024;

/** The varint 0 that ends a partition: no record is empty. */
const END_OF_PARTITION = 0;
const NO_RANGE_TOMBSTONES: readonly RangeTombstone[] = Object.freeze([]);
const SETTLED: Promise<void> = Promise.resolve();

/** Bytes gathered before one file write: fewer, larger writes, and encoding goes on
 *  while the previous batch is written. */
const WRITE_BATCH_BYTES_MAX = 256 * 1024;

/** Sealed chunks or index blocks of one file, contiguous from `position`, not yet written. */
class WriteBatch {
  parts: Buffer[] = [];
  bytes = 0;
  position = 0;

  add(part: Buffer, position: number): void {
    if (this.parts.length === 0) this.position = position;
    this.parts.push(part);
    this.bytes += part.length;
  }

  /** The gathered bytes as one buffer, leaving the batch empty. */
  take(): Buffer {
    const bytes = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return bytes;
  }
}

export interface SSTableWriterOptions {
  /** Sizes the bloom filter; more partitions than this raise its false-positive rate. */
  readonly expectedPartitions: number;
  /** Level for leveled compaction; 0 by default. */
  readonly level?: number;
  /** The chunk cache the finished SSTable's reader uses (see SSTableReader.open). */
  readonly chunkCache?: ChunkCache;
}

/** The partition being written and its row index so far. */
interface OpenPartition {
  readonly key: Buffer;
  readonly token: bigint;
  /** Stream position of its header. */
  readonly position: number;
  /** Stream position where the current row-index block starts, and its first row. */
  blockStart: number;
  blockFirst: Buffer[] | null;
  previous: Buffer[] | null;
  /** The row index's blocks so far; null until the first block closes (most
   *  partitions never get one). */
  rowIndex: { offsets: number[]; firsts: Buffer[][]; lasts: Buffer[][] } | null;
}

/** Summary samples as they are collected. Keys are copied: the caller may reuse its buffers. */
class SampleList {
  private readonly keys: Buffer[] = [];
  private readonly tokens: bigint[] = [];
  private readonly positions: number[] = [];

  add(key: Buffer, token: bigint, position: number): void {
    this.keys.push(Buffer.from(key));
    this.tokens.push(token);
    this.positions.push(position);
  }

  samples(): Samples {
    return { keys: this.keys, tokens: BigInt64Array.from(this.tokens), positions: this.positions };
  }
}

export class SSTableWriter {
  /** `written`: complete on disk, not yet opened (finishFiles); abort() still removes it. */
  private state: 'writing' | 'written' | 'finished' | 'aborted' = 'writing';
  private readonly columns = new ColumnIds();
  private readonly record = new ByteWriter(1024);
  private readonly rowIndexScratch = new ByteWriter(256);

  // Data.db
  private chunkFill = 0;
  private streamPosition = 0;
  private dataFileLength = 0;
  private readonly chunkOffsets: number[] = [];
  private digest = 0;

  // Index.db and Summary.db
  private readonly indexBlock = new ByteWriter(8192);
  private indexBlockEntries = 0;
  private indexFileLength = 0;
  private readonly indexSamples = new SampleList();
  private readonly dataSamples = new SampleList();
  private lastSampledChunk = -1;
  private partitionsSinceSample = 0;
  /** Sealed bytes not yet written, per file, and the write in flight (its failure is
   *  kept in writeError and thrown by the next call that waits for writes). */
  private readonly dataBatch = new WriteBatch();
  private readonly indexBatch = new WriteBatch();
  private inFlight: Promise<void> = SETTLED;
  private writeError: unknown = null;
  /** A chunk or index block was sealed since the event loop last turned. */
  private yieldDue = false;

  // Statistics.db. With nothing to measure, min > max.
  private current: OpenPartition | null = null;
  private firstKey: Buffer | null = null;
  private lastKey: Buffer | null = null;
  private firstToken = 0n;
  private lastToken = 0n;
  private partitionCount = 0;
  private rowCount = 0;
  private tombstoneCount = 0;
  private minTimestamp = Number.MAX_SAFE_INTEGER;
  private maxTimestamp = Number.MIN_SAFE_INTEGER;
  private minLocalDeletionTime = NO_DELETION_TIME;
  private maxLocalDeletionTime = Number.MIN_SAFE_INTEGER;

  private constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    readonly generation: number,
    private readonly table: TableMetadata,
    private readonly options: SSTableWriterOptions,
    private readonly compressor: Compressor,
    private readonly chunk: Buffer,
    private readonly filter: TokenBloomFilter,
    private data: FileHandle | null,
    private index: FileHandle | null,
  ) {}

  static async create(
    fs: FileSystem,
    dir: string,
    generation: number,
    table: TableMetadata,
    options: SSTableWriterOptions,
  ): Promise<SSTableWriter> {
    const level = options.level ?? 0;
    assert(Number.isSafeInteger(options.expectedPartitions) && options.expectedPartitions >= 0, 'invalid expectedPartitions');
    assert(Number.isSafeInteger(level) && level >= 0, `invalid level ${level}`);
    await fs.mkdir(dir);
    assert(!(await fs.exists(componentPath(dir, generation, 'TOC'))), `SSTable ${generation} already exists in ${dir}`);
    const compression = table.options.compression;
    const chunk = Buffer.allocUnsafe(compression.chunkLengthKb * 1024);
    const filter = TokenBloomFilter.sized(options.expectedPartitions, table.options.bloomFilterFpChance);
    const data = await fs.open(temporaryPath(dir, generation, 'Data'), 'w+');
    let index: FileHandle;
    try {
      index = await fs.open(temporaryPath(dir, generation, 'Index'), 'w+');
    } catch (error) {
      await data.close();
      throw error;
    }
    const writer = new SSTableWriter(fs, dir, generation, table, options, compressorFor(compression), chunk, filter, data, index);
    try {
      await writer.writeFileHeaders();
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  private async writeFileHeaders(): Promise<void> {
    const dataHeader = encodeDataHeader();
    await this.data!.write(dataHeader, 0);
    this.digest = crc32c(dataHeader);
    this.dataFileLength = dataHeader.length;
    const indexHeader = new ByteWriter(HEADER_BYTES);
    writeHeader(indexHeader, MAGIC.index);
    await this.index!.write(indexHeader.view(), 0);
    this.indexFileLength = HEADER_BYTES;
  }

  /** Uncompressed bytes of data written so far, so compaction can split output by size. */
  get bytesWritten(): number {
    return this.streamPosition;
  }

  startPartition(header: PartitionHeader): Promise<void> {
    return this.settle(() => this.beginPartition(header));
  }

  addRow(row: Row): Promise<void> {
    return this.settle(() => this.putRow(row));
  }

  endPartition(): Promise<void> {
    return this.settle(() => this.closePartition());
  }

  /** Runs a synchronous step; a failed assertion becomes a rejection, as from an async method. */
  private settle(step: () => void): Promise<void> {
    try {
      step();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.writesDone();
  }

  private beginPartition(header: PartitionHeader): void {
    assert(this.state === 'writing' && this.current === null, 'startPartition: a partition is already open');
    // Written out rather than through compareKeys: this runs once per partition written.
    // It is also the first touch of the partition's objects: flushed from a memtable's
    // objects (in token order, scattered over the heap) it is where a flush waits on
    // memory, which is why flushes decode each partition just before writing it
    // (flush-source.ts).
    const token = header.token;
    if (this.lastKey !== null && (token < this.lastToken || (token === this.lastToken && Buffer.compare(header.key, this.lastKey) <= 0))) {
      assert(
        false,
        `partitions out of order: token ${header.token} key 0x${header.key.toString('hex')} after token ${this.lastToken} key 0x${this.lastKey.toString('hex')}`,
      );
    }
    const comparator = this.table.comparator;
    for (let i = 1; i < header.rangeTombstones.length; i++) {
      assert(
        comparator.compareStarts(header.rangeTombstones[i - 1].start, header.rangeTombstones[i].start) <= 0,
        'range tombstones must be sorted by start',
      );
    }
    if (header.deletion !== null) this.noteDeletion(header.deletion);
    for (const tombstone of header.rangeTombstones) this.noteDeletion(tombstone.deletion);
    if (header.staticRow !== null) {
      assert(header.staticRow.clustering.length === 0, 'the static row has a clustering');
      this.noteRow(header.staticRow);
    }
    const position = this.streamPosition;
    const chunkIndex = Math.floor(position / this.chunk.length);
    if (chunkIndex !== this.lastSampledChunk || ++this.partitionsSinceSample >= DATA_SAMPLE_PARTITIONS_MAX) {
      this.dataSamples.add(header.key, header.token, position);
      this.lastSampledChunk = chunkIndex;
      this.partitionsSinceSample = 0;
    }
    this.record.reset();
    writePartitionHeader(this.record, header, this.columns);
    this.putRecord(this.record);
    this.current = {
      key: header.key,
      token: header.token,
      position,
      blockStart: this.streamPosition,
      blockFirst: null,
      previous: null,
      rowIndex: null,
    };
    this.filter.add(header.key, header.token);
    if (this.firstKey === null) {
      this.firstKey = header.key;
      this.firstToken = header.token;
    }
    this.lastKey = header.key;
    this.lastToken = header.token;
  }

  private putRow(row: Row): void {
    const partition = this.current;
    assert(partition !== null, 'addRow outside a partition');
    const comparator = this.table.comparator;
    assert(row.clustering.length === comparator.size, 'row clustering does not match the table');
    if (partition.previous !== null) {
      assert(comparator.compare(partition.previous, row.clustering) < 0, 'rows must be in strictly increasing clustering order');
      if (this.streamPosition - partition.blockStart >= ROW_INDEX_BLOCK_BYTES) {
        this.closeRowIndexBlock(partition);
        partition.blockStart = this.streamPosition;
        partition.blockFirst = null;
      }
    }
    if (partition.blockFirst === null) partition.blockFirst = row.clustering;
    this.noteRow(row);
    this.rowCount++;
    this.record.reset();
    writeRowBody(this.record, row, this.columns);
    this.putRecord(this.record);
    partition.previous = row.clustering;
  }

  private closePartition(): void {
    const partition = this.current;
    assert(partition !== null, 'endPartition outside a partition');
    const rowsEnd = this.streamPosition - partition.position;
    this.putByte(END_OF_PARTITION);
    let rowIndex = null;
    // One block needs no index: the rows are read from the start anyway.
    if (partition.rowIndex !== null) {
      this.closeRowIndexBlock(partition);
      rowIndex = { rowsEnd, ...partition.rowIndex };
    }
    if (this.indexBlockEntries === 0) this.indexSamples.add(partition.key, partition.token, this.indexFileLength);
    writeIndexEntry(this.indexBlock, partition.key, partition.token, partition.position, rowIndex, this.rowIndexScratch);
    this.indexBlockEntries++;
    if (this.indexBlockEntries >= INDEX_BLOCK_ENTRIES_MAX || this.indexBlock.length >= INDEX_BLOCK_BYTES_MAX) {
      this.sealIndexBlock();
    }
    this.partitionCount++;
    this.current = null;
  }

  private closeRowIndexBlock(partition: OpenPartition): void {
    partition.rowIndex ??= { offsets: [], firsts: [], lasts: [] };
    partition.rowIndex.offsets.push(partition.blockStart - partition.position);
    partition.rowIndex.firsts.push(partition.blockFirst!);
    partition.rowIndex.lasts.push(partition.previous!);
  }

  /** Writes a whole partition: start, rows, end. */
  async append(partition: Partition): Promise<void> {
    this.beginPartition(partition);
    for (const row of partition.rows) {
      this.putRow(row);
      if (this.yieldDue) await this.writesDone();
    }
    this.closePartition();
    await this.writesDone();
  }

  /**
   * Appends every item in order, a FlatRow as the partition of its one plain row (the
   * bytes append() writes for that partition decoded); returns how many were flat.
   */
  async appendAll(items: Iterable<Partition | FlatRow>): Promise<number> {
    let flat = 0;
    for (const item of items) {
      if (!(item instanceof FlatRow)) {
        await this.append(item);
        continue;
      }
      flat++;
      if (this.appendFlat(item)) await this.writesDone();
    }
    return flat;
  }

  /**
   * Writes the partition of one plain row a FlatRow holds (see flat-row.ts).
   * Synchronous, for a flush writes hundreds of thousands of these (awaiting each cost
   * ~15% of the flush): true when a chunk was sealed since the last wait, and the
   * caller must then `await writesDone()` before going on (as append() does).
   */
  private appendFlat(row: FlatRow): boolean {
    this.beginPartition({ key: row.key, token: row.token, deletion: null, staticRow: null, rangeTombstones: NO_RANGE_TOMBSTONES });
    const partition = this.current!;
    const clustering = row.clusteringValues();
    assert(clustering.length === this.table.comparator.size, 'row clustering does not match the table');
    partition.blockFirst = clustering;
    if (row.hasLiveness) this.noteTimestamp(row.livenessTimestamp, row.livenessLocalDeletionTime);
    for (let i = 0; i < row.cellCount; i++) {
      this.noteTimestamp(row.timestamps[i], row.localDeletionTimes[i]);
      if (row.tombstones[i]) this.tombstoneCount++;
    }
    this.rowCount++;
    this.record.reset();
    writeFlatRowBody(this.record, row, this.columns);
    this.putRecord(this.record);
    partition.previous = clustering;
    this.closePartition();
    return this.yieldDue;
  }

  /**
   * Writes the remaining components, makes the SSTable visible (TOC last) and returns
   * it opened. An SSTable holds at least one partition: abort() a writer that got none.
   * If this throws, abort() removes whatever was written.
   */
  async finish(): Promise<SSTableReader> {
    await this.finishFiles();
    const reader = await SSTableReader.open(this.fs, this.dir, this.generation, this.table, { chunkCache: this.options.chunkCache });
    this.state = 'finished';
    return reader;
  }

  /**
   * Completes the SSTable on disk (its TOC renamed in last) without opening it: a flush
   * thread writes it, the event loop opens it. If this throws, abort() removes it.
   */
  async finishFiles(): Promise<void> {
    assert(this.state === 'writing' && this.current === null, 'finish: a partition is still open');
    assert(this.partitionCount > 0, 'an SSTable needs at least one partition; abort() an empty writer');
    if (this.chunkFill > 0) this.sealChunk();
    if (this.indexBlockEntries > 0) this.sealIndexBlock();
    await this.startWrites();
    await this.writesFinished();
    for (const handle of [this.data!, this.index!]) {
      await handle.sync();
      await handle.close();
    }
    this.data = null;
    this.index = null;

    const stats: SSTableStats = {
      minTimestamp: this.minTimestamp,
      maxTimestamp: this.maxTimestamp,
      minLocalDeletionTime: this.minLocalDeletionTime,
      maxLocalDeletionTime: this.maxLocalDeletionTime,
      minToken: this.firstToken,
      maxToken: this.lastToken,
      partitionCount: this.partitionCount,
      rowCount: this.rowCount,
      tombstoneCount: this.tombstoneCount,
      uncompressedBytes: this.streamPosition,
      diskBytes: this.dataFileLength,
      level: this.options.level ?? 0,
      compression: this.compressor.name,
    };
    const written: [Component, Buffer][] = [
      [
        'Summary',
        encodeSummary({ indexLength: this.indexFileLength, indexBlocks: this.indexSamples.samples(), dataChunks: this.dataSamples.samples() }),
      ],
      ['Filter', encodeFilter(this.filter)],
      [
        'CompressionInfo',
        encodeCompressionInfo({
          compressor: this.compressor.name,
          chunkLength: this.chunk.length,
          dataLength: this.streamPosition,
          chunkOffsets: Float64Array.from([...this.chunkOffsets, this.dataFileLength]),
        }),
      ],
      ['Statistics', encodeStatistics({ stats, firstKey: this.firstKey!, lastKey: this.lastKey!, columns: this.columns.names })],
      ['Digest', encodeDigest(this.digest)],
    ];
    for (const [component, bytes] of written) await this.fs.writeFile(this.temporary(component), bytes);
    const components = COMPONENTS.filter((component) => component !== 'TOC');
    for (const component of components) await this.fs.rename(this.temporary(component), this.final(component));
    await this.fs.syncDir(this.dir);
    await this.fs.writeFile(this.temporary('TOC'), encodeToc(components.map(componentSuffix)));
    await this.fs.rename(this.temporary('TOC'), this.final('TOC'));
    await this.fs.syncDir(this.dir);
    this.state = 'written';
  }

  /** Stops writing and removes every file of this generation, the TOC first. */
  async abort(): Promise<void> {
    assert(this.state !== 'finished', 'abort: the SSTable is already finished');
    this.state = 'aborted';
    // Let a write in flight end (its failure no longer matters) before closing its file.
    await this.inFlight;
    for (const handle of [this.data, this.index]) {
      // The files are about to be deleted: a failing close changes nothing.
      await handle?.close().catch(() => undefined);
    }
    this.data = null;
    this.index = null;
    await removeSSTableFiles(this.fs, this.dir, this.generation);
  }

  private final(component: Component): string {
    return componentPath(this.dir, this.generation, component);
  }

  private temporary(component: Component): string {
    return temporaryPath(this.dir, this.generation, component);
  }

  /** Appends a record to the data stream: the varint length of the body, then the body. */
  private putRecord(body: ByteWriter): void {
    let rest = body.length;
    // Arithmetic rather than bit operators: those truncate to 32 bits.
    while (rest >= 0x80) {
      this.putByte((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.putByte(rest);
    const length = body.length;
    let offset = 0;
    while (offset < length) {
      const count = Math.min(length - offset, this.chunk.length - this.chunkFill);
      body.copyTo(this.chunk, this.chunkFill, offset, count);
      this.chunkFill += count;
      this.streamPosition += count;
      offset += count;
      if (this.chunkFill === this.chunk.length) this.sealChunk();
    }
  }

  /** Appends one byte to the data stream, sealing the chunk if it fills. */
  private putByte(byte: number): void {
    this.chunk[this.chunkFill++] = byte;
    this.streamPosition++;
    if (this.chunkFill === this.chunk.length) this.sealChunk();
  }

  /** Compresses and checksums the buffered chunk (into a new buffer: the chunk buffer
   *  is reused at once) and queues its write. */
  private sealChunk(): void {
    assert(this.state === 'writing', `SSTable writer is ${this.state}`);
    const raw = this.chunk.subarray(0, this.chunkFill);
    const compressed = this.compressor.compress(raw);
    const stored = encodeChunk(compressed.length < raw.length ? compressed : raw);
    this.chunkOffsets.push(this.dataFileLength);
    this.digest = crc32c(stored, this.digest);
    this.dataBatch.add(stored, this.dataFileLength);
    this.yieldDue = true;
    this.dataFileLength += stored.length;
    this.chunkFill = 0;
  }

  private sealIndexBlock(): void {
    const block = seal(this.indexBlock);
    this.indexBatch.add(block, this.indexFileLength);
    this.yieldDue = true;
    this.indexFileLength += block.length;
    this.indexBlock.reset();
    this.indexBlockEntries = 0;
  }

  /** Starts writing what was sealed, when enough gathered, and lets the event loop
   *  turn; settled at once when nothing was sealed since the last call. */
  private writesDone(): Promise<void> {
    if (!this.yieldDue) return SETTLED;
    this.yieldDue = false;
    return this.dataBatch.bytes >= WRITE_BATCH_BYTES_MAX || this.indexBatch.bytes >= WRITE_BATCH_BYTES_MAX
      ? this.startWrites().then(() => nextTurn())
      : nextTurn();
  }

  /** Waits for the write in flight, then starts writing what is gathered (data first,
   *  then index; the index write waits for the data write). */
  private async startWrites(): Promise<void> {
    await this.writesFinished();
    assert(this.state === 'writing', `SSTable writer is ${this.state}`);
    const data = this.dataBatch.bytes > 0 ? { position: this.dataBatch.position, bytes: this.dataBatch.take() } : null;
    const index = this.indexBatch.bytes > 0 ? { position: this.indexBatch.position, bytes: this.indexBatch.take() } : null;
    const dataHandle = this.data!;
    const indexHandle = this.index!;
    this.inFlight = (async () => {
      if (data !== null) await dataHandle.write(data.bytes, data.position);
      if (index !== null) await indexHandle.write(index.bytes, index.position);
    })().catch((error: unknown) => {
      this.writeError ??= error;
    });
  }

  /** Waits for the write in flight; throws the first write failure. */
  private async writesFinished(): Promise<void> {
    await this.inFlight;
    if (this.writeError !== null) throw this.writeError;
  }

  private noteTimestamp(timestamp: number, localDeletionTime: number): void {
    if (timestamp < this.minTimestamp) this.minTimestamp = timestamp;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    if (localDeletionTime < this.minLocalDeletionTime) this.minLocalDeletionTime = localDeletionTime;
    if (localDeletionTime > this.maxLocalDeletionTime) this.maxLocalDeletionTime = localDeletionTime;
  }

  private noteDeletion(deletion: DeletionTime): void {
    this.noteTimestamp(deletion.markedForDeleteAt, deletion.localDeletionTime);
    this.tombstoneCount++;
  }

  private noteCell(cell: Cell): void {
    this.noteTimestamp(cell.timestamp, cell.localDeletionTime);
    if (cell.value === null) this.tombstoneCount++;
  }

  private noteRow(row: Row): void {
    if (row.liveness !== null) this.noteTimestamp(row.liveness.timestamp, row.liveness.localDeletionTime);
    if (row.deletion !== null) this.noteDeletion(row.deletion);
    for (const cell of row.cells.values()) this.noteCell(cell);
    for (const column of row.complex.values()) {
      if (column.deletion !== null) this.noteDeletion(column.deletion);
      for (const cell of column.cells) this.noteCell(cell);
    }
  }
}

/**
 * Removes every file of an SSTable generation, the TOC first (so a crash midway leaves
 * no SSTable that looks complete), finished or not: abort(), and a flush whose SSTable
 * the flush thread wrote but this thread could not open.
 */
export async function removeSSTableFiles(fs: FileSystem, dir: string, generation: number): Promise<void> {
  for (const component of [...COMPONENTS].reverse()) {
    for (const path of [componentPath(dir, generation, component), temporaryPath(dir, generation, component)]) {
      if (await fs.exists(path)) await fs.unlink(path);
    }
  }
  await fs.syncDir(dir);
}
