/**
 * GossipService's bootstrap flow with fake hooks, driven round by round:
 * prepare → tokens persisted → TOKENS + BOOT announced → run → completed → NORMAL.
 */
import t, { type Test } from 'tap';
import { ApplicationState } from '../../lib/cluster/endpoint-state.js';
import type { BootstrapHooks, GossipService } from '../../lib/cluster/gossip-service.js';
import { address, GossipCluster, hostId, NUM_TOKENS } from '../helpers/gossip-cluster.js';

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Hooks that log each step with what gossip says of the node at that moment; `run` waits for the test. */
class FakeHooks implements BootstrapHooks {
  readonly steps: string[] = [];
  readonly runGate = deferred();
  ranWith: readonly bigint[] | null = null;
  service: GossipService | null = null;

  constructor(
    readonly needed = true,
    private readonly failAt: 'prepare' | 'run' | 'completed' | null = null,
  ) {}

  /** STATUS and whether TOKENS are out, as the node gossips them now. */
  private announced(): string {
    const states = this.service!.gossiper.stateOf(this.service!.gossiper.localEndpoint)!.states;
    const tokens = states.get(ApplicationState.TOKENS)?.value ?? '';
    return `${states.get(ApplicationState.STATUS)?.value}${tokens === '' ? '' : '+TOKENS'}`;
  }

  async prepare(): Promise<void> {
    this.steps.push(`prepare (${this.announced()})`);
    if (this.failAt === 'prepare') throw new Error('schema never arrived');
  }

  async run(tokens: readonly bigint[]): Promise<void> {
    this.ranWith = tokens;
    this.steps.push(`run (${this.announced()})`);
    await this.runGate.promise;
    if (this.failAt === 'run') throw new Error('streaming failed');
  }

  async completed(): Promise<void> {
    this.steps.push(`completed (${this.announced()})`);
    if (this.failAt === 'completed') throw new Error('disk full');
  }
}

/** Node 1 (the seed, NORMAL) and node 2 joining with `hooks`. */
async function joining(t: Test, hooks: FakeHooks, cluster = new GossipCluster()): Promise<{ cluster: GossipCluster; node: GossipService }> {
  t.teardown(() => cluster.closeAll());
  if (!cluster.nodes.has(1)) await cluster.startNormal(1);
  const node = cluster.start(2, {
    bootstrap: hooks,
    persistTokens: async (tokens) => {
      const gossiped = node.gossiper.stateOf(address(2))!.states.has(ApplicationState.TOKENS);
      hooks.steps.push(`persist ${tokens.length} tokens (${gossiped ? 'already gossiped' : 'not gossiped yet'})`);
      cluster.persisted.set(2, tokens);
    },
  });
  hooks.service = node;
  return { cluster, node };
}

const settled = (promise: Promise<unknown>) => {
  const state = { done: false, failed: null as unknown };
  promise.then(
    () => (state.done = true),
    (error: unknown) => (state.failed = error),
  );
  return state;
};

t.test('bootstrap order: prepare, tokens persisted, TOKENS+BOOT announced, run, completed, NORMAL', async (t) => {
  const hooks = new FakeHooks();
  const { cluster, node } = await joining(t, hooks);
  const ready = settled(node.ready);
  const seed = cluster.node(1).membership;

  await cluster.roundsUntil(() => hooks.ranWith !== null, 10);
  t.same(hooks.steps, ['prepare (BOOT)', 'persist 8 tokens (not gossiped yet)', 'run (BOOT+TOKENS)']);
  t.same(hooks.ranWith, cluster.persisted.get(2), 'run gets the persisted tokens');
  t.equal(node.membership.local.tokens.length, NUM_TOKENS);

  // While it streams, the others see it joining: a pending replica, not an owner.
  await cluster.roundsUntil(() => seed.futureRing()?.endpoint(hostId(2)) !== undefined, 10);
  t.equal(seed.ring().endpoint(hostId(2)), undefined, 'not in the ring while joining');
  t.same(seed.futureRing()?.endpoint(hostId(2))?.tokens, hooks.ranWith, 'in the future ring with its tokens');
  t.match(seed.describe().find((d) => d.id === hostId(2)), { status: 'UJ', tokens: NUM_TOKENS });
  t.equal(seed.statusOf(hostId(2)), 'BOOT');
  await cluster.rounds(3);
  t.notOk(ready.done, 'not ready while streaming');

  hooks.runGate.resolve();
  await cluster.roundsUntil(() => ready.done, 5);
  t.same(hooks.steps.slice(3), ['completed (BOOT+TOKENS)']);
  t.equal(node.gossiper.stateOf(address(2))!.states.get(ApplicationState.STATUS)?.value, 'NORMAL');
  await cluster.roundsUntil(() => seed.ring().endpoint(hostId(2)) !== undefined, 10);
  t.equal(seed.futureRing(), null, 'nothing moves once it is NORMAL');
  t.match(seed.describe().find((d) => d.id === hostId(2)), { status: 'UN' });
});

