/**
 * StorageProxy: where the CQL layer sends reads and writes. On a single node it
 * checks the consistency level against the keyspace's replication and goes straight
 * to local storage; the cluster issue replaces it with a coordinator that talks to
 * replicas, behind the same interface.
 */
import { Unavailable } from '../errors.js';
import type { Partition, PartitionUpdate } from '../model/partition.js';
import type { KeyspaceMetadata, TableMetadata } from '../schema/metadata.js';
import type { KeyRange, ReadFilter, StorageEngine } from '../storage/engine.js';
import { blockFor, type ConsistencyName, validateForRead, validateForWrite } from './consistency.js';

export interface StorageProxy {
  /** Applies `updates` (all in `keyspace`) at `consistency`. */
  mutate(keyspace: KeyspaceMetadata, updates: readonly PartitionUpdate[], consistency: ConsistencyName): Promise<void>;
  read(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    key: Buffer,
    token: bigint,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): Promise<Partition | null>;
  scan(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    range: KeyRange,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): AsyncIterable<Partition>;
  truncate(table: TableMetadata): Promise<void>;
}

/** One node that holds every replica itself. */
export class LocalStorageProxy implements StorageProxy {
  constructor(
    private readonly storage: StorageEngine,
    private readonly localDc: string,
  ) {}

  /** A single node is one live replica: levels that need more are Unavailable. */
  private checkAvailable(keyspace: KeyspaceMetadata, consistency: ConsistencyName): void {
    const required = blockFor(consistency, keyspace.replication, this.localDc);
    if (required > 1) throw new Unavailable(consistency, required, 1);
  }

  async mutate(keyspace: KeyspaceMetadata, updates: readonly PartitionUpdate[], consistency: ConsistencyName): Promise<void> {
    validateForWrite(consistency);
    this.checkAvailable(keyspace, consistency);
    await this.storage.apply(updates);
  }

  async read(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    key: Buffer,
    token: bigint,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): Promise<Partition | null> {
    validateForRead(consistency);
    this.checkAvailable(keyspace, consistency);
    return this.store(table).read(key, token, filter);
  }

  scan(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    range: KeyRange,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): AsyncIterable<Partition> {
    validateForRead(consistency);
    this.checkAvailable(keyspace, consistency);
    return this.store(table).scan(range, filter);
  }

  async truncate(table: TableMetadata): Promise<void> {
    await this.storage.truncate(table.id);
  }

  private store(table: TableMetadata) {
    // Schema listeners open a store for every table; a missing one is a bug.
    return this.storage.table(table.id) ?? this.storage.openTable(table);
  }
}
