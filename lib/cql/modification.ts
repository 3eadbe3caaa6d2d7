/**
 * INSERT, UPDATE, DELETE and BATCH: prepared once against a table, executed into
 * partition updates (the mutations storage applies).
 */
import { InvalidRequest } from '../errors.js';
import { liveCell, MAX_TTL_SECONDS, tombstoneCell, type Cell } from '../model/cell.js';
import type { Slice } from '../model/clustering.js';
import { emptyPartition, emptyRow, type ComplexColumn, type Partition, type PartitionUpdate, type Row } from '../model/partition.js';
import { compositeKey, murmur3Token } from '../model/token.js';
import type { ColumnMetadata, KeyspaceMetadata, TableMetadata } from '../schema/metadata.js';
import type { CqlType } from '../schema/type.js';
import { parseTypeName } from '../schema/types.js';
import type { Assignment, Delete, Insert, Update, Using } from './ast.js';
import type { ExecContext } from './bindings.js';
import { ListPaths } from './list-paths.js';
import { compileWhere } from './restrictions.js';
import { liveElements } from './rows.js';
import { compileTerm, type Evaluator } from './terms.js';

const BIGINT = parseTypeName('bigint');
const INT = parseTypeName('int');
const MAX_KEY_LENGTH = 0xffff;
/** A column INSERT JSON … DEFAULT UNSET leaves untouched. */
const UNSET = Symbol('unset');

/** What a modification needs at execution beyond bound values. */
export interface WriteContext extends ExecContext {
  /** The statement's write timestamp unless USING TIMESTAMP says otherwise (µs). */
  readonly defaultTimestamp: number;
  readonly listPaths: ListPaths;
  /** Reads the current row for list operations that need it (read-before-write). */
  /** `clustering` null reads the static row. */
  readRow(table: TableMetadata, key: Buffer, token: bigint, clustering: Buffer[] | null): Promise<Row | null>;
}

export interface PreparedModification {
  readonly keyspace: KeyspaceMetadata;
  readonly table: TableMetadata;
  /** True when USING TIMESTAMP was given (a batch may not then set its own). */
  readonly hasTimestamp: boolean;
  execute(ctx: WriteContext): Promise<PartitionUpdate[]>;
}

interface CompiledUsing {
  timestamp: (ctx: WriteContext) => number;
  ttl: (ctx: WriteContext, table: TableMetadata) => number;
}

function compileUsing(using: Using, allowTtl: boolean): CompiledUsing {
  if (using.ttl !== null && !allowTtl) throw new InvalidRequest('A TTL is not allowed on DELETE');
  const ts: Evaluator | null = using.timestamp === null ? null : compileTerm(using.timestamp, { name: '[timestamp]', type: BIGINT });
  const ttl: Evaluator | null = using.ttl === null ? null : compileTerm(using.ttl, { name: '[ttl]', type: INT });
  return {
    timestamp: (ctx) => {
      if (ts === null) return ctx.defaultTimestamp;
      const v = ts(ctx);
      if (v === null) return ctx.defaultTimestamp;
      const n = Number(v as bigint);
      if (!Number.isSafeInteger(n)) throw new InvalidRequest(`Timestamp ${String(v)} is out of the supported range (±2^53 µs)`);
      return n;
    },
    ttl: (ctx, table) => {
      if (ttl === null) return table.options.defaultTimeToLive;
      const v = ttl(ctx) as number | null;
      if (v === null) return table.options.defaultTimeToLive;
      if (v < 0) throw new InvalidRequest(`A TTL must be greater or equal to 0, but was ${v}`);
      if (v > MAX_TTL_SECONDS) throw new InvalidRequest(`ttl is too large. requested (${v}) maximum (${MAX_TTL_SECONDS})`);
      return v;
    },
  };
}

function columnOf(table: TableMetadata, name: string): ColumnMetadata {
  const col = table.columns.get(name);
  if (col === undefined) throw new InvalidRequest(`Undefined column name ${name} in table ${table.keyspace}.${table.name}`);
  return col;
}

function checkKeyPart(col: ColumnMetadata, value: Buffer | null): Buffer {
  if (value === null) {
    throw new InvalidRequest(`Invalid null value in condition for column ${col.name}`);
  }
  return value;
}

