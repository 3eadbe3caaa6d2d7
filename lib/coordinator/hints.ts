/**
 * Hinted handoff, as in Cassandra: when a write cannot reach a replica (down when the
 * write starts, or failed / timed out), the coordinator keeps the mutation as a hint in
 * its system store and replays it to that replica once gossip sees it UP again.
 *
 * Rules (the "why" of each is next to the code):
 * - A hint is stored for a missed replica unless hinted_handoff_enabled is off, the
 *   replica has been down longer than max_hint_window (then only repair can fix it, as
 *   in Cassandra), its pending hints would exceed `hintsBytesMax`, or
 *   `storesInFlightMax` hint writes are already under way. Refused hints are logged
 *   (once per target and reason) and `onReplicaMissed` returns false.
 * - "Down since" is when this service saw the endpoint go from up to down (or, for one
 *   already down when first seen, the moment it was first seen: a restarted coordinator
 *   cannot know better).
 * - Replay: when an endpoint comes UP (and every `dispatchIntervalMs`, for live targets
 *   that still have hints: retries, and hints of writes that merely timed out), its
 *   hints go to it oldest first as HINT requests, paced to `throttleBytesPerSecond`
 *   across all targets; each hint is deleted once the replica acknowledged it. A replay
 *   stops at the first failure or when the target goes down; one replay per target runs
 *   at a time. A target whose gossiped schema version differs from this node's waits
 *   (see schemaAgrees). Hints created in the same millisecond replay in any order among
 *   themselves: each cell carries its write timestamp, so the order does not change
 *   the result.
 * - A hint lives no longer than the smallest gc_grace_seconds of the tables it writes to
 *   (read when it is replayed, as Cassandra does): past that, the replica may already
 *   have purged a tombstone the hint's older data would then resurrect, so an expired
 *   hint is deleted unsent. For the same reason no hint is stored for a table with
 *   gc_grace_seconds 0, and hints of tables that no longer exist are dropped.
 * - Hints for an endpoint that left the ring (decommissioned, LEFT) or was removed
 *   (removenode) are deleted: nobody will ever take them, and its ranges were
 *   re-replicated from the remaining replicas.
 * - The replica side (registerHintReceiver) applies a HINT's mutation to local storage.
 *   Updates of tables the replica does not know (dropped) are skipped and acked, as
 *   Cassandra drops hints of unknown tables; otherwise such a hint would be retried forever.
 *
 * Wiring (lib/node.ts), with `system` the SystemStore, `membership` the gossip
 * Membership (any ClusterView works; its optional addressOf is used when present),
 * `transport` the node's Transport and `storage` its StorageEngine:
 *
 *   registerHintReceiver(transport, storage, logger);      // always, even with hints off
 *   const hints = new HintService({
 *     store: system, transport, membership, clock, logger,
 *     enabled: config.hintedHandoffEnabled,
 *     maxHintWindowMs: config.maxHintWindowMs,
 *     deliveryTimeoutMs: config.writeRequestTimeoutMs,
 *     throttleBytesPerSecond: config.hintedHandoffThrottleBytesPerSecond,
 *   });
 *   const proxy = new ClusterStorageProxy({ ..., onReplicaMissed: hints.onReplicaMissed });
 *   hints.start();            // before the proxy serves writes: it counts hints left by a previous run
 *   ...
 *   await hints.stop();       // on drain/close, before system.close(): waits for hint writes in flight
 *
 * `hints.pending()` lists pending hints per target for the admin API (`sibyl`).
 */
import type { ClusterView } from '../cluster/cluster-view.js';
import { Status } from '../cluster/endpoint-state.js';
import type { Endpoint } from '../cluster/ring.js';
import type { Clock } from '../model/clock.js';
import type { PartitionUpdate } from '../model/partition.js';
import { type NetLogger, SILENT_NET_LOGGER, type Transport } from '../net/transport.js';
import type { StorageEngine } from '../storage/engine.js';
import { decodeMutation, encodeMutation } from '../storage/mutation-codec.js';

/** One stored hint; SystemStore's StoredHint has this shape. */
export interface HintRecord {
  readonly key: string;
  readonly createdAtMs: number;
  readonly mutation: Buffer;
}

/** Where hints are kept: SystemStore implements it. */
export interface HintStore {
  /** Stores a hint for `target` (a host id); returns its key. */
  storeHint(target: string, createdAtMs: number, mutation: Buffer): Promise<string>;
  /** The target's hints, oldest first. */
  hintsFor(target: string): AsyncIterable<HintRecord>;
  deleteHint(key: string): Promise<void>;
  /** The targets that have stored hints (a previous run's too). */
  hintTargets?(): Promise<string[]>;
}

