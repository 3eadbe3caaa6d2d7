/**
 * The CQL executor: parses a statement once (cached by its text), prepares it once
 * per schema version (cached by keyspace and text), then binds and executes it.
 */
import { InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';
import { ALL_ROWS } from '../model/clustering.js';
import type { PartitionUpdate, Row } from '../model/partition.js';
import { DEFAULT_CONSISTENCY, type ConsistencyName } from '../coordinator/consistency.js';
import type { StorageProxy } from '../coordinator/proxy.js';
import type { SchemaManager } from '../schema/manager.js';
import type { KeyspaceMetadata, TableMetadata } from '../schema/metadata.js';
import type { Schema } from '../schema/schema.js';
import { TimeUuidGenerator } from '../schema/uuid.js';
import { parseTypeName } from '../schema/types.js';
import type { ParsedStatement, QualifiedName, Statement } from './ast.js';
import { Bindings, type ExecContext } from './bindings.js';
import * as ddl from './ddl.js';
import { ListPaths } from './list-paths.js';
import { prepareDelete, prepareInsert, prepareUpdate, type PreparedModification, type WriteContext } from './modification.js';
import { parse } from './parser.js';
import type { CqlRequest, CqlResult, CqlService } from './request.js';
import { DEFAULT_PAGE_SIZE, prepareSelect, type PreparedSelect } from './select.js';
import { compileTerm, type Evaluator } from './terms.js';

const BIGINT = parseTypeName('bigint');

function batchTimestamp(evaluator: Evaluator | null, ctx: ExecContext): number | undefined {
  if (evaluator === null) return undefined;
  const value = evaluator(ctx);
  if (value === null) return undefined;
  const n = Number(value as bigint);
  if (!Number.isSafeInteger(n)) throw new InvalidRequest(`Timestamp ${String(value)} is out of the supported range (±2^53 µs)`);
  return n;
}

/** A small least-recently-used cache: statements are parsed and prepared once. */
class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
}

/** One execution of INSERT/UPDATE/DELETE/BATCH: its values, timestamp, and the
 *  read-before-write that list operations need. A class, built once per execution. */
class WriteExecution implements WriteContext {
  readonly bindings: ExecContext['bindings'];
  readonly clock: Clock;
  readonly timeuuids: TimeUuidGenerator;
  readonly nowSeconds: number;

  constructor(
    ctx: ExecContext,
    readonly defaultTimestamp: number,
    readonly listPaths: ListPaths,
    private readonly proxy: StorageProxy,
    private readonly schema: SchemaManager,
    private readonly readConsistency: ConsistencyName,
  ) {
    this.bindings = ctx.bindings;
    this.clock = ctx.clock;
    this.timeuuids = ctx.timeuuids;
    this.nowSeconds = ctx.nowSeconds;
  }

  async readRow(table: TableMetadata, key: Buffer, token: bigint, clustering: Buffer[] | null): Promise<Row | null> {
    const ks = this.schema.current.keyspace(table.keyspace);
    if (ks === undefined) throw new InvalidRequest(`Keyspace ${table.keyspace} does not exist`);
    const slices = clustering === null ? [ALL_ROWS] : [{ start: { prefix: clustering, inclusive: true }, end: { prefix: clustering, inclusive: true } }];
    const filter = { slices, reversed: false, rowLimit: 1, nowSeconds: this.nowSeconds };
    const partition = await this.proxy.read(ks, table, key, token, filter, this.readConsistency);
    if (partition === null) return null;
    if (clustering === null) return partition.staticRow;
    return partition.rows.find((r) => table.comparator.compare(r.clustering, clustering) === 0) ?? null;
  }
}

export interface ExecutorOptions {
  schema: SchemaManager;
  proxy: StorageProxy;
  clock: Clock;
  /** Data centers this node knows (for NetworkTopologyStrategy shorthands). */
  dataCenters: readonly string[];
  /** How many distinct statements stay parsed and prepared (default 1000). */
  statementCacheSize?: number;
}

type Prepared =
  | { kind: 'select'; select: PreparedSelect }
  | {
      kind: 'modification';
      modifications: PreparedModification[];
      /** BATCH … USING TIMESTAMP: the timestamp of every statement in the batch. */
      batchTimestamp: Evaluator | null;
    }
  | { kind: 'other'; statement: Statement };