export function serializePartitionKey(table: TableMetadata, parts: Buffer[]): Buffer {
  const key = parts.length === 1 ? parts[0] : compositeKey(parts);
  if (key.length === 0) throw new InvalidRequest('Key may not be empty');
  if (key.length > MAX_KEY_LENGTH) throw new InvalidRequest(`Key length of ${key.length} is longer than maximum of ${MAX_KEY_LENGTH}`);
  return key;
}

/** Accumulates the rows one statement writes into per-partition updates. */
class UpdateBuilder {
  private readonly partitions = new Map<string, Partition>();
  constructor(private readonly table: TableMetadata) {}

  partition(key: Buffer): Partition {
    const id = key.toString('latin1');
    let p = this.partitions.get(id);
    if (p === undefined) this.partitions.set(id, (p = emptyPartition(key, murmur3Token(key))));
    return p;
  }

  row(partition: Partition, clustering: Buffer[]): Row {
    // A statement touches few rows per partition; a linear search is cheapest.
    const cmp = this.table.comparator;
    for (const row of partition.rows) if (cmp.compare(row.clustering, clustering) === 0) return row;
    const row = emptyRow(clustering);
    partition.rows.push(row);
    return row;
  }

  staticRow(partition: Partition): Row {
    return (partition.staticRow ??= emptyRow([]));
  }

  build(): PartitionUpdate[] {
    const cmp = this.table.comparator;
    return [...this.partitions.values()].map((partition) => {
      partition.rows.sort((a, b) => cmp.compare(a.clustering, b.clustering));
      return { tableId: this.table.id, partition };
    });
  }
}

/** Writes `value` (a JS value, null to delete) into a column of a row. */
function writeColumn(
  row: Row,
  col: ColumnMetadata,
  value: unknown,
  timestamp: number,
  ttl: number,
  ctx: WriteContext,
): void {
  const now = ctx.nowSeconds;
  if (!col.type.multiCell) {
    row.cells.set(col.name, value === null ? tombstoneCell(timestamp, now) : liveCell(timestamp, col.type.serialize(value), ttl, now));
    return;
  }
  // Overwriting a whole collection: delete what was there (just before this write)
  // and add the new elements.
  // Elements added by an earlier assignment of the same statement (l = l + [1], l = [2])
  // are written at the same timestamp and survive the deletion, as in Cassandra.
  const complex: ComplexColumn = row.complex.get(col.name) ?? { deletion: null, cells: [] };
  complex.deletion = { markedForDeleteAt: timestamp - 1, localDeletionTime: now };
  if (value !== null) complex.cells.push(...elementCells(col.type, value, timestamp, ttl, ctx, false));
  row.complex.set(col.name, complex);
}

function elementCells(type: CqlType, value: unknown, timestamp: number, ttl: number, ctx: WriteContext, prepend: boolean): Cell[] {
  const now = ctx.nowSeconds;
  switch (type.kind) {
    case 'list': {
      const items = value as unknown[];
      const paths = prepend ? ctx.listPaths.prepend(items.length) : ctx.listPaths.append(items.length);
      return items.map((item, i) => liveCell(timestamp, type.params[0].serialize(item), ttl, now, paths[i]));
    }
    case 'set':
      return (value as unknown[]).map((item) => liveCell(timestamp, Buffer.alloc(0), ttl, now, type.params[0].serialize(item)));
    case 'map':
      return (value as [unknown, unknown][]).map(([k, v]) =>
        liveCell(timestamp, type.params[1].serialize(v), ttl, now, type.params[0].serialize(k)),
      );
    default:
      throw new InvalidRequest(`Invalid operation for non-collection type ${type.name}`);
  }
}

function addElements(row: Row, col: ColumnMetadata, cells: Cell[]): void {
  const complex = row.complex.get(col.name) ?? { deletion: null, cells: [] };
  complex.cells.push(...cells);
  row.complex.set(col.name, complex);
}

export function prepareInsert(keyspace: KeyspaceMetadata, table: TableMetadata, stmt: Insert): PreparedModification {
  if (stmt.ifNotExists) {
    throw new InvalidRequest('Conditional updates (IF NOT EXISTS) are not supported yet: they arrive with lightweight transactions');
  }
  const using = compileUsing(stmt.using, true);
  let columns: ColumnMetadata[];
  let values: Evaluator[];
  if (stmt.json !== null) {
    return prepareInsertJson(keyspace, table, stmt, using);
  }
  if (stmt.columns.length !== stmt.values.length) throw new InvalidRequest('Unmatched column names/values');
  columns = stmt.columns.map((name) => columnOf(table, name));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) throw new InvalidRequest(`Multiple definitions found for column ${c.name}`);
    seen.add(c.name);
  }
  values = stmt.values.map((term, i) => compileTerm(term, { name: columns[i].name, type: columns[i].type }));
  return insertFromColumns(keyspace, table, columns, values, using, stmt.using.timestamp !== null);
}

