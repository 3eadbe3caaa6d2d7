/**
 * The cluster coordinator: a StorageProxy that sends each request to the replicas of
 * its token and answers at the requested consistency level, as Cassandra's
 * StorageProxy does.
 *
 * - Writes: every natural replica gets the mutation (the local one is applied directly,
 *   not over the network), and so does every pending replica — one that gains the
 *   token's range while a node joins or leaves (view.futureRing(), pending-ranges.ts).
 *   The write returns once the level's acks arrived — for LOCAL_* only local-dc
 *   replicas count, for EACH_QUORUM a quorum of each dc — plus, as in Cassandra, one
 *   more ack per pending replica that counts toward the level (none for ANY), so the
 *   acks still meet the level among the replicas the range will have once the movement
 *   completes. Too few live natural and pending replicas is Unavailable before anything
 *   is sent; too few acks within `writeTimeoutMs` is WriteTimeout. Replicas (natural or
 *   pending) that are down, fail or time out are reported to `onReplicaMissed`: hinted
 *   handoff plugs in there.
 * - Point reads: a data read from the closest live replica (this node first) and digest
 *   reads from as many others as the level needs; equal digests answer at once. On a
 *   mismatch every contacted replica sends full data, the answers are reconciled, and
 *   the stale replicas are repaired (blocking: the read answers once they acked).
 *   Speculative retry, per the table's speculative_retry ('99p', Cassandra's default):
 *   a data or digest request still unanswered after that percentile of the table's
 *   recent replica read latencies (or a fixed delay, or at once with ALWAYS; never with
 *   NONE) is sent once more to a spare live replica, and whichever answers first counts.
 * - Range reads walk the ring's token ranges in token order, paging through each range
 *   from as many of its live replicas as the level needs, merging their pages by
 *   partition key, and repairing (blocking) the replicas whose pages lacked a partition
 *   or held an older version of it.
 * - Truncate reaches every node of the ring and needs all of them up, as in Cassandra.
 *
 * Reads use natural replicas only: a pending replica may not have the range's data yet.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ReadTimeout, Unavailable, WriteTimeout, type WriteType } from '../errors.js';
import { isRowLive } from '../model/merge.js';
import type { Partition, PartitionUpdate } from '../model/partition.js';
import { compareKeys } from '../model/token.js';
import type { ClusterView } from '../cluster/cluster-view.js';
import { pendingReplicas } from '../cluster/pending-ranges.js';
import { replicaPlacement } from '../cluster/replication.js';
import type { Endpoint, TokenRing } from '../cluster/ring.js';
import { SILENT_NET_LOGGER, type NetLogger, type Transport, type Verb } from '../net/transport.js';
import type { KeyspaceMetadata, ReplicationStrategy, SpeculativeRetry, TableMetadata } from '../schema/metadata.js';
import type { KeyRange, PartitionPosition, ReadFilter, StorageEngine } from '../storage/engine.js';
import { LatencyHistogram } from '../storage/lsm/latency.js';
import { encodeMutation } from '../storage/mutation-codec.js';
import { blockFor, type ConsistencyName, validateForRead, validateForWrite } from './consistency.js';
import type { StorageProxy } from './proxy.js';
import { partitionDigest, reconcile } from './read-reconcile.js';
import {
  decodeRangeReadResponse,
  decodeReadResponse,
  encodeRangeReadCommand,
  encodeReadCommand,
  encodeTruncateCommand,
  type RangeReadCommand,
  type ReadCommand,
  type ReadResponse,
} from './replica-codec.js';
import { RANGE_READ_PARTITIONS_MAX, ReplicaService } from './replica-verbs.js';

/**
 * Called for each replica a write could not reach: down when the write started, or
 * failed / timed out. Hinted handoff plugs in here: store a hint of `updates` for the
 * endpoint (bounded, within max_hint_window) and return true. Under ANY a stored hint
 * counts as the write's ack, and ANY is then never Unavailable.
 */
export type ReplicaMissedHook = (endpoint: Endpoint, updates: readonly PartitionUpdate[]) => boolean | void;

