/**
 * The partition updates a memtable was built from, kept in shared memory as they are
 * applied, so a flush thread can rebuild the memtable's partitions from them without
 * the event loop visiting a single object (see flush-source.ts and flush-thread.ts).
 *
 * Chunks hold update bytes: each update is one PartitionUpdate message (mutation.proto)
 * as the commit-log payload holds it. A writer may encode a whole mutation straight
 * into a chunk (`reserve`): its updates are then recorded where they lie, not copied.
 * A chunk's used length is passed along with it, since the flush thread only reads
 * whole chunks the memtable stopped writing to (it is flushed only once switched out).
 *
 * The directory says where each applied update lies, in the order applied:
 *     chunk, start, end, token high word, token low word (as int32)
 * in pages of shared memory. Bytes no update was recorded in (a mutation reserved and
 * encoded, then refused) are never read.
 */

/**
 * Chunks grow from the first size to the largest by doubling (each as large as all
 * before it): a table written once holds a few KiB, not a whole chunk, and a busy one
 * a chunk per a few thousand updates.
 */
const CHUNK_BYTES_FIRST = 8 << 10;
const CHUNK_BYTES_MAX = 1 << 20;
/** Updates shorter than this are copied by a loop: cheaper than a native copy's call. */
const LOOP_COPY_BYTES_MAX = 64;

/**
 * Full-size chunks of arenas whose memtables are gone (see `recycle`), for new arenas:
 * fresh shared memory costs a page fault per 4 KiB on first write, which was the
 * largest part of a heavy write load's encoding. At most this many are kept (64 MiB).
 */
const RECYCLED_CHUNKS_MAX = 64;
const recycledChunks: Buffer[] = [];

/** Chunks waiting for a new arena (for tests: recycling happens, and when). */
export function recycledChunksHeld(): number {
  return recycledChunks.length;
}

/** Int32s per update in the directory, and where each field is. */
const DIRECTORY_STRIDE = 5;
const DIR_CHUNK = 0;
const DIR_START = 1;
const DIR_END = 2;
const DIR_HIGH = 3;
const DIR_LOW = 4;
/** Updates per directory page: the first page's, doubling up to the largest's (320 KiB), as chunks grow. */
const DIRECTORY_PAGE_UPDATES_FIRST = 256;
const DIRECTORY_PAGE_UPDATES_MAX = 16384;

/** One chunk as the flush thread receives it: shared memory and how much of it is used. */
export interface ArenaChunk {
  readonly buffer: SharedArrayBuffer;
  readonly length: number;
}

/** Everything a flush thread needs of an arena: its chunks and where the updates lie in them. */
export interface ArenaContents {
  readonly chunks: readonly ArenaChunk[];
  /** Pages of updates' fields, each holding as many as it has room for but the last. */
  readonly directory: readonly SharedArrayBuffer[];
  /** Updates recorded. */
  readonly count: number;
}

export class UpdateArena {
  /** Every chunk's bytes, the one being filled last. */
  private readonly views: Buffer[] = [];
  /** The used length of every chunk but the last. */
  private readonly sealedLengths: number[] = [];
  /** Bytes used of the last chunk. */
  private used = 0;
  private readonly pages: Int32Array[] = [];
  /** Updates recorded in all pages, and in the last one. */
  private count = 0;
  private pageCount = 0;
  private total = 0;

  private recycled = false;

  /** The chunk (an index for `chunk`) holding the last appended update, and the offset its bytes start at. */
  lastChunk = -1;
  lastOffset = 0;

  /** Bytes held (chunks and directory pages allocated). */
  get sizeBytes(): number {
    return this.total;
  }

  /**
   * `length` bytes of the last chunk (a new one if they do not fit), for a mutation to
   * be encoded into in place; null for one larger than a chunk, which the caller keeps
   * elsewhere (its updates are then copied in by `append`).
   */
  reserve(length: number): Buffer | null {
    if (length > CHUNK_BYTES_MAX) return null;
    let current = this.views[this.views.length - 1];
    if (current === undefined || this.used + length > current.length) current = this.startChunk(length);
    const at = this.used;
    this.used += length;
    return Buffer.from(current.buffer, current.byteOffset + at, length);
  }

