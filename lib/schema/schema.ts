/**
 * Building and validating schema objects, and the immutable `Schema` snapshot.
 *
 * The CQL layer turns DDL statements into the plain definitions below; everything a
 * keyspace or table must satisfy is checked here, once, so storage and the executor
 * can trust the metadata they are given.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ConfigurationError, InvalidRequest } from '../errors.js';
import { ClusteringComparator } from '../model/clustering.js';
import type {
  ColumnKind,
  ColumnMetadata,
  CompactionOptions,
  CompressionOptions,
  KeyspaceMetadata,
  ReplicationStrategy,
  TableMetadata,
  TableOptions,
  SpeculativeRetry,
} from './metadata.js';
import type { CqlType } from './type.js';

/** Keyspaces the node owns itself; users cannot create, alter or drop them. */
export const SYSTEM_KEYSPACES: ReadonlySet<string> = new Set(['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces']);

const NAME_PATTERN = /^\w{1,48}$/;

export function validateKeyspaceName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new InvalidRequest(
      `Keyspace name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got "${name}")`,
    );
  }
}

export function validateTableName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new InvalidRequest(
      `Table name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got "${name}")`,
    );
  }
}

export type OptionValue = string | number | boolean | { [key: string]: string | number | boolean };

function optionText(value: string | number | boolean): string {
  return typeof value === 'string' ? value : String(value);
}

function strategyClass(name: string): string {
  // Cassandra accepts both the short and the fully-qualified class name.
  return name.startsWith('org.apache.cassandra.locator.') ? name.slice('org.apache.cassandra.locator.'.length) : name;
}

function parseFactor(key: string, raw: string | number | boolean): number {
  const text = optionText(raw).trim();
  if (!/^\d+$/.test(text)) {
    throw new ConfigurationError(`Replication factor must be non-negative integer; found ${text} for ${key}`);
  }
  return Number(text);
}

/**
 * Parses a keyspace's `replication` map. `defaultDataCenters` expands the
 * NetworkTopologyStrategy shorthand `'replication_factor': N` to every known dc.
 */
export function parseReplication(value: OptionValue | undefined, defaultDataCenters: readonly string[] = []): ReplicationStrategy {
  if (value === undefined || typeof value !== 'object') {
    throw new ConfigurationError("Missing mandatory option 'replication' (a map with at least 'class')");
  }
  const options = Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toLowerCase() === 'class' ? 'class' : k, v]));
  if (options.class === undefined) throw new ConfigurationError("Missing replication strategy class");
  const cls = strategyClass(optionText(options.class));
  if (cls === 'SimpleStrategy') {
    const extra = Object.keys(options).filter((k) => k !== 'class' && k !== 'replication_factor');
    if (extra.length > 0) throw new ConfigurationError(`Unrecognized strategy option {${extra.join(', ')}} passed to SimpleStrategy`);
    if (options.replication_factor === undefined) {
      throw new ConfigurationError('SimpleStrategy requires a replication_factor strategy option.');
    }
    const replicationFactor = parseFactor('replication_factor', options.replication_factor);
    return { class: 'SimpleStrategy', replicationFactor };
  }
  if (cls === 'NetworkTopologyStrategy') {
    const dataCenters: Record<string, number> = {};
    for (const [key, raw] of Object.entries(options)) {
      if (key === 'class') continue;
      if (key === 'replication_factor') {
        const factor = parseFactor(key, raw);
        for (const dc of defaultDataCenters) dataCenters[dc] ??= factor;
        continue;
      }
      dataCenters[key] = parseFactor(key, raw);
    }
    return { class: 'NetworkTopologyStrategy', dataCenters };
  }
  throw new ConfigurationError(`Unable to find replication strategy class '${optionText(options.class)}'`);
}

