/**
 * The SELECT clause: which values a result row holds, their names and types, and
 * how each is computed from a stored row (columns, WRITETIME, TTL, token(),
 * functions, casts, COUNT(*)).
 */
import { InvalidRequest } from '../errors.js';
import type { ColumnMetadata, TableMetadata } from '../schema/metadata.js';
import type { CqlType } from '../schema/type.js';
import { parseTypeName, typeFromSpec } from '../schema/types.js';
import type { SelectItem, Selector } from './ast.js';
import type { ExecContext } from './bindings.js';
import { resolveFunction } from './functions.js';
import { columnValue, selectedCell, type RowView } from './rows.js';
import { compileTerm } from './terms.js';

const BIGINT = parseTypeName('bigint');
const INT = parseTypeName('int');

export interface CompiledSelector {
  readonly name: string;
  readonly type: CqlType;
  /** The JS value for one row (null for CQL null). */
  evaluate(view: RowView, ctx: ExecContext): unknown;
}

export interface Selection {
  readonly selectors: CompiledSelector[];
  /** Positions of COUNT(*) selectors: with any, the result is one row counting the
   *  matching rows (other selectors take the first row's values). */
  readonly countIndexes: ReadonlySet<number>;
  /** Columns the selection reads (for DISTINCT validation). */
  readonly columns: ColumnMetadata[];
}

/** `SELECT *` order: partition key, clustering key, then static and regular columns by name. */
export function wildcardColumns(table: TableMetadata): ColumnMetadata[] {
  const byName = (a: ColumnMetadata, b: ColumnMetadata) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...table.partitionKey, ...table.clusteringKey, ...[...table.staticColumns].sort(byName), ...[...table.regularColumns].sort(byName)];
}

function columnOf(table: TableMetadata, name: string): ColumnMetadata {
  const col = table.columns.get(name);
  if (col === undefined) throw new InvalidRequest(`Undefined column name ${name} in selection clause`);
  return col;
}

function columnSelector(table: TableMetadata, col: ColumnMetadata): CompiledSelector {
  return { name: col.name, type: col.type, evaluate: (view, ctx) => columnValue(table, col, view, ctx.nowSeconds) };
}

function cellFunctionColumn(table: TableMetadata, fn: 'writetime' | 'ttl', name: string): ColumnMetadata {
  const col = columnOf(table, name);
  const shown = fn === 'writetime' ? 'writeTime' : 'ttl';
  if (col.kind === 'partition_key' || col.kind === 'clustering') {
    throw new InvalidRequest(`Cannot use selection function ${shown} on PRIMARY KEY part ${col.name}`);
  }
  if (col.type.multiCell) throw new InvalidRequest(`Cannot use selection function ${shown} on non-frozen collection ${col.name}`);
  return col;
}

function compileSelector(table: TableMetadata, selector: Selector): CompiledSelector {
  switch (selector.kind) {
    case 'column':
      return columnSelector(table, columnOf(table, selector.name));
    case 'writetime': {
      const col = cellFunctionColumn(table, 'writetime', selector.column);
      return {
        name: `writetime(${col.name})`,
        type: BIGINT,
        evaluate: (view, ctx) => {
          const cell = selectedCell(table, col, view, ctx.nowSeconds);
          return cell === undefined ? null : BigInt(cell.timestamp);
        },
      };
    }
    case 'ttl': {
      const col = cellFunctionColumn(table, 'ttl', selector.column);
      return {
        name: `ttl(${col.name})`,
        type: INT,
        evaluate: (view, ctx) => {
          const cell = selectedCell(table, col, view, ctx.nowSeconds);
          return cell === undefined || cell.ttl === 0 ? null : cell.localDeletionTime - ctx.nowSeconds;
        },
      };
    }
    case 'countRows':
      return { name: 'count', type: BIGINT, evaluate: () => 0n };
    case 'function': {
      if (selector.name.toLowerCase() === 'token' || selector.name.toLowerCase() === 'system.token') {
        const names = table.partitionKey.map((c) => c.name);
        const given = selector.args.map((a) => (a.kind === 'column' ? a.name : null));
        if (given.length !== names.length || given.some((g, i) => g !== names[i])) {
          throw new InvalidRequest(`Type error: token() takes the partition key columns in order: token(${names.join(', ')})`);
        }
        return { name: `system.token(${names.join(', ')})`, type: BIGINT, evaluate: (view) => view.partition.token };
      }
      if (selector.name.toLowerCase() === 'count') {
        throw new InvalidRequest('Only COUNT(*) and COUNT(1) are supported as aggregates');
      }
      const args = selector.args.map((a) => (a.kind === 'term' ? null : compileSelector(table, a)));
      const fn = resolveFunction(
        selector.name,
        args.map((a) => (a === null ? null : a.type)),
      );
      const evaluators = selector.args.map((a, i) => {
        const compiled = args[i];
        if (compiled !== null) return compiled.evaluate;
        const term = compileTerm((a as Extract<Selector, { kind: 'term' }>).term, { name: `${fn.name} argument ${i + 1}`, type: fn.argTypes[i] });
        return (_view: RowView, ctx: ExecContext) => term(ctx);
      });
      const shownArgs = selector.args.map((a, i) => args[i]?.name ?? (a.kind === 'term' ? '?' : '')).join(', ');
      return {
        name: `system.${fn.name}(${shownArgs})`,
        type: fn.returnType,
        evaluate: (view, ctx) => {
          const values = evaluators.map((e) => e(view, ctx));
          return values.some((v) => v === null) ? null : fn.apply(values, ctx);
        },
      };
    }
    case 'term':
      throw new InvalidRequest('Literal values are only allowed as function arguments in a selection');
    case 'cast': {
      const inner = compileSelector(table, selector.selector);
      const target = typeFromSpec(selector.type);
      return { name: `cast(${inner.name} as ${target.name})`, type: target, evaluate: castEvaluator(inner, target) };
    }
  }
}

