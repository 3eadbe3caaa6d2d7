/**
 * The cluster as gossip describes it: who the endpoints are (host id, dc, rack, tokens,
 * status, HTTP address, load, schema version) and which are alive. It implements
 * ClusterView for the coordinator, fed with the Gossiper's events by GossipService.
 *
 * Endpoints are keyed by their gossip address (the internode listen address). The ring
 * holds the endpoints that own tokens — STATUS NORMAL, or LEAVING, which still owns its
 * ranges until it has streamed them away. The future ring is the ring once every
 * announced movement completes: joining endpoints (BOOT with tokens) added, LEAVING ones
 * removed; null while nothing moves. Endpoints that LEFT or were removed are in neither.
 * Both are derived only when something they depend on changes (status, tokens, host id,
 * dc, rack, an endpoint replaced), and the previous ring object is kept when the change
 * leaves it as it was (NORMAL → LEAVING changes only the future ring), so the placements
 * cached on it survive; the coordinator reads both on every request.
 *
 * Gossip can carry conflicting claims: two addresses with the same host id (a node that
 * moved) or the same token (two nodes that allocated at once). As Cassandra does, the
 * endpoint started last (highest generation) wins, so the ring can always be built.
 */
import { MAX_TOKEN, MIN_TOKEN } from '../model/token.js';
import type { ClusterView } from './cluster-view.js';
import {
  ApplicationState,
  type ApplicationStateName,
  type EndpointStateView,
  Status,
  statusName,
} from './endpoint-state.js';
import type { GossipEvent } from './gossip.js';
import { type Endpoint, TokenRing } from './ring.js';

export { Status } from './endpoint-state.js';

/** Status of an endpoint as `nodetool status` prints it: Up/Down, then Normal/Joining/Leaving. */
export type EndpointStatusCode = 'UN' | 'DN' | 'UJ' | 'DJ' | 'UL' | 'DL';

export interface EndpointDescription {
  readonly id: string;
  readonly address: string;
  readonly dc: string;
  readonly rack: string;
  readonly status: EndpointStatusCode;
  /** Bytes on disk as last gossiped; null before the endpoint has said. */
  readonly load: number | null;
  /** Number of tokens (vnodes) it holds. */
  readonly tokens: number;
  readonly httpAddress: string | null;
  readonly schemaVersion: string | null;
}

/** The second letter of `nodetool status` per STATUS; others (LEFT, removed) are not listed. */
const STATUS_LETTER: ReadonlyMap<string, 'N' | 'J' | 'L'> = new Map([
  [Status.NORMAL, 'N'],
  [Status.BOOT, 'J'],
  [Status.LEAVING, 'L'],
  // Being removed: still an owner until its ranges are re-replicated, and down.
  [Status.REMOVING, 'L'],
]);

/** Application states the ring is built from: a change to any of them rebuilds it. */
const RING_STATES: ReadonlySet<ApplicationStateName> = new Set([
  ApplicationState.STATUS,
  ApplicationState.TOKENS,
  ApplicationState.HOST_ID,
  ApplicationState.DC,
  ApplicationState.RACK,
]);

/** What gossip says about one endpoint, parsed. */
interface Member {
  readonly address: string;
  generation: number;
  hostId: string | null;
  dc: string | null;
  rack: string | null;
  /** The first part of STATUS ("NORMAL,<token>" → "NORMAL"). */
  status: string | null;
  tokens: readonly bigint[];
  httpAddress: string | null;
  load: number | null;
  schemaVersion: string | null;
}

/** Tokens gossiped as comma-separated decimals; a malformed list counts as none. */
export function parseTokens(text: string): bigint[] {
  if (text === '') return [];
  const tokens: bigint[] = [];
  for (const part of text.split(',')) {
    if (!/^-?\d+$/.test(part)) return [];
    const token = BigInt(part);
    if (token < MIN_TOKEN || token > MAX_TOKEN) return [];
    tokens.push(token);
  }
  return tokens;
}

export function formatTokens(tokens: readonly bigint[]): string {
  return tokens.join(',');
}