for (const failAt of ['prepare', 'run', 'completed'] as const) {
  t.test(`a failing ${failAt} rejects ready and the node never announces NORMAL`, async (t) => {
    const hooks = new FakeHooks(true, failAt);
    hooks.runGate.resolve();
    const { cluster, node } = await joining(t, hooks);
    const ready = settled(node.ready);
    const statuses = new Set<string>();
    for (let i = 0; i < 10; i++) {
      await cluster.round();
      statuses.add(node.gossiper.stateOf(address(2))!.states.get(ApplicationState.STATUS)!.value);
    }
    t.match(String(ready.failed), failAt === 'prepare' ? /schema never arrived/ : failAt === 'run' ? /streaming failed/ : /disk full/);
    t.same([...statuses], ['BOOT'], 'it only ever gossiped BOOT');
    if (failAt === 'prepare') t.equal(cluster.persisted.get(2), undefined, 'no tokens chosen before the schema arrived');
    const seed = cluster.node(1).membership;
    t.equal(seed.ring().endpoint(hostId(2)), undefined, 'never in the ring');
    t.equal(seed.futureRing(), null, 'its tokens are withdrawn: no longer a pending replica');
    t.match(seed.describe().find((d) => d.id === hostId(2)), { status: 'UJ', tokens: 0 });
  });
}

t.test('a restart with persisted tokens but an unfinished bootstrap reuses the tokens', async (t) => {
  const cluster = new GossipCluster();
  const tokens = [-5000n, -10n, 77n, 4_000_000_000n];
  cluster.persisted.set(2, tokens);
  const hooks = new FakeHooks();
  const { node } = await joining(t, hooks, cluster);
  t.equal(node.gossiper.stateOf(address(2))!.states.get(ApplicationState.STATUS)?.value, 'BOOT', 'not NORMAL at once');
  t.equal(node.gossiper.stateOf(address(2))!.states.get(ApplicationState.TOKENS), undefined, 'tokens wait for the bootstrap');
  hooks.runGate.resolve();
  const ready = settled(node.ready);
  await cluster.roundsUntil(() => ready.done, 10);
  t.same(hooks.ranWith, tokens, 'bootstraps the same tokens');
  t.notOk(hooks.steps.some((step) => step.startsWith('persist')), 'nothing new to persist');
  const seed = cluster.node(1).membership;
  await cluster.roundsUntil(() => seed.ring().endpoint(hostId(2)) !== undefined, 10);
  t.same(seed.ring().endpoint(hostId(2))?.tokens, tokens, 'the cluster sees the same tokens');
});

t.test('the node that starts the cluster never bootstraps, but records the bootstrap completed', async (t) => {
  const cluster = new GossipCluster();
  t.teardown(() => cluster.closeAll());
  const hooks = new FakeHooks();
  const node = cluster.start(1, { bootstrap: hooks });
  hooks.service = node;
  const ready = settled(node.ready);
  await cluster.roundsUntil(() => ready.done, 3);
  t.same(hooks.steps, ['completed (BOOT)'], 'neither prepare nor run; completed before NORMAL');
  t.equal(node.membership.ring().endpoint(hostId(1))?.tokens.length, NUM_TOKENS);
});

t.test('without hooks needing a bootstrap, a joining node is NORMAL as soon as its tokens are durable', async (t) => {
  const hooks = new FakeHooks(false);
  const { cluster, node } = await joining(t, hooks);
  const ready = settled(node.ready);
  await cluster.roundsUntil(() => ready.done, 5);
  t.same(hooks.steps, ['persist 8 tokens (not gossiped yet)'], 'no hook runs');
});

t.test('a bootstrap with no seed answering gives up after bootRoundsMax', async (t) => {
  const cluster = new GossipCluster();
  t.teardown(() => cluster.closeAll());
  const hooks = new FakeHooks();
  const node = cluster.start(2, { bootstrap: hooks, bootRoundsMax: 5 });
  hooks.service = node;
  const ready = settled(node.ready);
  await cluster.rounds(5);
  t.match(String(ready.failed), /Unable to contact any seeds/);
  t.same(hooks.steps, [], 'no hook ran');
});
