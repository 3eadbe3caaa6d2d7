/**
 * The gossip state machine: Cassandra's Gossiper without the I/O. The caller feeds it
 * ticks (once a second) and received messages, with the time; it answers with the
 * messages to send and the membership events the node should act on. Nothing here
 * touches the network, a timer or Math.random, so a whole cluster can run in one process
 * under a simulated clock and a seeded random.
 *
 * Protocol (as Cassandra's): every round the node bumps its own heartbeat and sends a
 * GossipDigestSyn listing (endpoint, generation, maxVersion) for every endpoint it knows.
 * The receiver answers with a GossipDigestAck holding the states the sender lacks and
 * digests of what it wants in return; the sender completes with a GossipDigestAck2.
 * A state sent against a digest is a delta (the versions above the digest's, `since`),
 * and applies only to the copy the digest described: one sent to a previous process of
 * the receiver, or to a copy since replaced, is dropped (see `completes`).
 *
 * Liveness: a newer heartbeat (or any newer state) from an endpoint is reported to the
 * phi-accrual failure detector; every tick convicts the live endpoints whose phi crossed
 * the threshold. Cassandra confirms an endpoint alive with an echo round trip before
 * marking it UP; here the evidence is gossip itself:
 * - an endpoint first heard of (second hand, possibly long dead) is known but not live
 *   until a newer version of its state arrives, which only a running node produces;
 * - a higher generation (a restart) marks it UP at once: only a running process makes one;
 * - a newer version for a DOWN endpoint marks it UP again;
 * - never an endpoint in a dead state (STATUS LEFT or removed, see endpoint-state.ts):
 *   it left the cluster, and a live one is marked DOWN as soon as its state says so. Only
 *   a new generation — a new process, which announces its own STATUS — brings it back,
 *   as in Cassandra, where a removed node can return only by restarting.
 *
 * Saved peers (Cassandra's system.peers): at start the node knows, from its system store,
 * the peers that owned tokens when it stopped. addSavedEndpoint makes each one known
 * before gossip has said anything about it, in generation 0 with every version 0, so:
 * - it is unreachable (DOWN) until proven running, like any endpoint first heard of;
 * - any real state of it (a generation above 0) replaces the saved one, reported as
 *   `joined`, not as a restart: it may come second hand from a node that last saw it
 *   long ago, so it is UP only once a newer version follows;
 * - its digest (generation 0, version 0) gets its real state back from any node that
 *   knows one, and asks for nothing from one that does not;
 * - it never spreads: an ack sends only versions above the ones asked for, and no saved
 *   version is above 0.
 *
 * removenode speaks for a dead node: injectState sets a state of another endpoint in a
 * generation one above its own (Cassandra's removenode does the same), so every node
 * replaces what it knew of it and spreads it on. A version bump alone would not do:
 * digests compare maximum versions, and a node that heard a later heartbeat of the
 * dead process than this one did would never ask for the new state.
 */
import { assert, ServerError } from '../errors.js';
import {
  EndpointState,
  type ApplicationStateName,
  type EndpointStateMessage,
  type EndpointStateView,
  type VersionedValue,
} from './endpoint-state.js';
import { FailureDetector } from './failure-detector.js';

/** Cassandra's default `cluster_name`; nodes only gossip with nodes of the same cluster. */
export const DEFAULT_CLUSTER_NAME = 'Test Cluster';

export interface GossipDigest {
  readonly endpoint: string;
  readonly generation: number;
  readonly maxVersion: number;
}

export interface GossipDigestSyn {
  readonly kind: 'GossipDigestSyn';
  readonly clusterName: string;
  readonly digests: readonly GossipDigest[];
}

export interface GossipDigestAck {
  readonly kind: 'GossipDigestAck';
  /** Endpoints the sender of the ack wants states for, newer than `maxVersion`. */
  readonly requests: readonly GossipDigest[];
  /** States the syn's sender lacks. */
  readonly states: readonly EndpointStateMessage[];
}

export interface GossipDigestAck2 {
  readonly kind: 'GossipDigestAck2';
  readonly states: readonly EndpointStateMessage[];
}

export type GossipMessage = GossipDigestSyn | GossipDigestAck | GossipDigestAck2;

export interface Envelope {
  readonly to: string;
  readonly message: GossipMessage;
}

/**
 * Membership changes. `joined` and `restarted` carry the endpoint's whole state and are not
 * followed by `state-changed` events for it; `state-changed` is one application state
 * updated within a generation.
 */
export type GossipEvent =
  | { readonly kind: 'joined'; readonly endpoint: string; readonly state: EndpointStateView }
  | { readonly kind: 'restarted'; readonly endpoint: string; readonly state: EndpointStateView }
  | {
      readonly kind: 'state-changed';
      readonly endpoint: string;
      readonly name: ApplicationStateName;
      readonly value: VersionedValue;
    }
  | { readonly kind: 'up'; readonly endpoint: string }
  | { readonly kind: 'down'; readonly endpoint: string };

