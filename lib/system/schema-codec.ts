/**
 * The schema as the system store keeps it: plain, versioned JSON that rebuilds the
 * same `Schema` (same tables, types, options, table ids and so the same version UUID).
 *
 * Layout (format 1):
 *
 *   StoredSchema   { format: 1, keyspaces: StoredKeyspace[], dropped?: [key, dropTimeMicros][] }
 *   StoredKeyspace { name, replication: { class: 'org.apache…SimpleStrategy', replication_factor: '3' }
 *                    | { class: 'org.apache…NetworkTopologyStrategy', <dc>: '<rf>', … },
 *                    durableWrites, tables: StoredTable[], timestamp?: µs }
 *   StoredTable    { name, id (UUID), columns: StoredColumn[] (partition key, clustering,
 *                    regular, static: in that order, key columns in key order),
 *                    dropped: [name, dropTimeMicros][], options: StoredTableOptions,
 *                    timestamp?: µs }
 *
 * `timestamp` (when a keyspace or table was created or last altered) and the schema's
 * `dropped` (when keyspaces, 'ks', and tables, 'ks.table', were dropped) came later in
 * format 1: records without them read as 0 and none, older than any DDL.
 *   StoredColumn   { name, type (canonical CQL text, read back with parseTypeName),
 *                    kind, order ('ASC' | 'DESC') }
 *
 * Replication is kept as the map Cassandra shows in system_schema.keyspaces and read
 * back with parseReplication, so the stored form is the one an operator already knows.
 * Decoding validates every field and rebuilds tables with buildTable, so a damaged
 * record stops start-up with a message naming the field instead of yielding a schema
 * that storage would trust. The format number changes whenever a field changes meaning;
 * a newer format than this code reads is refused rather than guessed at.
 *
 * Pure: no I/O. The system store splits the document into one record per keyspace.
 */
import { ConfigurationError } from '../errors.js';
import type { ColumnKind, KeyspaceMetadata, TableMetadata, TableOptions } from '../schema/metadata.js';
import {
  buildKeyspace,
  buildTable,
  DEFAULT_TABLE_OPTIONS,
  formatSpeculativeRetry,
  parseReplication,
  parseSpeculativeRetry,
  replicationToMap,
  Schema,
} from '../schema/schema.js';
import { parseTypeName } from '../schema/types.js';
import { isUuidString } from '../schema/uuid.js';

export const SCHEMA_FORMAT_VERSION = 1;

export interface StoredColumn {
  name: string;
  type: string;
  kind: ColumnKind;
  order: 'ASC' | 'DESC';
}

export interface StoredTableOptions {
  defaultTimeToLive: number;
  gcGraceSeconds: number;
  bloomFilterFpChance: number;
  compaction: { class: TableOptions['compaction']['class']; options: Record<string, string> };
  compression: { class: string; chunkLengthKb: number; enabled: boolean };
  comment: string;
  /** Added later in format 1; absent reads as Cassandra's default '99p'. */
  speculativeRetry?: string;
}

export interface StoredTable {
  name: string;
  id: string;
  columns: StoredColumn[];
  dropped: [string, number][];
  options: StoredTableOptions;
  timestamp?: number;
}

export interface StoredKeyspace {
  name: string;
  replication: Record<string, string>;
  durableWrites: boolean;
  tables: StoredTable[];
  timestamp?: number;
}

export interface StoredSchema {
  format: number;
  keyspaces: StoredKeyspace[];
  dropped?: [string, number][];
}

// ---------------------------------------------------------------------------
// Encoding

function encodeOptions(options: TableOptions): StoredTableOptions {
  return {
    defaultTimeToLive: options.defaultTimeToLive,
    gcGraceSeconds: options.gcGraceSeconds,
    bloomFilterFpChance: options.bloomFilterFpChance,
    compaction: { class: options.compaction.class, options: { ...options.compaction.options } },
    compression: {
      class: options.compression.class,
      chunkLengthKb: options.compression.chunkLengthKb,
      enabled: options.compression.enabled,
    },
    comment: options.comment,
    speculativeRetry: formatSpeculativeRetry(options.speculativeRetry),
  };
}

