/**
 * Reading the data stream of Data.db: chunks located through CompressionInfo.db,
 * verified against their CRC32C, decompressed and kept in a bounded cache, and a
 * cursor that walks records (partition headers, rows) across chunk boundaries.
 */
import { crc32c } from '@node-rs/crc32';
import { CorruptSSTable } from '../../errors.js';
import type { FileHandle } from '../fs.js';
import type { Compressor } from './compression.js';
import { HEADER_BYTES, VARINT_BYTES_MAX, chunkPayload, compareHeaderKeyAt, peekVarint, varintBytes, type CompressionInfo } from './format.js';

/** Chunks a reader without a shared cache keeps: enough for a few concurrent reads and
 *  scans to find their chunk again, bounded whatever the SSTable's size. */
const PRIVATE_CACHE_CHUNKS = 8;
/** Read buffers kept for reuse: about as many as reads run at once. */
const SPARE_BUFFERS_MAX = 4;

/** One chunk in a cache: its read (shared by concurrent readers) and, once read, its bytes. */
class CachedChunk {
  /** The chunk's bytes once its read succeeded: a cursor takes them without awaiting. */
  value: Buffer | null = null;
  /** Read again since it was added or since eviction last passed it. */
  used = false;
  constructor(
    /** The reader's chunks this belongs to, by index. */
    readonly owner: Map<number, CachedChunk>,
    readonly index: number,
    readonly chunk: Promise<Buffer>,
    readonly bytes: number,
  ) {}
}

/**
 * Decompressed chunks within a byte budget. One cache can serve every SSTable of a
 * node (Cassandra's chunk cache, `file_cache_size`), so hot data is read and
 * decompressed once whichever SSTable holds it. Concurrent readers of one chunk share
 * one read.
 *
 * Each reader looks its chunks up by index in a map of its own (`space()`); the cache
 * keeps them all in one order for eviction, which is CLOCK, an approximation of least
 * recently used: a hit only marks its chunk used, and eviction walks the order from
 * the oldest, giving each used chunk a second chance (unmarked, moved to the back)
 * and evicting the first one not used since it was added or last passed. So a hit,
 * what every point read does, costs a map lookup; the reordering is paid only when
 * the cache is full, once per chunk read. Chunks read once (a scan's) go first.
 */
export class ChunkCache {
  /** Eviction order: the next chunk to consider first. */
  private readonly order = new Set<CachedChunk>();
  private held = 0;

  constructor(readonly bytesMax: number) {}

  /** Bytes of the chunks held. */
  get bytes(): number {
    return this.held;
  }

  /** A reader's own map of its chunks, for get/add. */
  space(): Map<number, CachedChunk> {
    return new Map();
  }

  get(space: Map<number, CachedChunk>, index: number): CachedChunk | undefined {
    const entry = space.get(index);
    if (entry !== undefined) entry.used = true;
    return entry;
  }

  add(space: Map<number, CachedChunk>, index: number, chunk: Promise<Buffer>, bytes: number): CachedChunk {
    const previous = space.get(index);
    if (previous !== undefined) this.remove(previous);
    const entry = new CachedChunk(space, index, chunk, bytes);
    space.set(index, entry);
    this.order.add(entry);
    this.held += bytes;
    // The newest entry always stays, even alone over the budget, and so do chunks
    // still being read: the budget may be exceeded by the reads in flight.
    while (this.held > this.bytesMax && this.evictOne(entry));
    return entry;
  }

  /**
   * A chunk's read finished: if reads in flight pushed the cache over its budget
   * (they cannot be evicted while loading), evict down to it now, keeping `loaded`,
   * which its reader is about to use. So the budget holds once reads settle.
   */
  loaded(entry: CachedChunk): void {
    while (this.held > this.bytesMax && this.evictOne(entry));
  }

  /** Evicts the first chunk, from the oldest, not read again since added or last
   *  passed; those read again are unmarked and moved to the back on the way. Skips
   *  `newest` and chunks still being read (a concurrent reader waits for that read).
   *  False when no chunk could go. */
  private evictOne(newest: CachedChunk): boolean {
    for (const entry of this.order) {
      if (entry === newest || entry.value === null) continue;
      if (entry.used) {
        entry.used = false;
        this.order.delete(entry);
        this.order.add(entry);
        continue;
      }
      this.remove(entry);
      return true;
    }
    return false;
  }

  /** Removes the entry if the cache still holds it. */
  remove(entry: CachedChunk): void {
    if (!this.order.delete(entry)) return;
    entry.owner.delete(entry.index);
    this.held -= entry.bytes;
  }