/** The cluster as hinted handoff needs it; Membership adds addressOf and statusOf. */
export interface HintMembership extends ClusterView {
  /** The current internode address of a host id, when known (used before the ring's). */
  addressOf?(endpointId: string): string | undefined;
  /** The endpoint's gossip STATUS ('NORMAL', 'LEFT', 'removed' …), null when unknown. */
  statusOf?(endpointId: string): string | null;
}

/** STATUS values of an endpoint that will never come back for its hints. */
const GONE_STATUSES: ReadonlySet<string> = new Set([Status.LEFT, Status.REMOVED]);

export interface HintServiceOptions {
  readonly store: HintStore;
  readonly transport: Transport;
  readonly membership: HintMembership;
  readonly clock: Clock;
  /** hinted_handoff_enabled (default true). */
  readonly enabled?: boolean;
  /** max_hint_window: no hints for an endpoint down longer than this (default 3 h). */
  readonly maxHintWindowMs?: number;
  /** Bytes of pending hints per target; more are refused (default 256 MiB). */
  readonly hintsBytesMax?: number;
  /** hinted_handoff_throttle: replay bytes per second over all targets; 0 = unthrottled (default 1 MiB/s). */
  readonly throttleBytesPerSecond?: number;
  /** How long a replica has to acknowledge one hint (default 10 s; wire write_request_timeout). */
  readonly deliveryTimeoutMs?: number;
  /** How often live targets with hints are retried (default 10 s, as Cassandra's dispatcher). */
  readonly dispatchIntervalMs?: number;
  /** Hint writes under way at once; beyond it hints are refused (default 1024). */
  readonly storesInFlightMax?: number;
  readonly logger?: NetLogger;
  /** Waits `ms`; tests pass one that advances a ManualClock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * gc_grace_seconds of a table by id, undefined for a table that does not exist (any
   * more). Without it hints never expire (tests of other rules).
   */
  readonly gcGraceSecondsOf?: (tableId: string) => number | undefined;
  /**
   * Whether the endpoint's gossiped schema version is this node's. Hints go only to an
   * endpoint that agrees, as in Cassandra: one whose schema is behind (just back UP, its
   * schema pull not done yet) would skip, and ack, updates of tables it does not know
   * yet, and the hints would be lost. Without it every live endpoint is taken to agree.
   */
  readonly schemaAgrees?: (endpointId: string) => boolean;
}

export interface PendingHints {
  readonly targetId: string;
  readonly hints: number;
  readonly bytes: number;
}

const MiB = 1024 * 1024;
const EMPTY = new Uint8Array(0);

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type RefusalReason = 'window' | 'bytes' | 'queue' | 'gc-grace';

/** What this service knows of one endpoint it may hint. */
interface TargetState {
  /** Pending hints (stored or being stored) and their mutation bytes. */
  hints: number;
  bytes: number;
  /** When it was seen going down; null while alive. */
  downSinceMs: number | null;
  /** Counting the hints a previous run left; replays wait for it. */
  scanned: Promise<void>;
  replay: Promise<void> | null;
  /** Last refusal logged, so a long outage logs once, not once per write. */
  refused: RefusalReason | null;
}

export class HintService {
  private readonly store: HintStore;
  private readonly transport: Transport;
  private readonly view: HintMembership;
  private readonly clock: Clock;
  private readonly enabled: boolean;
  private readonly maxHintWindowMs: number;
  private readonly hintsBytesMax: number;
  private readonly throttleBytesPerSecond: number;
  private readonly deliveryTimeoutMs: number;
  private readonly dispatchIntervalMs: number;
  private readonly storesInFlightMax: number;
  private readonly logger: NetLogger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly gcGraceSecondsOf: ((tableId: string) => number | undefined) | undefined;
  private readonly schemaAgrees: (endpointId: string) => boolean;

