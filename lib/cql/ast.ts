/**
 * The abstract syntax tree the parser produces and the executor consumes.
 * Identifiers are already normalised: unquoted names lower-cased, "quoted" names kept
 * exactly. Nothing here is resolved against the schema yet.
 */
import type { Literal, TypeSpec } from '../schema/type.js';

export interface QualifiedName {
  /** Null when the statement did not name a keyspace (the session's one applies). */
  keyspace: string | null;
  name: string;
}

/** A value expression in a statement. Collection literals are always Term
 *  collections (list/set/map/tuple with Term leaves), except `{}`, which is the
 *  literal `emptyBraces`: only the receiving column can tell an empty set from an
 *  empty map. */
export type Term =
  | { kind: 'literal'; value: Literal }
  /** `?` (index = its position among all markers, from 0) or `:name`. */
  | { kind: 'bind'; index: number; name: string | null }
  | { kind: 'function'; name: string; args: Term[] }
  | { kind: 'list'; items: Term[] }
  | { kind: 'set'; items: Term[] }
  | { kind: 'map'; entries: [Term, Term][] }
  | { kind: 'tuple'; items: Term[] }
  /** `(type) term`: a type hint, e.g. `(bigint) ?`. */
  | { kind: 'cast'; type: TypeSpec; term: Term }
  /** `-term` applied to a bind marker or function; numeric literals carry their sign. */
  | { kind: 'negate'; term: Term };

/** Property values in WITH clauses and keyspace replication maps. */
export type PropertyValue = string | number | boolean | { [key: string]: string | number | boolean };

export interface Properties {
  /** Keys lower-cased; repeated keys are a syntax error. */
  [key: string]: PropertyValue;
}

export type CompareOp = '=' | '<' | '<=' | '>' | '>=' | '!=';

export type Relation =
  | { kind: 'compare'; column: string; op: CompareOp; value: Term }
  /** `c IN (a, b)` (values) or `c IN ?` (one marker bound to a list). */
  | { kind: 'in'; column: string; values: Term[] | Term }
  /** `(c1, c2) > (1, 2)`; value is a tuple term or a marker. */
  | { kind: 'tupleCompare'; columns: string[]; op: Exclude<CompareOp, '!='>; value: Term }
  /** `(c1, c2) IN ((1, 2), (3, 4))` or `(c1, c2) IN ?`. */
  | { kind: 'tupleIn'; columns: string[]; values: Term[] | Term }
  /** `token(k1, k2) > term`; the columns as written. */
  | { kind: 'token'; columns: string[]; op: Exclude<CompareOp, '!='>; value: Term }
  /** `c CONTAINS v` / `c CONTAINS KEY v` */
  | { kind: 'contains'; column: string; key: boolean; value: Term }
  /** `c[key] = v` in a WHERE (map element, with ALLOW FILTERING). */
  | { kind: 'elementCompare'; column: string; element: Term; op: CompareOp; value: Term };

/** A condition in IF … of UPDATE/DELETE (lightweight transactions, later issue). */
export interface Condition {
  column: string;
  element: Term | null;
  op: CompareOp | 'IN';
  value: Term | Term[];
}

export interface Using {
  ttl: Term | null;
  timestamp: Term | null;
}

export type Assignment =
  /** c = term */
  | { kind: 'set'; column: string; value: Term }
  /** c[element] = term */
  | { kind: 'setElement'; column: string; element: Term; value: Term }
  /** c = c + term, c += term (collections: append/add/put; counters: increment) */
  | { kind: 'add'; column: string; value: Term }
  /** c = term + c (list prepend) */
  | { kind: 'prepend'; column: string; value: Term }
  /** c = c - term, c -= term (collections: remove; counters: decrement) */
  | { kind: 'subtract'; column: string; value: Term };

export type Selector =
  | { kind: 'column'; name: string }
  | { kind: 'writetime'; column: string }
  | { kind: 'ttl'; column: string }
  /** COUNT(*) or COUNT(1) */
  | { kind: 'countRows' }
  | { kind: 'function'; name: string; args: Selector[] }
  | { kind: 'term'; term: Term }
  | { kind: 'cast'; selector: Selector; type: TypeSpec };

