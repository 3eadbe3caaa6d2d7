/**
 * Reading CQL values out of stored partitions: which rows are live at "now", and
 * each column's value in a row (key components, simple cells, collections built
 * from their element cells), honouring dropped columns.
 */
import { isLive, livenessIsLive, type Cell } from '../model/cell.js';
import type { Partition, Row } from '../model/partition.js';
import { splitCompositeKey } from '../model/token.js';
import type { ColumnMetadata, TableMetadata } from '../schema/metadata.js';
import { cellPathComparator } from '../schema/cell-paths.js';

/** One result row: a clustered row, or the static row alone for a partition that has
 *  only static data (then `row` is null and clustering columns read as null). */
export interface RowView {
  readonly partition: Partition;
  readonly keyParts: readonly Buffer[];
  readonly row: Row | null;
  readonly staticRow: Row | null;
}

export function partitionKeyParts(table: TableMetadata, key: Buffer): Buffer[] {
  return table.partitionKey.length === 1 ? [key] : splitCompositeKey(key, table.partitionKey.length);
}

function visible(table: TableMetadata, column: string, timestamp: number): boolean {
  const dropped = table.droppedColumns.get(column);
  return dropped === undefined || timestamp > dropped;
}

/** The live simple cell of a column, or undefined. */
export function liveCell(table: TableMetadata, row: Row | null, column: string, nowSeconds: number): Cell | undefined {
  const cell = row?.cells.get(column);
  if (cell === undefined || !isLive(cell, nowSeconds) || !visible(table, column, cell.timestamp)) return undefined;
  return cell;
}

/** Live element cells of a non-frozen collection, in the collection's order. */
export function liveElements(table: TableMetadata, column: ColumnMetadata, row: Row | null, nowSeconds: number): Cell[] {
  const complex = row?.complex.get(column.name);
  if (complex === undefined) return [];
  const cells = complex.cells.filter((c) => isLive(c, nowSeconds) && visible(table, column.name, c.timestamp));
  const pathCompare = cellPathComparator(column);
  for (let i = 1; i < cells.length; i++) {
    if (pathCompare(cells[i - 1].path!, cells[i].path!) > 0) {
      cells.sort((a, b) => pathCompare(a.path!, b.path!));
      break;
    }
  }
  return cells;
}

export function isRowLive(table: TableMetadata, row: Row, nowSeconds: number): boolean {
  if (row.liveness !== null && livenessIsLive(row.liveness, nowSeconds)) return true;
  for (const [name, cell] of row.cells) {
    if (isLive(cell, nowSeconds) && table.columns.has(name) && visible(table, name, cell.timestamp)) return true;
  }
  for (const [name, complex] of row.complex) {
    if (!table.columns.has(name)) continue;
    for (const cell of complex.cells) if (isLive(cell, nowSeconds) && visible(table, name, cell.timestamp)) return true;
  }
  return false;
}

/** The serialized value of a column in a row view (collections in their frozen form); null when absent. */
export function columnBytes(table: TableMetadata, column: ColumnMetadata, view: RowView, nowSeconds: number): Buffer | null {
  switch (column.kind) {
    case 'partition_key':
      return view.keyParts[column.position];
    case 'clustering':
      return view.row === null ? null : view.row.clustering[column.position];
    default: {
      const row = column.kind === 'static' ? view.staticRow : view.row;
      if (!column.type.multiCell) return liveCell(table, row, column.name, nowSeconds)?.value ?? null;
      const value = collectionValue(table, column, row, nowSeconds);
      return value === null ? null : column.type.serialize(value);
    }
  }
}

/** The JS value of a non-frozen collection (null when it has no live element). */
export function collectionValue(table: TableMetadata, column: ColumnMetadata, row: Row | null, nowSeconds: number): unknown {
  const cells = liveElements(table, column, row, nowSeconds);
  if (cells.length === 0) return null;
  const type = column.type;
  switch (type.kind) {
    case 'list':
      return cells.map((c) => type.params[0].deserialize(c.value!));
    case 'set':
      return cells.map((c) => type.params[0].deserialize(c.path!));
    default:
      return cells.map((c) => [type.params[0].deserialize(c.path!), type.params[1].deserialize(c.value!)]);
  }
}

/** The JS value of a column in a row view, or null. */
export function columnValue(table: TableMetadata, column: ColumnMetadata, view: RowView, nowSeconds: number): unknown {
  if (column.type.multiCell) {
    const row = column.kind === 'static' ? view.staticRow : view.row;
    return collectionValue(table, column, row, nowSeconds);
  }
  const bytes = columnBytes(table, column, view, nowSeconds);
  return bytes === null ? null : column.type.deserialize(bytes);
}

/** The cell WRITETIME()/TTL() look at (simple, non-key columns only). */
export function selectedCell(table: TableMetadata, column: ColumnMetadata, view: RowView, nowSeconds: number): Cell | undefined {
  const row = column.kind === 'static' ? view.staticRow : view.row;
  return liveCell(table, row, column.name, nowSeconds);
}
