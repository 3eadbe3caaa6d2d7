/**
 * Keyspace and table metadata: the schema as the executor and storage see it.
 * Built and validated by lib/schema/schema.ts; immutable once built (a schema change
 * builds a new object), so readers never see a half-applied change.
 */
import type { ClusteringComparator } from '../model/clustering.js';
import type { CqlType } from './type.js';

export type ReplicationStrategy =
  | { class: 'SimpleStrategy'; replicationFactor: number }
  | { class: 'NetworkTopologyStrategy'; dataCenters: Record<string, number> };

export interface KeyspaceMetadata {
  readonly name: string;
  readonly replication: ReplicationStrategy;
  readonly durableWrites: boolean;
  readonly tables: ReadonlyMap<string, TableMetadata>;
  /** When (µs) the keyspace was created or last altered: nodes merging schemas keep the newer definition. */
  readonly timestamp: number;
}

export type ColumnKind = 'partition_key' | 'clustering' | 'regular' | 'static';

export interface ColumnMetadata {
  readonly name: string;
  readonly type: CqlType;
  readonly kind: ColumnKind;
  /** Position within the partition key or clustering key; -1 for others. */
  readonly position: number;
  /** Clustering order; ASC for every non-clustering column. */
  readonly order: 'ASC' | 'DESC';
}

export interface CompactionOptions {
  readonly class: 'SizeTieredCompactionStrategy' | 'LeveledCompactionStrategy' | 'TimeWindowCompactionStrategy';
  readonly options: Readonly<Record<string, string>>;
}

export interface CompressionOptions {
  /** 'LZ4Compressor' (default), 'DeflateCompressor', or '' for none. */
  readonly class: string;
  readonly chunkLengthKb: number;
  readonly enabled: boolean;
}

export interface TableOptions {
  readonly defaultTimeToLive: number;
  readonly gcGraceSeconds: number;
  readonly bloomFilterFpChance: number;
  readonly compaction: CompactionOptions;
  readonly compression: CompressionOptions;
  readonly comment: string;
  /** When a read asks one more replica than the level needs (speculative_retry). */
  readonly speculativeRetry: SpeculativeRetry;
}

/**
 * speculative_retry, as Cassandra reads it: never ('NONE'), at once ('ALWAYS'), after a
 * percentile of the table's recent replica read latencies ('99p', '99.9PERCENTILE'), or
 * after a fixed delay ('50ms').
 */
export type SpeculativeRetry =
  | { readonly kind: 'none' }
  | { readonly kind: 'always' }
  | { readonly kind: 'percentile'; readonly percentile: number }
  | { readonly kind: 'fixed'; readonly ms: number };

export interface TableMetadata {
  readonly keyspace: string;
  readonly name: string;
  /** Stable identity (a UUID string) that survives ALTER; storage is keyed by it. */
  readonly id: string;
  readonly partitionKey: readonly ColumnMetadata[];
  readonly clusteringKey: readonly ColumnMetadata[];
  /** Every column by name, key columns included. */
  readonly columns: ReadonlyMap<string, ColumnMetadata>;
  /** Regular and static columns, in declaration order. */
  readonly regularColumns: readonly ColumnMetadata[];
  readonly staticColumns: readonly ColumnMetadata[];
  /** Columns dropped by ALTER TABLE … DROP, with the drop time (µs): cells written at
   *  or before it are ignored if a column of that name is added again. */
  readonly droppedColumns: ReadonlyMap<string, number>;
  readonly options: TableOptions;
  /** When (µs) the table was created or last altered: nodes merging schemas keep the newer definition. */
  readonly timestamp: number;
  /** Built once per schema version, used by every read and write. */
  readonly comparator: ClusteringComparator;
}