  private readonly targets = new Map<string, TargetState>();
  private readonly storesInFlight = new Set<Promise<void>>();
  /** One mutation missed by several replicas is encoded once. */
  private readonly encoded = new WeakMap<readonly PartitionUpdate[], Buffer>();
  /** Throttle: when the next hint may be sent (ms, fractional). */
  private nextSendAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(options: HintServiceOptions) {
    this.store = options.store;
    this.transport = options.transport;
    this.view = options.membership;
    this.clock = options.clock;
    this.enabled = options.enabled ?? true;
    this.maxHintWindowMs = options.maxHintWindowMs ?? 3 * 3_600_000;
    this.hintsBytesMax = options.hintsBytesMax ?? 256 * MiB;
    this.throttleBytesPerSecond = options.throttleBytesPerSecond ?? MiB;
    this.deliveryTimeoutMs = options.deliveryTimeoutMs ?? 10_000;
    this.dispatchIntervalMs = options.dispatchIntervalMs ?? 10_000;
    this.storesInFlightMax = options.storesInFlightMax ?? 1024;
    this.logger = options.logger ?? SILENT_NET_LOGGER;
    this.sleep = options.sleep ?? realSleep;
    this.gcGraceSecondsOf = options.gcGraceSecondsOf;
    this.schemaAgrees = options.schemaAgrees ?? (() => true);
  }

  /**
   * Starts following membership: counts the hints a previous run left for each ring
   * endpoint, replays those of live ones, and retries live targets periodically.
   */
  start(): void {
    // Once: a stopped service is not started again (a node builds a new one).
    if (this.timer !== undefined) return;
    this.running = true;
    this.view.onChange(() => this.refresh());
    this.refresh();
    // Targets no longer in the ring (they left or were removed while this node was down)
    // still have their hints counted, and deleted by refresh once their status says so.
    void this.store.hintTargets?.().then(
      (targets) => {
        if (!this.running) return;
        for (const id of targets) if (id !== this.view.local.id) this.target(id);
        this.refresh();
      },
      (error: unknown) => this.logger.warn({ err: error }, 'failed to list the targets of stored hints'),
    );
    this.timer = setInterval(() => this.dispatchLive(), this.dispatchIntervalMs);
    // Retrying hints must not keep a stopping process alive.
    this.timer.unref();
  }

  /** Stops accepting and replaying hints; waits for hint writes and replays under way. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    const replays = [...this.targets.values()].map((state) => state.replay);
    await Promise.allSettled([...this.storesInFlight, ...replays]);
  }

  /**
   * ClusterStorageProxy's ReplicaMissedHook: accepts a hint of `updates` for `endpoint`
   * and returns true (under CL ANY that is the write's ack), or refuses and returns
   * false. The hint is written asynchronously; a store failure after acceptance is
   * logged and the hint lost (hints are best effort, as in Cassandra).
   */
  readonly onReplicaMissed = (endpoint: Endpoint, updates: readonly PartitionUpdate[]): boolean => {
    // The local replica is applied directly; when that fails, a hint to itself would not help.
    if (!this.enabled || !this.running || endpoint.id === this.view.local.id) return false;
    const state = this.target(endpoint.id);
    const now = this.clock.nowMillis();
    if (state.downSinceMs !== null && now - state.downSinceMs > this.maxHintWindowMs) {
      const message = `${endpoint.address} has been down longer than max_hint_window (${this.maxHintWindowMs} ms); not hinting`;
      return this.refuse(endpoint, state, 'window', message);
    }
    if (this.gcGraceSecondsOf !== undefined && (this.lifetimeSeconds(updates) ?? 0) === 0) {
      const message = `hints for these tables would expire at once (gc_grace_seconds 0, or dropped); not hinting ${endpoint.address}`;
      return this.refuse(endpoint, state, 'gc-grace', message);
    }
    if (this.storesInFlight.size >= this.storesInFlightMax) {
      const message = `${this.storesInFlightMax} hint writes are already under way; dropping hints for ${endpoint.address}`;
      return this.refuse(endpoint, state, 'queue', message);
    }
    const mutation = this.encode(updates);
    if (state.bytes + mutation.length > this.hintsBytesMax) {
      const message = `pending hints for ${endpoint.address} reached ${this.hintsBytesMax} bytes; dropping hints`;
      return this.refuse(endpoint, state, 'bytes', message);
    }
    state.refused = null;
    state.hints++;
    state.bytes += mutation.length;
    const stored = this.store.storeHint(endpoint.id, now, mutation).then(
      () => {},
      (error: unknown) => {
        state.hints--;
        state.bytes -= mutation.length;
        this.logger.warn({ target: endpoint.id, err: error }, `failed to store a hint for ${endpoint.address}`);
      },
    );
    this.storesInFlight.add(stored);
    void stored.finally(() => this.storesInFlight.delete(stored));
    return true;
  };

