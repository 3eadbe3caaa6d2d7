/**
 * SELECT: planning once per prepared statement (restrictions, selection, order,
 * limits), then executing page by page with bounded memory. Wide partitions are
 * read in chunks of live rows; a page ends after `pageSize` rows and returns an
 * opaque paging state naming the last row, from which the next page resumes.
 */
import { InvalidRequest } from '../errors.js';
import { ALL_ROWS, type Slice } from '../model/clustering.js';
import type { Partition } from '../model/partition.js';
import { compareKeys, murmur3Token } from '../model/token.js';
import type { ConsistencyName } from '../coordinator/consistency.js';
import type { StorageProxy } from '../coordinator/proxy.js';
import type { KeyspaceMetadata, TableMetadata } from '../schema/metadata.js';
import { parseTypeName } from '../schema/types.js';
import type { KeyRange, PartitionPosition, ReadFilter } from '../storage/engine.js';
import type { Select } from './ast.js';
import type { ExecContext } from './bindings.js';
import type { ColumnSpec, CqlResult } from './request.js';
import { compileWhere, FILTERING_MESSAGE, type CompiledWhere } from './restrictions.js';
import { isRowLive, partitionKeyParts, type RowView } from './rows.js';
import { compileSelection, type Selection } from './selection.js';
import { serializePartitionKey } from './modification.js';
import { slicesAfter } from '../model/slices.js';
import { compileTerm, type Evaluator } from './terms.js';

const INT = parseTypeName('int');
/** Live rows fetched per storage read inside one partition. */
const ROW_CHUNK = 1000;
/** Page size when the request names none (what drivers default to). */
export const DEFAULT_PAGE_SIZE = 5000;

export interface SelectOptions {
  consistency: ConsistencyName;
  pageSize: number;
  pagingState: string | null;
}

/** Where a page ended: the last row returned and what was left of the limits. */
interface PagingState {
  key: Buffer;
  /** Clustering of the last row; null when the whole partition was consumed. */
  clustering: Buffer[] | null;
  remaining: number;
  partitionRemaining: number;
}

function encodePagingState(state: PagingState): string {
  const json = JSON.stringify({
    k: state.key.toString('base64'),
    c: state.clustering === null ? null : state.clustering.map((b) => b.toString('base64')),
    r: Number.isFinite(state.remaining) ? state.remaining : -1,
    p: Number.isFinite(state.partitionRemaining) ? state.partitionRemaining : -1,
  });
  return Buffer.from(json).toString('base64url');
}

function decodePagingState(text: string): PagingState {
  try {
    const raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { k: string; c: string[] | null; r: number; p: number };
    if (typeof raw.k !== 'string' || !(raw.c === null || Array.isArray(raw.c)) || typeof raw.r !== 'number' || typeof raw.p !== 'number') {
      throw new Error('bad shape');
    }
    return {
      key: Buffer.from(raw.k, 'base64'),
      clustering: raw.c === null ? null : raw.c.map((c) => Buffer.from(c, 'base64')),
      remaining: raw.r < 0 ? Infinity : raw.r,
      partitionRemaining: raw.p < 0 ? Infinity : raw.p,
    };
  } catch {
    throw new InvalidRequest('Invalid value for the paging state');
  }
}