function insertFromColumns(
  keyspace: KeyspaceMetadata,
  table: TableMetadata,
  columns: ColumnMetadata[],
  values: ((ctx: WriteContext) => unknown)[],
  using: CompiledUsing,
  hasTimestamp: boolean,
): PreparedModification {
  const byName = new Map(columns.map((c, i) => [c.name, i]));
  const missingPk = table.partitionKey.filter((c) => !byName.has(c.name)).map((c) => c.name);
  if (missingPk.length > 0) throw new InvalidRequest(`Some partition key parts are missing: ${missingPk.join(', ')}`);
  // Only a write that names static columns and no regular ones may leave out the clustering key.
  const onlyStatic = columns.some((c) => c.kind === 'static') && columns.every((c) => c.kind === 'partition_key' || c.kind === 'static');
  const missingCk = table.clusteringKey.filter((c) => !byName.has(c.name)).map((c) => c.name);
  if (missingCk.length > 0 && !(onlyStatic && missingCk.length === table.clusteringKey.length)) {
    throw new InvalidRequest(`Some clustering keys are missing: ${missingCk.join(', ')}`);
  }
  const pkIndexes = table.partitionKey.map((c) => byName.get(c.name)!);
  const ckIndexes = missingCk.length > 0 ? [] : table.clusteringKey.map((c) => byName.get(c.name)!);
  const valueColumns = columns.map((c, i) => [c, i] as const).filter(([c]) => c.kind === 'regular' || c.kind === 'static');
  return {
    keyspace,
    table,
    hasTimestamp,
    async execute(ctx) {
      const timestamp = using.timestamp(ctx);
      const ttl = using.ttl(ctx, table);
      const evaluated = values.map((v) => v(ctx));
      const keyBytes = (i: number) => {
        const col = columns[i];
        const v = evaluated[i] === UNSET ? null : evaluated[i];
        return checkKeyPart(col, v === null ? null : col.type.serialize(v));
      };
      const key = serializePartitionKey(table, pkIndexes.map(keyBytes));
      const builder = new UpdateBuilder(table);
      const partition = builder.partition(key);
      const now = ctx.nowSeconds;
      const liveness = { timestamp, ttl, localDeletionTime: ttl > 0 ? now + ttl : 0x7fffffff };
      let row: Row | null = null;
      if (ckIndexes.length > 0 || table.clusteringKey.length === 0) {
        row = builder.row(partition, ckIndexes.map(keyBytes));
        row.liveness = liveness;
      }
      for (const [col, i] of valueColumns) {
        if (evaluated[i] === UNSET) continue;
        const target = col.kind === 'static' ? builder.staticRow(partition) : row;
        if (target === null) continue;
        writeColumn(target, col, evaluated[i], timestamp, ttl, ctx);
      }
      return builder.build();
    },
  };
}

