/**
 * Streaming: moving a table's partitions in token ranges between two nodes, for repair,
 * bootstrap, decommission and removenode. (API fixed by the lead; body: the streaming helper.)
 *
 * Both directions are driven by the node that calls: pull() asks the peer for chunks
 * (STREAM_PULL) and applies them here, push() scans here and sends chunks (STREAM_PUSH)
 * that the peer applies. One chunk in flight per stream is the flow control; a chunk is
 * a CRC32C-checked encoded Mutation of whole partitions of at most STREAM_CHUNK_BYTES
 * (a partition larger than that travels alone). Received chunks go through the normal
 * write path (StorageEngine.apply: commit log, memtable), so reconciliation with what
 * the receiver holds is the usual last-write-wins. Sending is throttled to
 * stream_throughput_outbound.
 */
import type { ClusterView } from '../cluster/cluster-view.js';
import type { Endpoint, TokenRange } from '../cluster/ring.js';
import type { Clock } from '../model/clock.js';
import type { NetLogger, Transport } from '../net/transport.js';
import type { StorageEngine } from '../storage/engine.js';

/** What one stream moved. */
export interface StreamStats {
  partitions: number;
  /** Encoded chunk bytes sent or received. */
  bytes: number;
}

/** Called after each chunk with what that chunk moved. */
export type StreamProgress = (chunk: StreamStats) => void;

export interface StreamServiceOptions {
  readonly transport: Transport;
  readonly storage: StorageEngine;
  /** Liveness: a stream to a peer the failure detector convicts fails at once, never hangs. */
  readonly view: ClusterView;
  readonly clock: Clock;
  /** stream_throughput_outbound, bytes per second over every outgoing stream; 0 = unthrottled. */
  readonly throughputBytesPerSecond: number;
  /** How long one chunk request may take (default 60 s). */
  readonly chunkTimeoutMs?: number;
  readonly logger?: NetLogger;
}

export class StreamService {
  constructor(readonly options: StreamServiceOptions) {}

  /** Registers STREAM_PULL, STREAM_PUSH and STREAM_FETCH. Call once. */
  register(): void {
    // Not built yet: the streaming helper registers the verbs here.
  }

  /**
   * Copies `peer`'s partitions of `tableId` in `ranges` (which may wrap) into local
   * storage. Rejects (with what was moved so far in the error's `stats`) when the peer
   * dies, times out or sends a damaged chunk.
   */
  pull(peer: Endpoint, tableId: string, ranges: readonly TokenRange[], onProgress?: StreamProgress): Promise<StreamStats> {
    void peer, tableId, ranges, onProgress;
    throw new Error('StreamService.pull: not built yet');
  }

  /** Sends local partitions of `tableId` in `ranges` to `peer`, which applies them. */
  push(peer: Endpoint, tableId: string, ranges: readonly TokenRange[], onProgress?: StreamProgress): Promise<StreamStats> {
    void peer, tableId, ranges, onProgress;
    throw new Error('StreamService.push: not built yet');
  }

  /**
   * Asks `target` to pull `ranges` of `tableId` from each of `sources` (STREAM_FETCH),
   * and resolves with what it moved once it is done (removenode: the nodes that gain a
   * dead node's ranges fetch them from the remaining replicas). `target` may be this node.
   */
  fetchInto(target: Endpoint, sources: readonly Endpoint[], tableId: string, ranges: readonly TokenRange[]): Promise<StreamStats> {
    void target, sources, tableId, ranges;
    throw new Error('StreamService.fetchInto: not built yet');
  }
}