/** What one input produced: messages for the caller to send, and events to act on. */
export interface GossipOutput {
  readonly send: Envelope[];
  readonly events: GossipEvent[];
}

export interface GossiperOptions {
  /** This node's internode address (host:port); endpoints are named by address. */
  readonly localEndpoint: string;
  /** Seconds since the epoch at start, larger than any previous run's (kept in the system store). */
  readonly generation: number;
  /** Seed addresses; this node's own address may be among them. */
  readonly seeds: readonly string[];
  /** Uniform in [0, 1); seeded in tests. */
  readonly random: () => number;
  readonly clusterName?: string;
  /** Application states this node starts with. */
  readonly localStates?: Iterable<readonly [ApplicationStateName, string]>;
  readonly failureDetector?: FailureDetector;
}

/**
 * Whether a received state may be applied to what is known of its endpoint: a whole
 * state always may; a delta (the versions above `since`) only to a copy at its
 * generation holding at least `since`, the copy it was computed against. Anything else
 * means the answer was meant for another copy: a previous process of this node (the
 * link queued it across a restart), or a copy since replaced. Applied, it would leave a
 * state without the versions at or below `since` — HOST_ID, TOKENS, STATUS — that no
 * digest asks for again, as the maximum version already covers them: the endpoint would
 * drop out of the ring for good. Dropped, the next digest fetches the whole state.
 */
function completes(known: EndpointState | undefined, message: EndpointStateMessage): boolean {
  const since = message.since ?? 0;
  if (since === 0) return true;
  return known !== undefined && known.generation === message.heartbeat.generation && known.maxVersion() >= since;
}

/** Asking for versions above this asks for everything: versions start at 1. */
const ALL_VERSIONS = 0;
/** The generation (and version) of a saved endpoint's state: below anything a running node gossips. */
export const SAVED_GENERATION = 0;

export class Gossiper {
  readonly localEndpoint: string;
  readonly clusterName: string;
  private readonly seeds: readonly string[];
  private readonly seedSet: ReadonlySet<string>;
  private readonly random: () => number;
  private readonly failureDetector: FailureDetector;
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly live = new Set<string>();
  private readonly unreachable = new Set<string>();
  private readonly local: EndpointState;
  /** One counter for the heartbeat and every local application state (see endpoint-state.ts). */
  private lastVersion = 0;

  constructor(options: GossiperOptions) {
    assert(Number.isInteger(options.generation) && options.generation > 0, `bad generation ${options.generation}`);
    this.localEndpoint = options.localEndpoint;
    this.clusterName = options.clusterName ?? DEFAULT_CLUSTER_NAME;
    this.seeds = options.seeds.filter((seed) => seed !== options.localEndpoint);
    this.seedSet = new Set(this.seeds);
    this.random = options.random;
    this.failureDetector = options.failureDetector ?? new FailureDetector();
    this.local = new EndpointState({ generation: options.generation, version: this.nextVersion() });
    this.endpoints.set(this.localEndpoint, this.local);
    for (const [name, value] of options.localStates ?? []) this.setLocalState(name, value);
  }

  /** Changes one of this node's application states; gossip spreads it from the next round. */
  setLocalState(name: ApplicationStateName, value: string): void {
    this.local.states.set(name, { value, version: this.nextVersion() });
  }

  /**
   * Sets a state of another endpoint, as if it had announced it, in a generation one above
   * its own and with a version above everything known of it (see the file comment), so
   * it replaces that endpoint's state everywhere; only a real restart, with a generation
   * from the clock, supersedes it. Returns the events it caused here (the state change,
   * DOWN if the endpoint is now dead), which the caller applies like those of a round.
   */
  injectState(endpoint: string, name: ApplicationStateName, value: string): GossipEvent[] {
    if (endpoint === this.localEndpoint) throw new ServerError('Use setLocalState for the local endpoint');
    const known = this.endpoints.get(endpoint);
    if (known === undefined) throw new ServerError(`Cannot set ${name} of /${endpoint}: gossip does not know it`);
    const saved = known.generation === SAVED_GENERATION;
    // Known only from the saved peers, its real generation is unknown here, while other
    // nodes may know it: this node's own start time is above that of any process of it
    // that died before this node started, so the state replaces theirs.
    const generation = saved ? this.local.generation : known.generation + 1;
    const base = known.maxVersion();
    // Saved values are all at version 0, which no request asks for: renumber them so the
    // whole state spreads with the injected value, as a real state would (else peers
    // would replace what they knew of it by a state without host id or tokens).
    const version = base + 1 + (saved ? known.states.size : 0);
    const state = new EndpointState({ generation, version });
    let renumbered = base;
    for (const [other, current] of known.states) {
      state.states.set(other, saved ? { value: current.value, version: ++renumbered } : current);
    }
    const versioned = { value, version };
    state.states.set(name, versioned);
    this.endpoints.set(endpoint, state);
    const events: GossipEvent[] = [{ kind: 'state-changed', endpoint, name, value: versioned }];
    if (state.isDead() && this.live.has(endpoint)) this.markDown(endpoint, events);
    return events;
  }

