/**
 * WHERE clauses, resolved against a table: which partitions (by key or token
 * range), which clustering slices, and which row filters (ALLOW FILTERING).
 * Cassandra's restriction rules are enforced here with its messages.
 */
import { InvalidRequest } from '../errors.js';
import type { Slice } from '../model/clustering.js';
import type { ColumnMetadata, TableMetadata } from '../schema/metadata.js';
import type { CqlType } from '../schema/type.js';
import { parseTypeName } from '../schema/types.js';
import type { CompareOp, Relation, Term } from './ast.js';
import type { ExecContext } from './bindings.js';
import { columnValue, type RowView } from './rows.js';
import { intersectSlices, normalizeSlices, prefixSlice } from '../model/slices.js';
import { compileTerm, type Evaluator } from './terms.js';

const BIGINT = parseTypeName('bigint');

export const FILTERING_MESSAGE =
  'Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING';

type SliceOp = '<' | '<=' | '>' | '>=';

export interface TokenBound {
  token: bigint;
  inclusive: boolean;
}

export interface RowFilter {
  (view: RowView, ctx: ExecContext): boolean;
}

export interface CompiledWhere {
  /** Partition keys (components per key) when every key column has = or IN; else null. */
  partitionKeys: ((ctx: ExecContext) => Buffer[][]) | null;
  /** True when some key column has IN (several partitions may be read). */
  partitionKeyIn: boolean;
  tokenStart: ((ctx: ExecContext) => TokenBound) | null;
  tokenEnd: ((ctx: ExecContext) => TokenBound) | null;
  /** Clustering slices in table order; null when clustering is unrestricted. */
  slices: ((ctx: ExecContext) => Slice[]) | null;
  /** Full clusterings when every clustering column has = / IN; else null. */
  clusterings: ((ctx: ExecContext) => Buffer[][]) | null;
  /** Restrictions that can only be checked row by row. */
  filters: RowFilter[];
  /** Why ALLOW FILTERING would be required (null: it is not). */
  filteringReason: string | null;
  /** Columns restricted by non-key relations (for error messages of writes). */
  nonKeyColumns: string[];
  /** Clustering columns with a restriction (for DELETE/UPDATE rules). */
  clusteringColumnsRestricted: number;
  hasClusteringSlice: boolean;
}

interface ColumnRestriction {
  eq?: Evaluator;
  in?: (ctx: ExecContext) => unknown[];
  lower?: { op: SliceOp; value: Evaluator };
  upper?: { op: SliceOp; value: Evaluator };
}

function column(table: TableMetadata, name: string): ColumnMetadata {
  const col = table.columns.get(name);
  if (col === undefined) throw new InvalidRequest(`Undefined column name ${name} in table ${table.keyspace}.${table.name}`);
  return col;
}

function inValues(values: Term[] | Term, receiver: { name: string; type: CqlType }): (ctx: ExecContext) => unknown[] {
  if (Array.isArray(values)) {
    const items = values.map((v) => compileTerm(v, receiver));
    return (ctx) => items.map((f) => f(ctx));
  }
  // `IN ?`: one marker bound to a list of values.
  const listType = parseTypeName(`frozen<list<${receiver.type.frozen().name}>>`);
  const list = compileTerm(values, { name: `in(${receiver.name})`, type: listType });
  return (ctx) => (list(ctx) as unknown[] | null) ?? [];
}

function serializeKey(type: CqlType, name: string, value: unknown): Buffer {
  if (value === null) throw new InvalidRequest(`Invalid null value in condition for column ${name}`);
  return type.serialize(value);
}

/** Cartesian product of per-column alternatives. */
function product(columns: Buffer[][]): Buffer[][] {
  let out: Buffer[][] = [[]];
  for (const alternatives of columns) {
    const next: Buffer[][] = [];
    for (const prefix of out) for (const v of alternatives) next.push([...prefix, v]);
    out = next;
  }
  return out;
}

function uniqueSorted(values: Buffer[], compare: (a: Buffer, b: Buffer) => number): Buffer[] {
  const sorted = [...values].sort(compare);
  return sorted.filter((v, i) => i === 0 || compare(sorted[i - 1], v) !== 0);
}

function addBound(r: ColumnRestriction, name: string, op: SliceOp, value: Evaluator): void {
  const side = op === '>' || op === '>=' ? 'lower' : 'upper';
  if (r[side] !== undefined) {
    throw new InvalidRequest(`More than one restriction was found for the ${side === 'lower' ? 'start' : 'end'} bound on ${name}`);
  }
  r[side] = { op, value };
}

