/**
 * Streaming: moving a table's partitions in token ranges between two nodes, for repair,
 * bootstrap, decommission and removenode.
 *
 * Both directions are driven by the node that calls: pull() asks the peer for chunks
 * (STREAM_PULL) and applies them here, push() scans here and sends chunks (STREAM_PUSH)
 * that the peer applies. One chunk in flight per stream is the flow control; a chunk is
 * a CRC32C-checked encoded Mutation of partitions of at most STREAM_CHUNK_BYTES, a wide
 * partition cut into pieces of STREAM_ROWS_PER_PIECE rows (a piece larger than the
 * chunk limit travels alone) — lib/repair/stream-codec.ts. Received
 * chunks go through the normal write path (StorageEngine.apply: commit log, memtable),
 * so reconciliation with what the receiver holds is the usual last-write-wins, and
 * tombstones travel like any data. Sending is throttled to stream_throughput_outbound.
 *
 * A pull is stateless on the sender: each STREAM_PULL names the range and the last
 * partition received (with its last row, when a chunk may have ended inside it), and
 * the sender scans on from there. So a sender holds at most one chunk per puller, and
 * a puller that dies leaves nothing behind. The price is that the piece that did not
 * fit in one chunk is read again for the next.
 *
 * A stream never hangs: it fails at once when the failure detector convicts the peer
 * (or the peer is down when it starts), and each chunk request has a timeout.
 * Memory per stream is one chunk, or one piece when a piece is larger.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClusterView } from '../cluster/cluster-view.js';
import { rangeContains, type Endpoint, type TokenRange } from '../cluster/ring.js';
import { ServerError } from '../errors.js';
import type { Clock } from '../model/clock.js';
import { ALL_ROWS, UNBOUNDED_END, type Slice } from '../model/clustering.js';
import { isEmptyPartition } from '../model/merge.js';
import { emptyPartition, type Partition } from '../model/partition.js';
import { compareKeys, MAX_TOKEN, MIN_TOKEN } from '../model/token.js';
import type { NetLogger, Transport } from '../net/transport.js';
import { SYSTEM_THROTTLE_CLOCK, Throttle, type ThrottleClock } from '../storage/compaction/throttle.js';
import type { TableMetadata } from '../schema/metadata.js';
import { laterPiece, type KeyRange, type ReadFilter, type StorageEngine, type TableStore } from '../storage/engine.js';
import {
  ChunkBuilder,
  decodeChunk,
  decodeFetchRequest,
  decodeFetchResponse,
  decodePullRequest,
  decodePullResponse,
  decodePushRequest,
  encodeFetchRequest,
  encodeFetchResponse,
  encodePartition,
  encodePullRequest,
  encodePullResponse,
  encodePushRequest,
  STREAM_CHUNK_BYTES,
  type PullRequest,
  type ResumePosition,
  type StreamChunk,
  type StreamSource,
} from './stream-codec.js';

export { STREAM_CHUNK_BYTES } from './stream-codec.js';

/** Default time one chunk request (pull or push) may take. */
export const STREAM_CHUNK_TIMEOUT_MS_DEFAULT = 60_000;
/**
 * Default time a STREAM_FETCH may take as a whole. It is the last resort only: the
 * target's death fails the fetch at once, and each of its pulls has chunk timeouts.
 */
export const STREAM_FETCH_TIMEOUT_MS_DEFAULT = 6 * 60 * 60_000;
/** The largest chunk a puller may ask for: bounds what a sender holds per puller. */
const STREAM_CHUNK_BYTES_MAX = 16 * 1024 * 1024;
/**
 * When throttled, a sender's chunk carries at most about this many seconds of its
 * throughput (but at least STREAM_THROTTLED_CHUNK_BYTES_MIN): the throttle's wait
 * happens inside the puller's chunk request and must stay well under its timeout.
 */
const STREAM_THROTTLED_CHUNK_SECONDS_MAX = 1;
const STREAM_THROTTLED_CHUNK_BYTES_MIN = 64 * 1024;
/** Partitions a scan encodes before letting the event loop run. */
const STREAM_PARTITIONS_PER_TURN_MAX = 64;
/** Rows of a wide partition per piece sent: 64 rows stay under the 16 MiB frame limit
 *  while rows stay under 256 KiB, well past what Cassandra advises for a row. */