export function encodeTable(table: TableMetadata): StoredTable {
  return {
    name: table.name,
    id: table.id,
    columns: [...table.partitionKey, ...table.clusteringKey, ...table.regularColumns, ...table.staticColumns].map((c) => ({
      name: c.name,
      type: c.type.name,
      kind: c.kind,
      order: c.order,
    })),
    dropped: [...table.droppedColumns.entries()],
    options: encodeOptions(table.options),
    timestamp: table.timestamp,
  };
}

export function encodeKeyspace(keyspace: KeyspaceMetadata): StoredKeyspace {
  return {
    name: keyspace.name,
    replication: replicationToMap(keyspace.replication),
    durableWrites: keyspace.durableWrites,
    tables: [...keyspace.tables.values()].map(encodeTable),
    timestamp: keyspace.timestamp,
  };
}

export function encodeSchema(schema: Schema): StoredSchema {
  return {
    format: SCHEMA_FORMAT_VERSION,
    keyspaces: [...schema.keyspaces.values()].map(encodeKeyspace),
    dropped: [...schema.dropped.entries()],
  };
}

// ---------------------------------------------------------------------------
// Decoding: every read names the path of the field it checks, for the error message.

function corrupt(path: string, expected: string, value: unknown): ConfigurationError {
  return new ConfigurationError(`Stored schema is unreadable: ${path} should be ${expected}, found ${JSON.stringify(value) ?? 'nothing'}`);
}

type Json = Record<string, unknown>;

function object(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(path, 'an object', value);
  return value as Json;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw corrupt(path, 'an array', value);
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw corrupt(path, 'a string', value);
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw corrupt(path, 'a boolean', value);
  return value;
}

function number(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw corrupt(path, 'a number', value);
  return value;
}

function integer(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value)) throw corrupt(path, 'an integer', value);
  return value as number;
}

/** A field added to format 1 later: absent reads as 0. */
function optionalInteger(value: unknown, path: string): number {
  return value === undefined ? 0 : integer(value, path);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T {
  if (!allowed.includes(value as T)) throw corrupt(path, `one of ${allowed.join(', ')}`, value);
  return value as T;
}

function stringMap(value: unknown, path: string): Record<string, string> {
  const map = object(value, path);
  for (const [key, entry] of Object.entries(map)) string(entry, `${path}.${key}`);
  return map as Record<string, string>;
}

/** Errors from the schema builders keep their message but say where they came from. */
function rebuilding<T>(path: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    throw new ConfigurationError(`Stored schema is unreadable: ${path}: ${(error as Error).message}`);
  }
}

const COLUMN_KINDS: readonly ColumnKind[] = ['partition_key', 'clustering', 'regular', 'static'];
const ORDERS = ['ASC', 'DESC'] as const;
const COMPACTION_CLASSES = ['SizeTieredCompactionStrategy', 'LeveledCompactionStrategy', 'TimeWindowCompactionStrategy'] as const;

function decodeOptions(value: unknown, path: string): TableOptions {
  const stored = object(value, path);
  const compaction = object(stored.compaction, `${path}.compaction`);
  const compression = object(stored.compression, `${path}.compression`);
  // Fields in the order parseTableOptions produces them: the schema version hashes the
  // options' JSON text, so the order is part of what must survive the round trip.
  return {
    defaultTimeToLive: integer(stored.defaultTimeToLive, `${path}.defaultTimeToLive`),
    gcGraceSeconds: integer(stored.gcGraceSeconds, `${path}.gcGraceSeconds`),
    bloomFilterFpChance: number(stored.bloomFilterFpChance, `${path}.bloomFilterFpChance`),
    compaction: {
      class: oneOf(compaction.class, COMPACTION_CLASSES, `${path}.compaction.class`),
      options: stringMap(compaction.options, `${path}.compaction.options`),
    },
    compression: {
      class: string(compression.class, `${path}.compression.class`),
      chunkLengthKb: integer(compression.chunkLengthKb, `${path}.compression.chunkLengthKb`),
      enabled: boolean(compression.enabled, `${path}.compression.enabled`),
    },
    comment: string(stored.comment, `${path}.comment`),
    speculativeRetry:
      stored.speculativeRetry === undefined
        ? DEFAULT_TABLE_OPTIONS.speculativeRetry
        : rebuilding(`${path}.speculativeRetry`, () => parseSpeculativeRetry(string(stored.speculativeRetry, `${path}.speculativeRetry`))),
  };
}