  /** Removes every chunk of a space (a closed reader's). */
  clear(space: Map<number, CachedChunk>): void {
    for (const entry of [...space.values()]) this.remove(entry);
  }
}

/** Paces a whole-file read (compaction/throttle.ts's Throttle fits): resolves once `bytes` may be read. */
export interface ReadThrottle {
  consume(bytes: number): Promise<void>;
}

/** Reads exactly `buffer.length` bytes at `position`; a short file is corruption. */
export async function readFully(file: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let filled = 0;
  while (filled < buffer.length) {
    const count = await file.read(buffer, filled, buffer.length - filled, position + filled);
    if (count === 0) {
      throw new CorruptSSTable(`Corrupted: ${file.path}: unexpected end of file at byte ${position + filled}`, file.path);
    }
    filled += count;
  }
}

export class ChunkReader {
  private readonly cache: ChunkCache;
  /** This reader's chunks in the cache, by index. */
  private readonly cached: Map<number, CachedChunk>;
  /** Read buffers for compressed chunks, free for the next read. */
  private readonly spareBuffers: Buffer[] = [];
  readonly chunkLength: number;
  readonly dataLength: number;

  constructor(
    private readonly file: FileHandle,
    private readonly info: CompressionInfo,
    private readonly compressor: Compressor,
    cache: ChunkCache | null,
  ) {
    this.chunkLength = info.chunkLength;
    this.dataLength = info.dataLength;
    this.cache = cache ?? new ChunkCache(PRIVATE_CACHE_CHUNKS * info.chunkLength);
    this.cached = this.cache.space();
  }

  get path(): string {
    return this.file.path;
  }

  private get chunkCount(): number {
    return this.info.chunkOffsets.length - 1;
  }

  /** The decompressed chunk with this index, from the cache when it is there. */
  chunk(index: number): Promise<Buffer> {
    const cached = this.cache.get(this.cached, index);
    if (cached !== undefined) return cached.chunk;
    const loading = this.load(index);
    const entry = this.cache.add(this.cached, index, loading, this.lengthOf(index));
    // A failed read must not stay cached: the next reader tries again (and fails again
    // if the chunk is really corrupt). The caller still sees the rejection.
    loading.then(
      (chunk) => {
        entry.value = chunk;
        this.cache.loaded(entry);
      },
      () => this.cache.remove(entry),
    );
    return loading;
  }

  /**
   * Starts reading the chunk with this index into the cache unless it is there or past
   * the end: a sequential reader asks for the next chunk while it decodes this one, so
   * its wait for the disk overlaps its work. A failed read is dropped here; the reader
   * that then needs the chunk reads it again and sees the failure.
   */
  prefetch(index: number): void {
    if (index < 0 || index >= this.chunkCount || this.cached.has(index)) return;
    // A cache with no room for two chunks would only evict the one being read.
    if (this.cache.bytesMax < 2 * this.chunkLength) return;
    this.chunk(index).catch(() => undefined);
  }

  /** The chunk with this index if the cache holds it already read, else undefined. */
  chunkIfCached(index: number): Buffer | undefined {
    return this.cache.get(this.cached, index)?.value ?? undefined;
  }

  private async readStored(index: number, into: Buffer | null = null): Promise<Buffer> {
    const start = this.info.chunkOffsets[index];
    const length = this.info.chunkOffsets[index + 1] - start;
    const stored = into === null ? Buffer.allocUnsafe(length) : into.subarray(0, length);
    await readFully(this.file, stored, start);
    return stored;
  }

  private async load(index: number): Promise<Buffer> {
    const storedLength = this.info.chunkOffsets[index + 1] - this.info.chunkOffsets[index];
    // A chunk stored uncompressed is kept as read. A compressed one is read into a
    // reused buffer, since decompression copies it out: one allocation less per read.
    if (storedLength - 4 === this.lengthOf(index)) return this.decode(index, await this.readStored(index));
    const buffer = this.spareBuffers.pop() ?? Buffer.allocUnsafe(this.chunkLength + 4);
    try {
      return this.decode(index, await this.readStored(index, buffer));
    } finally {
      if (this.spareBuffers.length < SPARE_BUFFERS_MAX) this.spareBuffers.push(buffer);
    }
  }

  private lengthOf(index: number): number {
    return Math.min(this.chunkLength, this.dataLength - index * this.chunkLength);
  }

