/**
 * The token ring: which endpoint owns which part of the Murmur3 token space.
 *
 * Every endpoint (node) holds a few tokens (vnodes). Sorted, the tokens cut the ring
 * into ranges; the range of ring token `t[i]` is the half-open (t[i-1], t[i]], and the
 * first token's range wraps around: (t[last], t[0]]. A key's token belongs to the range
 * of the first ring token at or after it (the first token when it is past the last),
 * exactly as in Cassandra. A ring of a single token is one range (t, t] covering
 * everything.
 *
 * A TokenRing is immutable: membership changes build a new ring, so anything derived
 * from one (replica placement caches in replication.ts) stays valid as long as the
 * ring object it was derived from.
 */
import { ServerError } from '../errors.js';
import { MAX_TOKEN, MIN_TOKEN } from '../model/token.js';

/** A member of the ring, as gossip describes it. */
export interface Endpoint {
  /** Host id (a UUID string): stable across address changes. */
  readonly id: string;
  /** Internode address, host:port. */
  readonly address: string;
  readonly dc: string;
  readonly rack: string;
  /** Its vnode tokens; empty while it has none (e.g. before bootstrap). */
  readonly tokens: readonly bigint[];
}

/** The token range (start, end]; start === end is the whole ring. */
export interface TokenRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** How many endpoints and racks of one data center own tokens. */
export interface DataCenterTopology {
  readonly endpoints: number;
  readonly racks: number;
}

/** Number of positions on the ring: tokens are signed 64-bit. */
export const RING_SIZE = 2n ** 64n;

/** Width of (start, end] in tokens, counting the wrap-around; the whole ring when start === end. */
export function rangeWidth(range: TokenRange): bigint {
  const width = (range.end - range.start + RING_SIZE) % RING_SIZE;
  return width === 0n ? RING_SIZE : width;
}

/** Whether `token` lies in (start, end], counting the wrap-around. */
export function rangeContains(range: TokenRange, token: bigint): boolean {
  if (range.start < range.end) return token > range.start && token <= range.end;
  // Wrapping (or whole-ring) range: everything after start plus everything up to end.
  return token > range.start || token <= range.end;
}

export class TokenRing {
  /** The ring before any endpoint has tokens. */
  static readonly empty = new TokenRing([]);

  readonly endpoints: readonly Endpoint[];
  /** Ring tokens in ascending order; `owners[i]` holds `tokens[i]`. */
  private readonly tokens: readonly bigint[];
  private readonly owners: readonly Endpoint[];
  private readonly byId: ReadonlyMap<string, Endpoint>;
  /** Sum of the widths of each endpoint's primary ranges, computed once for `ownership`. */
  private readonly ownedWidth: ReadonlyMap<string, bigint>;
  private readonly topology: ReadonlyMap<string, DataCenterTopology>;

  constructor(endpoints: readonly Endpoint[]) {
    const byId = new Map<string, Endpoint>();
    const entries: { token: bigint; owner: Endpoint }[] = [];
    for (const endpoint of endpoints) {
      if (byId.has(endpoint.id)) throw new ServerError(`Host id ${endpoint.id} appears twice in the ring`);
      byId.set(endpoint.id, endpoint);
      for (const token of endpoint.tokens) {
        if (token < MIN_TOKEN || token > MAX_TOKEN) {
          throw new ServerError(`Token ${token} of ${endpoint.address} is outside the Murmur3 token range`);
        }
        entries.push({ token, owner: endpoint });
      }
    }
    entries.sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].token === entries[i - 1].token) {
        const { token, owner } = entries[i];
        throw new ServerError(`Token ${token} is claimed by both ${entries[i - 1].owner.address} and ${owner.address}`);
      }
    }
    this.endpoints = Object.freeze([...endpoints]);
    this.byId = byId;
    this.tokens = Object.freeze(entries.map((entry) => entry.token));
    this.owners = Object.freeze(entries.map((entry) => entry.owner));
    this.ownedWidth = this.measureOwnership();
    this.topology = this.countTopology();
  }

  /** Number of tokens (vnodes) on the ring, and so of ranges. */
  get size(): number {
    return this.tokens.length;
  }

  endpoint(id: string): Endpoint | undefined {
    return this.byId.get(id);
  }

  /** The i-th ring token in ascending order. */
  tokenAt(index: number): bigint {
    return this.tokens[index];
  }

  /** The endpoint holding the i-th ring token. */
  ownerAt(index: number): Endpoint {
    return this.owners[index];
  }

  /** The range ending at the i-th ring token. */
  rangeAt(index: number): TokenRange {
    const previous = index === 0 ? this.tokens.length - 1 : index - 1;
    return { start: this.tokens[previous], end: this.tokens[index] };
  }

  /**
   * Index of the ring token whose range holds `token`: the first ring token >= token,
   * wrapping to 0 past the last. A binary search; the hot path of every request.
   */
  indexOf(token: bigint): number {
    const tokens = this.tokens;
    if (tokens.length === 0) throw new ServerError('Cannot place a token on an empty ring');
    let low = 0;
    let high = tokens.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (tokens[middle] >= token) high = middle;
      else low = middle + 1;
    }
    return low === tokens.length ? 0 : low;
  }

  /** The endpoint whose primary range holds `token`. */
  ownerOf(token: bigint): Endpoint {
    return this.owners[this.indexOf(token)];
  }

  /** The primary range holding `token`. */
  primaryRangeOf(token: bigint): TokenRange {
    return this.rangeAt(this.indexOf(token));
  }

  /** The primary ranges of an endpoint, ordered by their end token; empty for an unknown id. */
  rangesOf(endpointId: string): TokenRange[] {
    const endpoint = this.byId.get(endpointId);
    if (!endpoint) return [];
    return endpoint.tokens
      .map((token) => this.indexOf(token))
      .sort((a, b) => a - b)
      .map((index) => this.rangeAt(index));
  }

  /** Fraction of the ring in the endpoint's primary ranges (nodetool status "Owns" without a keyspace). */
  ownership(endpointId: string): number {
    const width = this.ownedWidth.get(endpointId);
    return width === undefined ? 0 : Number(width) / Number(RING_SIZE);
  }

  /** Token-owning endpoints and racks per data center, for NetworkTopologyStrategy. */
  dataCenters(): ReadonlyMap<string, DataCenterTopology> {
    return this.topology;
  }

  private measureOwnership(): Map<string, bigint> {
    const widths = new Map<string, bigint>();
    for (let i = 0; i < this.tokens.length; i++) {
      const id = this.owners[i].id;
      widths.set(id, (widths.get(id) ?? 0n) + rangeWidth(this.rangeAt(i)));
    }
    return widths;
  }

  private countTopology(): Map<string, DataCenterTopology> {
    const racksByDc = new Map<string, { endpoints: number; racks: Set<string> }>();
    for (const endpoint of this.endpoints) {
      // An endpoint without tokens holds no replicas, so it must not raise the per-dc
      // node count that caps the replication factor.
      if (endpoint.tokens.length === 0) continue;
      let dc = racksByDc.get(endpoint.dc);
      if (!dc) racksByDc.set(endpoint.dc, (dc = { endpoints: 0, racks: new Set() }));
      dc.endpoints++;
      dc.racks.add(endpoint.rack);
    }
    const topology = new Map<string, DataCenterTopology>();
    for (const [name, dc] of racksByDc) topology.set(name, { endpoints: dc.endpoints, racks: dc.racks.size });
    return topology;
  }
}