export function replicationToMap(replication: ReplicationStrategy): Record<string, string> {
  if (replication.class === 'SimpleStrategy') {
    return { class: 'org.apache.cassandra.locator.SimpleStrategy', replication_factor: String(replication.replicationFactor) };
  }
  const map: Record<string, string> = { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy' };
  for (const [dc, n] of Object.entries(replication.dataCenters)) map[dc] = String(n);
  return map;
}

export interface KeyspaceDefinition {
  name: string;
  replication: ReplicationStrategy;
  durableWrites: boolean;
  /** µs of the CREATE or ALTER; 0 (older than any DDL) when omitted. */
  timestamp?: number;
}

export function buildKeyspace(def: KeyspaceDefinition, tables: ReadonlyMap<string, TableMetadata> = new Map()): KeyspaceMetadata {
  validateKeyspaceName(def.name);
  return { name: def.name, replication: def.replication, durableWrites: def.durableWrites, tables, timestamp: def.timestamp ?? 0 };
}

/** Parses keyspace properties (replication, durable_writes) over `base`. */
export function parseKeyspaceOptions(
  properties: Record<string, OptionValue>,
  base: { replication?: ReplicationStrategy; durableWrites: boolean },
  defaultDataCenters: readonly string[],
): { replication: ReplicationStrategy; durableWrites: boolean } {
  let replication = base.replication;
  let durableWrites = base.durableWrites;
  for (const [key, value] of Object.entries(properties)) {
    if (key === 'replication') replication = parseReplication(value, defaultDataCenters);
    else if (key === 'durable_writes') durableWrites = parseBoolean(key, value);
    else throw new ConfigurationError(`Unknown property '${key}'`);
  }
  if (replication === undefined) throw new ConfigurationError("Missing mandatory option 'replication'");
  return { replication, durableWrites };
}

function parseBoolean(key: string, value: OptionValue): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw new ConfigurationError(`Invalid boolean value for ${key}: ${JSON.stringify(value)}`);
}

function parseInteger(key: string, value: OptionValue, min: number, max: number): number {
  const text = typeof value === 'object' ? '' : optionText(value).trim();
  if (!/^-?\d+$/.test(text)) throw new ConfigurationError(`Invalid value for ${key}: expected an integer, got ${JSON.stringify(value)}`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigurationError(`Invalid value for ${key}: ${n} (must be between ${min} and ${max})`);
  return n;
}

function parseNumber(key: string, value: OptionValue): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new ConfigurationError(`Invalid value for ${key}: expected a number, got ${JSON.stringify(value)}`);
  return n;
}

export const DEFAULT_TABLE_OPTIONS: TableOptions = Object.freeze({
  defaultTimeToLive: 0,
  gcGraceSeconds: 864000,
  bloomFilterFpChance: 0.01,
  compaction: Object.freeze({ class: 'SizeTieredCompactionStrategy', options: Object.freeze({}) }) as CompactionOptions,
  compression: Object.freeze({ class: 'LZ4Compressor', chunkLengthKb: 16, enabled: true }) as CompressionOptions,
  comment: '',
  // Cassandra's default.
  speculativeRetry: Object.freeze({ kind: 'percentile', percentile: 99 }) as SpeculativeRetry,
});

const COMPACTION_CLASSES = ['SizeTieredCompactionStrategy', 'LeveledCompactionStrategy', 'TimeWindowCompactionStrategy'] as const;
const COMPRESSORS = ['LZ4Compressor', 'DeflateCompressor', 'SnappyCompressor', 'ZstdCompressor'];
/** Options Cassandra has that we accept and validate loosely, but do not act on yet. */
const ACCEPTED_TABLE_OPTIONS = new Set([
  'caching',
  'additional_write_policy',
  'crc_check_chance',
  'memtable_flush_period_in_ms',
  'min_index_interval',
  'max_index_interval',
  'cdc',
  'extensions',
  'read_repair',
]);

function asMap(key: string, value: OptionValue): Record<string, string> {
  if (typeof value !== 'object') throw new ConfigurationError(`Invalid value for ${key}: expected a map`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, optionText(v)]));
}

function parseCompaction(value: OptionValue): CompactionOptions {
  const { class: raw, ...rest } = asMap('compaction', value);
  if (raw === undefined) throw new ConfigurationError("Missing sub-option 'class' for the 'compaction' option.");
  const cls = raw.startsWith('org.apache.cassandra.db.compaction.') ? raw.slice('org.apache.cassandra.db.compaction.'.length) : raw;
  const known = COMPACTION_CLASSES.find((c) => c === cls);
  if (known === undefined) throw new ConfigurationError(`Unable to find compaction strategy class '${raw}'`);
  return { class: known, options: rest };
}