export function compileWhere(table: TableMetadata, relations: readonly Relation[]): CompiledWhere {
  const restrictions = new Map<string, ColumnRestriction>();
  const restriction = (name: string): ColumnRestriction => {
    let r = restrictions.get(name);
    if (r === undefined) restrictions.set(name, (r = {}));
    return r;
  };
  const filters: RowFilter[] = [];
  const nonKeyColumns: string[] = [];
  let tokenStart: CompiledWhere['tokenStart'] = null;
  let tokenEnd: CompiledWhere['tokenEnd'] = null;
  let multiColumn: { columns: ColumnMetadata[]; relations: Extract<Relation, { kind: 'tupleCompare' | 'tupleIn' }>[] } | null = null;
  let filteringReason: string | null = null;

  for (const rel of relations) {
    switch (rel.kind) {
      case 'token': {
        const names = table.partitionKey.map((c) => c.name);
        if (rel.columns.length !== names.length || rel.columns.some((c, i) => c !== names[i])) {
          for (const c of rel.columns) column(table, c);
          throw new InvalidRequest(`The token function arguments must be in the partition key order: ${names.join(', ')}`);
        }
        const value = compileTerm(rel.value, { name: `token(${names.join(', ')})`, type: BIGINT });
        const bound = (inclusive: boolean) => (ctx: ExecContext): TokenBound => {
          const v = value(ctx);
          if (v === null) throw new InvalidRequest('Invalid null value for token bound');
          return { token: v as bigint, inclusive };
        };
        if (rel.op === '=') {
          if (tokenStart || tokenEnd) throw new InvalidRequest('More than one restriction was found for the start bound on token');
          tokenStart = bound(true);
          tokenEnd = bound(true);
        } else if (rel.op === '>' || rel.op === '>=') {
          if (tokenStart) throw new InvalidRequest('More than one restriction was found for the start bound on token');
          tokenStart = bound(rel.op === '>=');
        } else {
          if (tokenEnd) throw new InvalidRequest('More than one restriction was found for the end bound on token');
          tokenEnd = bound(rel.op === '<=');
        }
        break;
      }
      case 'tupleCompare':
      case 'tupleIn': {
        const cols = rel.columns.map((c) => column(table, c));
        cols.forEach((c, i) => {
          if (c.kind !== 'clustering') {
            throw new InvalidRequest(`Multi-column relations can only be applied to clustering columns but was applied to: ${c.name}`);
          }
          if (c.position !== i) {
            throw new InvalidRequest(`Clustering columns must appear in the PRIMARY KEY order in multi-column relations: (${rel.columns.join(', ')})`);
          }
        });
        if (multiColumn === null) multiColumn = { columns: cols, relations: [] };
        multiColumn.relations.push(rel);
        break;
      }
      case 'compare':
      case 'in':
      case 'contains':
      case 'elementCompare': {
        const col = column(table, rel.column);
        const receiver = { name: col.name, type: col.type };
        const isKey = col.kind === 'partition_key' || col.kind === 'clustering';
        if (rel.kind === 'compare' && rel.op === '!=') throw new InvalidRequest(`Unsupported "!=" relation: ${col.name} != ...`);
        if (isKey && rel.kind === 'compare') {
          const r = restriction(col.name);
          const value = compileTerm(rel.value, receiver);
          if (rel.op === '=') {
            if (r.eq || r.in || r.lower || r.upper) throw new InvalidRequest(`${col.name} cannot be restricted by more than one relation if it includes an Equal`);
            r.eq = value;
          } else {
            if (r.eq || r.in) throw new InvalidRequest(`${col.name} cannot be restricted by more than one relation if it includes an Equal`);
            if (col.kind === 'partition_key') {
              throw new InvalidRequest('Only EQ and IN relation are supported on the partition key (unless you use the token() function)');
            }
            addBound(r, col.name, rel.op as SliceOp, value);
          }
        } else if (isKey && rel.kind === 'in') {
          const r = restriction(col.name);
          if (r.eq || r.in || r.lower || r.upper) throw new InvalidRequest(`${col.name} cannot be restricted by more than one relation if it includes a IN`);
          r.in = inValues(rel.values, receiver);
        } else {
          if (col.kind === 'regular' || col.kind === 'static') nonKeyColumns.push(col.name);
          filters.push(compileFilter(table, col, rel));
          filteringReason ??= FILTERING_MESSAGE;
        }
        break;
      }
    }
  }

  // Partition key: all columns by = / IN, or none (range / token query).
  const pkRestricted = table.partitionKey.filter((c) => restrictions.has(c.name));
  let partitionKeys: CompiledWhere['partitionKeys'] = null;
  let partitionKeyIn = false;
  if (pkRestricted.length > 0 && (tokenStart || tokenEnd)) {
    throw new InvalidRequest('Columns of the partition key cannot be restricted both by token() and directly');
  }
  if (pkRestricted.length === table.partitionKey.length) {
    const parts = table.partitionKey.map((c) => {
      const r = restrictions.get(c.name)!;
      if (r.in) partitionKeyIn = true;
      return r;
    });
    partitionKeys = (ctx) =>
      product(
        parts.map((r, i) => {
          const col = table.partitionKey[i];
          if (r.eq) return [serializeKey(col.type, col.name, r.eq(ctx))];
          const compare = col.type.compare.bind(col.type);
          return uniqueSorted(r.in!(ctx).map((v) => serializeKey(col.type, col.name, v)), compare);
        }),
      );
  } else if (pkRestricted.length > 0) {
    // Some but not all key columns: Cassandra filters only with ALLOW FILTERING.
    const missing = table.partitionKey.filter((c) => !restrictions.has(c.name)).map((c) => c.name);
    for (const col of pkRestricted) filters.push(keyFilter(table, col, restrictions.get(col.name)!));
    filteringReason ??= `Partition key parts: ${missing.join(', ')} must be restricted as other parts are`;
  }

  // Clustering: an equality / IN prefix, then at most one slice; the rest filters.
  let slices: CompiledWhere['slices'] = null;
  let clusterings: CompiledWhere['clusterings'] = null;
  let clusteringColumnsRestricted = 0;
  let hasClusteringSlice = false;
  if (multiColumn !== null) {
    for (const c of table.clusteringKey) {
      if (restrictions.has(c.name)) {
        throw new InvalidRequest('Mixing single column relations and multi column relations on clustering columns is not allowed');
      }
    }
    const compiled = compileMultiColumn(table, multiColumn.columns, multiColumn.relations);
    slices = compiled.slices;
    clusterings = compiled.clusterings;
    clusteringColumnsRestricted = compiled.restrictedCount;
    hasClusteringSlice = compiled.clusterings === null;
  } else {
    const prefixParts: ((ctx: ExecContext) => Buffer[])[] = [];
    let slice: { col: ColumnMetadata; r: ColumnRestriction } | null = null;
    let gap: ColumnMetadata | null = null;
    for (const col of table.clusteringKey) {
      const r = restrictions.get(col.name);
      if (r === undefined) {
        gap ??= col;
        continue;
      }
      clusteringColumnsRestricted++;
      if (gap !== null || slice !== null) {
        // After a gap or a slice, Cassandra can only filter.
        filters.push(keyFilter(table, col, r));
        filteringReason ??=
          gap !== null
            ? `PRIMARY KEY column "${col.name}" cannot be restricted as preceding column "${gap.name}" is not restricted`
            : `Clustering column "${col.name}" cannot be restricted (preceding column "${slice!.col.name}" is restricted by a non-EQ relation)`;
        continue;
      }
      if (r.eq || r.in) {
        const compare = col.type.compare.bind(col.type);
        prefixParts.push(
          r.eq
            ? (ctx) => [serializeKey(col.type, col.name, r.eq!(ctx))]
            : (ctx) => uniqueSorted(r.in!(ctx).map((v) => serializeKey(col.type, col.name, v)), compare),
        );
      } else {
        slice = { col, r };
        hasClusteringSlice = true;
      }
    }
    if (prefixParts.length > 0 || slice !== null) {
      const cmp = table.comparator;
      const sliceCol = slice;
      slices = (ctx) => {
        const prefixes = product(prefixParts.map((p) => p(ctx)));
        const out: Slice[] = [];
        for (const prefix of prefixes) {
          out.push(sliceCol === null ? prefixSlice(prefix) : singleColumnSlice(prefix, sliceCol.col, sliceCol.r, ctx));
        }
        return normalizeSlices(cmp, out);
      };
      if (sliceCol === null && prefixParts.length === table.clusteringKey.length) {
        clusterings = (ctx) => product(prefixParts.map((p) => p(ctx)));
      }
    } else if (table.clusteringKey.length === 0) {
      clusterings = () => [[]];
    }
  }

  return {
    partitionKeys,
    partitionKeyIn,
    tokenStart,
    tokenEnd,
    slices,
    clusterings,
    filters,
    filteringReason,
    nonKeyColumns,
    clusteringColumnsRestricted,
    hasClusteringSlice,
  };
}