  /**
   * Makes a peer saved at the last run known, DOWN, with `states` (see the file comment);
   * real gossip about it replaces them. Returns the `joined` event for membership. An
   * endpoint gossip already knows, or this node's own address, is left as it is.
   */
  addSavedEndpoint(endpoint: string, states: Iterable<readonly [ApplicationStateName, string]>): GossipEvent[] {
    if (endpoint === this.localEndpoint || this.endpoints.has(endpoint)) return [];
    const state = new EndpointState({ generation: SAVED_GENERATION, version: SAVED_GENERATION });
    for (const [name, value] of states) state.states.set(name, { value, version: SAVED_GENERATION });
    this.endpoints.set(endpoint, state);
    this.unreachable.add(endpoint);
    return [{ kind: 'joined', endpoint, state: state.view() }];
  }

  /** Whether gossip has said anything of `endpoint` in this run: it is known, and not only as a saved peer. */
  hasHeardOf(endpoint: string): boolean {
    const state = this.endpoints.get(endpoint);
    return state !== undefined && state.generation !== SAVED_GENERATION;
  }

  /**
   * One gossip round (call once a second): bump the heartbeat, send a syn to a random live
   * peer, maybe to an unreachable one and maybe to a seed (Cassandra's rules), then convict
   * the live endpoints the failure detector now considers DOWN.
   */
  tick(nowMs: number): GossipOutput {
    this.local.heartbeat = { generation: this.local.generation, version: this.nextVersion() };
    const syn: GossipDigestSyn = { kind: 'GossipDigestSyn', clusterName: this.clusterName, digests: this.digests() };
    const send: Envelope[] = [];
    const targets = new Set<string>();

    const liveTarget = this.pick([...this.live]);
    if (liveTarget !== undefined) targets.add(liveTarget);

    // Unreachable endpoints get a syn now and then, so one that comes back is noticed;
    // the fewer live peers, the more often.
    if (this.unreachable.size > 0 && this.random() < this.unreachable.size / (this.live.size + 1)) {
      const target = this.pick([...this.unreachable]);
      if (target !== undefined) targets.add(target);
    }

    // Seeds are the rendezvous that heal partitions and introduce new nodes: always when
    // nothing else is live, otherwise in proportion to their share of the cluster.
    const gossipedToSeed = liveTarget !== undefined && this.seedSet.has(liveTarget);
    if (this.seeds.length > 0 && (!gossipedToSeed || this.live.size < this.seeds.length)) {
      const known = this.live.size + this.unreachable.size;
      if (this.live.size === 0 || this.random() <= this.seeds.length / known) {
        const seed = this.pick(this.seeds);
        if (seed !== undefined) targets.add(seed);
      }
    }

    for (const to of targets) send.push({ to, message: syn });
    const events: GossipEvent[] = [];
    for (const endpoint of this.live) {
      if (this.failureDetector.interpret(endpoint, nowMs) === 'DOWN') this.markDown(endpoint, events);
    }
    return { send, events };
  }

  receive(from: string, message: GossipMessage, nowMs: number): GossipOutput {
    const send: Envelope[] = [];
    const events: GossipEvent[] = [];
    switch (message.kind) {
      case 'GossipDigestSyn': {
        // A node of another cluster (mis-set seeds) must not merge rings with this one.
        if (message.clusterName !== this.clusterName) break;
        const ack = this.examine(message.digests);
        send.push({ to: from, message: ack });
        break;
      }
      case 'GossipDigestAck': {
        this.apply(message.states, nowMs, events);
        const states: EndpointStateMessage[] = [];
        for (const request of message.requests) {
          const state = this.endpoints.get(request.endpoint);
          if (state === undefined) continue;
          // A request made against another generation wants all of this one.
          const since = request.generation === state.generation ? request.maxVersion : ALL_VERSIONS;
          const newer = state.newerThan(request.endpoint, since);
          if (newer !== null) states.push(newer);
        }
        if (states.length > 0) send.push({ to: from, message: { kind: 'GossipDigestAck2', states } });
        break;
      }
      case 'GossipDigestAck2':
        this.apply(message.states, nowMs, events);
        break;
    }
    return { send, events };
  }