export interface SelectItem {
  selector: Selector;
  alias: string | null;
}

export interface ColumnDefinition {
  name: string;
  type: TypeSpec;
  isStatic: boolean;
}

export interface CreateKeyspace {
  kind: 'createKeyspace';
  name: string;
  ifNotExists: boolean;
  properties: Properties;
}

export interface AlterKeyspace {
  kind: 'alterKeyspace';
  name: string;
  properties: Properties;
}

export interface DropKeyspace {
  kind: 'dropKeyspace';
  name: string;
  ifExists: boolean;
}

export interface CreateTable {
  kind: 'createTable';
  table: QualifiedName;
  ifNotExists: boolean;
  columns: ColumnDefinition[];
  /** Partition key columns in order (from `PRIMARY KEY ((a, b), c)` or an inline
   *  `a int PRIMARY KEY`). */
  partitionKey: string[];
  clusteringKey: string[];
  /** WITH CLUSTERING ORDER BY (c DESC, …) — as written. */
  clusteringOrder: { column: string; order: 'ASC' | 'DESC' }[];
  properties: Properties;
  compactStorage: boolean;
}

export type AlterTableAction =
  | { kind: 'add'; columns: ColumnDefinition[] }
  | { kind: 'drop'; columns: string[] }
  | { kind: 'with'; properties: Properties }
  | { kind: 'rename'; renames: [string, string][] }
  | { kind: 'alterType'; column: string; type: TypeSpec };

export interface AlterTable {
  kind: 'alterTable';
  table: QualifiedName;
  action: AlterTableAction;
}

export interface DropTable {
  kind: 'dropTable';
  table: QualifiedName;
  ifExists: boolean;
}

export interface Truncate {
  kind: 'truncate';
  table: QualifiedName;
}

export interface Use {
  kind: 'use';
  keyspace: string;
}

export interface Insert {
  kind: 'insert';
  table: QualifiedName;
  columns: string[];
  values: Term[];
  /** INSERT … JSON '…' (then columns/values are empty). */
  json: Term | null;
  /** INSERT … JSON … DEFAULT UNSET leaves columns missing from the JSON untouched;
   *  the default (and DEFAULT NULL) writes null to them. Absent for non-JSON inserts. */
  jsonDefault?: 'NULL' | 'UNSET';
  ifNotExists: boolean;
  using: Using;
}

export interface Update {
  kind: 'update';
  table: QualifiedName;
  using: Using;
  assignments: Assignment[];
  where: Relation[];
  ifExists: boolean;
  conditions: Condition[];
}

export interface DeleteTarget {
  column: string;
  /** `DELETE m['k'] FROM …` / `DELETE l[0] FROM …` */
  element: Term | null;
}

export interface Delete {
  kind: 'delete';
  table: QualifiedName;
  /** Empty: delete whole rows (or partitions / ranges, by the WHERE clause). */
  targets: DeleteTarget[];
  using: Using;
  where: Relation[];
  ifExists: boolean;
  conditions: Condition[];
}

export type ModificationStatement = Insert | Update | Delete;

export interface Batch {
  kind: 'batch';
  type: 'LOGGED' | 'UNLOGGED' | 'COUNTER';
  using: Using;
  statements: ModificationStatement[];
}

export interface Select {
  kind: 'select';
  table: QualifiedName;
  distinct: boolean;
  json: boolean;
  /** Null means `*`. */
  selection: SelectItem[] | null;
  where: Relation[];
  groupBy: string[];
  orderBy: { column: string; order: 'ASC' | 'DESC' }[];
  perPartitionLimit: Term | null;
  limit: Term | null;
  allowFiltering: boolean;
}

export type Statement =
  | CreateKeyspace
  | AlterKeyspace
  | DropKeyspace
  | CreateTable
  | AlterTable
  | DropTable
  | Truncate
  | Use
  | Insert
  | Update
  | Delete
  | Batch
  | Select;

/** A parsed statement plus what binding needs: the bind markers in order. */
export interface ParsedStatement {
  statement: Statement;
  /** One entry per marker, in order of appearance; name null for `?`. */
  markers: { name: string | null }[];
}
