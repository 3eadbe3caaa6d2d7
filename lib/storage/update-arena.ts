/**
 * The partition updates a memtable was built from, copied into shared memory as they
 * are applied, so a flush thread can rebuild the memtable's partitions from them
 * without the event loop visiting a single object (see flush-source.ts and
 * flush-thread.ts).
 *
 * Each record is one PartitionUpdate message (mutation.proto) as the commit-log payload
 * holds it, with its key's token, which the writer computed already and the flush needs
 * to sort by:
 *     [u32 length][i32 token high word][u32 token low word][update bytes]
 * all little-endian. Records fill chunks (see CHUNK_BYTES_FIRST; a record larger than a
 * chunk gets one of its own); a chunk's used length is passed along with it, since the
 * flush thread only reads whole chunks the memtable stopped writing to (it is flushed
 * only once switched out).
 */

/**
 * Chunks grow from the first size to the largest by doubling (each as large as all
 * before it): a table written once holds a few KiB, not a whole chunk, and a busy one
 * a chunk per a few thousand updates.
 */
const CHUNK_BYTES_FIRST = 8 << 10;
const CHUNK_BYTES_MAX = 1 << 20;
/** Length, token high word, token low word. */
const RECORD_HEADER_BYTES = 12;
/** Updates shorter than this are copied by a loop: cheaper than a native copy's call. */
const LOOP_COPY_BYTES_MAX = 64;

/** One chunk as the flush thread receives it: shared memory and how much of it is used. */
export interface ArenaChunk {
  readonly buffer: SharedArrayBuffer;
  readonly length: number;
}

export class UpdateArena {
  /** Every chunk's bytes, the one being filled last. */
  private readonly views: Buffer[] = [];
  /** The used length of every chunk but the last. */
  private readonly sealedLengths: number[] = [];
  /** Bytes used of the last chunk. */
  private used = 0;
  private total = 0;

  /** The chunk (an index for `chunk`) holding the last appended update, and the offset its bytes start at. */
  lastChunk = -1;
  lastOffset = 0;

  /** Bytes held (chunks allocated). */
  get sizeBytes(): number {
    return this.total;
  }

  /** Appends the update message bytes[start, end) whose key's token has these words. */
  append(bytes: Uint8Array, start: number, end: number, high: number, low: number): void {
    const length = end - start;
    const needed = RECORD_HEADER_BYTES + length;
    let current = this.views[this.views.length - 1];
    if (current === undefined || this.used + needed > current.length) current = this.startChunk(needed);
    const at = this.used;
    current.writeUInt32LE(length, at);
    current.writeInt32LE(high, at + 4);
    current.writeUInt32LE(low, at + 8);
    const offset = at + RECORD_HEADER_BYTES;
    if (length < LOOP_COPY_BYTES_MAX) {
      for (let i = 0; i < length; i++) current[offset + i] = bytes[start + i];
    } else {
      current.set(bytes.subarray(start, end), offset);
    }
    this.lastChunk = this.views.length - 1;
    this.lastOffset = offset;
    this.used += needed;
  }

  /** Chunk `index`'s bytes, to read an update in place. */
  chunk(index: number): Buffer {
    return this.views[index];
  }

  /** The chunks written so far, the one being filled included. */
  chunks(): ArenaChunk[] {
    return this.views.map((view, i) => ({
      buffer: view.buffer as SharedArrayBuffer,
      length: i < this.sealedLengths.length ? this.sealedLengths[i] : this.used,
    }));
  }

  private startChunk(needed: number): Buffer {
    if (this.views.length > 0) this.sealedLengths.push(this.used);
    const size = Math.max(needed, Math.min(CHUNK_BYTES_MAX, Math.max(CHUNK_BYTES_FIRST, this.total)));
    const chunk = Buffer.from(new SharedArrayBuffer(size));
    this.views.push(chunk);
    this.used = 0;
    this.total += size;
    return chunk;
  }
}

/**
 * Calls `visit` with every update of the chunks, in the order they were appended: the
 * chunk's bytes (its index among `chunks` too), where the update lies in them and its
 * token's words.
 */
export function forEachArenaUpdate(
  chunks: readonly ArenaChunk[],
  visit: (bytes: Buffer, chunk: number, start: number, end: number, high: number, low: number) => void,
): void {
  for (let c = 0; c < chunks.length; c++) {
    const length = chunks[c].length;
    const bytes = Buffer.from(chunks[c].buffer, 0, length);
    let position = 0;
    while (position < length) {
      const size = bytes.readUInt32LE(position);
      const start = position + RECORD_HEADER_BYTES;
      visit(bytes, c, start, start + size, bytes.readInt32LE(position + 4), bytes.readUInt32LE(position + 8));
      position = start + size;
    }
  }
}
