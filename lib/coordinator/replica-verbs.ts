/**
 * The replica side of coordination: what a node does when a coordinator sends it a
 * MUTATION, READ, RANGE_READ or TRUNCATE. A coordinator that is itself a replica calls
 * the same ReplicaService methods directly instead of sending itself a message, so the
 * local and remote replicas answer alike.
 */
import { InvalidRequest } from '../errors.js';
import type { Partition, PartitionUpdate } from '../model/partition.js';
import type { Transport } from '../net/transport.js';
import type { StorageEngine, TableStore } from '../storage/engine.js';
import { decodeMutation } from '../storage/mutation-codec.js';
import { partitionDigest } from './read-reconcile.js';
import {
  decodeRangeReadCommand,
  decodeReadCommand,
  decodeTruncateCommand,
  encodeRangeReadResponse,
  encodeReadResponse,
  type RangeReadCommand,
  type ReadCommand,
  type ReadResponse,
} from './replica-codec.js';

/** Partitions one RANGE_READ answer may hold, whatever the coordinator asks for. */
export const RANGE_READ_PARTITIONS_MAX = 10_000;

const EMPTY = new Uint8Array(0);

export class ReplicaService {
  constructor(private readonly storage: StorageEngine) {}

  async applyMutation(updates: readonly PartitionUpdate[]): Promise<void> {
    await this.storage.apply(updates);
  }

  async read(command: ReadCommand): Promise<ReadResponse> {
    const partition = await this.store(command.tableId).read(command.key, command.token, command.filter);
    return command.digestOnly ? { partition: null, digest: partitionDigest(partition) } : { partition, digest: null };
  }

  /** Up to `partitionLimit` partitions of the range in (token, key) order. */
  async rangeRead(command: RangeReadCommand): Promise<Partition[]> {
    const limit = Math.min(command.partitionLimit, RANGE_READ_PARTITIONS_MAX);
    const partitions: Partition[] = [];
    if (limit <= 0) return partitions;
    // Leaving the loop early ends the store's scan (its iterator is returned).
    for await (const partition of this.store(command.tableId).scan(command.range, command.filter)) {
      partitions.push(partition);
      if (partitions.length >= limit) break;
    }
    return partitions;
  }

  async truncate(tableId: string): Promise<void> {
    this.store(tableId);
    await this.storage.truncate(tableId);
  }

  /** Registers the handlers of the replica verbs on `transport`. */
  register(transport: Transport): void {
    transport.onMessage('MUTATION', async (_from, payload) => {
      await this.applyMutation(decodeMutation(payload));
      return EMPTY;
    });
    transport.onMessage('READ', async (_from, payload) => {
      const command = decodeReadCommand(payload);
      return encodeReadResponse(command.tableId, await this.read(command));
    });
    transport.onMessage('RANGE_READ', async (_from, payload) => {
      const command = decodeRangeReadCommand(payload);
      return encodeRangeReadResponse(command.tableId, await this.rangeRead(command));
    });
    transport.onMessage('TRUNCATE', async (_from, payload) => {
      await this.truncate(decodeTruncateCommand(payload));
      return EMPTY;
    });
  }

  private store(tableId: string): TableStore {
    const store = this.storage.table(tableId);
    // The coordinator knew the table; this replica does not (yet): a schema disagreement.
    if (store === undefined) throw new InvalidRequest(`Unknown table id ${tableId}`);
    return store;
  }
}