export class Membership implements ClusterView {
  private readonly members = new Map<string, Member>();
  private readonly live = new Set<string>();
  private readonly listeners: (() => void)[] = [];
  private readonly localMember: Member;
  /** Derived from `members` by `refresh`, when `stale`. */
  private tokenRing = TokenRing.empty;
  private future: TokenRing | null = null;
  private addressByHostId = new Map<string, string>();
  private localEndpoint: Endpoint;
  private stale = true;

  /** `localState` is the local node's gossip state at start (Gossiper.stateOf its address). */
  constructor(
    readonly localAddress: string,
    localState: EndpointStateView,
  ) {
    this.localMember = memberFrom(localAddress, localState);
    this.members.set(localAddress, this.localMember);
    this.localEndpoint = endpointFrom(this.localMember);
  }

  /** This node, with its current tokens (none while it boots). */
  get local(): Endpoint {
    this.refresh();
    return this.localEndpoint;
  }

  ring(): TokenRing {
    this.refresh();
    return this.tokenRing;
  }

  futureRing(): TokenRing | null {
    this.refresh();
    return this.future;
  }

  isAlive(endpointId: string): boolean {
    this.refresh();
    const address = this.addressByHostId.get(endpointId);
    if (address === this.localAddress) return true;
    return address !== undefined && this.live.has(address);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The gossip address of the endpoint with this host id, if known. */
  addressOf(endpointId: string): string | undefined {
    this.refresh();
    return this.addressByHostId.get(endpointId);
  }

  /** The host id gossip gives the endpoint at `address`, null when it has none or is unknown. */
  hostIdAt(address: string): string | null {
    return this.members.get(address)?.hostId ?? null;
  }

  /** The schema version the endpoint with this host id last gossiped, or null. */
  schemaVersionOf(endpointId: string): string | null {
    return this.memberOf(endpointId)?.schemaVersion ?? null;
  }

  /** The first part of the endpoint's STATUS (BOOT, NORMAL, LEAVING, LEFT, removed), null when unknown. */
  statusOf(endpointId: string): string | null {
    return this.memberOf(endpointId)?.status ?? null;
  }

  /** Any known endpoint, with the tokens it announced: also while joining, leaving or DOWN. */
  endpointOf(endpointId: string): Endpoint | undefined {
    const member = this.memberOf(endpointId);
    return member === undefined ? undefined : endpointFrom(member);
  }

  /** Every endpoint with a host id and a listed status, by address: `sibyl status`. */
  describe(): EndpointDescription[] {
    const descriptions: EndpointDescription[] = [];
    for (const member of this.members.values()) {
      const letter = member.status === null ? undefined : STATUS_LETTER.get(member.status);
      if (letter === undefined || member.hostId === null) continue;
      const up = member.address === this.localAddress || this.live.has(member.address);
      descriptions.push({
        id: member.hostId,
        address: member.address,
        dc: member.dc ?? '',
        rack: member.rack ?? '',
        status: (up ? `U${letter}` : `D${letter}`) as EndpointStatusCode,
        load: member.load,
        tokens: member.tokens.length,
        httpAddress: member.httpAddress,
        schemaVersion: member.schemaVersion,
      });
    }
    return descriptions.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  /** Applies the Gossiper's events; listeners hear once per batch that changed ring or liveness. */
  apply(events: readonly GossipEvent[]): void {
    let changed = false;
    for (const event of events) {
      if (event.endpoint === this.localAddress) continue;
      switch (event.kind) {
        case 'joined':
        case 'restarted':
          this.members.set(event.endpoint, memberFrom(event.endpoint, event.state));
          this.stale = true;
          changed = true;
          break;
        case 'state-changed': {
          const member = this.members.get(event.endpoint);
          // Gossip reports a state change only for an endpoint it announced first.
          if (member === undefined) break;
          setState(member, event.name, event.value.value);
          if (RING_STATES.has(event.name)) {
            this.stale = true;
            changed = true;
          }
          break;
        }
        case 'up':
          if (!this.live.has(event.endpoint)) {
            this.live.add(event.endpoint);
            changed = true;
          }
          break;
        case 'down':
          if (this.live.delete(event.endpoint)) changed = true;
          break;
      }
    }
    if (changed) this.notify();
  }

  /** Mirrors a change of the local node's own state (the Gossiper reports none for itself). */
  setLocalState(name: ApplicationStateName, value: string): void {
    setState(this.localMember, name, value);
    if (RING_STATES.has(name)) {
      this.stale = true;
      this.notify();
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private memberOf(endpointId: string): Member | undefined {
    const address = this.addressOf(endpointId);
    return address === undefined ? undefined : this.members.get(address);
  }

  private refresh(): void {
    if (!this.stale) return;
    this.stale = false;
    // Newest start first, so it keeps a host id or token that an older claim also names.
    const candidates = [...this.members.values()].sort(
      (a, b) => b.generation - a.generation || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0),
    );
    const addressByHostId = new Map<string, string>();
    const claimed = new Set<bigint>();
    const owners: Endpoint[] = [];
    const joining: Member[] = [];
    const leaving = new Set<string>();
    for (const member of candidates) {
      if (member.hostId === null || addressByHostId.has(member.hostId)) continue;
      addressByHostId.set(member.hostId, member.address);
      if (member.dc === null || member.rack === null) continue;
      if (member.status === Status.BOOT) {
        joining.push(member);
        continue;
      }
      const leaves = member.status === Status.LEAVING || member.status === Status.REMOVING;
      if (member.status !== Status.NORMAL && !leaves) continue;
      const owner = claim(member, claimed);
      if (owner === null) continue;
      owners.push(owner);
      if (leaves) leaving.add(owner.id);
    }
    // Joining endpoints come after every owner: a token an owner holds stays its own, and
    // a joining claim on it is ignored, so the future ring can always be built.
    const joiners: Endpoint[] = [];
    for (const member of joining) {
      const joiner = claim(member, claimed);
      if (joiner !== null) joiners.push(joiner);
    }
    this.addressByHostId = addressByHostId;
    if (!sameEndpoints(this.tokenRing.endpoints, owners)) this.tokenRing = new TokenRing(owners);
    if (joiners.length === 0 && leaving.size === 0) {
      this.future = null;
    } else {
      const future = [...owners.filter((owner) => !leaving.has(owner.id)), ...joiners];
      if (this.future === null || !sameEndpoints(this.future.endpoints, future)) this.future = new TokenRing(future);
    }
    this.localEndpoint = endpointFrom(this.localMember);
  }
}

/** The member as an endpoint with the tokens no endpoint before it claimed; null when none are left. */
function claim(member: Member, claimed: Set<bigint>): Endpoint | null {
  const tokens = member.tokens.filter((token) => !claimed.has(token));
  if (tokens.length === 0) return null;
  for (const token of tokens) claimed.add(token);
  return { ...endpointFrom(member), tokens };
}

/** Whether two endpoint lists are the same, in the same order: then the ring built from them is too. */
function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.id !== y.id || x.address !== y.address || x.dc !== y.dc || x.rack !== y.rack) return false;
    if (x.tokens.length !== y.tokens.length || x.tokens.some((token, j) => token !== y.tokens[j])) return false;
  }
  return true;
}