function castEvaluator(inner: CompiledSelector, target: CqlType): CompiledSelector['evaluate'] {
  const numeric = new Set(['int', 'bigint', 'smallint', 'tinyint', 'varint', 'float', 'double', 'decimal', 'counter']);
  const from = inner.type.name;
  const to = target.name;
  if (to === 'text' || to === 'varchar' || to === 'ascii') {
    return (view, ctx) => {
      const v = inner.evaluate(view, ctx);
      if (v === null) return null;
      const literal = inner.type.toCqlString(v);
      // Strings render without their CQL quotes, as Cassandra's CAST does.
      return literal.startsWith("'") && literal.endsWith("'") ? literal.slice(1, -1).replace(/''/g, "'") : literal;
    };
  }
  if (numeric.has(from) && numeric.has(to)) {
    const convert = numericCast(to, target);
    return (view, ctx) => {
      const v = inner.evaluate(view, ctx);
      return v === null ? null : convert(v as number | bigint | string);
    };
  }
  if (target.isCompatibleWith(inner.type)) return inner.evaluate;
  throw new InvalidRequest(`Cannot cast ${from} to ${to}`);
}

const INTEGER_BITS: Record<string, number> = { tinyint: 8, smallint: 16, int: 32, bigint: 64, counter: 64 };

/** The integer part of a number, bigint or decimal text, exactly; Java's narrowing for
 *  non-finite doubles (NaN → 0, ±Infinity → the extremes of 64 bits). */
function integerPart(v: number | bigint | string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string') {
    const match = /^(-?)(\d*)(?:\.\d*)?(?:[eE]([+-]?\d+))?$/.exec(v.trim());
    if (match === null) throw new InvalidRequest(`Cannot cast ${v} to an integer`);
    if (match[3] !== undefined) return integerPart(Number(v));
    return BigInt(`${match[1]}${match[2] === '' ? '0' : match[2]}`);
  }
  if (Number.isNaN(v)) return 0n;
  if (v === Infinity) return 2n ** 63n - 1n;
  if (v === -Infinity) return -(2n ** 63n);
  return BigInt(Math.trunc(v));
}

/** CAST between numeric types, exact for integers of any size. */
function numericCast(to: string, target: CqlType): (v: number | bigint | string) => unknown {
  const bits = INTEGER_BITS[to];
  if (bits !== undefined) {
    return bits === 64 ? (v) => BigInt.asIntN(64, integerPart(v)) : (v) => Number(BigInt.asIntN(bits, integerPart(v)));
  }
  if (to === 'varint') return integerPart;
  if (to === 'decimal') {
    return (v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new InvalidRequest(`Cannot cast ${v} to decimal`);
      const text = String(v);
      return target.fromLiteral({ kind: /[.eE]/.test(text) ? 'float' : 'integer', text });
    };
  }
  return to === 'float' ? (v) => Math.fround(Number(v)) : (v) => Number(v);
}

export function compileSelection(table: TableMetadata, items: SelectItem[] | null): Selection {
  if (items === null) {
    const columns = wildcardColumns(table);
    return { selectors: columns.map((c) => columnSelector(table, c)), countIndexes: new Set(), columns };
  }
  const selectors: CompiledSelector[] = [];
  const columns: ColumnMetadata[] = [];
  const countIndexes = new Set<number>();
  items.forEach((item, i) => {
    const compiled = compileSelector(table, item.selector);
    if (item.selector.kind === 'countRows') countIndexes.add(i);
    collectColumns(table, item.selector, columns);
    selectors.push(item.alias === null ? compiled : { ...compiled, name: item.alias, evaluate: compiled.evaluate });
  });
  return { selectors, countIndexes, columns };
}

function collectColumns(table: TableMetadata, selector: Selector, out: ColumnMetadata[]): void {
  switch (selector.kind) {
    case 'column':
      out.push(columnOf(table, selector.name));
      return;
    case 'writetime':
    case 'ttl':
      out.push(columnOf(table, selector.column));
      return;
    case 'function':
      for (const a of selector.args) collectColumns(table, a, out);
      return;
    case 'cast':
      collectColumns(table, selector.selector, out);
      return;
    default:
      return;
  }
}