/** A slice on one clustering column after an equality prefix, in table order. */
function singleColumnSlice(prefix: Buffer[], col: ColumnMetadata, r: ColumnRestriction, ctx: ExecContext): Slice {
  const bound = (b: { op: SliceOp; value: Evaluator }) => ({
    prefix: [...prefix, serializeKey(col.type, col.name, b.value(ctx))],
    inclusive: b.op === '>=' || b.op === '<=',
  });
  const whole = { prefix, inclusive: true };
  // A DESC column stores larger values first, so its lower bound ends the slice.
  const lower = r.lower ? bound(r.lower) : whole;
  const upper = r.upper ? bound(r.upper) : whole;
  return col.order === 'DESC' ? { start: upper, end: lower } : { start: lower, end: upper };
}

function compileMultiColumn(
  table: TableMetadata,
  columns: ColumnMetadata[],
  relations: Extract<Relation, { kind: 'tupleCompare' | 'tupleIn' }>[],
): { slices: (ctx: ExecContext) => Slice[]; clusterings: CompiledWhere['clusterings']; restrictedCount: number } {
  const cmp = table.comparator;
  const tupleOf = (cols: ColumnMetadata[]) => parseTypeName(`tuple<${cols.map((c) => c.type.frozen().name).join(', ')}>`);
  const toPrefix = (cols: ColumnMetadata[], value: unknown): Buffer[] => {
    if (value === null) throw new InvalidRequest('Invalid null value in condition for a multi-column relation');
    return (value as unknown[]).map((v, i) => serializeKey(cols[i].type, cols[i].name, v));
  };
  const maxColumns = Math.max(...relations.map((r) => r.columns.length));
  const eqs = relations.filter((r) => (r.kind === 'tupleCompare' && r.op === '=') || r.kind === 'tupleIn');
  if (eqs.length > 0 && relations.length > 1) {
    throw new InvalidRequest(`Multi-column relations with = or IN cannot be combined with other relations on ${columns.map((c) => c.name).join(', ')}`);
  }
  const parts = relations.map((rel) => {
    const cols = table.clusteringKey.slice(0, rel.columns.length);
    const name = `(${rel.columns.join(', ')})`;
    const type = tupleOf(cols);
    if (rel.kind === 'tupleIn') {
      const values = inValues(rel.values, { name, type });
      return (ctx: ExecContext) => values(ctx).map((v) => prefixSlice(toPrefix(cols, v)));
    }
    const value = compileTerm(rel.value, { name, type });
    const op = rel.op;
    return (ctx: ExecContext) => {
      const prefix = toPrefix(cols, value(ctx));
      if (op === '=') return [prefixSlice(prefix)];
      return tupleBoundSlices(cols, prefix, op);
    };
  });
  const slices = (ctx: ExecContext): Slice[] => {
    let result: Slice[] | null = null;
    for (const part of parts) {
      const s = normalizeSlices(cmp, part(ctx));
      result = result === null ? s : intersectSlices(cmp, result, s);
    }
    return result ?? [];
  };
  let clusterings: CompiledWhere['clusterings'] = null;
  if (eqs.length === 1 && maxColumns === table.clusteringKey.length) {
    clusterings = (ctx) => slices(ctx).map((s) => s.start.prefix);
  }
  return { slices, clusterings, restrictedCount: maxColumns };
}