export interface ClusterStorageProxyOptions {
  readonly view: ClusterView;
  readonly transport: Transport;
  readonly storage: StorageEngine;
  /** write_request_timeout: how long a write waits for its acks. */
  readonly writeTimeoutMs: number;
  /** read_request_timeout: how long each read round (data/digest, full data, repair) waits. */
  readonly readTimeoutMs: number;
  readonly logger?: NetLogger;
  readonly onReplicaMissed?: ReplicaMissedHook;
  /** Partitions asked of a replica per range-read page (default 1000). */
  readonly scanPagePartitionsMax?: number;
}

const SCAN_PAGE_PARTITIONS_DEFAULT = 1000;

/** Fewer samples than this say little about the quantile: the fallback delay applies. */
const SPECULATION_SAMPLES_MIN = 20;
/** A lower bound, so that a fast cluster's jitter does not double every read. */
const SPECULATION_DELAY_FLOOR_MS = 5;
/** Without enough samples, speculate after this fraction of read_request_timeout. */
const SPECULATION_FALLBACK_FRACTION = 0.25;
/** Samples per histogram window: old windows are dropped so the delay follows the cluster. */
const SPECULATION_WINDOW_SAMPLES = 10_000;

/**
 * How long a point read of one table waits for a replica before asking a spare one, by
 * the table's speculative_retry: never, at once, a fixed delay, or a percentile of the
 * table's recent replica read latencies over the last one or two windows of samples.
 */
class SpeculationDelay {
  private current = new LatencyHistogram();
  private previous: LatencyHistogram | null = null;
  /** Recomputed once per SPECULATION_SAMPLES_MIN samples, not on every read. */
  private cachedMs: number | null = null;
  private cachedPercentile = 0;
  private sinceComputed = 0;

  constructor(private readonly fallbackMs: number) {}

  record(ms: number): void {
    if (this.current.count >= SPECULATION_WINDOW_SAMPLES) {
      this.previous = this.current;
      this.current = new LatencyHistogram();
    }
    this.current.record(ms);
    if (++this.sinceComputed >= SPECULATION_SAMPLES_MIN) this.cachedMs = null;
  }

  /** The delay before speculating, or null for never. */
  delayMs(policy: SpeculativeRetry): number | null {
    switch (policy.kind) {
      case 'none':
        return null;
      case 'always':
        return 0;
      case 'fixed':
        return policy.ms;
      case 'percentile':
        break;
    }
    if (this.cachedMs === null || this.cachedPercentile !== policy.percentile) {
      const source = this.current.count >= SPECULATION_SAMPLES_MIN ? this.current : this.previous;
      this.cachedMs =
        source === null
          ? this.fallbackMs
          : Math.max(SPECULATION_DELAY_FLOOR_MS, source.percentile(policy.percentile / 100));
      this.cachedPercentile = policy.percentile;
      this.sinceComputed = 0;
    }
    return this.cachedMs;
  }
}

/** Partitions a range-read page merges before letting the event loop run. */
const MERGE_PARTITIONS_PER_TURN_MAX = 64;

const liveRowCount = (partition: Partition, nowSeconds: number): number =>
  partition.rows.reduce((count, row) => (isRowLive(row, nowSeconds) ? count + 1 : count), 0);

/**
 * Whether the merged `result` may lack rows that exist: it has fewer live rows than the
 * filter's limit, and some replica returned `readLimit` live rows, so it may hold more.
 */
function isShortRead(result: Partition | null, answers: readonly (Partition | null)[], filter: ReadFilter, readLimit: number): boolean {
  if (!Number.isFinite(filter.rowLimit)) return false;
  if (result !== null && liveRowCount(result, filter.nowSeconds) >= filter.rowLimit) return false;
  return answers.some((answer) => answer !== null && liveRowCount(answer, filter.nowSeconds) >= readLimit);
}

/**
 * Acks a request waits for, per data center; the key null means replicas of every dc
 * count together. One entry except for EACH_QUORUM, which needs a quorum in each dc.
 */
type Needs = ReadonlyMap<string | null, number>;

function needsOf(consistency: ConsistencyName, replication: ReplicationStrategy, localDc: string): Needs {
  switch (consistency) {
    case 'EACH_QUORUM':
      if (replication.class === 'NetworkTopologyStrategy') {
        const needs = new Map<string | null, number>();
        for (const [dc, factor] of Object.entries(replication.dataCenters)) {
          if (factor > 0) needs.set(dc, blockFor('LOCAL_QUORUM', replication, dc));
        }
        return needs;
      }
      break;
    case 'LOCAL_ONE':
    case 'LOCAL_QUORUM':
    case 'LOCAL_SERIAL':
      return new Map([[localDc, blockFor(consistency, replication, localDc)]]);
  }
  return new Map([[null, blockFor(consistency, replication, localDc)]]);
}