interface CacheEntry {
  schema: Schema;
  parsed: ParsedStatement;
  prepared: Prepared;
}

export class CqlExecutor implements CqlService {
  private readonly parsed: LruCache<string, ParsedStatement>;
  private readonly prepared: LruCache<string, CacheEntry>;
  private readonly timeuuids: TimeUuidGenerator;
  private readonly listPaths: ListPaths;

  constructor(private readonly options: ExecutorOptions) {
    const size = options.statementCacheSize ?? 1000;
    this.parsed = new LruCache(size);
    this.prepared = new LruCache(size);
    this.timeuuids = new TimeUuidGenerator(options.clock);
    this.listPaths = new ListPaths(options.clock);
  }

  async execute(request: CqlRequest): Promise<CqlResult> {
    const keyspace = request.keyspace ?? null;
    const entry = this.prepare(request.query, keyspace);
    const bindings = new Bindings(entry.parsed.markers, request.params);
    const consistency = request.consistency ?? DEFAULT_CONSISTENCY;
    const clock = this.options.clock;
    if (request.timestamp !== undefined && !Number.isSafeInteger(request.timestamp)) {
      throw new InvalidRequest('timestamp must be an integer number of microseconds');
    }
    const ctx: ExecContext = { bindings, clock, timeuuids: this.timeuuids, nowSeconds: clock.nowSeconds() };
    const prepared = entry.prepared;
    switch (prepared.kind) {
      case 'select': {
        const pageSize = request.pageSize ?? DEFAULT_PAGE_SIZE;
        if (!Number.isInteger(pageSize) || pageSize <= 0) throw new InvalidRequest('pageSize must be a positive integer');
        return prepared.select.execute(
          ctx,
          { consistency, pageSize, pagingState: request.pagingState ?? null },
          this.options.proxy,
        );
      }
      case 'modification':
        await this.executeModifications(prepared.modifications, ctx, consistency, batchTimestamp(prepared.batchTimestamp, ctx) ?? request.timestamp);
        return { kind: 'void' };
      case 'other':
        return this.executeOther(prepared.statement, keyspace);
    }
  }

  private parse(query: string): ParsedStatement {
    let parsed = this.parsed.get(query);
    if (parsed === undefined) {
      parsed = parse(query);
      this.parsed.set(query, parsed);
    }
    return parsed;
  }

  private prepare(query: string, keyspace: string | null): CacheEntry {
    const schema = this.options.schema.current;
    const cacheKey = `${keyspace ?? ''}\u0000${query}`;
    const cached = this.prepared.get(cacheKey);
    if (cached !== undefined && cached.schema === schema) return cached;
    const parsed = this.parse(query);
    const entry: CacheEntry = { schema, parsed, prepared: this.prepareStatement(schema, parsed.statement, keyspace) };
    // DDL and USE are cheap to re-plan and must see the schema at execution.
    if (entry.prepared.kind !== 'other') this.prepared.set(cacheKey, entry);
    return entry;
  }