/**
 * (c1 … cn) op (v1 … vn) as a union of single-column slices: for `>`, the rows with
 * c1 > v1, or c1 = v1 and c2 > v2, and so on; each disjunct is one slice in table
 * order whatever the columns' ASC/DESC orders.
 */
function tupleBoundSlices(cols: ColumnMetadata[], values: Buffer[], op: SliceOp): Slice[] {
  const out: Slice[] = [];
  const greater = op === '>' || op === '>=';
  for (let i = 0; i < values.length; i++) {
    const prefix = values.slice(0, i);
    const last = i === values.length - 1;
    const inclusive = last && (op === '>=' || op === '<=');
    const r: ColumnRestriction = greater
      ? { lower: { op: inclusive ? '>=' : '>', value: () => null } }
      : { upper: { op: inclusive ? '<=' : '<', value: () => null } };
    const col = cols[i];
    const bound = { prefix: [...prefix, values[i]], inclusive };
    const whole = { prefix, inclusive: true };
    const lower = r.lower ? bound : whole;
    const upper = r.upper ? bound : whole;
    out.push(col.order === 'DESC' ? { start: upper, end: lower } : { start: lower, end: upper });
  }
  return out;
}

/** A row filter for a key column that could not become part of the read. */
function keyFilter(table: TableMetadata, col: ColumnMetadata, r: ColumnRestriction): RowFilter {
  const tests: ((v: Buffer, ctx: ExecContext) => boolean)[] = [];
  const type = col.type;
  if (r.eq) {
    const eq = r.eq;
    tests.push((v, ctx) => {
      const x = eq(ctx);
      return x !== null && type.compare(v, type.serialize(x)) === 0;
    });
  }
  if (r.in) {
    const inn = r.in;
    tests.push((v, ctx) => inn(ctx).some((x) => x !== null && type.compare(v, type.serialize(x)) === 0));
  }
  for (const b of [r.lower, r.upper]) {
    if (b === undefined) continue;
    tests.push((v, ctx) => {
      const x = b.value(ctx);
      return x !== null && compareWith(b.op, type.compare(v, type.serialize(x)));
    });
  }
  return (view, ctx) => {
    const bytes = col.kind === 'partition_key' ? view.keyParts[col.position] : view.row?.clustering[col.position];
    if (bytes === undefined || bytes === null) return false;
    return tests.every((t) => t(bytes, ctx));
  };
}

