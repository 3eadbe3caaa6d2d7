/**
 * The order of a non-frozen collection's element cells (their "paths"): list elements
 * by their timeuuid path, set elements and map keys by their type's order. Merges,
 * memtables, SSTables and readers must all agree on it.
 */
import type { ValueComparator } from '../model/clustering.js';
import type { PathComparatorFor } from '../model/merge.js';
import type { ColumnMetadata, TableMetadata } from './metadata.js';
import { compareTimeuuid } from './uuid.js';

export function cellPathComparator(column: ColumnMetadata): ValueComparator {
  const type = column.type;
  if (type.kind === 'list') return compareTimeuuid;
  const element = type.params[0];
  return (a, b) => element.compare(a, b);
}

const cache = new WeakMap<TableMetadata, PathComparatorFor>();

/** Path comparators of every collection column of a table, built once per schema version. */
export function pathComparatorsOf(table: TableMetadata): PathComparatorFor {
  let order = cache.get(table);
  if (order === undefined) {
    const comparators = new Map<string, ValueComparator>();
    for (const column of table.columns.values()) {
      if (column.type.multiCell) comparators.set(column.name, cellPathComparator(column));
    }
    // A column unknown to this schema (dropped, or from a newer schema) keeps byte order.
    order = (name) => comparators.get(name) ?? Buffer.compare;
    cache.set(table, order);
  }
  return order;
}