const totalOf = (needs: Needs): number => [...needs.values()].reduce((sum, n) => sum + n, 0);

/** The needs entry an endpoint's ack counts toward, or undefined when it counts toward none. */
function bucketOf(needs: Needs, endpoint: Endpoint): string | null | undefined {
  if (needs.has(null)) return null;
  return needs.has(endpoint.dc) ? endpoint.dc : undefined;
}

/** A write's needs raised by one for each pending replica that counts toward them (Cassandra's blockFor). */
function withPending(needs: Needs, pending: readonly Endpoint[]): Needs {
  const grown = new Map(needs);
  for (const endpoint of pending) {
    const bucket = bucketOf(needs, endpoint);
    if (bucket !== undefined) grown.set(bucket, grown.get(bucket)! + 1);
  }
  return grown;
}

interface Gathered<T> {
  /** Each task's value, undefined for those that failed or did not answer in time. */
  readonly values: readonly (T | undefined)[];
  readonly received: number;
  readonly complete: boolean;
}

/** Waits for every task, or until `timeoutMs` passed, whichever comes first. */
function gather<T>(tasks: readonly Promise<T>[], timeoutMs: number): Promise<Gathered<T>> {
  return new Promise((resolve) => {
    const values: (T | undefined)[] = new Array<T | undefined>(tasks.length).fill(undefined);
    let received = 0;
    let settled = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ values: [...values], received, complete: received === tasks.length });
    };
    const timer = setTimeout(finish, timeoutMs);
    if (tasks.length === 0) finish();
    tasks.forEach((task, index) => {
      task
        .then(
          (value) => {
            if (done) return;
            values[index] = value;
            received++;
          },
          // The replica call already logged why; a missing answer is all that matters here.
          () => {},
        )
        .finally(() => {
          if (++settled === tasks.length) finish();
        });
    });
  });
}

/** Part of the ring in token order: the range ending at ring token `index`, cut at the ring's ends. */
interface RingPiece {
  readonly index: number;
  readonly start: PartitionPosition | null;
  readonly end: PartitionPosition | null;
}

/**
 * The ring's ranges in token order. The wrapping range (t[last], t[0]] is cut in two,
 * [ring start, t[0]] first and (t[last], ring end] last, so pieces never wrap.
 */
function* ringPieces(ring: TokenRing): Generator<RingPiece> {
  const size = ring.size;
  yield { index: 0, start: null, end: { token: ring.tokenAt(0), key: null } };
  for (let i = 1; i < size; i++) {
    yield { index: i, start: { token: ring.tokenAt(i - 1), key: null }, end: { token: ring.tokenAt(i), key: null } };
  }
  yield { index: 0, start: { token: ring.tokenAt(size - 1), key: null }, end: null };
}

/**
 * Orders two bounds of the same kind (both starts or both ends); null is the ring's
 * start (for starts) or end (for ends). Within one token, a key-less start sits before
 * every key when inclusive and after them when exclusive; a key-less end the reverse.
 */
function compareBounds(
  a: PartitionPosition | null,
  aInclusive: boolean,
  b: PartitionPosition | null,
  bInclusive: boolean,
  isStart: boolean,
): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === isStart ? -1 : 1;
  }
  if (a.token !== b.token) return a.token < b.token ? -1 : 1;
  const tier = (position: PartitionPosition, inclusive: boolean) =>
    position.key !== null ? 0 : inclusive === isStart ? -1 : 1;
  const aTier = tier(a, aInclusive);
  const bTier = tier(b, bInclusive);
  if (aTier !== 0 || bTier !== 0) return aTier - bTier;
  const byKey = Buffer.compare(a.key!, b.key!);
  if (byKey !== 0) return byKey;
  // At one key, an exclusive start comes after an inclusive one; an exclusive end before.
  if (aInclusive === bInclusive) return 0;
  return aInclusive === isStart ? -1 : 1;
}