  private resolveTable(schema: Schema, name: QualifiedName, keyspace: string | null): { ks: KeyspaceMetadata; table: TableMetadata } {
    const ksName = name.keyspace ?? keyspace;
    if (ksName === null) {
      throw new InvalidRequest('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
    }
    const ks = schema.keyspace(ksName);
    if (ks === undefined) throw new InvalidRequest(`Keyspace ${ksName} does not exist`);
    const table = ks.tables.get(name.name);
    if (table === undefined) throw new InvalidRequest(`unconfigured table ${name.name}`);
    return { ks, table };
  }

  private prepareStatement(schema: Schema, statement: Statement, keyspace: string | null): Prepared {
    switch (statement.kind) {
      case 'select': {
        const { ks, table } = this.resolveTable(schema, statement.table, keyspace);
        return { kind: 'select', select: prepareSelect(ks, table, statement) };
      }
      case 'insert':
      case 'update':
      case 'delete':
        return { kind: 'modification', modifications: [this.prepareModification(schema, statement, keyspace)], batchTimestamp: null };
      case 'batch': {
        if (statement.type === 'COUNTER') throw new InvalidRequest('Counter batches are not supported yet (counters are not)');
        if (statement.using.ttl !== null) throw new InvalidRequest('A TTL is not allowed on BATCH; set it on the statements');
        const modifications = statement.statements.map((s) => this.prepareModification(schema, s, keyspace));
        if (statement.using.timestamp !== null && modifications.some((m) => m.hasTimestamp)) {
          throw new InvalidRequest('Timestamp must be set either on BATCH or individual statements');
        }
        const batchTimestamp =
          statement.using.timestamp === null ? null : compileTerm(statement.using.timestamp, { name: '[timestamp]', type: BIGINT });
        return { kind: 'modification', modifications, batchTimestamp };
      }
      default:
        return { kind: 'other', statement };
    }
  }

  private prepareModification(schema: Schema, statement: Statement, keyspace: string | null): PreparedModification {
    if (statement.kind !== 'insert' && statement.kind !== 'update' && statement.kind !== 'delete') {
      throw new InvalidRequest('Only INSERT, UPDATE and DELETE statements are allowed inside a BATCH');
    }
    const { ks, table } = this.resolveTable(schema, statement.table, keyspace);
    switch (statement.kind) {
      case 'insert':
        return prepareInsert(ks, table, statement);
      case 'update':
        return prepareUpdate(ks, table, statement);
      case 'delete':
        return prepareDelete(ks, table, statement);
    }
  }

  private async executeModifications(
    modifications: PreparedModification[],
    ctx: ExecContext,
    consistency: ConsistencyName,
    requestTimestamp: number | undefined,
  ): Promise<void> {
    const proxy = this.options.proxy;
    const writeCtx = new WriteExecution(
      ctx,
      // One timestamp for the whole statement or batch, as Cassandra does.
      requestTimestamp ?? this.options.clock.nowMicros(),
      this.listPaths,
      proxy,
      this.options.schema,
      consistency === 'ANY' || consistency === 'EACH_QUORUM' ? 'ONE' : consistency,
    );
    if (modifications.length === 1) {
      const [m] = modifications;
      await proxy.mutate(m.keyspace, await m.execute(writeCtx), consistency);
      return;
    }
    // A batch: one mutation per keyspace, each applied as a whole.
    const byKeyspace = new Map<KeyspaceMetadata, PartitionUpdate[]>();
    for (const m of modifications) {
      const updates = await m.execute(writeCtx);
      const list = byKeyspace.get(m.keyspace) ?? [];
      list.push(...updates);
      byKeyspace.set(m.keyspace, list);
    }
    for (const [ks, updates] of byKeyspace) await proxy.mutate(ks, updates, consistency);
  }

  private async executeOther(statement: Statement, keyspace: string | null): Promise<CqlResult> {
    const ctx: ddl.DdlContext = { schema: this.options.schema, clock: this.options.clock, dataCenters: this.options.dataCenters };
    const ksOf = (name: QualifiedName): string => {
      const ks = name.keyspace ?? keyspace;
      if (ks === null) throw new InvalidRequest('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
      return ks;
    };
    switch (statement.kind) {
      case 'createKeyspace':
        return ddl.createKeyspace(ctx, statement);
      case 'alterKeyspace':
        return ddl.alterKeyspace(ctx, statement);
      case 'dropKeyspace':
        return ddl.dropKeyspace(ctx, statement);
      case 'createTable':
        return ddl.createTable(ctx, ksOf(statement.table), statement);
      case 'alterTable':
        return ddl.alterTable(ctx, ksOf(statement.table), statement);
      case 'dropTable':
        return ddl.dropTable(ctx, ksOf(statement.table), statement);
      case 'truncate': {
        const table = ddl.requireTable(this.options.schema.current, ksOf(statement.table), statement.table.name);
        await this.options.proxy.truncate(table);
        return { kind: 'void' };
      }
      case 'use': {
        if (this.options.schema.current.keyspace(statement.keyspace) === undefined) {
          throw new InvalidRequest(`Keyspace '${statement.keyspace}' does not exist`);
        }
        return { kind: 'set_keyspace', keyspace: statement.keyspace };
      }
      default:
        throw new InvalidRequest(`Unsupported statement ${statement.kind}`);
    }
  }
}