/** A paging state must fit the table: a client may send anything back. */
function checkPagingState(table: TableMetadata, state: PagingState): PagingState {
  const integral = (n: number) => n === Infinity || (Number.isInteger(n) && n >= 0);
  let ok = integral(state.remaining) && integral(state.partitionRemaining) && state.key.length > 0;
  if (ok && state.clustering !== null) {
    ok = state.clustering.length === table.clusteringKey.length;
    for (let i = 0; ok && i < state.clustering.length; i++) {
      try {
        table.clusteringKey[i].type.deserialize(state.clustering[i]);
      } catch {
        ok = false;
      }
    }
  }
  if (ok && table.partitionKey.length > 1) {
    try {
      partitionKeyParts(table, state.key);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new InvalidRequest('Invalid value for the paging state');
  return state;
}

export interface PreparedSelect {
  readonly keyspace: KeyspaceMetadata;
  readonly table: TableMetadata;
  execute(ctx: ExecContext, options: SelectOptions, proxy: StorageProxy): Promise<CqlResult>;
}

function positiveLimit(term: Evaluator, what: string): (ctx: ExecContext) => number {
  return (ctx) => {
    const v = term(ctx) as number | null;
    if (v === null) return Infinity;
    if (v <= 0) throw new InvalidRequest(`${what} must be strictly positive`);
    return v;
  };
}

export function prepareSelect(keyspace: KeyspaceMetadata, table: TableMetadata, stmt: Select): PreparedSelect {
  const where = compileWhere(table, stmt.where);
  const selection = compileSelection(table, stmt.selection);

  const rangeQuery = where.partitionKeys === null;
  if (!stmt.allowFiltering) {
    if (where.filteringReason !== null) throw new InvalidRequest(where.filteringReason);
    if (rangeQuery && where.clusteringColumnsRestricted > 0) throw new InvalidRequest(FILTERING_MESSAGE);
  }
  if (stmt.groupBy.length > 0) throw new InvalidRequest('GROUP BY is not supported yet');
  if (stmt.json) throw new InvalidRequest('SELECT JSON is not supported yet');

  if (stmt.distinct) validateDistinct(table, selection, stmt, where);
  const reversed = orderIsReversed(table, stmt, where);
  const limit = stmt.limit === null ? () => Infinity : positiveLimit(compileTerm(stmt.limit, { name: '[limit]', type: INT }), 'LIMIT');
  if (stmt.perPartitionLimit !== null && stmt.distinct) {
    throw new InvalidRequest('PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries');
  }
  const perPartitionLimit =
    stmt.perPartitionLimit === null
      ? () => Infinity
      : positiveLimit(compileTerm(stmt.perPartitionLimit, { name: '[per_partition_limit]', type: INT }), 'PER PARTITION LIMIT');
  const columns: ColumnSpec[] = selection.selectors.map((s) => ({ name: s.name, type: s.type.name }));
  const plan: Plan = {
    keyspace,
    table,
    where,
    selection,
    reversed,
    distinct: stmt.distinct,
    // With IN and ORDER BY, rows of several partitions interleave: sort them in memory.
    sortAcrossPartitions: stmt.orderBy.length > 0 && where.partitionKeyIn,
    columns,
  };
  return {
    keyspace,
    table,
    execute: (ctx, options, proxy) => executeSelect(plan, ctx, options, proxy, limit(ctx), perPartitionLimit(ctx)),
  };
}

interface Plan {
  keyspace: KeyspaceMetadata;
  table: TableMetadata;
  where: CompiledWhere;
  selection: Selection;
  reversed: boolean;
  distinct: boolean;
  sortAcrossPartitions: boolean;
  columns: ColumnSpec[];
}

function validateDistinct(table: TableMetadata, selection: Selection, stmt: Select, where: CompiledWhere): void {
  const restrictsRows =
    where.clusteringColumnsRestricted > 0 || where.nonKeyColumns.some((name) => table.columns.get(name)?.kind !== 'static');
  if (restrictsRows) {
    throw new InvalidRequest('SELECT DISTINCT with WHERE clause only supports restriction by partition key and/or static columns.');
  }
  if (stmt.selection === null) throw new InvalidRequest('SELECT DISTINCT queries must only request partition key columns and/or static columns (not *)');
  for (const col of selection.columns) {
    if (col.kind !== 'partition_key' && col.kind !== 'static') {
      throw new InvalidRequest(`SELECT DISTINCT queries must only request partition key columns and/or static columns (not ${col.name})`);
    }
  }
  const selected = new Set(selection.columns.map((c) => c.name));
  const missing = table.partitionKey.filter((c) => !selected.has(c.name));
  if (missing.length > 0 && selection.countIndexes.size === 0) {
    throw new InvalidRequest(`SELECT DISTINCT queries must request all the partition key columns (missing ${missing.map((c) => c.name).join(', ')})`);
  }
}

/** Validates ORDER BY and says whether rows are read in reverse table order. */
function orderIsReversed(table: TableMetadata, stmt: Select, where: CompiledWhere): boolean {
  if (stmt.orderBy.length === 0) return false;
  if (where.partitionKeys === null) throw new InvalidRequest('ORDER BY is only supported when the partition key is restricted by an EQ or an IN.');
  let reversed: boolean | null = null;
  stmt.orderBy.forEach((o, i) => {
    const col = table.columns.get(o.column);
    if (col === undefined) throw new InvalidRequest(`Order by on unknown column ${o.column}`);
    if (col.kind !== 'clustering') {
      throw new InvalidRequest(`Order by is currently only supported on the clustered columns of the PRIMARY KEY, got ${o.column}`);
    }
    if (col.position !== i) {
      throw new InvalidRequest('Order by currently only supports the ordering of columns following their declared order in the PRIMARY KEY');
    }
    const r = o.order !== col.order;
    if (reversed !== null && r !== reversed) throw new InvalidRequest('Unsupported order by relation');
    reversed = r;
  });
  return reversed ?? false;
}

async function executeSelect(
  plan: Plan,
  ctx: ExecContext,
  options: SelectOptions,
  proxy: StorageProxy,
  limit: number,
  perPartitionLimit: number,
): Promise<CqlResult> {
  const resume = options.pagingState === null ? null : checkPagingState(plan.table, decodePagingState(options.pagingState));
  const count = plan.selection.countIndexes.size > 0;
  if (resume === null && !count && !plan.distinct && !plan.where.partitionKeyIn && plan.where.filters.length === 0 && plan.where.partitionKeys !== null) {
    return readOnePartition(plan, ctx, options, proxy, limit, perPartitionLimit);
  }
  // An aggregate counts every row (LIMIT and PER PARTITION LIMIT limit output rows,
  // and it has one). An in-memory sort across partitions reads each partition's first
  // `limit` rows (they come in the requested order), sorts, then applies LIMIT.
  const pageSize = count ? Infinity : options.pageSize;
  let remaining = count || plan.sortAcrossPartitions ? Infinity : (resume?.remaining ?? limit);
  const partitionLimit = count ? Infinity : plan.sortAcrossPartitions ? Math.min(perPartitionLimit, limit) : perPartitionLimit;
  const rows = readRows(plan, ctx, options.consistency, proxy, resume, partitionLimit);
  const out: RowView[] = [];
  let pagingState: string | null = null;
  let last: { view: RowView; partitionRemaining: number } | null = null;
  let counted = 0;
  let firstView: RowView | null = null;
  try {
    while (remaining > 0) {
      if (out.length >= pageSize && !plan.sortAcrossPartitions) {
        // Page full: only hand out a paging state if another row really follows.
        const peek = await rows.next();
        if (!peek.done && last !== null) {
          pagingState = encodePagingState({
            key: last.view.partition.key,
            clustering: last.view.row === null || plan.table.clusteringKey.length === 0 || plan.distinct ? null : last.view.row.clustering,
            remaining,
            partitionRemaining: last.partitionRemaining,
          });
        }
        break;
      }
      const next = await rows.next();
      if (next.done) break;
      remaining--;
      if (count) {
        counted++;
        firstView ??= next.value.view;
        continue;
      }
      out.push(next.value.view);
      last = next.value;
    }
  } finally {
    await rows.return(undefined);
  }

  if (count) {
    const row: Record<string, unknown> = {};
    plan.selection.selectors.forEach((s, i) => {
      const value = plan.selection.countIndexes.has(i) ? BigInt(counted) : firstView === null ? null : s.evaluate(firstView, ctx);
      row[s.name] = value === null ? null : s.type.toJson(value);
    });
    return { kind: 'rows', columns: plan.columns, rows: [row], pagingState: null };
  }

  let views = out;
  if (plan.sortAcrossPartitions) {
    const cmp = plan.table.comparator;
    const sign = plan.reversed ? -1 : 1;
    views = [...views].sort((a, b) => sign * cmp.compare(a.row?.clustering ?? [], b.row?.clustering ?? [])).slice(0, limit);
    if (views.length > options.pageSize) {
      throw new InvalidRequest(
        'Cannot page queries with both ORDER BY and a IN restriction on the partition key; you must either remove the ORDER BY or the IN and sort client side, or disable paging for this query',
      );
    }
  }

  return { kind: 'rows', columns: plan.columns, rows: resultRows(plan, views, ctx), pagingState };
}

/** Turns row views into result rows (JSON values by selector name). */
function resultRows(plan: Plan, views: readonly RowView[], ctx: ExecContext): Record<string, unknown>[] {
  const selectors = plan.selection.selectors;
  return views.map((view) => {
    const row: Record<string, unknown> = {};
    for (const s of selectors) {
      const value = s.evaluate(view, ctx);
      row[s.name] = value === null ? null : s.type.toJson(value);
    }
    return row;
  });
}

/**
 * The common case, without the general paging machinery: the first page of one
 * partition (WHERE on the whole partition key with =), no filtering, no aggregate.
 * One storage read of at most page + 1 live rows tells whether another page follows.
 */
async function readOnePartition(
  plan: Plan,
  ctx: ExecContext,
  options: SelectOptions,
  proxy: StorageProxy,
  limit: number,
  perPartitionLimit: number,
): Promise<CqlResult> {
  const { table, where } = plan;
  const [parts] = where.partitionKeys!(ctx);
  const key = serializePartitionKey(table, parts);
  const token = murmur3Token(key);
  const wanted = Math.min(limit, perPartitionLimit);
  const slices: Slice[] = where.slices === null ? [ALL_ROWS] : where.slices(ctx);
  const rowLimit = Math.min(wanted, options.pageSize + 1);
  const filter: ReadFilter = { slices, reversed: plan.reversed, rowLimit, nowSeconds: ctx.nowSeconds };
  const partition = slices.length === 0 ? null : await proxy.read(plan.keyspace, table, key, token, filter, options.consistency);
  if (partition === null) return { kind: 'rows', columns: plan.columns, rows: [], pagingState: null };
  const keyParts = partitionKeyParts(table, key);
  const views: RowView[] = [];
  for (const row of partition.rows) {
    if (isRowLive(table, row, ctx.nowSeconds)) views.push({ partition, keyParts, row, staticRow: partition.staticRow });
  }
  if (views.length === 0 && where.slices === null && partition.staticRow !== null && isRowLive(table, partition.staticRow, ctx.nowSeconds)) {
    views.push({ partition, keyParts, row: null, staticRow: partition.staticRow });
  }
  let pagingState: string | null = null;
  if (views.length > options.pageSize) {
    views.length = options.pageSize;
    const last = views[views.length - 1];
    pagingState = encodePagingState({
      key,
      clustering: last.row === null || table.clusteringKey.length === 0 ? null : last.row.clustering,
      remaining: limit - options.pageSize,
      partitionRemaining: perPartitionLimit - options.pageSize,
    });
  }
  return { kind: 'rows', columns: plan.columns, rows: resultRows(plan, views, ctx), pagingState };
}

/**
 * Every matching row in result order, after filters and PER PARTITION LIMIT, each
 * with what remains of its partition's limit (for the paging state).
 */
async function* readRows(
  plan: Plan,
  ctx: ExecContext,
  consistency: ConsistencyName,
  proxy: StorageProxy,
  resume: PagingState | null,
  perPartitionLimit: number,
): AsyncGenerator<{ view: RowView; partitionRemaining: number }> {
  const { table, where } = plan;
  const baseSlices: Slice[] = where.slices === null ? [ALL_ROWS] : where.slices(ctx);
  const filters = where.filters;
  const partitionRows = async function* (
    key: Buffer,
    token: bigint,
    first: Partition | null,
    resumeAfter: Buffer[] | null,
    limitLeft: number,
  ): AsyncGenerator<{ view: RowView; partitionRemaining: number }> {
    let left = limitLeft;
    if (left <= 0) return;
    let slices = resumeAfter === null ? baseSlices : slicesAfter(table.comparator, baseSlices, resumeAfter, plan.reversed);
    let partition = first;
    let staticRow = first?.staticRow ?? null;
    let keyParts: Buffer[] | null = null;
    let yieldedAny = resumeAfter !== null;
    const chunk = plan.distinct ? 1 : filters.length > 0 ? ROW_CHUNK : Math.min(ROW_CHUNK, left);
    for (;;) {
      if (slices.length === 0) break;
      if (partition === null) {
        const filter: ReadFilter = { slices, reversed: plan.reversed, rowLimit: chunk, nowSeconds: ctx.nowSeconds };
        partition = await proxy.read(plan.keyspace, table, key, token, filter, consistency);
        if (partition === null) break;
        staticRow ??= partition.staticRow;
      }
      keyParts ??= partitionKeyParts(table, key);
      let live = 0;
      let lastClustering: Buffer[] | null = null;
      for (const row of partition.rows) {
        if (!isRowLive(table, row, ctx.nowSeconds)) continue;
        live++;
        lastClustering = row.clustering;
        if (plan.distinct) break;
        const view: RowView = { partition, keyParts, row, staticRow };
        if (!filters.every((f) => f(view, ctx))) continue;
        yieldedAny = true;
        left--;
        yield { view, partitionRemaining: left };
        if (left <= 0) return;
      }
      if (plan.distinct || live < chunk || lastClustering === null) {
        // Distinct wants one row per partition; a short chunk means the partition is done.
        if (plan.distinct && !yieldedAny) {
          const hasStatic = staticRow !== null && isRowLive(table, staticRow, ctx.nowSeconds);
          if (live > 0 || hasStatic) {
            const view: RowView = { partition, keyParts, row: null, staticRow };
            if (filters.every((f) => f(view, ctx))) yield { view, partitionRemaining: 0 };
          }
          return;
        }
        break;
      }
      slices = slicesAfter(table.comparator, slices, lastClustering, plan.reversed);
      partition = null;
    }
    // A partition with only static data shows as one row when clustering is unrestricted.
    if (!yieldedAny && where.slices === null && staticRow !== null && isRowLive(table, staticRow, ctx.nowSeconds)) {
      const p = partition ?? first;
      if (p === null) return;
      const view: RowView = { partition: p, keyParts: keyParts ?? partitionKeyParts(table, key), row: null, staticRow };
      if (filters.every((f) => f(view, ctx))) yield { view, partitionRemaining: left - 1 };
    }
  };

  if (where.partitionKeys !== null) {
    const keys = where.partitionKeys(ctx).map((parts) => {
      const key = serializePartitionKey(table, parts);
      return { key, token: murmur3Token(key) };
    });
    keys.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
    let skipping = resume !== null;
    const resumeToken = resume === null ? 0n : murmur3Token(resume.key);
    for (let i = 0; i < keys.length; i++) {
      const { key, token } = keys[i];
      if (i > 0 && keys[i - 1].key.equals(key)) continue;
      if (skipping) {
        const c = compareKeys(token, key, resumeToken, resume!.key);
        if (c < 0) continue;
        skipping = false;
        if (c === 0) {
          if (resume!.clustering !== null) yield* partitionRows(key, token, null, resume!.clustering, resume!.partitionRemaining);
          continue;
        }
      }
      yield* partitionRows(key, token, null, null, perPartitionLimit);
    }
    return;
  }

  let range = tokenRange(where, ctx);
  if (range === null) return;
  if (resume !== null) {
    const token = murmur3Token(resume.key);
    if (resume.clustering !== null) yield* partitionRows(resume.key, token, null, resume.clustering, resume.partitionRemaining);
    range = { ...range, start: { token, key: resume.key }, startInclusive: false };
  }
  const chunk = plan.distinct ? 1 : filters.length > 0 ? ROW_CHUNK : Math.min(ROW_CHUNK, perPartitionLimit);
  const filter: ReadFilter = { slices: baseSlices, reversed: plan.reversed, rowLimit: chunk, nowSeconds: ctx.nowSeconds };
  for await (const partition of proxy.scan(plan.keyspace, table, range, filter, consistency)) {
    yield* partitionRows(partition.key, partition.token, partition, null, perPartitionLimit);
  }
}

/** The ring range of a query without partition keys (all of it unless token() restricts). */
function tokenRange(where: CompiledWhere, ctx: ExecContext): KeyRange | null {
  const start = where.tokenStart?.(ctx) ?? null;
  const end = where.tokenEnd?.(ctx) ?? null;
  if (start !== null && end !== null) {
    if (start.token > end.token || (start.token === end.token && !(start.inclusive && end.inclusive))) return null;
  }
  const position = (token: bigint): PartitionPosition => ({ token, key: null });
  return {
    start: start === null ? null : position(start.token),
    startInclusive: start?.inclusive ?? true,
    end: end === null ? null : position(end.token),
    endInclusive: end?.inclusive ?? true,
  };
}