  /** Verifies a stored chunk and returns its uncompressed bytes. */
  private decode(index: number, stored: Buffer): Buffer {
    const start = this.info.chunkOffsets[index];
    const corrupt = (why: string) =>
      new CorruptSSTable(`Corrupted: ${this.path}: chunk ${index} at byte ${start} ${why}`, this.path);
    const payload = chunkPayload(stored);
    if (payload === null) throw corrupt('fails its CRC32C check');
    const length = this.lengthOf(index);
    // Stored uncompressed when compression would not have made it smaller.
    if (payload.length === length) return payload;
    let chunk: Buffer;
    try {
      chunk = this.compressor.uncompress(payload);
    } catch (error) {
      throw corrupt(`does not decompress (${(error as Error).message})`);
    }
    if (chunk.length !== length) throw corrupt(`decompresses to ${chunk.length} bytes instead of ${length}`);
    return chunk;
  }

  /**
   * CRC32C of the whole file (for Digest.db), verifying every chunk on the way. It
   * reads the file, never the cache: the bytes on disk are what is checked. `throttle`
   * is asked for each chunk's stored bytes before it is read.
   */
  async fileChecksum(throttle?: ReadThrottle): Promise<number> {
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    await readFully(this.file, header, 0);
    let crc = crc32c(header);
    for (let index = 0; index < this.chunkCount; index++) {
      await throttle?.consume(this.info.chunkOffsets[index + 1] - this.info.chunkOffsets[index]);
      const stored = await this.readStored(index);
      this.decode(index, stored);
      crc = crc32c(stored, crc);
    }
    return crc;
  }

  close(): Promise<void> {
    this.cache.clear(this.cached);
    return this.file.close();
  }
}

/**
 * Walks records of the data stream from a position. It holds on to its current chunk,
 * so a sequential walk reads each chunk once whatever the cache does meanwhile.
 */
export class DataCursor {
  constructor(
    private readonly chunks: ChunkReader,
    /** Stream position of the next record; callers may move it (seek, step back). */
    public position: number,
    private current: Buffer | null = null,
    private currentStart = 0,
  ) {}

  /** Set by locateLoaded. */
  private loadedStart = 0;
  private loadedLength = 0;
  private loadedPrefix = 0;

  /** A cursor at `position` that starts with this one's chunk: reading a partition's
   *  rows right after its header needs no second read of the chunk, even when
   *  concurrent reads have pushed it out of the cache meanwhile. */
  fork(position: number): DataCursor {
    return new DataCursor(this.chunks, position, this.current, this.currentStart);
  }

  /** Like next(), without a promise, when the whole record is in the current chunk
   *  (nearly always); undefined when next() has to read. */
  nextIfLoaded(): Buffer | undefined {
    if (!this.locateLoaded()) return undefined;
    this.position += this.loadedPrefix + this.loadedLength;
    return this.current!.subarray(this.loadedStart, this.loadedStart + this.loadedLength);
  }

  /**
   * A point read's walk over the partitions that start in one chunk, from the
   * position up to `end` (the next sample's position), without leaving the chunk:
   * headers are compared where they lie and the other partitions' records skipped by
   * their lengths alone. Returns 0 with the position at the header of the key's
   * partition, 1 when the key is absent (a later header, `end`, or a partition that
   * runs past the chunk: every partition between two samples starts in the first's
   * chunk, so that one is the last), and undefined, with the position at the record,
   * when the record there is not whole in a chunk the cache holds (next() reads it).
   */
  walkHeadersIfLoaded(tokenHigh: number, tokenLow: number, key: Buffer, end: number): number | undefined {
    if (!this.holds(this.position) && !this.takeIfCached(this.position)) return undefined;
    const chunk = this.current!;
    const stop = Math.min(chunk.length, end - this.currentStart);
    let offset = this.position - this.currentStart;
    while (offset < stop) {
      // Nearly every length is one byte: read it here; peekVarint for the others.
      let length = chunk[offset];
      let prefix = 1;
      if (length >= 0x80) {
        length = peekVarint(chunk, offset);
        prefix = varintBytes;
      }
      if (length < 0 || offset + prefix + length > chunk.length) break;
      const order = compareHeaderKeyAt(chunk, offset + prefix, length, tokenHigh, tokenLow, key, this.chunks.path);
      if (order >= 0) {
        this.position = this.currentStart + offset;
        return order;
      }
      offset += prefix + length;
      // The partition's rows and its end marker (length 0).
      do {
        if (offset >= chunk.length) return 1;
        length = chunk[offset];
        prefix = 1;
        if (length >= 0x80) {
          length = peekVarint(chunk, offset);
          if (length < 0) return 1;
          prefix = varintBytes;
        }
        offset += prefix + length;
      } while (length !== 0);
    }
    this.position = this.currentStart + offset;
    return offset < stop ? undefined : 1;
  }