/** The part of `range` inside `piece`, or null when they cannot overlap. */
function intersect(range: KeyRange, piece: RingPiece): KeyRange | null {
  const pieceStartInclusive = piece.start === null;
  const startFromRange = compareBounds(range.start, range.startInclusive, piece.start, pieceStartInclusive, true) >= 0;
  const endFromRange = compareBounds(range.end, range.endInclusive, piece.end, true, false) <= 0;
  const start = startFromRange ? range.start : piece.start;
  const end = endFromRange ? range.end : piece.end;
  if (start !== null && end !== null && start.token > end.token) return null;
  return {
    start,
    startInclusive: startFromRange ? range.startInclusive : pieceStartInclusive,
    end,
    endInclusive: endFromRange ? range.endInclusive : true,
  };
}

export class ClusterStorageProxy implements StorageProxy {
  private readonly view: ClusterView;
  private readonly transport: Transport;
  private readonly storage: StorageEngine;
  private readonly replica: ReplicaService;
  private readonly writeTimeoutMs: number;
  private readonly readTimeoutMs: number;
  private readonly logger: NetLogger;
  private readonly onReplicaMissed: ReplicaMissedHook | undefined;
  private readonly scanPagePartitionsMax: number;
  /** Per table definition: an ALTER starts afresh, a dropped table's goes with it. */
  private readonly speculation = new WeakMap<TableMetadata, SpeculationDelay>();
  private readonly speculationFallbackMs: number;

  constructor(options: ClusterStorageProxyOptions) {
    this.view = options.view;
    this.transport = options.transport;
    this.storage = options.storage;
    this.replica = new ReplicaService(options.storage);
    this.writeTimeoutMs = options.writeTimeoutMs;
    this.readTimeoutMs = options.readTimeoutMs;
    this.logger = options.logger ?? SILENT_NET_LOGGER;
    this.onReplicaMissed = options.onReplicaMissed;
    this.speculationFallbackMs = Math.max(SPECULATION_DELAY_FLOOR_MS, options.readTimeoutMs * SPECULATION_FALLBACK_FRACTION);
    // A replica answers at most RANGE_READ_PARTITIONS_MAX; asking for more would make a
    // full page look like the range's last one.
    this.scanPagePartitionsMax = Math.max(
      1,
      Math.min(options.scanPagePartitionsMax ?? SCAN_PAGE_PARTITIONS_DEFAULT, RANGE_READ_PARTITIONS_MAX),
    );
  }

  // ------------------------------------------------------------------------ writes

  async mutate(keyspace: KeyspaceMetadata, updates: readonly PartitionUpdate[], consistency: ConsistencyName): Promise<void> {
    validateForWrite(consistency);
    if (updates.length === 0) return;
    const ring = this.view.ring();
    const future = this.view.futureRing();
    const placement = replicaPlacement(ring, keyspace.replication);
    const needs = consistency === 'ANY' ? new Map([[null, 1]]) : needsOf(consistency, keyspace.replication, this.view.local.dc);
    // Partitions with one token share their replicas, so they travel as one mutation.
    const byToken = new Map<bigint, PartitionUpdate[]>();
    for (const update of updates) {
      const group = byToken.get(update.partition.token);
      if (group === undefined) byToken.set(update.partition.token, [update]);
      else group.push(update);
    }
    const writeType: WriteType = byToken.size > 1 ? 'BATCH' : 'SIMPLE';
    const groups = [...byToken].map(([token, group]) => {
      const natural = placement.replicasFor(token);
      const pending = pendingReplicas(ring, future, keyspace.replication, token);
      if (pending.length === 0) return { replicas: natural, needs, updates: group };
      // ANY is met by any one write or hint, pending replicas or not (Cassandra's rule).
      const grown = consistency === 'ANY' ? needs : withPending(needs, pending);
      return { replicas: [...natural, ...pending], needs: grown, updates: group };
    });
    // Every group is checked before anything is sent: an Unavailable write wrote nothing.
    const hintsCountAsAcks = consistency === 'ANY' && this.onReplicaMissed !== undefined;
    if (!hintsCountAsAcks) for (const group of groups) this.checkAvailable(consistency, group.needs, group.replicas);
    await Promise.all(
      groups.map((group) => this.writeToReplicas(group.replicas, group.updates, group.needs, consistency, writeType)),
    );
  }