  /**
   * Records the update message bytes[start, end) whose key's token has these words:
   * where it lies, if `bytes` is space this arena reserved last, or else a copy.
   */
  append(bytes: Uint8Array, start: number, end: number, high: number, low: number): void {
    const length = end - start;
    let current = this.views[this.views.length - 1];
    let offset: number;
    if (current !== undefined && bytes.buffer === current.buffer) {
      offset = bytes.byteOffset - current.byteOffset + start;
    } else {
      if (current === undefined || this.used + length > current.length) current = this.startChunk(length);
      offset = this.used;
      if (length < LOOP_COPY_BYTES_MAX) {
        for (let i = 0; i < length; i++) current[offset + i] = bytes[start + i];
      } else {
        current.set(new Uint8Array(bytes.buffer, bytes.byteOffset + start, length), offset);
      }
      this.used += length;
    }
    this.lastChunk = this.views.length - 1;
    this.lastOffset = offset;
    this.record(this.lastChunk, offset, offset + length, high, low);
  }

  /** Chunk `index`'s bytes, to read an update in place. */
  chunk(index: number): Buffer {
    return this.views[index];
  }

  /** The chunks written so far (the one being filled included) and the directory. */
  contents(): ArenaContents {
    return {
      chunks: this.views.map((view, i) => ({
        buffer: view.buffer as SharedArrayBuffer,
        length: i < this.sealedLengths.length ? this.sealedLengths[i] : this.used,
      })),
      directory: this.pages.map((page) => page.buffer as SharedArrayBuffer),
      count: this.count,
    };
  }

  /**
   * Gives the chunks to new arenas and empties this one for good. Only for an arena
   * nothing reads any more: its memtable retired, its flush done, and no view of its
   * bytes handed out (a memtable decodes from copies for that reason).
   */
  recycle(): void {
    this.recycled = true;
    for (const view of this.views) {
      if (view.length === CHUNK_BYTES_MAX && recycledChunks.length < RECYCLED_CHUNKS_MAX) recycledChunks.push(view);
    }
    this.views.length = 0;
    this.sealedLengths.length = 0;
    this.pages.length = 0;
    this.used = this.count = this.pageCount = this.total = 0;
  }

  private record(chunk: number, start: number, end: number, high: number, low: number): void {
    let page = this.pages[this.pages.length - 1];
    if (page === undefined || this.pageCount * DIRECTORY_STRIDE === page.length) {
      const updates = page === undefined ? DIRECTORY_PAGE_UPDATES_FIRST : Math.min(DIRECTORY_PAGE_UPDATES_MAX, 2 * (page.length / DIRECTORY_STRIDE));
      page = new Int32Array(new SharedArrayBuffer(updates * DIRECTORY_STRIDE * 4));
      this.pages.push(page);
      this.pageCount = 0;
      this.total += page.byteLength;
    }
    const at = this.pageCount++ * DIRECTORY_STRIDE;
    page[at + DIR_CHUNK] = chunk;
    page[at + DIR_START] = start;
    page[at + DIR_END] = end;
    page[at + DIR_HIGH] = high;
    page[at + DIR_LOW] = low;
    this.count++;
  }

  private startChunk(needed: number): Buffer {
    if (this.recycled) throw new Error('A recycled update arena takes no more updates');
    if (this.views.length > 0) this.sealedLengths.push(this.used);
    const size = Math.max(needed, Math.min(CHUNK_BYTES_MAX, Math.max(CHUNK_BYTES_FIRST, this.total)));
    // A recycled chunk holds an old arena's bytes: only those recorded here are ever read.
    const chunk = (size === CHUNK_BYTES_MAX ? recycledChunks.pop() : undefined) ?? Buffer.from(new SharedArrayBuffer(size));
    this.views.push(chunk);
    this.used = 0;
    this.total += size;
    return chunk;
  }
}

/** Every chunk's bytes (a view on its shared memory). */
export function arenaBytes(arena: ArenaContents): Buffer[] {
  return arena.chunks.map((chunk) => Buffer.from(chunk.buffer, 0, chunk.length));
}

/**
 * Calls `visit` with every update of the arena, in the order they were applied: the
 * chunk's bytes (its index among the chunks too), where the update lies in them and
 * its token's words.
 */
export function forEachArenaUpdate(
  contents: ArenaContents,
  visit: (bytes: Buffer, chunk: number, start: number, end: number, high: number, low: number) => void,
): void {
  const chunks = arenaBytes(contents);
  for (let p = 0, left = contents.count; left > 0; p++) {
    const page = new Int32Array(contents.directory[p]);
    const end = Math.min(left * DIRECTORY_STRIDE, page.length);
    left -= end / DIRECTORY_STRIDE;
    for (let at = 0; at < end; at += DIRECTORY_STRIDE) {
      const chunk = page[at + DIR_CHUNK];
      visit(chunks[chunk], chunk, page[at + DIR_START], page[at + DIR_END], page[at + DIR_HIGH], page[at + DIR_LOW] >>> 0);
    }
  }
}
