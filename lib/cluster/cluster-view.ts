/**
 * What the coordinator needs to know about the cluster: who owns which tokens, and
 * who is alive right now. The gossip-driven membership implements it for real nodes;
 * StaticClusterView serves tests and single nodes.
 */
import type { Endpoint } from './ring.js';
import { TokenRing } from './ring.js';

export interface ClusterView {
  /** This node. */
  readonly local: Endpoint;
  /** The ring of endpoints that own tokens (NORMAL or LEAVING status), this node included. */
  ring(): TokenRing;
  /**
   * The ring once every announced movement completes — joining endpoints (BOOT with
   * tokens) added, LEAVING ones removed — or null while nothing moves. The same object
   * until the next change, so what is derived from it (pending ranges) stays cached.
   */
  futureRing(): TokenRing | null;
  /** Whether the failure detector (or the test) considers the endpoint up. */
  isAlive(endpointId: string): boolean;
  /** Called after any change of ring or liveness. */
  onChange(listener: () => void): void;
}

/** A fixed ring whose liveness tests switch by hand. */
export class StaticClusterView implements ClusterView {
  private readonly down = new Set<string>();
  private readonly listeners: (() => void)[] = [];
  private readonly tokenRing: TokenRing;
  private future: TokenRing | null = null;

  constructor(
    readonly local: Endpoint,
    endpoints: readonly Endpoint[],
  ) {
    this.tokenRing = new TokenRing(endpoints);
  }

  ring(): TokenRing {
    return this.tokenRing;
  }

  futureRing(): TokenRing | null {
    return this.future;
  }

  /** Announces a movement (the endpoints of the ring it leads to), or its end (null). */
  setFutureRing(endpoints: readonly Endpoint[] | null): void {
    this.future = endpoints === null ? null : new TokenRing(endpoints);
    this.notify();
  }

  isAlive(endpointId: string): boolean {
    return !this.down.has(endpointId);
  }

  setAlive(endpointId: string, alive: boolean): void {
    if (alive) this.down.delete(endpointId);
    else this.down.add(endpointId);
    this.notify();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
