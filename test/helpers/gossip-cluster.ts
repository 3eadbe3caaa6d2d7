/**
 * GossipService nodes over one MemoryNetwork, driven one gossip round at a time by a
 * manual scheduler and clock: every node runs a round, then every message in flight is
 * delivered. Node n listens at 10.0.0.n:7000 with host id …n; node 1 is the seed.
 */
import { GossipService, type BootstrapHooks, type GossipServiceOptions, type Scheduler } from '../../lib/cluster/gossip-service.js';
import { ManualClock } from '../../lib/model/clock.js';
import { seededRandom } from '../../lib/model/random.js';
import { MemoryNetwork, type MemoryTransport } from '../../lib/net/memory.js';

export const NUM_TOKENS = 8;

export const address = (n: number): string => `10.0.0.${n}:7000`;
export const hostId = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Every registered timer fires when the test says so. */
export class ManualScheduler implements Scheduler {
  private readonly tasks = new Set<() => void>();
  every(_intervalMs: number, task: () => void): () => void {
    this.tasks.add(task);
    return () => {
      this.tasks.delete(task);
    };
  }
  fire(): void {
    for (const task of [...this.tasks]) task();
  }
}

export interface StartOptions {
  readonly bootstrap?: BootstrapHooks;
  readonly persistTokens?: (tokens: readonly bigint[]) => Promise<void>;
  readonly bootRoundsMax?: number;
  /** HOST:PORT it gossips as its HTTP address; 10.0.0.n:8080 unless given. */
  readonly httpAddress?: string;
  /** Saved peers to load and where to save them (GossipServiceOptions.peers). */
  readonly peers?: GossipServiceOptions['peers'];
}

export class GossipCluster {
  readonly network = new MemoryNetwork({ seed: 7 });
  readonly clock = new ManualClock();
  readonly scheduler = new ManualScheduler();
  readonly nodes = new Map<number, GossipService>();
  /** Tokens each node persisted, kept across restarts like a system store. */
  readonly persisted = new Map<number, readonly bigint[]>();
  private readonly transports = new Map<number, MemoryTransport>();

  constructor(private readonly seeds: readonly string[] = [address(1)]) {}

  start(n: number, options: StartOptions = {}): GossipService {
    const transport = this.network.join(address(n));
    this.transports.set(n, transport);
    const service = new GossipService({
      transport,
      clock: this.clock,
      seeds: this.seeds,
      hostId: hostId(n),
      dc: 'dc1',
      rack: 'rack1',
      httpAddress: options.httpAddress ?? `10.0.0.${n}:8080`,
      schemaVersion: 'schema-1',
      numTokens: NUM_TOKENS,
      initialTokens: this.persisted.get(n) ?? null,
      persistTokens:
        options.persistTokens ??
        (async (tokens) => {
          this.persisted.set(n, tokens);
        }),
      random: seededRandom(n),
      scheduler: this.scheduler,
      bootstrap: options.bootstrap,
      bootRoundsMax: options.bootRoundsMax,
      peers: options.peers,
    });
    service.start();
    this.nodes.set(n, service);
    return service;
  }

  node(n: number): GossipService {
    const node = this.nodes.get(n);
    if (node === undefined) throw new Error(`node ${n} is not running`);
    return node;
  }

  /** Stops node n's gossip and takes its address off the network (a killed process). */
  async stop(n: number): Promise<void> {
    this.node(n).stop();
    this.nodes.delete(n);
    await this.transports.get(n)!.close();
  }

  async closeAll(): Promise<void> {
    for (const n of [...this.nodes.keys()]) await this.stop(n);
  }

  /** One second: every node runs a round, then every message in flight is delivered. */
  async round(): Promise<void> {
    this.clock.advanceMillis(1000);
    this.scheduler.fire();
    await this.settle();
  }

  async rounds(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.round();
  }

  /** Rounds until `done` holds; returns how many it took, or fails after `roundsMax`. */
  async roundsUntil(done: () => boolean, roundsMax: number): Promise<number> {
    for (let rounds = 1; rounds <= roundsMax; rounds++) {
      await this.round();
      if (done()) return rounds;
    }
    throw new Error(`condition not reached after ${roundsMax} gossip rounds`);
  }

  /** Starts node n without bootstrap hooks and runs rounds until it is NORMAL. */
  async startNormal(n: number): Promise<GossipService> {
    const service = this.start(n);
    let ready = false;
    void service.ready.then(() => (ready = true));
    await this.roundsUntil(() => ready, 40);
    return service;
  }

  /** Rounds until every running node sees every other one UP. */
  async converge(roundsMax = 40): Promise<void> {
    const ids = [...this.nodes.keys()];
    await this.roundsUntil(
      () => [...this.nodes.values()].every((node) => ids.every((m) => node.membership.isAlive(hostId(m)))),
      roundsMax,
    );
  }

  /** Waits until the network has carried nothing new for a few turns of the event loop. */
  private async settle(): Promise<void> {
    let quietTurns = 0;
    let seen = -1;
    while (quietTurns < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      const now = this.network.delivered + this.network.lost;
      quietTurns = now === seen ? quietTurns + 1 : 0;
      seen = now;
    }
  }
}
