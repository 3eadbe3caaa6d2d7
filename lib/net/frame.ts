/**
 * The internode wire format, version 1: the one place that knows its bytes.
 *
 * A connection carries frames back to back. All integers are little-endian. Each frame
 * (FRAME_OVERHEAD_BYTES = 20 bytes plus its body):
 *
 *     0     u32  magic 0x464d4253 (the bytes "SBMF")
 *     4     u16  format version (FRAME_VERSION)
 *     6     u16  flags, 0 (reserved)
 *     8     u32  body length n, at most the receiver's maximum frame size
 *     12    u32  CRC32C of bytes 0..11 (so a damaged length is never trusted)
 *     16    n    body: one Envelope of protocol/messaging.proto
 *     16+n  u32  CRC32C of the body
 *
 * The magic is repeated in every frame so that a stream that is not ours (a port scan,
 * an HTTP client on the wrong port) is refused at its first bytes. Any violation — bad
 * magic, unknown version, header or body checksum mismatch, a length above the maximum,
 * an undecodable envelope — is a FrameError: the connection is no longer in sync and the
 * caller closes it; nothing is skipped or resynchronised.
 */
import protobuf from 'protobufjs';
// For its side effect: uint64 ids decode as plain numbers, not a Long per message (protobuf-bytes.ts).
import '../protobuf-bytes.js';
import { protocolFile } from '../protocol-files.js';
import { crc32c } from '../storage/crc.js';
import { MessagingError, VERBS, type Verb } from './transport.js';

export const FRAME_MAGIC = 0x464d4253;
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
export const FRAME_OVERHEAD_BYTES = 20;
/** Default largest body a node sends or accepts (Cassandra's internode frames are smaller). */
export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

const root = protobuf.loadSync(protocolFile('messaging.proto'));
const EnvelopeMessage = root.lookupType('sibyl.net.Envelope');
const VerbEnum = root.lookupEnum('sibyl.net.Verb');

/** The handshake opening every TCP connection; not a verb handlers can register. */
export const HANDSHAKE = 'HANDSHAKE';
export type WireVerb = Verb | typeof HANDSHAKE;

// Verb names ↔ wire numbers, built once from the .proto so the two cannot drift apart.
const VERB_CODES = new Map<WireVerb, number>();
const VERBS_BY_CODE = new Map<number, WireVerb>();
for (const name of [HANDSHAKE, ...VERBS] as WireVerb[]) {
  const code = VerbEnum.values[name];
  if (code === undefined) throw new Error(`verb ${name} is missing from protocol/messaging.proto`);
  VERB_CODES.set(name, code);
  VERBS_BY_CODE.set(code, name);
}

const EMPTY = Buffer.alloc(0);

export interface Envelope {
  /** Request id echoed by the response; 0 for one-way messages. */
  readonly id: number;
  /** A number when the sender used a verb this node does not know (a newer version). */
  readonly verb: WireVerb | number;
  readonly isResponse: boolean;
  readonly from: string;
  readonly payload: Uint8Array;
  /** On a response: the handler failed with this message. */
  readonly error?: string;
}

interface EnvelopeMsg {
  id: number;
  verb: number;
  isResponse: boolean;
  from: string;
  payload: Uint8Array;
  error?: string | null;
}

/** The stream is not (or no longer) a valid sequence of frames; close the connection. */
export class FrameError extends MessagingError {}

/** An envelope too large to send under the frame size limit. */
export class FrameTooLarge extends MessagingError {
  constructor(
    readonly bytes: number,
    readonly bytesMax: number,
  ) {
    super(`message of ${bytes} bytes exceeds the maximum frame size of ${bytesMax} bytes`);
  }
}

