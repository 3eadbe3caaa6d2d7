/**
 * The I/O shell around the pure Gossiper: a once-a-second timer runs a gossip round and
 * sends what it produced over the transport (GOSSIP_SYN / ACK / ACK2), the verb handlers
 * decode what arrives and feed it back, and every membership event goes to Membership,
 * the node's ClusterView.
 *
 * The local node announces STATUS, TOKENS, DC, RACK, HOST_ID, HTTP, SCHEMA and LOAD.
 * A node that has tokens (from its system store) starts NORMAL. A node on its first start
 * has none: it gossips as BOOT until it has heard from a seed (and so knows the ring as the
 * seed does), or for `bootRoundsMax` rounds if no seed answers, then allocates balanced
 * tokens against that ring, has the caller persist them, and only then announces them
 * and NORMAL — persisting before telling anyone, so a restart can never come back with
 * different tokens than the cluster saw. The first seed, or a node with no other seed,
 * is the one that starts a cluster: it allocates at once.
 *
 * Time comes from an injected clock and the timer from an injected scheduler, so tests
 * run a cluster round by round.
 */
import type { Clock } from '../model/clock.js';
import type { NetLogger, Transport } from '../net/transport.js';
import { SILENT_NET_LOGGER } from '../net/transport.js';
import { ApplicationState, type ApplicationStateName } from './endpoint-state.js';
import type { FailureDetector } from './failure-detector.js';
import { GOSSIP_VERBS, decodeGossipMessage, encodeGossipMessage, gossipVerb } from './gossip-codec.js';
import { type GossipOutput, Gossiper, type GossipMessage } from './gossip.js';
import { Membership, Status, formatTokens } from './membership.js';
import { allocateTokens } from './token-allocation.js';

/** Cassandra gossips once a second. */
export const GOSSIP_INTERVAL_MS = 1000;
/** Rounds a joining node waits to hear from a seed before allocating against what it knows. */
export const DEFAULT_BOOT_ROUNDS_MAX = 30;

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
}

type Phase = 'waiting-for-seed' | 'persisting-tokens' | 'normal' | 'failed';

export class GossipService {
  readonly gossiper: Gossiper;
  readonly membership: Membership;
  /** Resolves once this node is NORMAL with durable tokens; rejects if persisting them failed. */
  readonly ready: Promise<void>;
  private readonly options: GossipServiceOptions;
  private readonly random: () => number;
  private readonly logger: NetLogger;
  private readonly otherSeeds: readonly string[];
  private phase: Phase;
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
    if (tokens !== null && tokens.length > 0) {
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
    // The node that starts the cluster has nobody to learn the ring from.
    const startsCluster = this.otherSeeds.length === 0 || this.options.seeds[0] === this.options.transport.address;
    if (this.phase === 'waiting-for-seed' && startsCluster) this.allocate();
    this.stopTimer = (this.options.scheduler ?? TIMER_SCHEDULER).every(GOSSIP_INTERVAL_MS, () => this.round());
  }

  /** Stops gossiping (the caller closes the transport). Peers will convict this node DOWN. */
  stop(): void {
    this.stopped = true;
    this.stopTimer?.();
    this.stopTimer = null;
  }

  /** Changes a local application state (SCHEMA after a schema change, LOAD …); spread from the next round. */
  setLocalState(name: ApplicationStateName, value: string): void {
    this.gossiper.setLocalState(name, value);
    this.membership.setLocalState(name, value);
  }

  private round(): void {
    if (this.stopped) return;
    this.handle(this.gossiper.tick(this.options.clock.nowMillis()));
    if (this.phase !== 'waiting-for-seed') return;
    this.bootRoundsLeft--;
    const heardFromSeed = this.otherSeeds.some((seed) => this.gossiper.stateOf(seed) !== undefined);
    if (heardFromSeed || this.bootRoundsLeft <= 0) this.allocate();
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
      } else if (event.kind === 'restarted') {
        this.logger.info({ endpoint: event.endpoint }, `Node /${event.endpoint} has restarted, now UP`);
      }
    }
    this.membership.apply(output.events);
  }

  private allocate(): void {
    const { dc, rack, numTokens } = this.options;
    const tokens = allocateTokens(this.membership.ring(), { dc, rack }, numTokens, this.random);
    this.phase = 'persisting-tokens';
    this.options.persistTokens(tokens).then(
      () => {
        if (this.stopped) return;
        this.setLocalState(ApplicationState.TOKENS, formatTokens(tokens));
        this.setLocalState(ApplicationState.STATUS, Status.NORMAL);
        this.phase = 'normal';
        this.logger.info({ tokens: tokens.length }, `Node /${this.options.transport.address} state jump to NORMAL`);
        this.resolveReady();
      },
      (error: unknown) => {
        // Without durable tokens a restart could claim different ranges: stay out of the ring.
        this.phase = 'failed';
        this.logger.warn({ err: error }, 'Could not save the allocated tokens; this node stays out of the ring');
        this.rejectReady(error);
      },
    );
  }
}
