/**
 * Schema statements: CREATE/ALTER/DROP KEYSPACE and TABLE. Each becomes a pure
 * change of the schema snapshot, applied through the SchemaManager.
 */
import { AlreadyExists, InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';
import type { SchemaManager } from '../schema/manager.js';
import type { KeyspaceMetadata, TableMetadata, TableOptions } from '../schema/metadata.js';
import { validateCompactionOptions } from '../storage/compaction/strategy.js';
import {
  buildKeyspace,
  buildTable,
  DEFAULT_TABLE_OPTIONS,
  parseKeyspaceOptions,
  parseTableOptions,
  SYSTEM_KEYSPACES,
  tableDefinition,
  type ColumnDefinition,
  type Schema,
} from '../schema/schema.js';
import { typeFromSpec } from '../schema/types.js';
import type { AlterKeyspace, AlterTable, CreateKeyspace, CreateTable, DropKeyspace, DropTable } from './ast.js';
import type { CqlResult } from './request.js';

export interface DdlContext {
  readonly schema: SchemaManager;
  readonly clock: Clock;
  /** Data centers known to this node (NetworkTopologyStrategy's replication_factor shorthand). */
  readonly dataCenters: readonly string[];
}

/** Options the schema layer parsed, checked against what storage understands. */
function checkedOptions(options: TableOptions): TableOptions {
  validateCompactionOptions(options.compaction.class, options.compaction.options);
  return options;
}

function requireKeyspace(schema: Schema, name: string): KeyspaceMetadata {
  const ks = schema.keyspace(name);
  if (ks === undefined) throw new InvalidRequest(`Keyspace '${name}' does not exist`);
  return ks;
}

export function requireTable(schema: Schema, keyspace: string, name: string): TableMetadata {
  const ks = requireKeyspace(schema, keyspace);
  const table = ks.tables.get(name);
  if (table === undefined) throw new InvalidRequest(`unconfigured table ${name}`);
  return table;
}

function refuseSystem(keyspace: string): void {
  if (SYSTEM_KEYSPACES.has(keyspace)) throw new InvalidRequest(`${keyspace} keyspace is not user-modifiable`);
}

export async function createKeyspace(ctx: DdlContext, stmt: CreateKeyspace): Promise<CqlResult> {
  refuseSystem(stmt.name);
  let created = false;
  await ctx.schema.apply((schema) => {
    if (schema.keyspace(stmt.name) !== undefined) {
      if (stmt.ifNotExists) return schema;
      throw new AlreadyExists(`Keyspace '${stmt.name}' already exists`, stmt.name);
    }
    const options = parseKeyspaceOptions(stmt.properties, { durableWrites: true }, ctx.dataCenters);
    created = true;
    const timestamp = ddlTimestamp(ctx, schema.droppedAt(stmt.name));
    return schema.withKeyspace(buildKeyspace({ name: stmt.name, ...options, timestamp }));
  });
  return created ? { kind: 'schema_change', change: 'CREATED', target: 'KEYSPACE', keyspace: stmt.name } : { kind: 'void' };
}

export async function alterKeyspace(ctx: DdlContext, stmt: AlterKeyspace): Promise<CqlResult> {
  refuseSystem(stmt.name);
  await ctx.schema.apply((schema) => {
    const ks = requireKeyspace(schema, stmt.name);
    const options = parseKeyspaceOptions(stmt.properties, ks, ctx.dataCenters);
    return schema.withKeyspace(buildKeyspace({ name: ks.name, ...options, timestamp: ddlTimestamp(ctx, ks.timestamp) }, ks.tables));
  });
  return { kind: 'schema_change', change: 'UPDATED', target: 'KEYSPACE', keyspace: stmt.name };
}

export async function dropKeyspace(ctx: DdlContext, stmt: DropKeyspace): Promise<CqlResult> {
  refuseSystem(stmt.name);
  let dropped = false;
  await ctx.schema.apply((schema) => {
    if (schema.keyspace(stmt.name) === undefined) {
      if (stmt.ifExists) return schema;
      throw new InvalidRequest(`Cannot drop non existing keyspace '${stmt.name}'.`);
    }
    dropped = true;
    const ks = schema.keyspace(stmt.name)!;
    const newest = Math.max(ks.timestamp, ...[...ks.tables.values()].map((table) => table.timestamp));
    return schema.withoutKeyspace(stmt.name, ddlTimestamp(ctx, newest));
  });
  return dropped ? { kind: 'schema_change', change: 'DROPPED', target: 'KEYSPACE', keyspace: stmt.name } : { kind: 'void' };
}

/**
 * The timestamp (µs) of a schema change: now, but always after `after` (the timestamp of
 * what it replaces), so that a node whose clock runs behind still makes a change that
 * wins the schema merge against the definition it changed.
 */
function ddlTimestamp(ctx: DdlContext, after: number): number {
  return Math.max(ctx.clock.nowMicros(), after + 1);
}

function buildNewTable(keyspace: string, stmt: CreateTable, timestamp: number): TableMetadata {
  if (stmt.compactStorage) throw new InvalidRequest('COMPACT STORAGE tables are not supported (they were removed in Cassandra 4.0)');
  const defined = new Map(stmt.columns.map((c) => [c.name, c]));
  if (defined.size !== stmt.columns.length) {
    const dup = stmt.columns.find((c, i) => stmt.columns.findIndex((d) => d.name === c.name) !== i)!;
    throw new InvalidRequest(`Multiple definition of identifier ${dup.name}`);
  }
  if (stmt.partitionKey.length === 0) throw new InvalidRequest('No PRIMARY KEY specifed (exactly one required)');
  const keyNames = [...stmt.partitionKey, ...stmt.clusteringKey];
  const seen = new Set<string>();
  for (const name of keyNames) {
    if (!defined.has(name)) throw new InvalidRequest(`Unknown definition ${name} referenced in PRIMARY KEY`);
    if (seen.has(name)) throw new InvalidRequest(`Duplicate definition for ${name} in PRIMARY KEY`);
    seen.add(name);
    if (defined.get(name)!.isStatic) throw new InvalidRequest(`Static column ${name} cannot be part of the PRIMARY KEY`);
  }
  const orders = new Map<string, 'ASC' | 'DESC'>();
  stmt.clusteringOrder.forEach((o, i) => {
    if (!stmt.clusteringKey.includes(o.column)) {
      throw new InvalidRequest(`Only clustering key columns can be defined in CLUSTERING ORDER directive: ${o.column}`);
    }
    if (stmt.clusteringKey[i] !== o.column) {
      throw new InvalidRequest('The order of columns in the CLUSTERING ORDER directive must match that of the clustering columns');
    }
    orders.set(o.column, o.order);
  });
  const columns: ColumnDefinition[] = [
    ...stmt.partitionKey.map((name) => ({ name, type: typeFromSpec(defined.get(name)!.type), kind: 'partition_key' as const })),
    ...stmt.clusteringKey.map((name) => ({
      name,
      type: typeFromSpec(defined.get(name)!.type),
      kind: 'clustering' as const,
      order: orders.get(name) ?? ('ASC' as const),
    })),
    ...stmt.columns
      .filter((c) => !seen.has(c.name))
      .map((c) => ({ name: c.name, type: typeFromSpec(c.type), kind: c.isStatic ? ('static' as const) : ('regular' as const) })),
  ];
  const options = checkedOptions(parseTableOptions(stmt.properties, DEFAULT_TABLE_OPTIONS));
  return buildTable({ keyspace, name: stmt.table.name, columns, options, timestamp });
}

export async function createTable(ctx: DdlContext, keyspace: string, stmt: CreateTable): Promise<CqlResult> {
  refuseSystem(keyspace);
  let created = false;
  await ctx.schema.apply((schema) => {
    const ks = requireKeyspace(schema, keyspace);
    if (ks.tables.has(stmt.table.name)) {
      if (stmt.ifNotExists) return schema;
      throw new AlreadyExists(`Table ${keyspace}.${stmt.table.name} already exists`, keyspace, stmt.table.name);
    }
    created = true;
    // After the keyspace's own drop too: a merge keeps a dropped keyspace whose table
    // outlived the drop, with its definition from before it.
    const after = Math.max(ks.timestamp, schema.droppedAt(keyspace), schema.droppedAt(keyspace, stmt.table.name));
    const timestamp = ddlTimestamp(ctx, after);
    return schema.withTable(buildNewTable(keyspace, stmt, timestamp));
  });
  return created
    ? { kind: 'schema_change', change: 'CREATED', target: 'TABLE', keyspace, table: stmt.table.name }
    : { kind: 'void' };
}

export async function alterTable(ctx: DdlContext, keyspace: string, stmt: AlterTable): Promise<CqlResult> {
  refuseSystem(keyspace);
  await ctx.schema.apply((schema) => {
    const table = requireTable(schema, keyspace, stmt.table.name);
    const def = tableDefinition(table);
    const action = stmt.action;
    switch (action.kind) {
      case 'add':
        for (const c of action.columns) {
          if (table.columns.has(c.name)) throw new InvalidRequest(`Invalid column name ${c.name} because it conflicts with an existing column`);
          def.columns.push({ name: c.name, type: typeFromSpec(c.type), kind: c.isStatic ? 'static' : 'regular' });
        }
        break;
      case 'drop': {
        const dropped = new Map(def.droppedColumns ?? []);
        const now = ctx.clock.nowMicros();
        for (const name of action.columns) {
          const col = table.columns.get(name);
          if (col === undefined) throw new InvalidRequest(`Column ${name} was not found in table ${table.name}`);
          if (col.kind === 'partition_key' || col.kind === 'clustering') throw new InvalidRequest(`Cannot drop PRIMARY KEY part ${name}`);
          dropped.set(name, now);
        }
        def.columns = def.columns.filter((c) => !action.columns.includes(c.name));
        def.droppedColumns = dropped;
        break;
      }
      case 'with':
        def.options = checkedOptions(parseTableOptions(action.properties, table.options));
        break;
      case 'rename':
        // Renaming would strand data stored under the old name in cells; Cassandra
        // only allows it for key columns, whose names are not stored.
        for (const [from, to] of action.renames) {
          const col = table.columns.get(from);
          if (col === undefined) throw new InvalidRequest(`Column ${from} was not found in table ${table.name}`);
          if (col.kind !== 'partition_key' && col.kind !== 'clustering') {
            throw new InvalidRequest(`Cannot rename non PRIMARY KEY column ${from}`);
          }
          if (table.columns.has(to)) throw new InvalidRequest(`Cannot rename column ${from} to ${to} in table ${table.name}; another column of that name already exist`);
          def.columns = def.columns.map((c) => (c.name === from ? { ...c, name: to } : c));
        }
        break;
      case 'alterType':
        throw new InvalidRequest('Altering column types is no longer supported');
    }
    def.timestamp = ddlTimestamp(ctx, table.timestamp);
    return schema.withTable(buildTable(def));
  });
  return { kind: 'schema_change', change: 'UPDATED', target: 'TABLE', keyspace, table: stmt.table.name };
}

export async function dropTable(ctx: DdlContext, keyspace: string, stmt: DropTable): Promise<CqlResult> {
  refuseSystem(keyspace);
  let dropped = false;
  await ctx.schema.apply((schema) => {
    const ks = schema.keyspace(keyspace);
    if (ks === undefined || !ks.tables.has(stmt.table.name)) {
      if (stmt.ifExists && ks !== undefined) return schema;
      if (ks === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
      throw new InvalidRequest(`Table '${keyspace}.${stmt.table.name}' doesn't exist`);
    }
    dropped = true;
    return schema.withoutTable(keyspace, stmt.table.name, ddlTimestamp(ctx, ks.tables.get(stmt.table.name)!.timestamp));
  });
  return dropped ? { kind: 'schema_change', change: 'DROPPED', target: 'TABLE', keyspace, table: stmt.table.name } : { kind: 'void' };
}