  /** Pending hints per target (those with any), by target id. */
  pending(): PendingHints[] {
    const pending: PendingHints[] = [];
    for (const [targetId, state] of this.targets) {
      if (state.hints > 0) pending.push({ targetId, hints: state.hints, bytes: state.bytes });
    }
    return pending.sort((a, b) => (a.targetId < b.targetId ? -1 : a.targetId > b.targetId ? 1 : 0));
  }

  /**
   * Replays the target's hints now if it is alive (joining a replay under way);
   * resolves when that replay ended, delivered or not.
   */
  replay(targetId: string): Promise<void> {
    const state = this.target(targetId);
    state.replay ??= this.replayTarget(targetId, state).finally(() => {
      state.replay = null;
    });
    return state.replay;
  }

  // ------------------------------------------------------------------------ liveness

  /** Notes up/down transitions of every known endpoint; an UP one gets its hints. */
  private refresh(): void {
    if (!this.running) return;
    const localId = this.view.local.id;
    for (const endpoint of this.view.ring().endpoints) if (endpoint.id !== localId) this.target(endpoint.id);
    const now = this.clock.nowMillis();
    for (const [id, state] of this.targets) {
      const status = this.view.statusOf?.(id) ?? null;
      if (status !== null && GONE_STATUSES.has(status)) {
        this.targets.delete(id);
        void this.dropAll(id, state, status);
        continue;
      }
      const alive = this.view.isAlive(id);
      if (!alive) {
        state.downSinceMs ??= now;
      } else if (state.downSinceMs !== null) {
        state.downSinceMs = null;
        if (state.hints > 0) void this.replay(id);
      }
    }
  }

  private dispatchLive(): void {
    for (const [id, state] of this.targets) {
      if (state.hints > 0 && state.replay === null && this.view.isAlive(id)) void this.replay(id);
    }
  }

  /** The state of `id`, created (and its stored hints counted) on first sight. */
  private target(id: string): TargetState {
    const known = this.targets.get(id);
    if (known !== undefined) return known;
    const now = this.clock.nowMillis();
    const created: TargetState = {
      hints: 0,
      bytes: 0,
      downSinceMs: this.view.isAlive(id) ? null : now,
      scanned: Promise.resolve(),
      replay: null,
      refused: null,
    };
    // Hints accepted from now on are counted when accepted; created ≥ now, so the scan
    // skips them even if its iterator sees them.
    created.scanned = this.countStored(id, created, now).then(() => {
      if (created.hints > 0 && this.running && this.view.isAlive(id)) void this.replay(id);
    });
    this.targets.set(id, created);
    return created;
  }

  private async countStored(id: string, state: TargetState, beforeMs: number): Promise<void> {
    try {
      for await (const hint of this.store.hintsFor(id)) {
        if (hint.createdAtMs >= beforeMs) break;
        state.hints++;
        state.bytes += hint.mutation.length;
      }
    } catch (error) {
      this.logger.warn({ target: id, err: error }, `failed to read stored hints for ${id}`);
    }
  }

  // ------------------------------------------------------------------------ replay

  private async replayTarget(id: string, state: TargetState): Promise<void> {
    await state.scanned;
    // A pass cannot see hints stored after it began (its iterator reads a snapshot), so
    // passes repeat while hints remain, each after the hint writes under way have landed
    // (a pass that found them half-written would end early); one that delivers nothing
    // ends it, and the periodic dispatch finds whatever comes later.
    while (state.hints > 0 && this.canDeliver(id)) {
      await Promise.allSettled([...this.storesInFlight]);
      const delivered = await this.deliverPass(id, state);
      if (delivered <= 0) return;
    }
  }

  /** Delivers the target's stored hints in order; the count delivered, -1 after a failure. */
  private async deliverPass(id: string, state: TargetState): Promise<number> {
    let delivered = 0;
    let expired = 0;
    for await (const hint of this.store.hintsFor(id)) {
      if (this.hasExpired(hint)) {
        // Deleting counts as progress, so the pass does not end as if it had failed.
        await this.store.deleteHint(hint.key);
        state.hints--;
        state.bytes -= hint.mutation.length;
        expired++;
        delivered++;
        continue;
      }
      await this.throttle(hint.mutation.length);
      const address = this.addressOf(id);
      if (!this.canDeliver(id) || address === undefined) return -1;
      try {
        await this.transport.request(address, 'HINT', hint.mutation, this.deliveryTimeoutMs);
        await this.store.deleteHint(hint.key);
      } catch (error) {
        this.logger.warn({ target: id, err: error }, `hint replay to ${address} stopped; will retry`);
        return -1;
      }
      state.hints--;
      state.bytes -= hint.mutation.length;
      delivered++;
    }
    if (expired > 0) {
      this.logger.warn({ target: id, expired }, `deleted ${expired} hints for ${this.addressOf(id) ?? id} older than gc_grace_seconds`);
    }
    if (delivered > expired) {
      this.logger.info({ target: id, delivered: delivered - expired }, `delivered ${delivered - expired} hints to ${this.addressOf(id) ?? id}`);
    }
    return delivered;
  }