function compareWith(op: CompareOp, c: number): boolean {
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
  }
}

/** A row filter for a non-key column (or CONTAINS / element relations). */
function compileFilter(table: TableMetadata, col: ColumnMetadata, rel: Relation): RowFilter {
  const type = col.type;
  const now = (ctx: ExecContext) => ctx.nowSeconds;
  switch (rel.kind) {
    case 'compare': {
      if (type.multiCell && rel.op !== '=') {
        throw new InvalidRequest(`Collection column '${col.name}' (${type.name}) cannot be restricted by a '${rel.op}' relation`);
      }
      const value = compileTerm(rel.value, { name: col.name, type });
      const frozen = type.frozen();
      return (view, ctx) => {
        const actual = columnValue(table, col, view, now(ctx));
        const expected = value(ctx);
        if (actual === null || expected === null) return false;
        return compareWith(rel.op, frozen.compare(frozen.serialize(actual), frozen.serialize(expected)));
      };
    }
    case 'in': {
      const values = inValues(rel.values, { name: col.name, type });
      const frozen = type.frozen();
      return (view, ctx) => {
        const actual = columnValue(table, col, view, now(ctx));
        if (actual === null) return false;
        const bytes = frozen.serialize(actual);
        return values(ctx).some((v) => v !== null && frozen.compare(bytes, frozen.serialize(v)) === 0);
      };
    }
    case 'contains': {
      if (type.kind !== 'list' && type.kind !== 'set' && type.kind !== 'map') {
        throw new InvalidRequest(`Cannot use CONTAINS on non-collection column ${col.name}`);
      }
      if (rel.key && type.kind !== 'map') throw new InvalidRequest(`Cannot use CONTAINS KEY on non-map column ${col.name}`);
      const elementType = type.kind === 'map' ? (rel.key ? type.params[0] : type.params[1]) : type.params[0];
      const value = compileTerm(rel.value, { name: col.name, type: elementType });
      return (view, ctx) => {
        const actual = columnValue(table, col, view, now(ctx)) as unknown[] | null;
        const expected = value(ctx);
        if (actual === null || expected === null) return false;
        const want = elementType.serialize(expected);
        const items = type.kind === 'map' ? (actual as [unknown, unknown][]).map((e) => (rel.key ? e[0] : e[1])) : actual;
        return items.some((item) => elementType.compare(elementType.serialize(item), want) === 0);
      };
    }
    case 'elementCompare': {
      if (type.kind !== 'map') throw new InvalidRequest(`Element restrictions are only supported on maps, not on ${col.name}`);
      const [keyType, valueType] = type.params;
      const key = compileTerm(rel.element, { name: `key(${col.name})`, type: keyType });
      const value = compileTerm(rel.value, { name: `value(${col.name})`, type: valueType });
      return (view, ctx) => {
        const actual = columnValue(table, col, view, now(ctx)) as [unknown, unknown][] | null;
        const k = key(ctx);
        const expected = value(ctx);
        if (actual === null || k === null || expected === null) return false;
        const keyBytes = keyType.serialize(k);
        const entry = actual.find((e) => keyType.compare(keyType.serialize(e[0]), keyBytes) === 0);
        return entry !== undefined && compareWith(rel.op, valueType.compare(valueType.serialize(entry[1]), valueType.serialize(expected)));
      };
    }
    default:
      throw new InvalidRequest(`Unsupported restriction on ${col.name}`);
  }
}
