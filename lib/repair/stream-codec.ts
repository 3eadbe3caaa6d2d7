/**
 * Streaming messages to and from protobuf bytes (protocol/streaming.proto), and the
 * chunk: partitions (or pieces of wide ones) of one table as an encoded sibyl.Mutation
 * plus the CRC32C of those bytes.
 *
 * A Mutation is a repeated field of partition updates, and protobuf concatenation of
 * two encoded messages appends their repeated fields: so a chunk is built by encoding
 * each partition on its own and concatenating the pieces. That gives the exact size of
 * every partition before it is added, which is what keeps a chunk under its byte limit.
 */
import protobuf from 'protobufjs';
import type { TokenRange } from '../cluster/ring.js';
import { ServerError } from '../errors.js';
import type { Partition } from '../model/partition.js';
import { encodeBytes, toBuffer } from '../protobuf-bytes.js';
import { protocolFile } from '../protocol-files.js';
import { crc32c } from '../storage/crc.js';
// Imported for its values and for its side effect: it configures protobufjs to decode
// int64 as numbers before streaming.proto is loaded here.
import { decodeMutation, encodeMutation } from '../storage/mutation-codec.js';

/** Default byte limit of one chunk (a partition larger than this travels alone). */
export const STREAM_CHUNK_BYTES = 1024 * 1024;

const root = protobuf.loadSync(protocolFile('streaming.proto'));
const PullRequestMessage = root.lookupType('sibyl.streaming.PullRequest');
const PullResponseMessage = root.lookupType('sibyl.streaming.PullResponse');
const PushRequestMessage = root.lookupType('sibyl.streaming.PushRequest');
const FetchRequestMessage = root.lookupType('sibyl.streaming.FetchRequest');
const FetchResponseMessage = root.lookupType('sibyl.streaming.FetchResponse');

/** Encoded partitions of one table with their checksum, as they travel. */
export interface StreamChunk {
  readonly bytes: Uint8Array;
  /** CRC32C of `bytes`, unsigned. */
  readonly crc: number;
}

export interface PullRequest {
  readonly tableId: string;
  /** Non-wrapping: start < end. */
  readonly range: TokenRange;
  /** Resume strictly after this partition; null for the start of the range. */
  readonly after: ResumePosition | null;
  readonly chunkBytesMax: number;
}

export interface ResumePosition {
  readonly token: bigint;
  readonly key: Buffer;
  /** Non-null: resume inside the partition, with its rows strictly after this
   *  clustering (the chunk ended between two pieces of it). */
  readonly clustering: Buffer[] | null;
}

export interface PullResponse {
  readonly chunk: StreamChunk;
  /** Nothing of the range is left after this chunk. */
  readonly done: boolean;
}

export interface PushRequest {
  readonly tableId: string;
  readonly chunk: StreamChunk;
}

/** A node to stream from: its host id (for liveness) and internode address. */
export interface StreamSource {
  readonly id: string;
  readonly address: string;
}

export interface FetchRequest {
  readonly tableId: string;
  readonly ranges: readonly TokenRange[];
  readonly sources: readonly StreamSource[];
}

export interface FetchResponse {
  readonly partitions: number;
  readonly bytes: number;
}

const EMPTY = new Uint8Array(0);

function checksum(bytes: Uint8Array): number {
  return crc32c(bytes) >>> 0;
}

/** One partition of `tableId` as a chunk piece: a Mutation of that partition alone. */
export function encodePartition(tableId: string, partition: Partition): Uint8Array {
  return encodeMutation([{ tableId, partition }]);
}

/**
 * Gathers encoded partitions into chunks of at most `bytesMax` bytes, except that a
 * piece larger than that is still accepted into an empty chunk (it travels alone).
 * Memory: the pieces of one chunk.
 */
export class ChunkBuilder {
  private pieces: Uint8Array[] = [];
  private size = 0;
  private partitionCount = 0;

  constructor(private readonly bytesMax: number) {
    if (!(bytesMax > 0)) throw new RangeError(`chunk byte limit must be > 0, got ${bytesMax}`);
  }

  /** Partitions begun in this chunk (a piece continuing the one before does not count). */
  get partitions(): number {
    return this.partitionCount;
  }

  get bytes(): number {
    return this.size;
  }

  /** Whether `piece` may join this chunk. */
  fits(piece: Uint8Array): boolean {
    return this.pieces.length === 0 || this.size + piece.length <= this.bytesMax;
  }

  add(piece: Uint8Array, startsPartition = true): void {
    this.pieces.push(piece);
    this.size += piece.length;
    if (startsPartition) this.partitionCount++;
  }

  /** The chunk of every piece added since the last finish; the builder starts empty again. */
  finish(): StreamChunk {
    const bytes = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.size);
    this.pieces = [];
    this.size = 0;
    this.partitionCount = 0;
    return { bytes, crc: checksum(bytes) };
  }
}