  /**
   * How long a hint of `updates` may live: the smallest gc_grace_seconds of the tables it
   * writes, Infinity without gcGraceSecondsOf, null when none of its tables exists.
   */
  private lifetimeSeconds(updates: readonly PartitionUpdate[]): number | null {
    if (this.gcGraceSecondsOf === undefined) return Infinity;
    let lifetime = Infinity;
    let known = false;
    for (const update of updates) {
      const grace = this.gcGraceSecondsOf(update.tableId);
      if (grace === undefined) continue;
      known = true;
      lifetime = Math.min(lifetime, grace);
    }
    return known ? lifetime : null;
  }

  private hasExpired(hint: HintRecord): boolean {
    if (this.gcGraceSecondsOf === undefined) return false;
    // Decoding only for the table ids: replay is throttled, so this is not the bottleneck.
    const lifetime = this.lifetimeSeconds(decodeMutation(hint.mutation));
    return lifetime === null || this.clock.nowMillis() - hint.createdAtMs > lifetime * 1000;
  }

  /** Deletes every stored hint of a target that left or was removed. */
  private async dropAll(id: string, state: TargetState, status: string): Promise<void> {
    await state.scanned;
    await state.replay;
    let dropped = 0;
    try {
      for await (const hint of this.store.hintsFor(id)) {
        await this.store.deleteHint(hint.key);
        dropped++;
      }
    } catch (error) {
      this.logger.warn({ target: id, err: error }, `failed to delete the hints of ${id} (${status})`);
      return;
    }
    if (dropped > 0) this.logger.info({ target: id, dropped }, `deleted ${dropped} hints for ${id}: its status is ${status}`);
  }

  private canDeliver(id: string): boolean {
    // A target whose schema differs is retried by the periodic dispatch once it agrees.
    return this.running && this.view.isAlive(id) && this.schemaAgrees(id);
  }

  private addressOf(id: string): string | undefined {
    return this.view.addressOf?.(id) ?? this.view.ring().endpoint(id)?.address;
  }

  /** Paces sends to throttleBytesPerSecond: each hint reserves its share of time. */
  private async throttle(bytes: number): Promise<void> {
    if (this.throttleBytesPerSecond <= 0) return;
    const now = this.clock.nowMillis();
    const sendAt = Math.max(now, this.nextSendAtMs);
    this.nextSendAtMs = sendAt + (bytes * 1000) / this.throttleBytesPerSecond;
    if (sendAt > now) await this.sleep(sendAt - now);
  }

  private encode(updates: readonly PartitionUpdate[]): Buffer {
    let mutation = this.encoded.get(updates);
    if (mutation === undefined) {
      const bytes = encodeMutation(updates);
      mutation = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.encoded.set(updates, mutation);
    }
    return mutation;
  }

  private refuse(endpoint: Endpoint, state: TargetState, reason: RefusalReason, message: string): false {
    if (state.refused !== reason) {
      state.refused = reason;
      this.logger.warn({ target: endpoint.id }, message);
    }
    return false;
  }
}

/**
 * The replica side: applies each HINT's mutation to local storage and acks. Updates of
 * tables this node does not know are skipped (and logged): the table was dropped, and
 * an error would make the coordinator retry the hint forever.
 */
export function registerHintReceiver(transport: Transport, storage: StorageEngine, logger: NetLogger = SILENT_NET_LOGGER): void {
  transport.onMessage('HINT', async (from, payload) => {
    const updates = decodeMutation(payload);
    const known = updates.filter((update) => storage.table(update.tableId) !== undefined);
    if (known.length < updates.length) {
      logger.warn({ from, skipped: updates.length - known.length }, `skipped hinted updates of unknown tables from /${from}`);
    }
    if (known.length > 0) await storage.apply(known);
    return EMPTY;
  });
}