/** One complete frame holding `envelope`, ready to write. Throws FrameTooLarge. */
export function encodeFrame(envelope: Envelope, bytesMax = FRAME_BYTES_MAX_DEFAULT): Buffer {
  const verb = typeof envelope.verb === 'number' ? envelope.verb : VERB_CODES.get(envelope.verb);
  if (verb === undefined) throw new TypeError(`unknown verb ${String(envelope.verb)}`);
  const message: EnvelopeMsg = {
    id: envelope.id,
    verb,
    isResponse: envelope.isResponse,
    from: envelope.from,
    payload: envelope.payload,
  };
  if (envelope.error !== undefined) message.error = envelope.error;
  const body = EnvelopeMessage.encode(message).finish();
  if (body.length > bytesMax) throw new FrameTooLarge(body.length, bytesMax);
  const frame = Buffer.allocUnsafe(FRAME_OVERHEAD_BYTES + body.length);
  frame.writeUInt32LE(FRAME_MAGIC, 0);
  frame.writeUInt16LE(FRAME_VERSION, 4);
  frame.writeUInt16LE(0, 6);
  frame.writeUInt32LE(body.length, 8);
  frame.writeUInt32LE(crc32c(frame.subarray(0, 12)), 12);
  frame.set(body, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(crc32c(body), FRAME_HEADER_BYTES + body.length);
  return frame;
}

/** The body length a valid frame header announces; throws FrameError otherwise. */
function readHeader(header: Buffer, bytesMax: number): number {
  const magic = header.readUInt32LE(0);
  if (magic !== FRAME_MAGIC) throw new FrameError(`bad frame magic 0x${magic.toString(16).padStart(8, '0')}`);
  const version = header.readUInt16LE(4);
  if (version !== FRAME_VERSION) throw new FrameError(`unsupported messaging version ${version} (this node speaks ${FRAME_VERSION})`);
  if (crc32c(header.subarray(0, 12)) !== header.readUInt32LE(12)) throw new FrameError('frame header checksum mismatch');
  const length = header.readUInt32LE(8);
  if (length > bytesMax) throw new FrameError(`frame of ${length} bytes exceeds the maximum of ${bytesMax} bytes`);
  return length;
}

function decodeBody(body: Buffer): Envelope {
  let message: EnvelopeMsg;
  try {
    message = EnvelopeMessage.decode(body) as unknown as EnvelopeMsg;
  } catch (error) {
    throw new FrameError(`undecodable envelope: ${(error as Error).message}`);
  }
  const envelope: Envelope = {
    id: message.id,
    verb: VERBS_BY_CODE.get(message.verb) ?? message.verb,
    isResponse: message.isResponse,
    from: message.from,
    // An empty bytes field decodes as protobufjs's default, a plain array.
    payload: message.payload.length === 0 ? EMPTY : message.payload,
    ...(typeof message.error === 'string' ? { error: message.error } : {}),
  };
  return envelope;
}

/**
 * Cuts a byte stream into envelopes. Chunks are kept as they arrive and joined once
 * per frame, so a large frame split over many reads costs one copy, not one per read.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame whose header was read, or -1 while waiting for a header. */
  private bodyLength = -1;

  constructor(private readonly bytesMax = FRAME_BYTES_MAX_DEFAULT) {}

  /** The envelopes completed by `chunk`, in order. Throws FrameError; the decoder is then unusable. */
  push(chunk: Buffer): Envelope[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const envelopes: Envelope[] = [];
    for (;;) {
      if (this.bodyLength < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        this.bodyLength = readHeader(this.take(FRAME_HEADER_BYTES), this.bytesMax);
      }
      if (this.buffered < this.bodyLength + 4) break;
      const rest = this.take(this.bodyLength + 4);
      const body = rest.subarray(0, this.bodyLength);
      if (crc32c(body) !== rest.readUInt32LE(this.bodyLength)) throw new FrameError('frame body checksum mismatch');
      this.bodyLength = -1;
      envelopes.push(decodeBody(body));
    }
    return envelopes;
  }

  /** Removes the first `n` buffered bytes (n <= buffered), copying only when they span chunks. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