function memberFrom(address: string, state: EndpointStateView): Member {
  const member: Member = {
    address,
    generation: state.heartbeat.generation,
    hostId: null,
    dc: null,
    rack: null,
    status: null,
    tokens: [],
    httpAddress: null,
    load: null,
    schemaVersion: null,
  };
  for (const [name, { value }] of state.states) setState(member, name, value);
  return member;
}

function setState(member: Member, name: ApplicationStateName, value: string): void {
  switch (name) {
    case ApplicationState.HOST_ID:
      member.hostId = value;
      break;
    case ApplicationState.DC:
      member.dc = value;
      break;
    case ApplicationState.RACK:
      member.rack = value;
      break;
    case ApplicationState.STATUS:
      member.status = statusName(value);
      break;
    case ApplicationState.TOKENS:
      member.tokens = parseTokens(value);
      break;
    case ApplicationState.HTTP:
      member.httpAddress = value;
      break;
    case ApplicationState.LOAD: {
      const load = Number(value);
      member.load = Number.isFinite(load) && load >= 0 ? load : null;
      break;
    }
    case ApplicationState.SCHEMA:
      member.schemaVersion = value;
      break;
  }
}

function endpointFrom(member: Member): Endpoint {
  return {
    id: member.hostId ?? '',
    address: member.address,
    dc: member.dc ?? '',
    rack: member.rack ?? '',
    tokens: member.tokens,
  };
}