function parseCompression(value: OptionValue): CompressionOptions {
  const map = asMap('compression', value);
  let cls = map.class ?? map.sstable_compression;
  let enabled = map.enabled === undefined ? true : parseBoolean('compression.enabled', map.enabled);
  if (cls === undefined && map.enabled === undefined) {
    throw new ConfigurationError("Missing sub-option 'class' for the 'compression' option.");
  }
  cls = (cls ?? 'LZ4Compressor').replace(/^org\.apache\.cassandra\.io\.compress\./, '');
  if (cls === '') enabled = false;
  else if (!COMPRESSORS.includes(cls)) throw new ConfigurationError(`Could not create Compression for type ${cls}`);
  const chunk = map.chunk_length_in_kb ?? map.chunk_length_kb;
  const chunkLengthKb = chunk === undefined ? 16 : parseInteger('chunk_length_in_kb', chunk, 1, 1 << 20);
  if ((chunkLengthKb & (chunkLengthKb - 1)) !== 0) {
    throw new ConfigurationError(`chunk_length_in_kb must be a power of 2`);
  }
  return { class: enabled ? cls : '', chunkLengthKb, enabled };
}

/** Reads a speculative_retry value ('NONE', 'ALWAYS', '99p', '99PERCENTILE', '50ms'), case-insensitively. */
export function parseSpeculativeRetry(text: string): SpeculativeRetry {
  const value = text.trim().toUpperCase();
  if (value === 'NONE') return { kind: 'none' };
  if (value === 'ALWAYS') return { kind: 'always' };
  // A number JavaScript would show in exponent form ('1e-7', '1e+21') is refused: the
  // schema stores formatSpeculativeRetry's text, which must read back.
  const plain = (n: number) => !String(n).includes('e');
  const percentile = /^(\d+(?:\.\d+)?)(?:P|PERCENTILE)$/.exec(value);
  if (percentile !== null) {
    const p = Number(percentile[1]);
    if (p > 0 && p < 100 && plain(p)) return { kind: 'percentile', percentile: p };
  }
  const fixed = /^(\d+(?:\.\d+)?)MS$/.exec(value);
  if (fixed !== null && plain(Number(fixed[1]))) return { kind: 'fixed', ms: Number(fixed[1]) };
  throw new ConfigurationError(
    `Invalid value '${text}' for speculative_retry: expected NONE, ALWAYS, a percentile in (0, 100) such as 99p, or a delay such as 50ms`,
  );
}

/** The speculative_retry text Cassandra would show for a policy (what the schema stores). */
export function formatSpeculativeRetry(policy: SpeculativeRetry): string {
  switch (policy.kind) {
    case 'none':
      return 'NONE';
    case 'always':
      return 'ALWAYS';
    case 'percentile':
      return `${policy.percentile}p`;
    case 'fixed':
      return `${policy.ms}ms`;
  }
}

/** Parses table properties (WITH …) over `base`. Unknown properties are rejected. */
export function parseTableOptions(properties: Record<string, OptionValue>, base: TableOptions = DEFAULT_TABLE_OPTIONS): TableOptions {
  const options: { -readonly [K in keyof TableOptions]: TableOptions[K] } = { ...base };
  for (const [key, value] of Object.entries(properties)) {
    switch (key) {
      case 'default_time_to_live':
        options.defaultTimeToLive = parseInteger(key, value, 0, 630720000);
        break;
      case 'gc_grace_seconds':
        options.gcGraceSeconds = parseInteger(key, value, 0, 0x7fffffff);
        break;
      case 'bloom_filter_fp_chance': {
        const p = parseNumber(key, value);
        if (!(p > 0 && p <= 1)) throw new ConfigurationError(`bloom_filter_fp_chance must be larger than 0 and less than or equal to 1 (got ${p})`);
        options.bloomFilterFpChance = p;
        break;
      }
      case 'compaction':
        options.compaction = parseCompaction(value);
        break;
      case 'compression':
        options.compression = parseCompression(value);
        break;
      case 'comment':
        options.comment = optionText(value as string);
        break;
      case 'speculative_retry':
        options.speculativeRetry = parseSpeculativeRetry(optionText(value as string));
        break;
      default:
        if (!ACCEPTED_TABLE_OPTIONS.has(key)) throw new ConfigurationError(`Unknown property '${key}'`);
    }
  }
  return options;
}

export interface ColumnDefinition {
  name: string;
  type: CqlType;
  kind: ColumnKind;
  /** Clustering order; ignored for other kinds. */
  order?: 'ASC' | 'DESC';
}

export interface TableDefinition {
  keyspace: string;
  name: string;
  /** Omitted for a new table: a random UUID is assigned. */
  id?: string;
  /** Key columns in key order; then regular and static columns in declaration order. */
  columns: ColumnDefinition[];
  options: TableOptions;
  droppedColumns?: ReadonlyMap<string, number>;
  /** µs of the CREATE or ALTER; 0 (older than any DDL) when omitted. */
  timestamp?: number;
}

