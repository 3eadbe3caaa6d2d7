/**
 * Partition updates to and from protobuf bytes (protocol/mutation.proto): the form
 * mutations take in the commit log and, later, between nodes.
 */
import protobuf from 'protobufjs';
import { assert } from '../errors.js';
import type { Cell, DeletionTime, LivenessInfo } from '../model/cell.js';
import type { ClusteringBound } from '../model/clustering.js';
import type { ComplexColumn, PartitionUpdate, Row } from '../model/partition.js';
import { murmur3Token } from '../model/token.js';
import { toBuffer } from '../protobuf-bytes.js';
import { protocolFile } from '../protocol-files.js';

// int64 fields (timestamps in µs) decode as plain numbers, exact below 2^53, instead
// of allocating a Long per field; every sibyl timestamp is a safe integer.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

const root = protobuf.loadSync(protocolFile('mutation.proto'));
const MutationMessage = root.lookupType('sibyl.Mutation');

interface DeletionMsg {
  markedForDeleteAt: number;
  localDeletionTime: number;
}
interface CellMsg {
  column: string;
  timestamp: number;
  tombstone: boolean;
  value: Uint8Array;
  ttl: number;
  localDeletionTime: number;
  path: Uint8Array;
  hasPath: boolean;
}
interface RowMsg {
  clustering: Uint8Array[];
  liveness?: { timestamp: number; ttl: number; localDeletionTime: number } | null;
  deletion?: DeletionMsg | null;
  cells: CellMsg[];
  complexDeletions: { column: string; deletion: DeletionMsg }[];
}
interface BoundMsg {
  prefix: Uint8Array[];
  inclusive: boolean;
}
interface UpdateMsg {
  tableId: string;
  key: Uint8Array;
  deletion?: DeletionMsg | null;
  staticRow?: RowMsg | null;
  rangeTombstones: { start: BoundMsg; end: BoundMsg; deletion: DeletionMsg }[];
  rows: RowMsg[];
}

const EMPTY = new Uint8Array(0);

function cellMsg(column: string, cell: Cell): CellMsg {
  return {
    column,
    timestamp: cell.timestamp,
    tombstone: cell.value === null,
    value: cell.value ?? EMPTY,
    ttl: cell.ttl,
    localDeletionTime: cell.localDeletionTime,
    path: cell.path ?? EMPTY,
    hasPath: cell.path !== undefined,
  };
}

function rowMsg(row: Row): RowMsg {
  const cells: CellMsg[] = [];
  const complexDeletions: RowMsg['complexDeletions'] = [];
  for (const [column, cell] of row.cells) cells.push(cellMsg(column, cell));
  for (const [column, complex] of row.complex) {
    if (complex.deletion !== null) complexDeletions.push({ column, deletion: complex.deletion });
    for (const cell of complex.cells) cells.push(cellMsg(column, cell));
  }
  return { clustering: row.clustering, liveness: row.liveness, deletion: row.deletion, cells, complexDeletions };
}

function boundMsg(bound: ClusteringBound): BoundMsg {
  return { prefix: bound.prefix, inclusive: bound.inclusive };
}

export function encodeMutation(updates: readonly PartitionUpdate[]): Uint8Array {
  const message: { updates: UpdateMsg[] } = {
    updates: updates.map(({ tableId, partition }) => ({
      tableId,
      key: partition.key,
      deletion: partition.deletion,
      staticRow: partition.staticRow === null ? null : rowMsg(partition.staticRow),
      rangeTombstones: partition.rangeTombstones.map((rt) => ({ start: boundMsg(rt.start), end: boundMsg(rt.end), deletion: rt.deletion })),
      rows: partition.rows.map(rowMsg),
    })),
  };
  return MutationMessage.encode(message as unknown as protobuf.Message).finish();
}

function deletion(msg: DeletionMsg | null | undefined): DeletionTime | null {
  if (msg == null) return null;
  return { markedForDeleteAt: Number(msg.markedForDeleteAt), localDeletionTime: msg.localDeletionTime };
}

function row(msg: RowMsg): Row {
  const cells = new Map<string, Cell>();
  const complex = new Map<string, ComplexColumn>();
  for (const d of msg.complexDeletions) complex.set(d.column, { deletion: deletion(d.deletion), cells: [] });
  for (const c of msg.cells) {
    const cell: Cell = {
      timestamp: Number(c.timestamp),
      value: c.tombstone ? null : toBuffer(c.value),
      ttl: c.ttl,
      localDeletionTime: c.localDeletionTime,
      path: c.hasPath ? toBuffer(c.path) : undefined,
    };
    if (c.hasPath) {
      let column = complex.get(c.column);
      if (column === undefined) complex.set(c.column, (column = { deletion: null, cells: [] }));
      column.cells.push(cell);
    } else {
      cells.set(c.column, cell);
    }
  }
  const liveness: LivenessInfo | null =
    msg.liveness == null ? null : { timestamp: Number(msg.liveness.timestamp), ttl: msg.liveness.ttl, localDeletionTime: msg.liveness.localDeletionTime };
  return { clustering: msg.clustering.map(toBuffer), liveness, deletion: deletion(msg.deletion), cells, complex };
}

function bound(msg: BoundMsg): ClusteringBound {
  return { prefix: msg.prefix.map(toBuffer), inclusive: msg.inclusive };
}

export function decodeMutation(bytes: Uint8Array): PartitionUpdate[] {
  const message = MutationMessage.decode(bytes) as unknown as { updates: UpdateMsg[] };
  return message.updates.map((u) => {
    const key = toBuffer(u.key);
    assert(typeof u.tableId === 'string' && u.tableId.length > 0, 'mutation without a table id');
    return {
      tableId: u.tableId,
      partition: {
        key,
        token: murmur3Token(key),
        deletion: deletion(u.deletion),
        staticRow: u.staticRow == null ? null : row(u.staticRow),
        rangeTombstones: u.rangeTombstones.map((rt) => ({ start: bound(rt.start), end: bound(rt.end), deletion: deletion(rt.deletion)! })),
        rows: u.rows.map(row),
      },
    };
  });
}