const STREAM_ROWS_PER_PIECE = 64;

/** What one stream moved. */
export interface StreamStats {
  partitions: number;
  /** Encoded chunk bytes sent or received. */
  bytes: number;
}

/** Called after each chunk with what that chunk moved. */
export type StreamProgress = (chunk: StreamStats) => void;

/** The peer of a stream: its host id (whose liveness is watched) and internode address. */
export type StreamPeer = Pick<Endpoint, 'id' | 'address'>;

/** A stream failed: the peer died, timed out, refused, or sent a damaged chunk. */
export class StreamError extends ServerError {
  constructor(
    message: string,
    /** What had been moved (and applied) before the failure. */
    readonly stats: StreamStats,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return { partitions: this.stats.partitions, bytes: this.stats.bytes };
  }
}

export interface StreamServiceOptions {
  readonly transport: Transport;
  readonly storage: StorageEngine;
  /** Liveness: a stream to a peer the failure detector convicts fails at once, never hangs. */
  readonly view: ClusterView;
  readonly clock: Clock;
  /** stream_throughput_outbound, bytes per second over every outgoing stream; 0 = unthrottled. */
  readonly throughputBytesPerSecond: number;
  /** How long one chunk request may take (default 60 s). */
  readonly chunkTimeoutMs?: number;
  /** How long a STREAM_FETCH to another node may take as a whole (default 6 h). */
  readonly fetchTimeoutMs?: number;
  /** Byte limit of the chunks this node sends and asks for (default STREAM_CHUNK_BYTES). */
  readonly chunkBytesMax?: number;
  /** Time source of the outgoing throttle (tests inject one; default performance.now). */
  readonly throttleClock?: ThrottleClock;
  readonly logger?: NetLogger;
}

/** One running stream, so that a conviction of its peer can fail it at once. */
class StreamSession {
  readonly stats: StreamStats = { partitions: 0, bytes: 0 };
  private fail!: (error: Error) => void;
  /** Rejects when the stream must stop; raced against every wait on the peer. */
  private readonly stopped: Promise<never>;

  constructor(
    readonly peer: StreamPeer,
    private readonly onProgress: StreamProgress | undefined,
  ) {
    this.stopped = new Promise<never>((_, reject) => (this.fail = reject));
    // Nobody may be racing against it when it rejects.
    this.stopped.catch(() => undefined);
  }

  stop(reason: string): void {
    this.fail(new Error(reason));
  }

  /** `wait`, unless the stream is stopped first. */
  guard<T>(wait: Promise<T>): Promise<T> {
    return Promise.race([wait, this.stopped]);
  }

  record(partitions: number, bytes: number): void {
    this.stats.partitions += partitions;
    this.stats.bytes += bytes;
    this.onProgress?.({ partitions, bytes });
  }
}

/**
 * Splits ranges (start, end] that wrap around the ring into non-wrapping ones; a range
 * with start === end is the whole ring, (MIN_TOKEN, MAX_TOKEN], which holds every token
 * since Murmur3 never yields MIN_TOKEN. Empty pieces are left out.
 */
export function nonWrappingRanges(ranges: readonly TokenRange[]): TokenRange[] {
  const pieces: TokenRange[] = [];
  for (const range of ranges) {
    if (range.start < range.end) pieces.push(range);
    else if (range.start === range.end) pieces.push({ start: MIN_TOKEN, end: MAX_TOKEN });
    else {
      if (range.start < MAX_TOKEN) pieces.push({ start: range.start, end: MAX_TOKEN });
      if (range.end > MIN_TOKEN) pieces.push({ start: MIN_TOKEN, end: range.end });
    }
  }
  return pieces;
}

/** A partition or piece of one, encoded to travel; `startsPartition` is false for a
 *  piece continuing the partition before it (counted once in the stream's stats). */
interface EncodedPiece {
  readonly bytes: Uint8Array;
  readonly startsPartition: boolean;
}