  /** Sends one mutation to its replicas; resolves once `needs` is met. */
  private writeToReplicas(
    replicas: readonly Endpoint[],
    updates: readonly PartitionUpdate[],
    needs: Needs,
    consistency: ConsistencyName,
    writeType: WriteType,
  ): Promise<void> {
    const required = totalOf(needs);
    const remaining = new Map(needs);
    let outstanding = required;
    let received = 0;
    let settled = false;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settled = true;
        reject(new WriteTimeout(consistency, received, required, writeType));
      }, this.writeTimeoutMs);
      const acked = (endpoint: Endpoint) => {
        if (settled) return;
        const bucket = bucketOf(remaining, endpoint);
        if (bucket === undefined) return;
        const left = remaining.get(bucket)!;
        if (left === 0) return;
        remaining.set(bucket, left - 1);
        received++;
        if (--outstanding === 0) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      };
      const missed = (endpoint: Endpoint) => {
        const hinted = this.onReplicaMissed?.(endpoint, updates) === true;
        if (hinted && consistency === 'ANY') acked(endpoint);
      };
      let payload: Uint8Array | undefined;
      for (const endpoint of replicas) {
        if (!this.view.isAlive(endpoint.id)) {
          missed(endpoint);
          continue;
        }
        let sent: Promise<unknown>;
        if (endpoint.id === this.view.local.id) {
          sent = this.replica.applyMutation(updates);
        } else {
          payload ??= encodeMutation(updates);
          sent = this.transport.request(endpoint.address, 'MUTATION', payload, this.writeTimeoutMs);
        }
        sent.then(
          () => acked(endpoint),
          (error: unknown) => {
            this.logFailure(endpoint, 'MUTATION', error);
            missed(endpoint);
          },
        );
      }
    });
  }

  // ------------------------------------------------------------------------ point reads

  async read(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    key: Buffer,
    token: bigint,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): Promise<Partition | null> {
    validateForRead(consistency);
    const needs = needsOf(consistency, keyspace.replication, this.view.local.dc);
    const required = totalOf(needs);
    const replicas = replicaPlacement(this.view.ring(), keyspace.replication).replicasFor(token);
    const live = this.liveReplicasByProximity(consistency, needs, replicas);
    const command: ReadCommand = { tableId: table.id, key, token, filter, digestOnly: false };

    // Round one: data from the closest replica, digests from the others. Later rounds go
    // to the replicas that answered it, which speculation may have changed.
    const first = await this.firstReadRound(table, consistency, needs, live.slice(0, required), live.slice(required), command);
    const contacted = first.endpoints;
    const data = first.answers[0];
    const dataDigest = partitionDigest(data.partition);
    if (first.answers.every((answer, index) => index === 0 || answer.digest!.equals(dataDigest))) return data.partition;

    // Round two: the digests disagree; full data from the digest replicas too.
    const full = await gather(
      contacted.slice(1).map((endpoint) => this.readFrom(endpoint, command)),
      this.readTimeoutMs,
    );
    if (!full.complete) throw new ReadTimeout(consistency, 1 + full.received, required, true);
    let answers = [data.partition, ...full.values.map((answer) => answer!.partition)];
    let reconciled = reconcile(table, filter, answers);

    // Short-read protection: replicas stop at the row limit, and rows they returned may be
    // shadowed by another replica's deletions, so the merge can hold fewer live rows than
    // the limit while rows beyond it exist. Read again with a doubled limit while that
    // may be so (some replica returned a full page). No round limit: stopping early would
    // answer too few rows, which readers take for the partition's end; doubling ends once
    // the limit passes the largest replica's live rows, after reading at most about
    // twice the partition.
    let readLimit = filter.rowLimit;
    while (isShortRead(reconciled.result, answers, filter, readLimit)) {
      readLimit *= 2;
      const wider: ReadCommand = { ...command, filter: { ...filter, rowLimit: readLimit } };
      const again = await gather(
        contacted.map((endpoint) => this.readFrom(endpoint, wider)),
        this.readTimeoutMs,
      );
      if (!again.complete) throw new ReadTimeout(consistency, again.received, required, again.received > 0);
      answers = again.values.map((answer) => answer!.partition);
      reconciled = reconcile(table, filter, answers, readLimit);
    }
    const { result, merged, stale } = reconciled;

    // Blocking read repair: the answer waits until every stale replica has the merge.
    if (merged !== null && stale.length > 0) {
      const repair: PartitionUpdate[] = [{ tableId: table.id, partition: merged }];
      const acks = await gather(
        stale.map((index) => this.sendMutation(contacted[index], repair, this.readTimeoutMs)),
        this.readTimeoutMs,
      );
      if (!acks.complete) throw new ReadTimeout(consistency, required - stale.length + acks.received, required, true);
    }
    return result;
  }

  /**
   * Sends the data read to `contacted[0]` and digest reads to the rest: one slot each,
   * filled by the slot's first answer. A slot still empty after the speculation delay is
   * asked once more, with the same kind of read, of the closest spare replica that counts
   * toward the same needs; whichever of the two answers first fills it. ReadTimeout when
   * some slot is still empty after `readTimeoutMs`.
   */
  private firstReadRound(
    table: TableMetadata,
    consistency: ConsistencyName,
    needs: Needs,
    contacted: readonly Endpoint[],
    spares: readonly Endpoint[],
    command: ReadCommand,
  ): Promise<{ endpoints: Endpoint[]; answers: ReadResponse[] }> {
    const slots = contacted.length;
    const endpoints = [...contacted];
    const answers = new Array<ReadResponse | undefined>(slots).fill(undefined);
    const digestCommand: ReadCommand = { ...command, digestOnly: true };
    let speculation = this.speculation.get(table);
    if (speculation === undefined) this.speculation.set(table, (speculation = new SpeculationDelay(this.speculationFallbackMs)));
    const speculationDelayMs = speculation.delayMs(table.options.speculativeRetry);
    let filled = 0;
    let done = false;
    return new Promise((resolve, reject) => {
      const finish = () => {
        done = true;
        clearTimeout(timeout);
        clearTimeout(speculationTimer);
      };
      const ask = (slot: number, endpoint: Endpoint) => {
        const started = performance.now();
        this.readFrom(endpoint, slot === 0 ? command : digestCommand).then(
          (answer) => {
            // Late answers are samples too; only remote ones, as a local read is not a
            // replica's latency. Dropping the slow ones would bias the quantile low.
            if (endpoint.id !== this.view.local.id) speculation.record(performance.now() - started);
            if (done || answers[slot] !== undefined) return;
            answers[slot] = answer;
            endpoints[slot] = endpoint;
            if (++filled === slots) {
              finish();
              resolve({ endpoints, answers: answers as ReadResponse[] });
            }
          },
          // readFrom already logged why; the slot waits for its other replica or the timeout.
          () => {},
        );
      };
      const timeout = setTimeout(() => {
        finish();
        reject(new ReadTimeout(consistency, filled, slots, answers[0] !== undefined));
      }, this.readTimeoutMs);
      // One extra request per read, as Cassandra does, for the first slot still empty.
      const speculate = () => {
        const slot = answers.indexOf(undefined);
        if (slot < 0) return;
        const bucket = bucketOf(needs, contacted[slot]);
        const spare = spares.find((endpoint) => bucketOf(needs, endpoint) === bucket);
        if (spare !== undefined) ask(slot, spare);
      };
      // speculative_retry NONE, or a delay the read times out before: no timer at all (a
      // delay past a timer's 2^31 - 1 ms limit would fire after 1 ms, as if ALWAYS).
      const speculates = speculationDelayMs !== null && speculationDelayMs < this.readTimeoutMs;
      const speculationTimer = speculates ? setTimeout(speculate, speculationDelayMs) : undefined;
      contacted.forEach((endpoint, slot) => ask(slot, endpoint));
    });
  }

  private readFrom(endpoint: Endpoint, command: ReadCommand): Promise<ReadResponse> {
    if (endpoint.id === this.view.local.id) return this.replica.read(command);
    return this.transport
      .request(endpoint.address, 'READ', encodeReadCommand(command), this.readTimeoutMs)
      .then((bytes) => decodeReadResponse(bytes, command.digestOnly))
      .catch((error: unknown) => {
        this.logFailure(endpoint, 'READ', error);
        throw error;
      });
  }

  private sendMutation(endpoint: Endpoint, updates: readonly PartitionUpdate[], timeoutMs: number): Promise<unknown> {
    if (endpoint.id === this.view.local.id) return this.replica.applyMutation(updates);
    return this.transport.request(endpoint.address, 'MUTATION', encodeMutation(updates), timeoutMs).catch((error: unknown) => {
      this.logFailure(endpoint, 'MUTATION', error);
      throw error;
    });
  }

  // ------------------------------------------------------------------------ range reads

  scan(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    range: KeyRange,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): AsyncIterable<Partition> {
    // Checked at the call, like LocalStorageProxy, not at the first iteration.
    validateForRead(consistency);
    const needs = needsOf(consistency, keyspace.replication, this.view.local.dc);
    const ring = this.view.ring();
    if (ring.size === 0) throw new Unavailable(consistency, totalOf(needs), 0);
    return this.scanRing(ring, keyspace, needs, table, range, filter, consistency);
  }

  private async *scanRing(
    ring: TokenRing,
    keyspace: KeyspaceMetadata,
    needs: Needs,
    table: TableMetadata,
    range: KeyRange,
    filter: ReadFilter,
    consistency: ConsistencyName,
  ): AsyncGenerator<Partition> {
    const placement = replicaPlacement(ring, keyspace.replication);
    const required = totalOf(needs);
    for (const piece of ringPieces(ring)) {
      const part = intersect(range, piece);
      if (part === null) continue;
      const contacted = this.liveReplicasByProximity(consistency, needs, placement.replicasAt(piece.index)).slice(0, required);
      yield* this.scanPart(keyspace, table, part, filter, contacted, consistency, required);
    }
  }

  /** Pages through one non-wrapping part of a token range, merging the replicas' pages. */
  private async *scanPart(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    range: KeyRange,
    filter: ReadFilter,
    contacted: readonly Endpoint[],
    consistency: ConsistencyName,
    required: number,
  ): AsyncGenerator<Partition> {
    const pageMax = this.scanPagePartitionsMax;
    let start = range.start;
    let startInclusive = range.startInclusive;
    for (;;) {
      const command: RangeReadCommand = {
        tableId: table.id,
        range: { start, startInclusive, end: range.end, endInclusive: range.endInclusive },
        filter,
        partitionLimit: pageMax,
      };
      const answers = await gather(
        contacted.map((endpoint) => this.rangeReadFrom(endpoint, command)),
        this.readTimeoutMs,
      );
      if (!answers.complete) throw new ReadTimeout(consistency, answers.received, required, answers.received > 0);
      const pages = answers.values as Partition[][];
      // A full page may stop short of keys another replica returned: only the keys up to
      // the smallest last key of a full page are known from every replica.
      let boundary: Partition | null = null;
      for (const page of pages) {
        if (page.length < pageMax) continue;
        const last = page[page.length - 1];
        if (boundary === null || compareKeys(last.token, last.key, boundary.token, boundary.key) < 0) boundary = last;
      }
      yield* pages.length === 1 ? pages[0] : await this.mergePages(keyspace, table, filter, contacted, pages, boundary, consistency, required);
      if (boundary === null) return;
      start = { token: boundary.token, key: boundary.key };
      startInclusive = false;
    }
  }

  /**
   * The union of several replicas' pages in (token, key) order, up to `boundary`
   * inclusive, reconciled per partition. Replicas that lack a partition or hold an older
   * version of it are repaired with the merge before the page is returned (blocking, as
   * for point reads), so a range read at QUORUM leaves its replicas agreeing. A partition
   * whose merge holds fewer live rows than the row limit while some replica returned a
   * full page (short read) is read again as a point read, once the repairs are in.
   */
  private async mergePages(
    keyspace: KeyspaceMetadata,
    table: TableMetadata,
    filter: ReadFilter,
    contacted: readonly Endpoint[],
    pages: readonly Partition[][],
    boundary: Partition | null,
    consistency: ConsistencyName,
    required: number,
  ): Promise<Partition[]> {
    const entries = pages
      .flatMap((page, replica) => page.map((partition) => ({ partition, replica })))
      .filter(({ partition: p }) => boundary === null || compareKeys(p.token, p.key, boundary.token, boundary.key) <= 0)
      .sort((a, b) => compareKeys(a.partition.token, a.partition.key, b.partition.token, b.partition.key));
    const merged: (Partition | null)[] = [];
    /** Partitions to read again (short reads), by their place in `merged`. */
    const short: { index: number; key: Buffer; token: bigint }[] = [];
    const repairs = new Map<number, PartitionUpdate[]>();
    let sinceTurn = 0;
    for (let i = 0; i < entries.length; ) {
      // A page holds up to a thousand partitions per replica: let other requests run.
      if (++sinceTurn === MERGE_PARTITIONS_PER_TURN_MAX) {
        sinceTurn = 0;
        await nextTurn();
      }
      const first = entries[i].partition;
      const answers = new Array<Partition | null>(pages.length).fill(null);
      let j = i;
      for (; j < entries.length && compareKeys(entries[j].partition.token, entries[j].partition.key, first.token, first.key) === 0; j++) {
        answers[entries[j].replica] = entries[j].partition;
      }
      i = j;
      const { result, merged: full, stale } = reconcile(table, filter, answers);
      if (isShortRead(result, answers, filter, filter.rowLimit)) {
        short.push({ index: merged.length, key: first.key, token: first.token });
        merged.push(result);
      } else if (result !== null) {
        merged.push(result);
      }
      if (full === null) continue;
      for (const replica of stale) {
        const updates = repairs.get(replica) ?? [];
        updates.push({ tableId: table.id, partition: full });
        repairs.set(replica, updates);
      }
    }
    if (repairs.size > 0) {
      const acks = await gather(
        [...repairs].map(([replica, updates]) => this.sendMutation(contacted[replica], updates, this.readTimeoutMs)),
        this.readTimeoutMs,
      );
      if (!acks.complete) throw new ReadTimeout(consistency, required - repairs.size + acks.received, required, true);
    }
    for (const { index, key, token } of short) merged[index] = await this.read(keyspace, table, key, token, filter, consistency);
    return merged.filter((partition): partition is Partition => partition !== null);
  }

  private rangeReadFrom(endpoint: Endpoint, command: RangeReadCommand): Promise<Partition[]> {
    if (endpoint.id === this.view.local.id) return this.replica.rangeRead(command);
    return this.transport
      .request(endpoint.address, 'RANGE_READ', encodeRangeReadCommand(command), this.readTimeoutMs)
      .then(decodeRangeReadResponse)
      .catch((error: unknown) => {
        this.logFailure(endpoint, 'RANGE_READ', error);
        throw error;
      });
  }

  // ------------------------------------------------------------------------ truncate

  /** Truncates the table on every node; like Cassandra, refuses unless all are up. */
  async truncate(table: TableMetadata): Promise<void> {
    const local = this.view.local;
    const endpoints = this.view.ring().endpoints.filter((endpoint) => endpoint.id !== local.id);
    const alive = endpoints.filter((endpoint) => this.view.isAlive(endpoint.id)).length;
    if (alive < endpoints.length) throw new Unavailable('ALL', endpoints.length + 1, alive + 1);
    const payload = encodeTruncateCommand(table.id);
    const acks = await gather<unknown>(
      [
        this.storage.truncate(table.id),
        ...endpoints.map((endpoint) =>
          this.transport.request(endpoint.address, 'TRUNCATE', payload, this.writeTimeoutMs).catch((error: unknown) => {
            this.logFailure(endpoint, 'TRUNCATE', error);
            throw error;
          }),
        ),
      ],
      this.writeTimeoutMs,
    );
    if (!acks.complete) throw new WriteTimeout('ALL', acks.received, endpoints.length + 1, 'SIMPLE');
  }

  // ------------------------------------------------------------------------ helpers

  /** Unavailable unless each dc (or the whole set) has as many live replicas as needed. */
  private checkAvailable(consistency: ConsistencyName, needs: Needs, replicas: readonly Endpoint[]): void {
    for (const [dc, need] of needs) {
      let alive = 0;
      for (const replica of replicas) {
        if ((dc === null || replica.dc === dc) && this.view.isAlive(replica.id)) alive++;
      }
      if (alive < need) throw new Unavailable(consistency, need, alive);
    }
  }

  /**
   * The live replicas whose answers count at this level, closest first: this node, then
   * its dc, then the others, each in placement order. Unavailable when too few.
   */
  private liveReplicasByProximity(consistency: ConsistencyName, needs: Needs, replicas: readonly Endpoint[]): Endpoint[] {
    this.checkAvailable(consistency, needs, replicas);
    const { id, dc } = this.view.local;
    const distance = (endpoint: Endpoint) => (endpoint.id === id ? 0 : endpoint.dc === dc ? 1 : 2);
    return replicas
      .filter((endpoint) => bucketOf(needs, endpoint) !== undefined && this.view.isAlive(endpoint.id))
      .sort((a, b) => distance(a) - distance(b));
  }

  private logFailure(endpoint: Endpoint, verb: Verb, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn({ to: endpoint.address, verb, reason }, `${verb} to /${endpoint.address} failed`);
  }
}
