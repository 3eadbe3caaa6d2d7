/**
 * The I/O shell around the pure Gossiper: a once-a-second timer runs a gossip round and
 * sends what it produced over the transport (GOSSIP_SYN / ACK / ACK2), the verb handlers
 * decode what arrives and feed it back, and every membership event goes to Membership,
 * the node's ClusterView.
 *
 * The local node announces STATUS, TOKENS, DC, RACK, HOST_ID, HTTP, SCHEMA and LOAD.
 * A node that has tokens (from its system store) and nothing left to bootstrap starts
 * NORMAL. A node on its first start has none: it gossips as BOOT until it has heard from
 * a seed (and so knows the ring as the seed does), then allocates balanced tokens against
 * the ring it will join (the future ring, when other nodes are moving), has the caller
 * persist them, and only then announces them — persisting before telling anyone, so a
 * restart can never come back with different tokens than the cluster saw. The first
 * seed, or a node with no other seed, is the one that starts a cluster: it allocates at
 * once and never bootstraps (nobody holds data to stream from).
 *
 * Joining, without bootstrap hooks (or with nothing to bootstrap): tokens and NORMAL are
 * announced together; if no seed answers within `bootRoundsMax` rounds the node
 * allocates against what it knows.
 *
 * Joining with bootstrap (Cassandra's auto_bootstrap), once a seed answered:
 *   prepare() (the node waits for the schema) → tokens allocated and persisted, or the
 *   ones a previous, unfinished bootstrap persisted → TOKENS and STATUS BOOT announced,
 *   so coordinators write to this node as a pending replica → run(tokens) (ring_delay,
 *   streaming) → completed() (bootstrap state COMPLETED made durable) → STATUS NORMAL.
 * A failing hook, or no seed within `bootRoundsMax` rounds, rejects `ready`: the node
 * withdraws its tokens from gossip and stays out of the ring.
 *
 * Saved peers (saved-peers.ts): the peers that owned tokens at the last run are known from
 * the start, DOWN until gossip proves them running, so coordinators place replicas on the
 * whole ring at once; and every change gossip reports of a peer is saved for the next run.
 *
 * Leaving: decommission announces LEAVING (still in the ring, no longer in the future
 * ring), streams, then LEFT; removenode announces a dead node `removed` on its behalf.
 *
 * Time comes from an injected clock and the timer from an injected scheduler, so tests
 * run a cluster round by round.
 */
import { ServerError } from '../errors.js';
import type { Clock } from '../model/clock.js';
import type { NetLogger, Transport } from '../net/transport.js';
import { SILENT_NET_LOGGER } from '../net/transport.js';
import type { PeerRecord } from '../system/system-store.js';
import { ApplicationState, type ApplicationStateName, Status } from './endpoint-state.js';
import type { FailureDetector } from './failure-detector.js';
import { GOSSIP_VERBS, decodeGossipMessage, encodeGossipMessage, gossipVerb } from './gossip-codec.js';
import { type GossipEvent, type GossipOutput, Gossiper, type GossipMessage } from './gossip.js';
import { Membership, formatTokens } from './membership.js';
import { isLoadable, PeerRecorder, type PeerStore, savedPeerStates } from './saved-peers.js';
import { allocateTokens } from './token-allocation.js';

/** Cassandra gossips once a second. */
export const GOSSIP_INTERVAL_MS = 1000;
/** Rounds a joining node waits to hear from a seed before allocating against what it knows. */
export const DEFAULT_BOOT_ROUNDS_MAX = 30;
/** How often savedPeersSeen looks at membership again: a small part of a gossip round. */
const SAVED_PEERS_POLL_MS = 100;

/** Runs a task periodically; returns the function that stops it. */
export interface Scheduler {
  every(intervalMs: number, task: () => void): () => void;
}