/** The partitions of the non-wrapping `range`, strictly after `after`'s partition when given. */
function keyRangeOf(range: TokenRange, after: PullRequest['after']): KeyRange {
  // (start, end] by token: a null key after an exclusive start skips every key of the
  // start token; after an inclusive end it takes every key of the end token.
  return {
    start: after === null ? { token: range.start, key: null } : { token: after.token, key: after.key },
    startInclusive: false,
    end: { token: range.end, key: null },
    endInclusive: true,
  };
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class StreamService {
  private readonly throttle: Throttle;
  private readonly sessions = new Set<StreamSession>();
  private readonly chunkTimeoutMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly chunkBytesMax: number;

  constructor(readonly options: StreamServiceOptions) {
    this.throttle = new Throttle(options.throughputBytesPerSecond, options.throttleClock ?? SYSTEM_THROTTLE_CLOCK);
    this.chunkTimeoutMs = options.chunkTimeoutMs ?? STREAM_CHUNK_TIMEOUT_MS_DEFAULT;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? STREAM_FETCH_TIMEOUT_MS_DEFAULT;
    this.chunkBytesMax = Math.min(options.chunkBytesMax ?? STREAM_CHUNK_BYTES, STREAM_CHUNK_BYTES_MAX);
    options.view.onChange(() => {
      for (const session of this.sessions) {
        if (!options.view.isAlive(session.peer.id)) session.stop(`/${session.peer.address} was convicted by the failure detector`);
      }
    });
  }

  /** Registers STREAM_PULL, STREAM_PUSH and STREAM_FETCH. Call once. */
  register(): void {
    const { transport } = this.options;
    transport.onMessage('STREAM_PULL', (from, payload) => this.answerPull(from, payload));
    transport.onMessage('STREAM_PUSH', (from, payload) => this.answerPush(from, payload));
    transport.onMessage('STREAM_FETCH', (from, payload) => this.answerFetch(payload));
  }

  /** Changes stream_throughput_outbound (nodetool setstreamthroughput); 0 lifts the limit. */
  setThroughput(bytesPerSecond: number): void {
    this.throttle.setRate(bytesPerSecond);
  }

  /**
   * Copies `peer`'s partitions of `tableId` in `ranges` (which may wrap) into local
   * storage. Rejects (with what was moved so far in the error's `stats`) when the peer
   * dies, times out or sends a damaged chunk.
   */
  pull(peer: StreamPeer, tableId: string, ranges: readonly TokenRange[], onProgress?: StreamProgress): Promise<StreamStats> {
    return this.run('pull from', peer, tableId, onProgress, async (session) => {
      const table = this.localTable(tableId).metadata;
      for (const range of nonWrappingRanges(ranges)) {
        let after: PullRequest['after'] = null;
        for (;;) {
          const request = encodePullRequest({ tableId, range, after, chunkBytesMax: this.chunkBytesMax });
          const answer = await session.guard(this.options.transport.request(peer.address, 'STREAM_PULL', request, this.chunkTimeoutMs));
          const { chunk, done } = decodePullResponse(answer);
          if (chunk.bytes.length > 0) {
            const partitions = decodeChunk(chunk, tableId, peer.address);
            checkPulled(partitions, range, after, peer, table);
            // Applied before the next chunk is asked for: one chunk in flight.
            await this.applyReceived(tableId, chunk, partitions);
            const last = partitions[partitions.length - 1];
            session.record(partitionsIn(partitions, after), chunk.bytes.length);
            after = resumeAfter(last);
          } else if (!done) {
            throw new Error(`/${peer.address} answered an empty chunk without ending the stream`);
          }
          if (done) break;
          await nextTurn();
        }
      }
    });
  }

  /** Sends local partitions of `tableId` in `ranges` to `peer`, which applies them. */
  push(peer: StreamPeer, tableId: string, ranges: readonly TokenRange[], onProgress?: StreamProgress): Promise<StreamStats> {
    return this.run('push to', peer, tableId, onProgress, async (session) => {
      const store = this.localTable(tableId);
      const builder = new ChunkBuilder(this.chunkBytesMax);
      const send = async (): Promise<void> => {
        const partitions = builder.partitions;
        const chunk = builder.finish();
        await session.guard(this.throttle.consume(chunk.bytes.length));
        const request = encodePushRequest({ tableId, chunk });
        // The answer (empty) comes once the peer has applied the chunk: one chunk in flight.
        await session.guard(this.options.transport.request(peer.address, 'STREAM_PUSH', request, this.chunkTimeoutMs));
        session.record(partitions, chunk.bytes.length);
        await nextTurn();
      };
      for (const range of nonWrappingRanges(ranges)) {
        for await (const { bytes, startsPartition } of this.scanPieces(store, keyRangeOf(range, null))) {
          if (!builder.fits(bytes)) await send();
          builder.add(bytes, startsPartition);
        }
      }
      if (builder.bytes > 0) await send();
    });
  }

  /**
   * Asks `target` to pull `ranges` of `tableId` from each of `sources` in turn
   * (STREAM_FETCH), and resolves with what it moved once it is done (removenode: the
   * nodes that gain a dead node's ranges fetch them from the remaining replicas).
   * `target` may be this node. The first source that fails fails the fetch; pass live
   * sources only. When `target` is another node its error's stats are unknown (zero).
   */
  fetchInto(target: StreamPeer, sources: readonly StreamPeer[], tableId: string, ranges: readonly TokenRange[]): Promise<StreamStats> {
    const plainSources = sources.map(({ id, address }) => ({ id, address }));
    if (target.id === this.options.view.local.id) return this.fetchFromSources(plainSources, tableId, ranges);
    return this.run('fetch on', target, tableId, undefined, async (session) => {
      const request = encodeFetchRequest({ tableId, ranges, sources: plainSources });
      const answer = await session.guard(this.options.transport.request(target.address, 'STREAM_FETCH', request, this.fetchTimeoutMs));
      const moved = decodeFetchResponse(answer);
      session.record(moved.partitions, moved.bytes);
    });
  }

  /** Runs one stream with `peer`, failing it at once if the peer is or becomes dead. */
  private async run(
    action: string,
    peer: StreamPeer,
    tableId: string,
    onProgress: StreamProgress | undefined,
    body: (session: StreamSession) => Promise<void>,
  ): Promise<StreamStats> {
    const session = new StreamSession(peer, onProgress);
    const what = `stream ${action} /${peer.address} of table ${this.tableName(tableId)}`;
    if (!this.options.view.isAlive(peer.id)) {
      throw new StreamError(`${what} cannot start: /${peer.address} is down`, { ...session.stats });
    }
    this.sessions.add(session);
    try {
      await body(session);
    } catch (error) {
      const { partitions, bytes } = session.stats;
      this.options.logger?.warn({ peer: peer.address, tableId, partitions, bytes, err: error }, `${what} failed`);
      throw new StreamError(`${what} failed after ${partitions} partitions (${bytes} bytes): ${describe(error)}`, {
        ...session.stats,
      });
    } finally {
      this.sessions.delete(session);
    }
    this.options.logger?.info({ peer: peer.address, tableId, ...session.stats }, `${what} finished`);
    return { ...session.stats };
  }

  /** Pulls from each source in turn; the first failure stops it, with the total moved. */
  private async fetchFromSources(sources: readonly StreamSource[], tableId: string, ranges: readonly TokenRange[]): Promise<StreamStats> {
    const total: StreamStats = { partitions: 0, bytes: 0 };
    for (const source of sources) {
      try {
        const moved = await this.pull(source, tableId, ranges);
        total.partitions += moved.partitions;
        total.bytes += moved.bytes;
      } catch (error) {
        const moved = (error as StreamError).stats;
        throw new StreamError(describe(error), { partitions: total.partitions + moved.partitions, bytes: total.bytes + moved.bytes });
      }
    }
    return total;
  }

  /** STREAM_PULL: the next chunk of the range after the puller's last partition. */
  private async answerPull(from: string, payload: Uint8Array): Promise<Uint8Array> {
    const request = decodePullRequest(payload);
    const store = this.knownTable(request.tableId, from);
    const { range, after } = request;
    if (!(range.start < range.end) || (after !== null && !rangeContains(range, after.token))) {
      throw new ServerError(`STREAM_PULL from /${from}: range (${range.start}, ${range.end}] must not wrap and hold the resume position`);
    }
    const builder = new ChunkBuilder(this.sendChunkBytesMax(request.chunkBytesMax));
    let done = true;
    for await (const { bytes } of this.piecesAfter(store, range, after)) {
      // The piece that does not fit is read again by the next request.
      if (!builder.fits(bytes)) {
        done = false;
        break;
      }
      builder.add(bytes);
    }
    const chunk: StreamChunk = builder.finish();
    await this.throttle.consume(chunk.bytes.length);
    return encodePullResponse({ chunk, done });
  }

  /** STREAM_PUSH: applies the chunk; the empty answer is the ack. */
  private async answerPush(from: string, payload: Uint8Array): Promise<void> {
    const { tableId, chunk } = decodePushRequest(payload);
    this.knownTable(tableId, from);
    const partitions = decodeChunk(chunk, tableId, from);
    await this.applyReceived(tableId, chunk, partitions);
  }

  /**
   * Applies a received chunk. One that is larger than this node's chunk limit holds a
   * single partition bigger than that (it travels alone): it is applied in pieces of
   * rows of about the limit each, since the write path refuses a mutation larger than
   * half a commit-log segment, and a wide partition — grown by many small writes — may
   * well be. Pieces reconcile like any writes, so applying them one by one leaves the
   * partition as one apply would (only not atomically, which a stream does not need).
   */
  private async applyReceived(tableId: string, chunk: StreamChunk, partitions: readonly Partition[]): Promise<void> {
    const { storage } = this.options;
    if (chunk.bytes.length <= this.chunkBytesMax) {
      await storage.apply(partitions.map((partition) => ({ tableId, partition })));
      return;
    }
    for (const partition of partitions) {
      for (const piece of partitionPieces(tableId, partition, this.chunkBytesMax)) {
        await storage.apply([{ tableId, partition: piece }]);
        await nextTurn();
      }
    }
  }

  /** STREAM_FETCH: pulls from each source, answers with what moved. */
  private async answerFetch(payload: Uint8Array): Promise<Uint8Array> {
    const { tableId, ranges, sources } = decodeFetchRequest(payload);
    return encodeFetchResponse(await this.fetchFromSources(sources, tableId, ranges));
  }

  /** What a pull resumes with: the rest of the partition it stopped inside, if any,
   *  then the partitions of `range` after `after`. */
  private async *piecesAfter(store: TableStore, range: TokenRange, after: ResumePosition | null): AsyncGenerator<EncodedPiece> {
    // An empty clustering would read the partition from its start again: only a
    // puller's mistake, answered as a resume after the partition.
    if (after !== null && after.clustering !== null && after.clustering.length > 0) {
      const position = { token: after.token, key: after.key };
      const rest: Slice = { start: { prefix: after.clustering, inclusive: false }, end: UNBOUNDED_END };
      // Its partition-level parts went with its first piece: only rows now.
      yield* this.scanPieces(store, { start: position, startInclusive: true, end: position, endInclusive: true }, [rest], true);
    }
    yield* this.scanPieces(store, keyRangeOf(range, after));
  }

  /**
   * Encoded non-empty partitions of `store` in `keys`, a wide one in pieces of at most
   * STREAM_ROWS_PER_PIECE rows (each under the transport's frame limit however wide the
   * partition), with turns for the event loop. `rowsOnly`: pieces without rows are
   * left out and the others carry rows only.
   */
  private async *scanPieces(store: TableStore, keys: KeyRange, slices: readonly Slice[] = [ALL_ROWS], rowsOnly = false): AsyncGenerator<EncodedPiece> {
    // Every row and every tombstone: nothing is dropped for being expired or shadowed
    // only on the sender, so the receiver reconciles exactly what the sender holds.
    const filter: ReadFilter = { slices, reversed: false, rowLimit: Infinity, nowSeconds: this.options.clock.nowSeconds() };
    const tableId = store.metadata.id;
    let sinceTurn = 0;
    let previous: Buffer | null = null;
    for await (const piece of store.scan(keys, filter, { rowsPerPiece: STREAM_ROWS_PER_PIECE })) {
      const startsPartition = !rowsOnly && (previous === null || !piece.key.equals(previous));
      previous = piece.key;
      if (rowsOnly) {
        if (piece.rows.length > 0) yield { bytes: encodePartition(tableId, laterPiece(piece, piece.rows)), startsPartition };
      } else if (!isEmptyPartition(piece)) {
        yield { bytes: encodePartition(tableId, piece), startsPartition };
      }
      if (++sinceTurn === STREAM_PARTITIONS_PER_TURN_MAX) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
  }

  /** What a sender puts in one chunk: the puller's limit, capped so a throttled wait stays short. */
  private sendChunkBytesMax(requested: number): number {
    const rate = this.throttle.rateBytesPerSecond;
    const throttledMax = rate === 0 ? Infinity : Math.max(rate * STREAM_THROTTLED_CHUNK_SECONDS_MAX, STREAM_THROTTLED_CHUNK_BYTES_MIN);
    return Math.max(1, Math.min(requested, STREAM_CHUNK_BYTES_MAX, throttledMax));
  }

  private localTable(tableId: string): TableStore {
    const store = this.options.storage.table(tableId);
    if (store === undefined) throw new Error(`table ${tableId} is unknown on this node`);
    return store;
  }

  private knownTable(tableId: string, from: string): TableStore {
    const store = this.options.storage.table(tableId);
    if (store === undefined) throw new ServerError(`cannot stream table ${tableId} with /${from}: the table is unknown on /${this.options.transport.address}`);
    return store;
  }

  /** "ks.table (id)" when the table is known here, else the id. */
  private tableName(tableId: string): string {
    const metadata = this.options.storage.table(tableId)?.metadata;
    return metadata === undefined ? tableId : `${metadata.keyspace}.${metadata.name} (${tableId})`;
  }
}

/**
 * `partition` cut into partitions of consecutive rows whose encoded size is about
 * `bytesMax` at most (a single row larger than that goes alone). The first piece also
 * carries what covers the whole partition: its deletion, static row and range tombstones.
 */
function* partitionPieces(tableId: string, partition: Partition, bytesMax: number): Generator<Partition> {
  const { key, token } = partition;
  let piece: Partition = { ...partition, rows: [] };
  let bytes = encodePartition(tableId, piece).length;
  for (const row of partition.rows) {
    // Measured alone, with the key and framing: the sum over-counts, which is the safe side.
    const rowBytes = encodePartition(tableId, { ...emptyPartition(key, token), rows: [row] }).length;
    if (piece.rows.length > 0 && bytes + rowBytes > bytesMax) {
      yield piece;
      piece = emptyPartition(key, token);
      bytes = 0;
    }
    piece.rows.push(row);
    bytes += rowBytes;
  }
  yield piece;
}

/**
 * A pulled chunk must hold partitions of the requested range, in order, after the
 * resume position: a sender that broke this would make the pull apply data the caller
 * did not ask for, or loop forever on the same chunk. A piece may continue the
 * partition before it (or the one the pull resumed inside) only with later rows.
 */
function checkPulled(
  partitions: readonly Partition[],
  range: TokenRange,
  after: PullRequest['after'],
  peer: StreamPeer,
  table: TableMetadata,
): void {
  let previous = after;
  for (const partition of partitions) {
    const order = previous === null ? 1 : compareKeys(partition.token, partition.key, previous.token, previous.key);
    const first = partition.rows[0];
    const continues =
      order === 0 && previous!.clustering !== null && first !== undefined && table.comparator.compare(first.clustering, previous!.clustering) > 0;
    if (!(order > 0 || continues) || !rangeContains(range, partition.token)) {
      throw new Error(`/${peer.address} sent a partition of table ${table.id} (token ${partition.token}) outside the requested range or out of order`);
    }
    previous = resumeAfter(partition);
  }
}

/**
 * Where a pull goes on after `last`, the last partition (or piece) received: inside it,
 * after its last row, since the chunk may have ended between two of its pieces (nothing
 * is sent again if no row is left); after it when it has no row, or its rows have no
 * clustering (a table without clustering columns: one row, never cut in pieces, and an
 * empty clustering would mean "from the partition's start" to the sender).
 */
function resumeAfter(last: Partition): ResumePosition {
  const clustering = last.rows.at(-1)?.clustering;
  return { token: last.token, key: last.key, clustering: clustering === undefined || clustering.length === 0 ? null : clustering };
}

/** How many partitions `pieces` hold: pieces continuing the one before count once. */
function partitionsIn(pieces: readonly Partition[], after: PullRequest['after']): number {
  let count = 0;
  let previous: { token: bigint; key: Buffer } | null = after;
  for (const piece of pieces) {
    if (previous === null || !piece.key.equals(previous.key)) count++;
    previous = piece;
  }
  return count;
}