/** Validates a table definition and builds its metadata (comparator included). */
export function buildTable(def: TableDefinition): TableMetadata {
  validateTableName(def.name);
  const columns = new Map<string, ColumnMetadata>();
  const partitionKey: ColumnMetadata[] = [];
  const clusteringKey: ColumnMetadata[] = [];
  const regularColumns: ColumnMetadata[] = [];
  const staticColumns: ColumnMetadata[] = [];
  for (const col of def.columns) {
    if (columns.has(col.name)) throw new InvalidRequest(`Multiple definition of identifier ${col.name}`);
    if (col.type.name === 'counter') {
      throw new InvalidRequest('Counter columns are not supported yet');
    }
    if (col.type.name === 'duration' && (col.kind === 'partition_key' || col.kind === 'clustering')) {
      throw new InvalidRequest(`duration type is not supported for PRIMARY KEY column '${col.name}'`);
    }
    if (col.type.multiCell && (col.kind === 'partition_key' || col.kind === 'clustering')) {
      throw new InvalidRequest(`Invalid non-frozen collection type for PRIMARY KEY component ${col.name}`);
    }
    const list =
      col.kind === 'partition_key' ? partitionKey : col.kind === 'clustering' ? clusteringKey : col.kind === 'static' ? staticColumns : regularColumns;
    const meta: ColumnMetadata = {
      name: col.name,
      type: col.type,
      kind: col.kind,
      position: col.kind === 'partition_key' || col.kind === 'clustering' ? list.length : -1,
      order: col.kind === 'clustering' ? (col.order ?? 'ASC') : 'ASC',
    };
    list.push(meta);
    columns.set(col.name, meta);
  }
  if (partitionKey.length === 0) throw new InvalidRequest('No PRIMARY KEY specifed (exactly one required)');
  if (staticColumns.length > 0 && clusteringKey.length === 0) {
    throw new InvalidRequest('Static columns are only useful (and thus allowed) if the table has at least one clustering column');
  }
  const comparator = new ClusteringComparator(
    clusteringKey.map((c) => {
      const compare = c.type.compare.bind(c.type);
      return c.order === 'DESC' ? (a: Buffer, b: Buffer) => compare(b, a) : compare;
    }),
  );
  return {
    keyspace: def.keyspace,
    name: def.name,
    id: def.id ?? randomUUID(),
    partitionKey,
    clusteringKey,
    columns,
    regularColumns,
    staticColumns,
    droppedColumns: def.droppedColumns ?? new Map(),
    options: def.options,
    timestamp: def.timestamp ?? 0,
    comparator,
  };
}

/** The definition a table was built from, for ALTER to modify and rebuild. */
export function tableDefinition(table: TableMetadata): TableDefinition {
  return {
    keyspace: table.keyspace,
    name: table.name,
    id: table.id,
    columns: [...table.partitionKey, ...table.clusteringKey, ...table.regularColumns, ...table.staticColumns].map((c) => ({
      name: c.name,
      type: c.type,
      kind: c.kind,
      order: c.order,
    })),
    options: table.options,
    droppedColumns: table.droppedColumns,
    timestamp: table.timestamp,
  };
}

/** An immutable snapshot of every keyspace; a schema change produces a new one. */
export class Schema {
  private versionCache: string | null = null;
  /** Built on first tableById: a Schema is immutable, so once is enough. */
  private tablesById: Map<string, TableMetadata> | null = null;
  /**
   * @param dropped When (µs) keyspaces and tables were dropped, by droppedKey(): schema
   *   merges drop any definition of that name at or before it, so a node that missed the
   *   DROP cannot bring the old definition back. Kept for good (a few bytes per DROP).
   */
  constructor(
    readonly keyspaces: ReadonlyMap<string, KeyspaceMetadata> = new Map(),
    readonly dropped: ReadonlyMap<string, number> = new Map(),
  ) {}

  /** When the keyspace, or with `table` the table, was last dropped (µs); 0 if never. */
  droppedAt(keyspace: string, table?: string): number {
    return this.dropped.get(droppedKey(keyspace, table)) ?? 0;
  }

  /** The table with this id (what mutations and hints name), in any keyspace. */
  tableById(id: string): TableMetadata | undefined {
    if (this.tablesById === null) {
      this.tablesById = new Map();
      for (const keyspace of this.keyspaces.values()) for (const table of keyspace.tables.values()) this.tablesById.set(table.id, table);
    }
    return this.tablesById.get(id);
  }

  keyspace(name: string): KeyspaceMetadata | undefined {
    return this.keyspaces.get(name);
  }