/**
 * The partitions of a chunk received from `peer` for `tableId`. Refuses (ServerError
 * naming peer and table) a chunk whose checksum does not match, that does not decode,
 * or that holds another table's partitions: nothing of a refused chunk is applied.
 */
export function decodeChunk(chunk: StreamChunk, tableId: string, peer: string): Partition[] {
  const actual = checksum(chunk.bytes);
  if (actual !== chunk.crc >>> 0) {
    throw new ServerError(
      `damaged stream chunk of table ${tableId} from /${peer}: CRC32C of its ${chunk.bytes.length} bytes is ${actual}, expected ${chunk.crc >>> 0}`,
    );
  }
  let updates;
  try {
    updates = decodeMutation(chunk.bytes);
  } catch (error) {
    throw new ServerError(`undecodable stream chunk of table ${tableId} from /${peer}: ${(error as Error).message}`);
  }
  return updates.map((update) => {
    if (update.tableId !== tableId) {
      throw new ServerError(`stream chunk of table ${tableId} from /${peer} holds a partition of table ${update.tableId}`);
    }
    return update.partition;
  });
}

interface PositionMsg {
  token: string;
  key: Uint8Array;
  within?: boolean;
  clustering?: Uint8Array[];
}
interface RangeMsg {
  start: string;
  end: string;
}

export function encodePullRequest(request: PullRequest): Uint8Array {
  return encodeBytes(PullRequestMessage, {
    tableId: request.tableId,
    start: request.range.start.toString(),
    end: request.range.end.toString(),
    after:
      request.after === null
        ? null
        : {
            token: request.after.token.toString(),
            key: request.after.key,
            within: request.after.clustering !== null,
            clustering: request.after.clustering ?? [],
          },
    chunkBytesMax: request.chunkBytesMax,
  });
}

export function decodePullRequest(bytes: Uint8Array): PullRequest {
  const msg = PullRequestMessage.decode(bytes) as unknown as {
    tableId: string;
    start: string;
    end: string;
    after?: PositionMsg | null;
    chunkBytesMax: number;
  };
  return {
    tableId: msg.tableId,
    range: { start: BigInt(msg.start), end: BigInt(msg.end) },
    after:
      msg.after == null
        ? null
        : {
            token: BigInt(msg.after.token),
            key: toBuffer(msg.after.key),
            clustering: msg.after.within === true ? (msg.after.clustering ?? []).map(toBuffer) : null,
          },
    chunkBytesMax: msg.chunkBytesMax,
  };
}

export function encodePullResponse(response: PullResponse): Uint8Array {
  return encodeBytes(PullResponseMessage, { chunk: response.chunk.bytes, crc: response.chunk.crc, done: response.done });
}

export function decodePullResponse(bytes: Uint8Array): PullResponse {
  const msg = PullResponseMessage.decode(bytes) as unknown as { chunk?: Uint8Array; crc: number; done: boolean };
  return { chunk: { bytes: msg.chunk ?? EMPTY, crc: msg.crc >>> 0 }, done: msg.done };
}

export function encodePushRequest(request: PushRequest): Uint8Array {
  return encodeBytes(PushRequestMessage, { tableId: request.tableId, chunk: request.chunk.bytes, crc: request.chunk.crc });
}

export function decodePushRequest(bytes: Uint8Array): PushRequest {
  const msg = PushRequestMessage.decode(bytes) as unknown as { tableId: string; chunk?: Uint8Array; crc: number };
  return { tableId: msg.tableId, chunk: { bytes: msg.chunk ?? EMPTY, crc: msg.crc >>> 0 } };
}

export function encodeFetchRequest(request: FetchRequest): Uint8Array {
  return encodeBytes(FetchRequestMessage, {
    tableId: request.tableId,
    ranges: request.ranges.map((range) => ({ start: range.start.toString(), end: range.end.toString() })),
    sources: request.sources.map((source) => ({ hostId: source.id, address: source.address })),
  });
}

export function decodeFetchRequest(bytes: Uint8Array): FetchRequest {
  const msg = FetchRequestMessage.decode(bytes) as unknown as {
    tableId: string;
    ranges: RangeMsg[];
    sources: { hostId: string; address: string }[];
  };
  return {
    tableId: msg.tableId,
    ranges: msg.ranges.map((range) => ({ start: BigInt(range.start), end: BigInt(range.end) })),
    sources: msg.sources.map((source) => ({ id: source.hostId, address: source.address })),
  };
}

export function encodeFetchResponse(response: FetchResponse): Uint8Array {
  return encodeBytes(FetchResponseMessage, response);
}

export function decodeFetchResponse(bytes: Uint8Array): FetchResponse {
  const msg = FetchResponseMessage.decode(bytes) as unknown as { partitions: number; bytes: number };
  return { partitions: Number(msg.partitions), bytes: Number(msg.bytes) };
}
