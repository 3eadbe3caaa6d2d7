/**
 * Bytes in and out of protobufjs messages, shared by every codec whatever its layer.
 */
import protobuf from 'protobufjs';

// 64-bit integer fields (timestamps in µs, generations, message ids) decode as plain
// numbers, exact below 2^53, instead of a Long per field; sibyl's stay far below. Set before
// any codec loads its .proto: each codec imports this module.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

/** Bytes fields absent on the wire decode as protobufjs defaults; normalise to Buffers
 *  (a view over the decoded bytes, not a copy). */
export function toBuffer(bytes: Uint8Array | undefined): Buffer {
  if (bytes === undefined || bytes.length === 0) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `message` (a plain object of the type's shape) encoded as `type`. */
export function encodeBytes(type: protobuf.Type, message: object): Uint8Array {
  return type.encode(message as protobuf.Message).finish();
}