  table(keyspace: string, name: string): TableMetadata | undefined {
    return this.keyspaces.get(keyspace)?.tables.get(name);
  }

  /** The tables an operator command names in `keyspace`: all of them when `tables` is
   *  absent or empty, else the listed ones; an unknown keyspace or table is refused. */
  tablesOf(keyspace: string, tables?: readonly string[]): TableMetadata[] {
    const ks = this.keyspaces.get(keyspace);
    if (ks === undefined) throw new InvalidRequest(`Keyspace '${keyspace}' does not exist`);
    if (tables === undefined || tables.length === 0) return [...ks.tables.values()];
    // A table named twice (nodetool-style scopes come from the command line) counts once.
    return [...new Set(tables)].map((name) => {
      const table = ks.tables.get(name);
      if (table === undefined) throw new InvalidRequest(`unconfigured table ${name}`);
      return table;
    });
  }

  withKeyspace(keyspace: KeyspaceMetadata): Schema {
    const next = new Map(this.keyspaces);
    next.set(keyspace.name, keyspace);
    return new Schema(next, this.dropped);
  }

  /** Without the keyspace; with `droppedAt` (µs of a DROP) remembering when it was dropped. */
  withoutKeyspace(name: string, droppedAt = 0): Schema {
    const next = new Map(this.keyspaces);
    next.delete(name);
    return new Schema(next, withDrop(this.dropped, droppedKey(name), droppedAt));
  }

  withTable(table: TableMetadata): Schema {
    const ks = this.keyspaces.get(table.keyspace);
    if (ks === undefined) throw new InvalidRequest(`Keyspace ${table.keyspace} does not exist`);
    const tables = new Map(ks.tables);
    tables.set(table.name, table);
    return this.withKeyspace({ ...ks, tables });
  }

  /** Without the table; with `droppedAt` (µs of a DROP) remembering when it was dropped. */
  withoutTable(keyspace: string, name: string, droppedAt = 0): Schema {
    const ks = this.keyspaces.get(keyspace);
    if (ks === undefined) return this;
    const tables = new Map(ks.tables);
    tables.delete(name);
    const next = new Map(this.keyspaces).set(keyspace, { ...ks, tables });
    return new Schema(next, withDrop(this.dropped, droppedKey(keyspace, name), droppedAt));
  }

  /** A UUID derived from the schema's content: equal schemas have equal versions. */
  get version(): string {
    if (this.versionCache === null) {
      const hash = createHash('md5').update(canonicalJson(describeSchema(this))).digest();
      hash[6] = (hash[6] & 0x0f) | 0x30; // name-based (v3) UUID, as Cassandra's schema versions are
      hash[8] = (hash[8] & 0x3f) | 0x80;
      const hex = hash.toString('hex');
      this.versionCache = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
    return this.versionCache;
  }
}

/** The key of a keyspace's or table's drop time in Schema.dropped ('.' is not allowed in names). */
export function droppedKey(keyspace: string, table?: string): string {
  return table === undefined ? keyspace : `${keyspace}.${table}`;
}

function withDrop(dropped: ReadonlyMap<string, number>, key: string, at: number): ReadonlyMap<string, number> {
  if (at <= (dropped.get(key) ?? 0)) return dropped;
  return new Map(dropped).set(key, at);
}

/** JSON with object keys sorted, so equal content always hashes equally whatever
 *  order its objects were built in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A plain, canonical description of the schema (sorted), used for schema versions. */
export function describeSchema(schema: Schema): unknown[] {
  const keyspaces: unknown[] = [...schema.keyspaces.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((ks) => ({
      name: ks.name,
      replication: replicationToMap(ks.replication),
      durableWrites: ks.durableWrites,
      timestamp: ks.timestamp,
      tables: [...ks.tables.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(describeTable),
    }));
  // Drop times are part of the version: nodes that know different drops must pull from each other.
  if (schema.dropped.size > 0) keyspaces.push({ dropped: [...schema.dropped].sort(([a], [b]) => (a < b ? -1 : 1)) });
  return keyspaces;
}

export function describeTable(t: TableMetadata): unknown {
  return {
    name: t.name,
    id: t.id,
    columns: [...t.partitionKey, ...t.clusteringKey, ...t.regularColumns, ...t.staticColumns].map((c) => ({
      name: c.name,
      type: c.type.name,
      kind: c.kind,
      order: c.order,
    })),
    dropped: [...t.droppedColumns.entries()],
    options: t.options,
    timestamp: t.timestamp,
  };
}