  /** Endpoints currently considered UP, this node excluded. */
  liveEndpoints(): string[] {
    return [...this.live];
  }

  /** Endpoints known but not UP: convicted, or heard of but not yet seen running. */
  unreachableEndpoints(): string[] {
    return [...this.unreachable];
  }

  isAlive(endpoint: string): boolean {
    return this.live.has(endpoint);
  }

  /** A copy of what is known about `endpoint` (this node included), or undefined. */
  stateOf(endpoint: string): EndpointStateView | undefined {
    return this.endpoints.get(endpoint)?.view();
  }

  private nextVersion(): number {
    return ++this.lastVersion;
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  private digests(): GossipDigest[] {
    const digests: GossipDigest[] = [];
    for (const [endpoint, state] of this.endpoints) {
      digests.push({ endpoint, generation: state.generation, maxVersion: state.maxVersion() });
    }
    return digests;
  }

  /** Compares a syn's digests with what is known: what to ask for, what to send back. */
  private examine(digests: readonly GossipDigest[]): GossipDigestAck {
    const requests: GossipDigest[] = [];
    const states: EndpointStateMessage[] = [];
    for (const digest of digests) {
      const local = this.endpoints.get(digest.endpoint);
      if (local === undefined || digest.generation > local.generation) {
        requests.push({ endpoint: digest.endpoint, generation: digest.generation, maxVersion: ALL_VERSIONS });
        continue;
      }
      if (digest.generation < local.generation) {
        const all = local.newerThan(digest.endpoint, ALL_VERSIONS);
        if (all !== null) states.push(all);
        continue;
      }
      const localMax = local.maxVersion();
      if (digest.maxVersion > localMax) {
        requests.push({ endpoint: digest.endpoint, generation: digest.generation, maxVersion: localMax });
      } else if (digest.maxVersion < localMax) {
        const newer = local.newerThan(digest.endpoint, digest.maxVersion);
        if (newer !== null) states.push(newer);
      }
    }
    return { kind: 'GossipDigestAck', requests, states };
  }

  /**
   * Merges received states: a higher generation replaces everything known about the
   * endpoint, the same generation takes each newer version, an older generation is stale.
   */
  private apply(messages: readonly EndpointStateMessage[], nowMs: number, events: GossipEvent[]): void {
    for (const message of messages) {
      const endpoint = message.endpoint;
      // Only this node speaks for itself; echoes of its own state are old by definition.
      if (endpoint === this.localEndpoint) continue;
      const known = this.endpoints.get(endpoint);
      if (!completes(known, message)) continue;

      // A saved endpoint is known only from this node's last run: its first real state is a first sighting.
      if (known === undefined || (known.generation === SAVED_GENERATION && message.heartbeat.generation > SAVED_GENERATION)) {
        const state = EndpointState.fromMessage(message);
        this.endpoints.set(endpoint, state);
        this.unreachable.add(endpoint);
        events.push({ kind: 'joined', endpoint, state: state.view() });
        continue;
      }

      if (message.heartbeat.generation > known.generation) {
        const state = EndpointState.fromMessage(message);
        this.endpoints.set(endpoint, state);
        events.push({ kind: 'restarted', endpoint, state: state.view() });
        this.heardFrom(endpoint, state, nowMs, events);
        continue;
      }

      if (message.heartbeat.generation < known.generation) continue;

      const knownMax = known.maxVersion();
      if (message.heartbeat.version > known.heartbeat.version) known.heartbeat = message.heartbeat;
      for (const entry of message.states) {
        const current = known.states.get(entry.name);
        if (current !== undefined && current.version >= entry.version) continue;
        const value = { value: entry.value, version: entry.version };
        known.states.set(entry.name, value);
        events.push({ kind: 'state-changed', endpoint, name: entry.name, value });
      }
      if (known.maxVersion() > knownMax) this.heardFrom(endpoint, known, nowMs, events);
    }
  }

  /** Newer state arrived: evidence the endpoint runs, unless the state says it left. */
  private heardFrom(endpoint: string, state: EndpointState, nowMs: number, events: GossipEvent[]): void {
    if (state.isDead()) {
      if (this.live.has(endpoint)) this.markDown(endpoint, events);
      return;
    }
    this.failureDetector.report(endpoint, nowMs);
    this.markUp(endpoint, events);
  }

  private markUp(endpoint: string, events: GossipEvent[]): void {
    if (this.live.has(endpoint)) return;
    this.unreachable.delete(endpoint);
    this.live.add(endpoint);
    events.push({ kind: 'up', endpoint });
  }

  private markDown(endpoint: string, events: GossipEvent[]): void {
    this.live.delete(endpoint);
    this.unreachable.add(endpoint);
    events.push({ kind: 'down', endpoint });
  }
}