/** Real timers. Unreferenced: the node's listening sockets, not gossip, keep the process alive. */
export const TIMER_SCHEDULER: Scheduler = {
  every(intervalMs, task) {
    const timer = setInterval(task, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** What a bootstrapping node does at each step of joining (see the file comment); node.ts supplies them. */
export interface BootstrapHooks {
  /** Whether this node must stream its ranges before serving them: its bootstrap is not COMPLETED. */
  readonly needed: boolean;
  /** After a seed answered, before tokens are chosen: the node waits for the schema here. */
  prepare(): Promise<void>;
  /** With TOKENS and BOOT announced: wait ring_delay, stream the ranges the tokens take. */
  run(tokens: readonly bigint[]): Promise<void>;
  /** Makes the finished bootstrap durable (COMPLETED) before NORMAL is announced. */
  completed(): Promise<void>;
}

export interface GossipServiceOptions {
  readonly transport: Transport;
  readonly clock: Clock;
  /** Seed addresses; this node's own may be among them. */
  readonly seeds: readonly string[];
  readonly hostId: string;
  readonly dc: string;
  readonly rack: string;
  /** host:port of this node's HTTP API. */
  readonly httpAddress: string;
  /** The local schema version (a UUID); change it later with setLocalState(SCHEMA, …). */
  readonly schemaVersion: string;
  /** Bytes on disk at start; change it later with setLocalState(LOAD, …). */
  readonly load?: number;
  /** cassandra.yaml's num_tokens: how many tokens to allocate on first start. */
  readonly numTokens: number;
  /** allocate_tokens_for_local_replication_factor (default 3). */
  readonly allocationReplicationFactor?: number;
  /** The tokens kept from a previous run (SystemStore.getTokens), or null on first start. */
  readonly initialTokens: readonly bigint[] | null;
  /** Makes newly allocated tokens durable (SystemStore.setTokens) before they are gossiped. */
  readonly persistTokens: (tokens: readonly bigint[]) => Promise<void>;
  /** Defaults to the clock's seconds at construction, Cassandra's rule. */
  readonly generation?: number;
  readonly clusterName?: string;
  /** Uniform in [0, 1): gossip peer choice and token placement; seeded in tests. */
  readonly random?: () => number;
  readonly failureDetector?: FailureDetector;
  readonly scheduler?: Scheduler;
  readonly bootRoundsMax?: number;
  readonly logger?: NetLogger;
  /** Streaming before NORMAL; without it (or with `needed` false) a joining node is NORMAL once its tokens are durable. */
  readonly bootstrap?: BootstrapHooks;
  /**
   * The peers saved at the last run (SystemStore.peers) and where to keep them
   * (the SystemStore); without it the node knows only what gossip tells it.
   */
  readonly peers?: { readonly saved: readonly PeerRecord[]; readonly store: PeerStore };
}

type Phase = 'waiting-for-seed' | 'joining' | 'normal' | 'leaving' | 'left' | 'failed';

/** Whether the event may change a saved peer: liveness is not saved, nor LOAD (gossiped every minute). */
function changesPeerRecord(event: GossipEvent): boolean {
  if (event.kind === 'up' || event.kind === 'down') return false;
  return event.kind !== 'state-changed' || event.name !== ApplicationState.LOAD;
}

export class GossipService {
  readonly gossiper: Gossiper;
  readonly membership: Membership;
  /** Resolves once this node is NORMAL with durable tokens; rejects if joining failed. */
  readonly ready: Promise<void>;
  private readonly options: GossipServiceOptions;
  private readonly random: () => number;
  private readonly logger: NetLogger;
  private readonly otherSeeds: readonly string[];
  /** The first seed, or a node with no other seed: it has nobody to learn the ring from. */
  private readonly startsCluster: boolean;
  /** The hooks, when this node has a bootstrap to do. */
  private readonly bootstrap: BootstrapHooks | null;
  private readonly peerRecorder: PeerRecorder | null = null;
  /** Host ids of the saved peers loaded at start, for savedPeersSeen. */
  private readonly savedPeerIds: readonly string[] = [];
  private phase: Phase;
  /** Whether TOKENS went out while joining, so a failed bootstrap withdraws them. */
  private tokensAnnounced = false;
  private bootRoundsLeft: number;
  private stopTimer: (() => void) | null = null;
  private stopped = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: unknown) => void;

  constructor(options: GossipServiceOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? SILENT_NET_LOGGER;
    const address = options.transport.address;
    this.otherSeeds = options.seeds.filter((seed) => seed !== address);
    this.startsCluster = this.otherSeeds.length === 0 || options.seeds[0] === address;
    this.bootstrap = options.bootstrap?.needed === true ? options.bootstrap : null;
    this.bootRoundsLeft = options.bootRoundsMax ?? DEFAULT_BOOT_ROUNDS_MAX;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits `ready` still hears of the failure through the logger.
    this.ready.catch(() => {});

    const tokens = options.initialTokens;
    const localStates: [ApplicationStateName, string][] = [
      [ApplicationState.HOST_ID, options.hostId],
      [ApplicationState.DC, options.dc],
      [ApplicationState.RACK, options.rack],
      [ApplicationState.HTTP, options.httpAddress],
      [ApplicationState.SCHEMA, options.schemaVersion],
      [ApplicationState.LOAD, String(options.load ?? 0)],
    ];
    // Tokens kept from a bootstrap that did not finish are announced only once it resumes.
    if (tokens !== null && tokens.length > 0 && this.bootstrap === null) {
      localStates.push([ApplicationState.TOKENS, formatTokens(tokens)], [ApplicationState.STATUS, Status.NORMAL]);
      this.phase = 'normal';
      this.resolveReady();
    } else {
      localStates.push([ApplicationState.STATUS, Status.BOOT]);
      this.phase = 'waiting-for-seed';
    }
    this.gossiper = new Gossiper({
      localEndpoint: address,
      generation: options.generation ?? options.clock.nowSeconds(),
      seeds: options.seeds,
      random: this.random,
      clusterName: options.clusterName,
      localStates,
      failureDetector: options.failureDetector,
    });
    this.membership = new Membership(address, this.gossiper.stateOf(address)!);
    if (options.peers !== undefined) {
      const { saved, store } = options.peers;
      const loaded: string[] = [];
      for (const peer of saved) {
        // Its own record would be one of a previous identity at this address (not loaded).
        if (peer.hostId === options.hostId || !isLoadable(peer)) continue;
        const events = this.gossiper.addSavedEndpoint(peer.address, savedPeerStates(peer));
        this.membership.apply(events);
        if (events.length > 0) loaded.push(peer.hostId);
      }
      this.savedPeerIds = loaded;
      // Said at every start: which ring the node begins from is what a partial-ring
      // investigation needs first.
      this.logger.info(
        { saved: saved.length, loaded: loaded.length },
        `Starting from the saved ring: ${loaded.length} of ${saved.length} saved peers loaded` +
          (loaded.length > 0 ? ` (${loaded.map((id) => `/${this.membership.addressOf(id) ?? id}`).join(', ')})` : ''),
      );
      const savedAddress = new Map(saved.map((peer) => [peer.hostId, peer.address]));
      this.peerRecorder = new PeerRecorder({
        membership: this.membership,
        store,
        saved,
        logger: this.logger,
        explain: (hostId) => this.explain(this.membership.addressOf(hostId) ?? savedAddress.get(hostId)),
      });
      // Records that were not loaded are deleted; the rest already match.
      this.peerRecorder.changed();
    }
  }

  /**
   * Resolves once every saved peer loaded at start is seen UP, or gossip says it is no
   * longer a live owner (left, removed, replaced), or after `waitMsMax`: a restarted node
   * waits briefly for gossip before serving (Cassandra's wait for gossip to settle), so
   * its first requests do not fail Unavailable for replicas that are in fact running.
   * At once for a node that loaded no saved peer.
   */
  savedPeersSeen(waitMsMax: number): Promise<void> {
    const unseen = () =>
      this.savedPeerIds.filter((id) => {
        const status = this.membership.statusOf(id);
        return !this.membership.isAlive(id) && (status === Status.NORMAL || status === Status.LEAVING);
      });
    if (unseen().length === 0 || waitMsMax <= 0) return Promise.resolve();
    const { clock } = this.options;
    const deadlineMs = clock.nowMillis() + waitMsMax;
    return new Promise((resolve) => {
      const stopPolling = (this.options.scheduler ?? TIMER_SCHEDULER).every(SAVED_PEERS_POLL_MS, () => {
        const waiting = this.stopped ? [] : unseen();
        if (waiting.length > 0 && clock.nowMillis() < deadlineMs) return;
        stopPolling();
        if (waiting.length > 0) {
          const names = waiting.map((id) => `/${this.membership.addressOf(id) ?? id}`).join(', ');
          this.logger.info({ waitMsMax }, `Saved peers not seen UP within ${waitMsMax} ms, going on without them: ${names}`);
        }
        resolve();
      });
    });
  }

  /** What gossip holds of `address`, one line: why a peer left the ring is read from it. */
  private explain(address: string | undefined): string {
    const state = address === undefined ? undefined : this.gossiper.stateOf(address);
    if (address === undefined || state === undefined) return 'nothing';
    const { generation, version } = state.heartbeat;
    const values = [...state.states].map(([name, { value, version: at }]) => {
      const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
      return `${name}=${shown}@${at}`;
    });
    const live = this.gossiper.isAlive(address) ? 'UP' : 'DOWN';
    return `/${address} ${live} generation ${generation} heartbeat ${version}: ${values.join(' ')}`;
  }

  /** Resolves once the peer changes gossip reported so far are saved (or their failure logged). */
  peersSaved(): Promise<void> {
    return this.peerRecorder?.flushed() ?? Promise.resolve();
  }

  /** Registers the gossip verbs and starts the rounds. Call once. */
  start(): void {
    for (const verb of GOSSIP_VERBS) {
      this.options.transport.onMessage(verb, (from, payload) => {
        // A stopped service leaves its handlers registered (transports cannot remove one).
        if (this.stopped) return;
        const message = decodeGossipMessage(verb, payload);
        this.handle(this.gossiper.receive(from, message, this.options.clock.nowMillis()));
      });
    }
    if (this.phase === 'waiting-for-seed' && this.startsCluster) this.join();
    this.stopTimer = (this.options.scheduler ?? TIMER_SCHEDULER).every(GOSSIP_INTERVAL_MS, () => this.round());
  }

  /**
   * Stops gossiping (the caller closes the transport; peers will convict this node DOWN)
   * and saving peers; await peersSaved() for a write under way before closing the store.
   */
  stop(): void {
    this.stopped = true;
    this.stopTimer?.();
    this.stopTimer = null;
    void this.peerRecorder?.stop();
  }

  /** Changes a local application state (SCHEMA after a schema change, LOAD …); spread from the next round. */
  setLocalState(name: ApplicationStateName, value: string): void {
    this.gossiper.setLocalState(name, value);
    this.membership.setLocalState(name, value);
  }

  /** Decommission begins: still a replica of its ranges, but coordinators also write to their next owners. */
  announceLeaving(): void {
    if (this.phase !== 'normal') throw new ServerError(`Cannot leave the ring: this node is ${this.phase}, not NORMAL`);
    this.phase = 'leaving';
    this.setLocalState(ApplicationState.STATUS, Status.LEAVING);
    this.logger.info({}, `Node /${this.options.transport.address} state jump to LEAVING`);
  }

  /** Decommission done: out of the ring everywhere. The caller stops gossip a few rounds later, once it spread. */
  announceLeft(): void {
    if (this.phase !== 'normal' && this.phase !== 'leaving') {
      throw new ServerError(`Cannot announce LEFT: this node is ${this.phase}`);
    }
    this.phase = 'left';
    this.setLocalState(ApplicationState.STATUS, Status.LEFT);
    this.logger.info({}, `Node /${this.options.transport.address} state jump to LEFT`);
  }

  /**
   * removenode: announces the dead endpoint at `address` (host id `hostId`) `removed` on
   * its behalf. Gossip spreads it, every node drops it from the ring and never marks it
   * UP again unless it restarts.
   */
  announceRemoved(address: string, hostId: string): void {
    this.injectStatus(address, hostId, Status.REMOVED);
    this.logger.info({ endpoint: address }, `Removed host ${hostId} (/${address}) from the ring`);
  }

  /**
   * removenode starts: the dead endpoint keeps its ranges, but every node now writes to
   * those gaining them (pending replicas) while they fetch its data.
   */
  announceRemoving(address: string, hostId: string): void {
    this.injectStatus(address, hostId, Status.REMOVING);
    this.logger.info({ endpoint: address }, `Removing host ${hostId} (/${address}): re-replicating its ranges`);
  }

  private injectStatus(address: string, hostId: string, status: string): void {
    const known = this.gossiper.stateOf(address)?.states.get(ApplicationState.HOST_ID)?.value;
    if (known !== hostId) {
      throw new ServerError(`Gossip knows /${address} as host ${known ?? 'unknown'}, not ${hostId}`);
    }
    this.membership.apply(this.gossiper.injectState(address, ApplicationState.STATUS, `${status},${hostId}`));
    this.peerRecorder?.changed();
  }

  private round(): void {
    if (this.stopped) return;
    this.handle(this.gossiper.tick(this.options.clock.nowMillis()));
    if (this.phase !== 'waiting-for-seed') return;
    this.bootRoundsLeft--;
    // A seed known only as a saved peer has told this node nothing yet.
    const heardFromSeed = this.otherSeeds.some((seed) => this.gossiper.hasHeardOf(seed));
    if (heardFromSeed) {
      this.join();
    } else if (this.bootRoundsLeft <= 0) {
      // Bootstrapping needs replicas to stream from; a plain join can start from what it knows.
      if (this.bootstrap === null) this.join();
      else this.fail(new ServerError(`Unable to contact any seeds (${this.otherSeeds.join(', ')}) to bootstrap from`));
    }
  }

  private handle(output: GossipOutput): void {
    // A syn goes to several peers as one object: encode it once.
    let lastMessage: GossipMessage | null = null;
    let lastBytes: Uint8Array = new Uint8Array(0);
    for (const { to, message } of output.send) {
      if (message !== lastMessage) {
        lastMessage = message;
        lastBytes = encodeGossipMessage(message);
      }
      this.options.transport.send(to, gossipVerb(message), lastBytes);
    }
    if (output.events.length === 0) return;
    for (const event of output.events) {
      if (event.kind === 'up' || event.kind === 'down') {
        this.logger.info({ endpoint: event.endpoint }, `InetAddress /${event.endpoint} is now ${event.kind.toUpperCase()}`);
      } else if (event.kind === 'restarted' && this.gossiper.isAlive(event.endpoint)) {
        // Not for a state removenode spoke for (a new generation too), which is no restart.
        this.logger.info({ endpoint: event.endpoint }, `Node /${event.endpoint} has restarted, now UP`);
      }
    }
    this.membership.apply(output.events);
    if (output.events.some(changesPeerRecord)) this.peerRecorder?.changed();
  }

  /** Takes tokens (and bootstraps, when it has to), then announces NORMAL; see the file comment. */
  private join(): void {
    this.phase = 'joining';
    this.joinRing().then(
      () => this.resolveReady(),
      (error: unknown) => this.fail(error),
    );
  }

  private async joinRing(): Promise<void> {
    // The node that starts the cluster has nobody to stream from, so it never bootstraps.
    const hooks = this.startsCluster ? null : this.bootstrap;
    if (hooks !== null) {
      this.logger.info({}, 'JOINING: waiting for the schema');
      await hooks.prepare();
      this.assertRunning();
    }
    let tokens = this.options.initialTokens;
    if (tokens === null || tokens.length === 0) {
      const { dc, rack, numTokens } = this.options;
      // Against the ring as it will be, so nodes joining at once do not pick the same ranges.
      const ring = this.membership.futureRing() ?? this.membership.ring();
      tokens = allocateTokens(ring, { dc, rack }, numTokens, this.random, this.options.allocationReplicationFactor);
      // Without durable tokens a restart could claim different ranges: persist before announcing.
      await this.options.persistTokens(tokens);
      this.assertRunning();
    }
    if (hooks !== null) {
      this.setLocalState(ApplicationState.TOKENS, formatTokens(tokens));
      this.setLocalState(ApplicationState.STATUS, Status.BOOT);
      this.tokensAnnounced = true;
      this.logger.info({ tokens: tokens.length }, 'JOINING: tokens announced, starting to bootstrap');
      await hooks.run(tokens);
      this.assertRunning();
    }
    if (this.bootstrap !== null) {
      await this.bootstrap.completed();
      this.assertRunning();
    }
    if (!this.tokensAnnounced) this.setLocalState(ApplicationState.TOKENS, formatTokens(tokens));
    this.setLocalState(ApplicationState.STATUS, Status.NORMAL);
    this.phase = 'normal';
    this.logger.info({ tokens: tokens.length }, `Node /${this.options.transport.address} state jump to NORMAL`);
  }

  private assertRunning(): void {
    if (this.stopped) throw new ServerError('Gossip stopped before this node joined the ring');
  }

  private fail(error: unknown): void {
    this.phase = 'failed';
    // Coordinators treat a BOOT node with tokens as a pending replica: withdraw them so
    // writes stop going to a node that will not join (a restart announces them again).
    if (this.tokensAnnounced && !this.stopped) this.setLocalState(ApplicationState.TOKENS, '');
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn({ err: error }, `Could not join the ring (${reason}); this node stays out of it`);
    this.rejectReady(error);
  }
}