  /** The records from the position through the end of the partition (its end marker
   *  not included), without moving, when they lie whole in the current chunk and are
   *  at most `max`; undefined otherwise. */
  partitionRecordsIfLoaded(max: number): Buffer[] | undefined {
    if (!this.holds(this.position)) return undefined;
    const chunk = this.current!;
    const records: Buffer[] = [];
    let offset = this.position - this.currentStart;
    for (;;) {
      if (offset >= chunk.length) return undefined;
      const length = peekVarint(chunk, offset);
      if (length < 0 || offset + varintBytes + length > chunk.length) return undefined;
      offset += varintBytes;
      if (length === 0) return records;
      if (records.length === max) return undefined;
      records.push(chunk.subarray(offset, offset + length));
      offset += length;
    }
  }

  /** Whether the record at the position lies whole in the current chunk (made the one
   *  the position is in, if the cache holds that one read); if so, sets
   *  loadedStart/loadedLength (its bytes in the chunk) and loadedPrefix (its length's). */
  private locateLoaded(): boolean {
    if (!this.holds(this.position) && !this.takeIfCached(this.position)) return false;
    const chunk = this.current!;
    const offset = this.position - this.currentStart;
    const length = peekVarint(chunk, offset);
    if (length < 0 || offset + varintBytes + length > chunk.length) return false;
    this.loadedPrefix = varintBytes;
    this.loadedStart = offset + varintBytes;
    this.loadedLength = length;
    return true;
  }

  /** Moves past the rest of the current partition — its rows and end marker — as far
   *  as the current chunk goes, without making a view of each record. True when done;
   *  false when the partition goes on past the chunk. */
  skipPartitionIfLoaded(): boolean {
    const chunk = this.current;
    if (chunk === null) return false;
    for (;;) {
      const offset = this.position - this.currentStart;
      if (offset < 0 || offset >= chunk.length) return false;
      const length = peekVarint(chunk, offset);
      if (length < 0 || offset + varintBytes + length > chunk.length) return false;
      this.position += varintBytes + length;
      if (length === 0) return true;
    }
  }

  /** The next record's bytes — empty for an end-of-partition marker — and moves past
   *  it. A record inside one chunk is a view of that chunk; one that spans chunks is
   *  copied together. */
  async next(): Promise<Buffer> {
    const loaded = this.nextIfLoaded();
    if (loaded !== undefined) return loaded;
    if (!this.holds(this.position)) await this.load(this.position);
    let chunk = this.current!;
    let start = this.position - this.currentStart;
    let length = peekVarint(chunk, start);
    if (length >= 0) {
      start += varintBytes;
      this.position += varintBytes;
    } else {
      length = await this.slowVarint();
      if (!this.holds(this.position) && length > 0) await this.load(this.position);
      chunk = this.current!;
      start = this.position - this.currentStart;
    }
    if (start + length <= chunk.length) {
      this.position += length;
      return chunk.subarray(start, start + length);
    }
    return this.gather(length);
  }

  /** Makes the chunk holding `position` the current one if the cache holds it read. */
  private takeIfCached(position: number): boolean {
    if (position < 0 || position >= this.chunks.dataLength) return false;
    const index = Math.floor(position / this.chunks.chunkLength);
    const chunk = this.chunks.chunkIfCached(index);
    if (chunk === undefined) return false;
    this.current = chunk;
    this.currentStart = index * this.chunks.chunkLength;
    return true;
  }

  private holds(position: number): boolean {
    return this.current !== null && position >= this.currentStart && position < this.currentStart + this.current.length;
  }

  private async load(position: number): Promise<void> {
    if (position >= this.chunks.dataLength) {
      throw new CorruptSSTable(
        `Corrupted: ${this.chunks.path}: a record runs past the end of the data (${this.chunks.dataLength} bytes)`,
        this.chunks.path,
      );
    }
    const index = Math.floor(position / this.chunks.chunkLength);
    this.current = await this.chunks.chunk(index);
    this.currentStart = index * this.chunks.chunkLength;
  }

  /** Copies `length` bytes from the position on, across as many chunks as they span. */
  private async gather(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      if (!this.holds(this.position)) await this.load(this.position);
      const offset = this.position - this.currentStart;
      const count = Math.min(length - filled, this.current!.length - offset);
      this.current!.copy(out, filled, offset, offset + count);
      filled += count;
      this.position += count;
    }
    return out;
  }

  /** A varint split by a chunk boundary (rare: only its few bytes are gathered). */
  private async slowVarint(): Promise<number> {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      const byte = (await this.gather(1))[0];
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return value;
      multiplier *= 0x80;
    }
    throw new CorruptSSTable(`Corrupted: ${this.chunks.path}: varint too long at byte ${this.position}`, this.chunks.path);
  }
}
