/**
 * Coordinator ↔ replica messages to and from protobuf bytes (protocol/replica.proto).
 * Partitions inside them are encoded sibyl.Mutation bytes from lib/storage/mutation-codec.ts,
 * so a partition has one wire form whether it is written, read or repaired.
 */
// Also configures protobufjs to decode int64 as numbers before replica.proto is loaded here.
import { encodeBytes, toBuffer } from '../protobuf-bytes.js';
import protobuf from 'protobufjs';
import type { Slice } from '../model/clustering.js';
import type { Partition } from '../model/partition.js';
import { protocolFile } from '../protocol-files.js';
import type { KeyRange, PartitionPosition, ReadFilter } from '../storage/engine.js';
import { decodeMutation, encodeMutation } from '../storage/mutation-codec.js';

const root = protobuf.loadSync(protocolFile('replica.proto'));
const ReadCommandMessage = root.lookupType('sibyl.replica.ReadCommand');
const ReadResponseMessage = root.lookupType('sibyl.replica.ReadResponse');
const RangeReadCommandMessage = root.lookupType('sibyl.replica.RangeReadCommand');
const RangeReadResponseMessage = root.lookupType('sibyl.replica.RangeReadResponse');
const TruncateCommandMessage = root.lookupType('sibyl.replica.TruncateCommand');

export interface ReadCommand {
  readonly tableId: string;
  readonly key: Buffer;
  readonly token: bigint;
  readonly filter: ReadFilter;
  /** Answer with the digest of the result only. */
  readonly digestOnly: boolean;
}

/** A replica's answer to a ReadCommand: the partition (data read) or its digest. */
export interface ReadResponse {
  readonly partition: Partition | null;
  readonly digest: Buffer | null;
}

export interface RangeReadCommand {
  readonly tableId: string;
  readonly range: KeyRange;
  readonly filter: ReadFilter;
  /** Partitions to return at most: a page. */
  readonly partitionLimit: number;
}

interface BoundMsg {
  prefix: Uint8Array[];
  inclusive: boolean;
}
interface FilterMsg {
  slices: { start: BoundMsg; end: BoundMsg }[];
  reversed: boolean;
  rowLimit?: number | null;
  nowSeconds: number;
}
interface PositionMsg {
  token: string;
  key: Uint8Array;
  hasKey: boolean;
}

function filterMsg(filter: ReadFilter): FilterMsg {
  return {
    slices: filter.slices.map((s) => ({ start: s.start, end: s.end })),
    reversed: filter.reversed,
    rowLimit: Number.isFinite(filter.rowLimit) ? filter.rowLimit : null,
    nowSeconds: filter.nowSeconds,
  };
}

function filterOf(msg: FilterMsg | null | undefined): ReadFilter {
  const bound = (b: BoundMsg | null | undefined) => ({ prefix: (b?.prefix ?? []).map(toBuffer), inclusive: b?.inclusive ?? false });
  const slices: Slice[] = (msg?.slices ?? []).map((s) => ({ start: bound(s.start), end: bound(s.end) }));
  return {
    slices,
    reversed: msg?.reversed ?? false,
    rowLimit: msg?.rowLimit == null ? Infinity : msg.rowLimit,
    nowSeconds: Number(msg?.nowSeconds ?? 0),
  };
}

function positionMsg(position: PartitionPosition | null): PositionMsg | null {
  if (position === null) return null;
  return { token: position.token.toString(), key: position.key ?? Buffer.alloc(0), hasKey: position.key !== null };
}

function positionOf(msg: PositionMsg | null | undefined): PartitionPosition | null {
  if (msg == null) return null;
  return { token: BigInt(msg.token), key: msg.hasKey ? toBuffer(msg.key) : null };
}

export function encodeReadCommand(command: ReadCommand): Uint8Array {
  return encodeBytes(ReadCommandMessage, {
    tableId: command.tableId,
    key: command.key,
    token: command.token.toString(),
    filter: filterMsg(command.filter),
    digestOnly: command.digestOnly,
  });
}

export function decodeReadCommand(bytes: Uint8Array): ReadCommand {
  const msg = ReadCommandMessage.decode(bytes) as unknown as {
    tableId: string;
    key: Uint8Array;
    token: string;
    filter?: FilterMsg;
    digestOnly: boolean;
  };
  return {
    tableId: msg.tableId,
    key: toBuffer(msg.key),
    token: BigInt(msg.token),
    filter: filterOf(msg.filter),
    digestOnly: msg.digestOnly,
  };
}

/** `tableId` names the table the partition belongs to (the mutation encoding needs it). */
export function encodeReadResponse(tableId: string, response: ReadResponse): Uint8Array {
  const { partition, digest } = response;
  return encodeBytes(ReadResponseMessage, {
    present: partition !== null,
    partition: partition === null ? Buffer.alloc(0) : encodeMutation([{ tableId, partition }]),
    digest: digest ?? Buffer.alloc(0),
  });
}

export function decodeReadResponse(bytes: Uint8Array, digestOnly: boolean): ReadResponse {
  const msg = ReadResponseMessage.decode(bytes) as unknown as { present: boolean; partition: Uint8Array; digest: Uint8Array };
  if (digestOnly) return { partition: null, digest: toBuffer(msg.digest) };
  return { partition: msg.present ? decodeMutation(msg.partition)[0].partition : null, digest: null };
}

export function encodeRangeReadCommand(command: RangeReadCommand): Uint8Array {
  return encodeBytes(RangeReadCommandMessage, {
    tableId: command.tableId,
    start: positionMsg(command.range.start),
    startInclusive: command.range.startInclusive,
    end: positionMsg(command.range.end),
    endInclusive: command.range.endInclusive,
    filter: filterMsg(command.filter),
    partitionLimit: command.partitionLimit,
  });
}

export function decodeRangeReadCommand(bytes: Uint8Array): RangeReadCommand {
  const msg = RangeReadCommandMessage.decode(bytes) as unknown as {
    tableId: string;
    start?: PositionMsg | null;
    startInclusive: boolean;
    end?: PositionMsg | null;
    endInclusive: boolean;
    filter?: FilterMsg;
    partitionLimit: number;
  };
  return {
    tableId: msg.tableId,
    range: {
      start: positionOf(msg.start),
      startInclusive: msg.startInclusive,
      end: positionOf(msg.end),
      endInclusive: msg.endInclusive,
    },
    filter: filterOf(msg.filter),
    partitionLimit: msg.partitionLimit,
  };
}

export function encodeRangeReadResponse(tableId: string, partitions: readonly Partition[]): Uint8Array {
  return encodeBytes(RangeReadResponseMessage, {
    partitions: encodeMutation(partitions.map((partition) => ({ tableId, partition }))),
  });
}

export function decodeRangeReadResponse(bytes: Uint8Array): Partition[] {
  const msg = RangeReadResponseMessage.decode(bytes) as unknown as { partitions: Uint8Array };
  return decodeMutation(msg.partitions).map((update) => update.partition);
}

export function encodeTruncateCommand(tableId: string): Uint8Array {
  return encodeBytes(TruncateCommandMessage, { tableId });
}

export function decodeTruncateCommand(bytes: Uint8Array): string {
  return (TruncateCommandMessage.decode(bytes) as unknown as { tableId: string }).tableId;
}