export function decodeTable(keyspace: string, value: unknown, path: string): TableMetadata {
  const stored = object(value, path);
  const name = string(stored.name, `${path}.name`);
  const id = string(stored.id, `${path}.id`);
  if (!isUuidString(id)) throw corrupt(`${path}.id`, 'a UUID', id);
  const columns = array(stored.columns, `${path}.columns`).map((raw, i) => {
    const columnPath = `${path}.columns[${i}]`;
    const column = object(raw, columnPath);
    const typeName = string(column.type, `${columnPath}.type`);
    return {
      name: string(column.name, `${columnPath}.name`),
      type: rebuilding(`${columnPath}.type`, () => parseTypeName(typeName)),
      kind: oneOf(column.kind, COLUMN_KINDS, `${columnPath}.kind`),
      order: oneOf(column.order, ORDERS, `${columnPath}.order`),
    };
  });
  const droppedColumns = new Map<string, number>();
  array(stored.dropped, `${path}.dropped`).forEach((raw, i) => {
    const entry = array(raw, `${path}.dropped[${i}]`);
    droppedColumns.set(string(entry[0], `${path}.dropped[${i}][0]`), integer(entry[1], `${path}.dropped[${i}][1]`));
  });
  const options = decodeOptions(stored.options, `${path}.options`);
  const timestamp = optionalInteger(stored.timestamp, `${path}.timestamp`);
  return rebuilding(path, () => buildTable({ keyspace, name, id, columns, options, droppedColumns, timestamp }));
}

function decodeKeyspace(value: unknown, path: string): KeyspaceMetadata {
  const stored = object(value, path);
  const name = string(stored.name, `${path}.name`);
  const replicationPath = `${path}.replication`;
  const replicationMap = stringMap(stored.replication, replicationPath);
  const replication = rebuilding(replicationPath, () => parseReplication(replicationMap));
  const durableWrites = boolean(stored.durableWrites, `${path}.durableWrites`);
  const tables = new Map<string, TableMetadata>();
  array(stored.tables, `${path}.tables`).forEach((raw, i) => {
    const table = decodeTable(name, raw, `${path}.tables[${i}]`);
    if (tables.has(table.name)) throw corrupt(`${path}.tables[${i}].name`, 'unique in its keyspace', table.name);
    tables.set(table.name, table);
  });
  const timestamp = optionalInteger(stored.timestamp, `${path}.timestamp`);
  return rebuilding(path, () => buildKeyspace({ name, replication, durableWrites, timestamp }, tables));
}

/** Rebuilds the schema `encodeSchema` stored. Throws ConfigurationError naming the bad field. */
export function decodeSchema(value: unknown): Schema {
  const stored = object(value, 'schema');
  const format = integer(stored.format, 'schema.format');
  if (format !== SCHEMA_FORMAT_VERSION) {
    throw new ConfigurationError(
      `Stored schema has format ${format}, which this version of sibyl cannot read (it reads format ${SCHEMA_FORMAT_VERSION})`,
    );
  }
  const keyspaces = new Map<string, KeyspaceMetadata>();
  array(stored.keyspaces, 'schema.keyspaces').forEach((raw, i) => {
    const keyspace = decodeKeyspace(raw, `schema.keyspaces[${i}]`);
    if (keyspaces.has(keyspace.name)) throw corrupt(`schema.keyspaces[${i}].name`, 'unique', keyspace.name);
    keyspaces.set(keyspace.name, keyspace);
  });
  const dropped = new Map<string, number>();
  if (stored.dropped !== undefined) {
    array(stored.dropped, 'schema.dropped').forEach((raw, i) => {
      const entry = array(raw, `schema.dropped[${i}]`);
      dropped.set(string(entry[0], `schema.dropped[${i}][0]`), integer(entry[1], `schema.dropped[${i}][1]`));
    });
  }
  return new Schema(keyspaces, dropped);
}
