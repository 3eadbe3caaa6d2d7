/**
 * Repair messages to and from protobuf bytes (protocol/repair.proto): the VALIDATION
 * request (which table, which non-wrapping token range, how deep, at what time) and its
 * answer, a Merkle tree in MerkleTree.toBuffer's checksummed form.
 */
import protobuf from 'protobufjs';
import { ProtocolError } from '../errors.js';
import { protocolFile } from '../protocol-files.js';
// Imported for its side effect: it configures protobufjs to decode int64 as numbers
// (protobuf.util.Long = undefined) before repair.proto is loaded here.
import '../protobuf-bytes.js';
import { MerkleTree, type TokenRange } from './merkle.js';

const root = protobuf.loadSync(protocolFile('repair.proto'));
const ValidationRequestMessage = root.lookupType('sibyl.repair.ValidationRequest');
const ValidationResponseMessage = root.lookupType('sibyl.repair.ValidationResponse');

export interface ValidationRequest {
  readonly tableId: string;
  /** Non-wrapping: start < end. */
  readonly range: TokenRange;
  readonly depth: number;
  readonly nowSeconds: number;
}

interface ValidationRequestMsg {
  tableId: string;
  start: string;
  end: string;
  depth: number;
  nowSeconds: number;
}

function tokenOf(text: string, field: string): bigint {
  // BigInt('') is 0n: an absent field must not pass as token 0.
  if (!/^-?\d+$/.test(text)) throw new ProtocolError(`Malformed validation request: ${field} token '${text}'`);
  return BigInt(text);
}

export function encodeValidationRequest(request: ValidationRequest): Uint8Array {
  const msg: ValidationRequestMsg = {
    tableId: request.tableId,
    start: request.range.start.toString(),
    end: request.range.end.toString(),
    depth: request.depth,
    nowSeconds: request.nowSeconds,
  };
  return ValidationRequestMessage.encode(msg as unknown as protobuf.Message).finish();
}

export function decodeValidationRequest(bytes: Uint8Array): ValidationRequest {
  const msg = ValidationRequestMessage.decode(bytes) as unknown as ValidationRequestMsg;
  return {
    tableId: msg.tableId,
    range: { start: tokenOf(msg.start, 'start'), end: tokenOf(msg.end, 'end') },
    depth: msg.depth,
    nowSeconds: Number(msg.nowSeconds),
  };
}

export function encodeValidationResponse(tree: MerkleTree): Uint8Array {
  return ValidationResponseMessage.encode({ tree: tree.toBuffer() } as unknown as protobuf.Message).finish();
}

/** The tree a replica answered; a damaged one is a ProtocolError (MerkleTree.fromBuffer). */
export function decodeValidationResponse(bytes: Uint8Array): MerkleTree {
  const msg = ValidationResponseMessage.decode(bytes) as unknown as { tree: Uint8Array };
  const tree = msg.tree;
  return MerkleTree.fromBuffer(Buffer.isBuffer(tree) ? tree : Buffer.from(tree.buffer, tree.byteOffset, tree.byteLength));
}
