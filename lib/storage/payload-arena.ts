/**
 * The commit-log payloads a memtable was built from, copied into shared memory as they
 * are applied, so a flush thread can rebuild the memtable's partitions from them without
 * the event loop visiting a single object (see flush-source.ts and flush-thread.ts).
 *
 * Layout: chunks (see CHUNK_BYTES_FIRST; a payload larger than a chunk gets one of its own),
 * each a run of records [length: uint32 little-endian][payload bytes]; a chunk's used
 * length is passed along with it, since the flush thread only reads whole chunks the
 * memtable stopped writing to (it is flushed only once switched out).
 */

/**
 * Chunks grow from the first size to the largest by doubling (each as large as all
 * before it): a table written once holds a few KiB, not a whole chunk, and a busy one
 * a chunk per a few thousand payloads.
 */
const CHUNK_BYTES_FIRST = 8 << 10;
const CHUNK_BYTES_MAX = 1 << 20;
const LENGTH_BYTES = 4;

/** One chunk as the flush thread receives it: shared memory and how much of it is used. */
export interface ArenaChunk {
  readonly buffer: SharedArrayBuffer;
  readonly length: number;
}

export class PayloadArena {
  /** Every chunk's bytes, the one being filled last. */
  private readonly views: Buffer[] = [];
  /** The used length of every chunk but the last. */
  private readonly sealedLengths: number[] = [];
  /** Bytes used of the last chunk. */
  private used = 0;
  private total = 0;

  /** The chunk (an index for `chunk`) and offset the last appended payload's bytes start at. */
  lastChunk = -1;
  lastOffset = 0;

  /** Bytes held (chunks allocated). */
  get sizeBytes(): number {
    return this.total;
  }

  append(payload: Uint8Array): void {
    const needed = LENGTH_BYTES + payload.length;
    let current = this.views[this.views.length - 1];
    if (current === undefined || this.used + needed > current.length) current = this.startChunk(needed);
    current.writeUInt32LE(payload.length, this.used);
    current.set(payload, this.used + LENGTH_BYTES);
    this.lastChunk = this.views.length - 1;
    this.lastOffset = this.used + LENGTH_BYTES;
    this.used += needed;
  }

  /** Chunk `index`'s bytes, to read a payload in place. */
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

/** Calls `visit` with every payload of the chunks (a view), in the order they were appended. */
export function forEachPayload(chunks: readonly ArenaChunk[], visit: (payload: Buffer) => void): void {
  for (const chunk of chunks) {
    const bytes = Buffer.from(chunk.buffer, 0, chunk.length);
    let position = 0;
    while (position < chunk.length) {
      const length = bytes.readUInt32LE(position);
      position += LENGTH_BYTES;
      visit(bytes.subarray(position, position + length));
      position += length;
    }
  }
}
