/**
 * What a client asks of the CQL layer and what it gets back, independent of HTTP.
 * lib/api maps the v1 JSON contract (DESIGN.md) onto these one-to-one.
 */

import type { ConsistencyName } from '../coordinator/consistency.js';

export type { ConsistencyName };
export { CONSISTENCY_LEVELS } from '../coordinator/consistency.js';

export interface CqlRequest {
  query: string;
  /** Positional (array) or named (object) values for bind markers, in JSON form. */
  params?: unknown[] | Record<string, unknown>;
  /** The keyspace unqualified names refer to (like a driver's session keyspace). */
  keyspace?: string;
  consistency?: ConsistencyName;
  serialConsistency?: 'SERIAL' | 'LOCAL_SERIAL';
  pageSize?: number;
  pagingState?: string;
  /** Default write timestamp (µs) for statements without USING TIMESTAMP. */
  timestamp?: number;
}

export interface ColumnSpec {
  name: string;
  /** CQL type name, e.g. 'int', 'map<text, int>'. */
  type: string;
}

export type CqlResult =
  | { kind: 'void'; warnings?: string[] }
  | {
      kind: 'rows';
      columns: ColumnSpec[];
      /** Values already in their JSON forms. */
      rows: Record<string, unknown>[];
      /** Opaque token to fetch the next page; null when there is none. */
      pagingState: string | null;
      warnings?: string[];
    }
  | {
      kind: 'schema_change';
      change: 'CREATED' | 'UPDATED' | 'DROPPED';
      target: 'KEYSPACE' | 'TABLE';
      keyspace: string;
      table?: string;
      warnings?: string[];
    }
  | { kind: 'set_keyspace'; keyspace: string; warnings?: string[] };

/** The CQL layer as the HTTP API sees it. */
export interface CqlService {
  execute(request: CqlRequest): Promise<CqlResult>;
}