function prepareInsertJson(keyspace: KeyspaceMetadata, table: TableMetadata, stmt: Insert, using: CompiledUsing): PreparedModification {
  const text = parseTypeName('text');
  const json = compileTerm(stmt.json!, { name: '[json]', type: text });
  const columns = [...table.columns.values()];
  const index = new Map(columns.map((c, i) => [c.name, i]));
  // Every column's evaluator needs the parsed object: parse once per execution.
  const parsed = new WeakMap<ExecContext, Record<string, unknown>>();
  const objectOf = (ctx: ExecContext): Record<string, unknown> => {
    let obj = parsed.get(ctx);
    if (obj === undefined) {
      const raw = json(ctx);
      if (typeof raw !== 'string') throw new InvalidRequest('INSERT JSON requires a JSON object string');
      try {
        obj = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw new InvalidRequest('Could not decode JSON string as a map: invalid JSON');
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new InvalidRequest('INSERT JSON requires a JSON object');
      // As in CQL: an unquoted key is lower-cased, a "quoted" one is taken exactly.
      const normalized: Record<string, unknown> = {};
      for (const [raw, value] of Object.entries(obj)) {
        const name = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replaceAll('""', '"') : raw.toLowerCase();
        if (!index.has(name)) throw new InvalidRequest(`JSON values map contains unrecognized column: ${raw}`);
        normalized[name] = value;
      }
      obj = normalized;
      parsed.set(ctx, obj);
    }
    return obj;
  };
  const missing = stmt.jsonDefault === 'UNSET' ? UNSET : null;
  const values = columns.map((col) => (ctx: ExecContext) => {
    const v = objectOf(ctx)[col.name];
    if (v === undefined) return missing;
    return v === null ? null : col.type.fromJson(v);
  });
  return insertFromColumns(keyspace, table, columns, values, using, stmt.using.timestamp !== null);
}

interface CompiledAssignment {
  column: ColumnMetadata;
  apply(row: Row, ctx: WriteContext, timestamp: number, ttl: number, where: RowAddress): Promise<void>;
}

interface RowAddress {
  key: Buffer;
  token: bigint;
  clustering: Buffer[];
}

function compileAssignment(table: TableMetadata, a: Assignment): CompiledAssignment {
  const col = columnOf(table, a.column);
  if (col.kind === 'partition_key' || col.kind === 'clustering') {
    throw new InvalidRequest(`PRIMARY KEY part ${col.name} found in SET part`);
  }
  const type = col.type;
  const receiver = { name: col.name, type };
  switch (a.kind) {
    case 'set': {
      const value = compileTerm(a.value, receiver);
      return { column: col, apply: async (row, ctx, ts, ttl) => writeColumn(row, col, value(ctx), ts, ttl, ctx) };
    }
    case 'add':
    case 'prepend': {
      if (!type.multiCell) {
        throw new InvalidRequest(`Invalid operation (${col.name} = ${col.name} + ?) for non counter column ${col.name}`);
      }
      if (a.kind === 'prepend' && type.kind !== 'list') {
        throw new InvalidRequest(`Invalid operation (${col.name} = ? + ${col.name}) for non list column ${col.name}`);
      }
      const value = compileTerm(a.value, receiver);
      const prepend = a.kind === 'prepend';
      return {
        column: col,
        apply: async (row, ctx, ts, ttl) => {
          const v = value(ctx);
          if (v === null) return;
          addElements(row, col, elementCells(type, v, ts, ttl, ctx, prepend));
        },
      };
    }
    case 'subtract': {
      if (!type.multiCell) {
        throw new InvalidRequest(`Invalid operation (${col.name} = ${col.name} - ?) for non counter column ${col.name}`);
      }
      // Removing from a map takes a set of keys.
      const removeType = type.kind === 'map' ? parseTypeName(`set<${type.params[0].frozen().name}>`) : type;
      const value = compileTerm(a.value, { name: col.name, type: removeType });
      return {
        column: col,
        apply: async (row, ctx, ts, _ttl, where) => {
          const v = value(ctx) as unknown[] | null;
          if (v === null || v.length === 0) return;
          const now = ctx.nowSeconds;
          if (type.kind === 'list') {
            const elementType = type.params[0];
            const doomed = v.map((x) => elementType.serialize(x));
            const current = await ctx.readRow(table, where.key, where.token, col.kind === 'static' ? null : where.clustering);
            const cells = liveElements(table, col, current, now).filter((c) => doomed.some((d) => elementType.compare(d, c.value!) === 0));
            addElements(row, col, cells.map((c) => tombstoneCell(ts, now, c.path)));
          } else {
            const elementType = type.params[0];
            addElements(row, col, v.map((x) => tombstoneCell(ts, now, elementType.serialize(x))));
          }
        },
      };
    }
    case 'setElement': {
      if (type.kind === 'map' && type.multiCell) {
        const key = compileTerm(a.element, { name: `key(${col.name})`, type: type.params[0] });
        const value = compileTerm(a.value, { name: `value(${col.name})`, type: type.params[1] });
        return {
          column: col,
          apply: async (row, ctx, ts, ttl) => {
            const k = key(ctx);
            if (k === null) throw new InvalidRequest(`Invalid null map key for ${col.name}`);
            const v = value(ctx);
            const path = type.params[0].serialize(k);
            addElements(row, col, [v === null ? tombstoneCell(ts, ctx.nowSeconds, path) : liveCell(ts, type.params[1].serialize(v), ttl, ctx.nowSeconds, path)]);
          },
        };
      }
      if (type.kind === 'list' && type.multiCell) {
        const index = compileTerm(a.element, { name: `idx(${col.name})`, type: INT });
        const value = compileTerm(a.value, { name: `value(${col.name})`, type: type.params[0] });
        return {
          column: col,
          apply: async (row, ctx, ts, ttl, where) => {
            const i = index(ctx) as number | null;
            if (i === null) throw new InvalidRequest(`Invalid null value for list index of ${col.name}`);
            const current = await ctx.readRow(table, where.key, where.token, col.kind === 'static' ? null : where.clustering);
            const cells = liveElements(table, col, current, ctx.nowSeconds);
            if (i < 0 || i >= cells.length) throw new InvalidRequest(`List index ${i} out of bound, list has size ${cells.length}`);
            const v = value(ctx);
            const path = cells[i].path!;
            addElements(row, col, [v === null ? tombstoneCell(ts, ctx.nowSeconds, path) : liveCell(ts, type.params[0].serialize(v), ttl, ctx.nowSeconds, path)]);
          },
        };
      }
      throw new InvalidRequest(`Invalid operation (${col.name}[?] = ?) for non list/map column ${col.name}`);
    }
  }
}

function checkNoConditions(stmt: Update | Delete): void {
  if (stmt.ifExists || stmt.conditions.length > 0) {
    throw new InvalidRequest('Conditional updates (IF EXISTS / IF conditions) are not supported yet: they arrive with lightweight transactions');
  }
}

/** Resolves the WHERE of UPDATE/DELETE: partition keys, and what it says of clustering. */
function compileWriteWhere(table: TableMetadata, stmt: Update | Delete) {
  for (const rel of stmt.where) {
    if (rel.kind === 'token') throw new InvalidRequest('The token function cannot be used in WHERE clauses for UPDATE and DELETE statements');
  }
  const where = compileWhere(table, stmt.where);
  if (where.nonKeyColumns.length > 0) {
    throw new InvalidRequest(`Non PRIMARY KEY columns found in where clause: ${where.nonKeyColumns.join(', ')}`);
  }
  if (where.partitionKeys === null) {
    const restricted = new Set(stmt.where.flatMap((r) => ('column' in r ? [r.column] : [])));
    const missing = table.partitionKey.filter((c) => !restricted.has(c.name)).map((c) => c.name);
    throw new InvalidRequest(`Some partition key parts are missing: ${missing.join(', ')}`);
  }
  if (where.filteringReason !== null) throw new InvalidRequest(where.filteringReason);
  return where;
}

export function prepareUpdate(keyspace: KeyspaceMetadata, table: TableMetadata, stmt: Update): PreparedModification {
  checkNoConditions(stmt);
  const using = compileUsing(stmt.using, true);
  const where = compileWriteWhere(table, stmt);
  const assignments = stmt.assignments.map((a) => compileAssignment(table, a));
  const seen = new Set<string>();
  for (const a of assignments) {
    if (seen.has(a.column.name) && assignments.filter((x) => x.column === a.column).length > 1 && !a.column.type.multiCell) {
      throw new InvalidRequest(`Multiple definitions found for column ${a.column.name}`);
    }
    seen.add(a.column.name);
  }
  const onlyStatic = assignments.every((a) => a.column.kind === 'static');
  if (where.clusterings === null && !(onlyStatic && where.clusteringColumnsRestricted === 0)) {
    if (where.hasClusteringSlice) throw new InvalidRequest('Slice restrictions are not supported on the clustering columns in UPDATE statements');
    const missing = table.clusteringKey.slice(where.clusteringColumnsRestricted).map((c) => c.name);
    throw new InvalidRequest(`Some clustering keys are missing: ${missing.join(', ')}`);
  }
  const partitionKeys = where.partitionKeys!;
  const clusterings = where.clusterings;
  return {
    keyspace,
    table,
    hasTimestamp: stmt.using.timestamp !== null,
    async execute(ctx) {
      const timestamp = using.timestamp(ctx);
      const ttl = using.ttl(ctx, table);
      const builder = new UpdateBuilder(table);
      const rowsOf = onlyStatic || clusterings === null ? [null] : clusterings(ctx);
      for (const parts of partitionKeys(ctx)) {
        const key = serializePartitionKey(table, parts);
        const partition = builder.partition(key);
        for (const clustering of rowsOf) {
          const address = { key, token: partition.token, clustering: clustering ?? [] };
          for (const a of assignments) {
            const row = a.column.kind === 'static' ? builder.staticRow(partition) : builder.row(partition, clustering ?? []);
            await a.apply(row, ctx, timestamp, ttl, address);
          }
        }
      }
      return builder.build();
    },
  };
}

export function prepareDelete(keyspace: KeyspaceMetadata, table: TableMetadata, stmt: Delete): PreparedModification {
  checkNoConditions(stmt);
  const using = compileUsing(stmt.using, false);
  const where = compileWriteWhere(table, stmt);
  const targets = stmt.targets.map((t) => {
    const col = columnOf(table, t.column);
    if (col.kind === 'partition_key' || col.kind === 'clustering') {
      throw new InvalidRequest(`Invalid identifier ${col.name} for deletion (should not be a PRIMARY KEY part)`);
    }
    let element: Evaluator | null = null;
    if (t.element !== null) {
      if (!col.type.multiCell || col.type.kind === 'set') {
        throw new InvalidRequest(`Invalid operation (${col.name}[?]) for non list/map column ${col.name}`);
      }
      element =
        col.type.kind === 'map'
          ? compileTerm(t.element, { name: `key(${col.name})`, type: col.type.params[0] })
          : compileTerm(t.element, { name: `idx(${col.name})`, type: INT });
    }
    return { col, element };
  });
  const onlyStatic = targets.length > 0 && targets.every((t) => t.col.kind === 'static');
  if (targets.length > 0 && !onlyStatic && where.clusterings === null) {
    if (where.hasClusteringSlice || where.clusteringColumnsRestricted > 0) {
      throw new InvalidRequest('Range deletions are not supported for specific columns');
    }
    const missing = table.clusteringKey.map((c) => c.name);
    throw new InvalidRequest(`Some clustering keys are missing: ${missing.join(', ')}`);
  }
  const partitionKeys = where.partitionKeys!;
  const clusterings = where.clusterings;
  const slices = where.slices;
  return {
    keyspace,
    table,
    hasTimestamp: stmt.using.timestamp !== null,
    async execute(ctx) {
      const timestamp = using.timestamp(ctx);
      const now = ctx.nowSeconds;
      const deletion = { markedForDeleteAt: timestamp, localDeletionTime: now };
      const builder = new UpdateBuilder(table);
      for (const parts of partitionKeys(ctx)) {
        const key = serializePartitionKey(table, parts);
        const partition = builder.partition(key);
        if (targets.length === 0) {
          if (clusterings !== null && table.clusteringKey.length > 0) {
            for (const clustering of clusterings(ctx)) builder.row(partition, clustering).deletion = deletion;
          } else if (slices !== null) {
            for (const slice of slices(ctx) as Slice[]) {
              partition.rangeTombstones.push({ start: slice.start, end: slice.end, deletion });
            }
          } else {
            partition.deletion = deletion;
          }
          continue;
        }
        const rowsOf = onlyStatic || clusterings === null ? [[]] : clusterings(ctx);
        for (const clustering of rowsOf) {
          for (const { col, element } of targets) {
            const row = col.kind === 'static' ? builder.staticRow(partition) : builder.row(partition, clustering);
            if (element === null) {
              if (col.type.multiCell) row.complex.set(col.name, { deletion, cells: row.complex.get(col.name)?.cells ?? [] });
              else row.cells.set(col.name, tombstoneCell(timestamp, now));
              continue;
            }
            const e = element(ctx);
            if (e === null) throw new InvalidRequest(`Invalid null value for ${col.name} element`);
            if (col.type.kind === 'map') {
              addElements(row, col, [tombstoneCell(timestamp, now, col.type.params[0].serialize(e))]);
            } else {
              const i = e as number;
              const current = await ctx.readRow(table, key, partition.token, col.kind === 'static' ? null : clustering);
              const cells = liveElements(table, col, current, now);
              if (i < 0 || i >= cells.length) throw new InvalidRequest(`List index ${i} out of bound, list has size ${cells.length}`);
              addElements(row, col, [tombstoneCell(timestamp, now, cells[i].path)]);
            }
          }
        }
      }
      return builder.build();
    },
  };
}
