import t from 'tap';
import { ApplicationState, type EndpointStateMessage } from '../../lib/cluster/endpoint-state.js';
import { seededRandom } from '../../lib/model/random.js';
import {
  Gossiper,
  type Envelope,
  type GossipDigestAck,
  type GossipDigestAck2,
  type GossipDigestSyn,
  type GossipEvent,
  type GossipMessage,
} from '../../lib/cluster/gossip.js';

const GENERATION = 1_700_000_000;
const A = '10.0.0.1:7000';
const B = '10.0.0.2:7000';
const C = '10.0.0.3:7000';


function gossiper(localEndpoint: string, seeds: string[] = [], generation = GENERATION): Gossiper {
  return new Gossiper({
    localEndpoint,
    generation,
    seeds,
    random: () => 0,
    localStates: [
      [ApplicationState.DC, 'dc1'],
      [ApplicationState.STATUS, 'NORMAL'],
    ],
  });
}

function stateMessage(
  endpoint: string,
  generation: number,
  heartbeatVersion: number,
  states: Record<string, [string, number]>,
): EndpointStateMessage {
  return {
    endpoint,
    heartbeat: { generation, version: heartbeatVersion },
    states: Object.entries(states).map(([name, [value, version]]) => ({ name, value, version })),
  };
}

function ack2(...states: EndpointStateMessage[]): GossipMessage {
  return { kind: 'GossipDigestAck2', states };
}

function stateFromGossiper(g: Gossiper, endpoint: string): EndpointStateMessage {
  const state = g.stateOf(endpoint)!;
  return {
    endpoint,
    heartbeat: state.heartbeat,
    states: [...state.states].map(([name, v]) => ({ name, value: v.value, version: v.version })),
  };
}

function valuesOf(g: Gossiper, endpoint: string): Record<string, string> | undefined {
  const state = g.stateOf(endpoint);
  if (state === undefined) return undefined;
  return Object.fromEntries([...state.states].map(([name, { value }]) => [name, value]));
}

function syn(...digests: GossipDigestSyn['digests']): GossipDigestSyn {
  return { kind: 'GossipDigestSyn', clusterName: 'Test Cluster', digests };
}

function maxVersionOf(g: Gossiper, endpoint: string): number {
  const state = g.stateOf(endpoint)!;
  return Math.max(state.heartbeat.version, ...[...state.states.values()].map((v) => v.version));
}

function only<T>(items: readonly T[]): T {
  if (items.length !== 1) throw new Error(`expected one item, got ${items.length}`);
  return items[0];
}

t.test('a tick bumps the heartbeat and, with no live peer, sends a syn to a seed', async (t) => {
  const a = gossiper(A, [B]);
  const before = a.stateOf(A)!.heartbeat;
  const out = a.tick(1000);
  const after = a.stateOf(A)!.heartbeat;
  t.equal(after.generation, GENERATION);
  t.ok(after.version > before.version);
  const envelope = only(out.send);
  t.equal(envelope.to, B);
  const sent = envelope.message as GossipDigestSyn;
  t.equal(sent.kind, 'GossipDigestSyn');
  t.same(sent.digests, [{ endpoint: A, generation: GENERATION, maxVersion: after.version }]);
  t.ok(a.tick(2000).send[0].message !== sent, 'each round builds fresh digests');
});

t.test('a lone seed does not gossip to itself', async (t) => {
  const a = gossiper(A, [A]);
  t.same(a.tick(1000).send, []);
});

t.test('syn → ack → ack2: the syn receiver asks for unknown endpoints and learns them', async (t) => {
  const a = gossiper(A, [B]);
  const b = gossiper(B, [B]);
  const ackOut = b.receive(A, only(a.tick(1000).send).message, 1000);
  const ack = only(ackOut.send);
  t.equal(ack.to, A);
  t.same((ack.message as GossipDigestAck).requests, [{ endpoint: A, generation: GENERATION, maxVersion: 0 }]);
  t.same((ack.message as GossipDigestAck).states, [], 'nothing in the syn is newer at the receiver');

  const ack2Out = a.receive(B, ack.message, 1001);
  const reply = only(ack2Out.send);
  t.equal(reply.message.kind, 'GossipDigestAck2');
  const events = b.receive(A, reply.message, 1002).events;
  t.same(events.map((e) => e.kind), ['joined']);
  t.same(valuesOf(b, A), { DC: 'dc1', STATUS: 'NORMAL' });
  t.same(b.stateOf(A)!.heartbeat, a.stateOf(A)!.heartbeat);
  t.notOk(b.isAlive(A), 'heard of, not yet seen running');
  t.same(b.unreachableEndpoints(), [A]);
});

t.test('same generation: the ack returns only versions newer than the digest', async (t) => {
  const a = gossiper(A);
  const b = gossiper(B);
  b.receive(C, ack2(stateFromGossiper(a, A)), 0);
  a.setLocalState(ApplicationState.LOAD, '12345');
  const knownMax = maxVersionOf(b, A);

  // B is behind: it asks for what follows its own max version.
  const ack = only(b.receive(A, syn({ endpoint: A, generation: GENERATION, maxVersion: maxVersionOf(a, A) }), 10).send)
    .message as GossipDigestAck;
  t.same(ack.requests, [{ endpoint: A, generation: GENERATION, maxVersion: knownMax }]);
  const reply = a.receive(B, ack, 11).send[0].message;
  t.equal(reply.kind, 'GossipDigestAck2');
  const delta = (reply as GossipDigestAck2).states[0];
  t.same(delta.states.map((s) => s.name), ['LOAD'], 'unchanged states are not resent');

  // C is behind B: the ack carries the newer part unasked.
  const ackToC = only(b.receive(C, syn({ endpoint: A, generation: GENERATION, maxVersion: 1 }), 12).send)
    .message as GossipDigestAck;
  t.same(ackToC.requests, []);
  t.same(ackToC.states[0].states.map((s) => s.name).sort(), ['DC', 'STATUS']);
});

t.test('a digest of an older generation gets the whole current state back', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION + 5, 3, { DC: ['dc2', 1], LOAD: ['9', 2] })), 0);
  const out = b.receive(C, syn({ endpoint: A, generation: GENERATION, maxVersion: 100 }), 1);
  const ack = only(out.send).message as GossipDigestAck;
  t.same(ack.requests, []);
  t.same(ack.states, [{ ...stateMessage(A, GENERATION + 5, 3, { DC: ['dc2', 1], LOAD: ['9', 2] }), since: 0 }], 'whole (since 0)');
});

t.test('a digest of a newer generation asks for everything', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION, 30, { DC: ['dc1', 1] })), 0);
  const ack = only(b.receive(C, syn({ endpoint: A, generation: GENERATION + 1, maxVersion: 2 }), 1).send)
    .message as GossipDigestAck;
  t.same(ack.requests, [{ endpoint: A, generation: GENERATION + 1, maxVersion: 0 }]);
});

t.test('an ack request for another generation is answered with the whole state', async (t) => {
  const a = gossiper(A);
  const ack: GossipDigestAck = {
    kind: 'GossipDigestAck',
    requests: [
      { endpoint: A, generation: GENERATION - 1, maxVersion: 1000 },
      { endpoint: C, generation: GENERATION, maxVersion: 0 }, // unknown here: skipped
    ],
    states: [],
  };
  const reply = only(a.receive(B, ack, 0).send).message as GossipDigestAck2;
  t.same(reply.states, [{ ...stateFromGossiper(a, A), since: 0 }], 'whole (since 0)');
});

t.test('a delta completes only the copy it was computed against; the next digest gets the rest', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION, 3, { DC: ['dc1', 1], STATUS: ['NORMAL', 2] })), 0);
  // Versions above 5 of a copy holding 5 (which b does not: its copy ends at 3).
  const gap = { ...stateMessage(A, GENERATION, 9, { LOAD: ['7', 8] }), since: 5 };
  t.same(b.receive(C, ack2(gap), 1).events, [], 'a delta over a gap: dropped');
  t.equal(b.stateOf(A)?.heartbeat.version, 3, 'the copy is as it was');
  t.same(b.receive(C, ack2({ ...gap, heartbeat: { generation: GENERATION + 1, version: 9 } }), 2).events, [], 'of another generation: dropped');
  t.same(b.receive(C, ack2({ ...stateMessage(A, GENERATION, 9, { LOAD: ['7', 8] }), since: 3 }), 3).events.map((e) => e.kind), ['state-changed', 'up'], 'a delta over the copy it was computed against: applied');
  t.equal(b.stateOf(A)?.states.get('LOAD')?.value, '7');
});

t.test('states of an older generation are ignored', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION + 1, 5, { DC: ['dc1', 1] })), 0);
  const out = b.receive(C, ack2(stateMessage(A, GENERATION, 500, { DC: ['dc9', 400] })), 1);
  t.same(out.events, []);
  t.same(valuesOf(b, A), { DC: 'dc1' });
  t.equal(b.stateOf(A)!.heartbeat.generation, GENERATION + 1);
});

t.test('same generation merges per state: newer versions win, older ones are ignored', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION, 5, { DC: ['dc1', 1], LOAD: ['100', 4], SCHEMA: ['s1', 3] })), 0);
  const out = b.receive(C, ack2(stateMessage(A, GENERATION, 9, { LOAD: ['200', 8], SCHEMA: ['s0', 2] })), 1);
  t.same(valuesOf(b, A), { DC: 'dc1', LOAD: '200', SCHEMA: 's1' });
  t.equal(b.stateOf(A)!.heartbeat.version, 9);
  t.same(out.events, [
    { kind: 'state-changed', endpoint: A, name: 'LOAD', value: { value: '200', version: 8 } },
    { kind: 'up', endpoint: A },
  ]);
  t.same(b.receive(C, ack2(stateMessage(A, GENERATION, 9, { LOAD: ['200', 8] })), 2).events, [], 'a repeat is no news');
});

t.test('a higher generation replaces everything and reports a restart', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION, 5, { DC: ['dc1', 1], RELEASE_VERSION: ['0.1', 2] })), 0);
  const out = b.receive(C, ack2(stateMessage(A, GENERATION + 60, 2, { DC: ['dc1', 1], SCHEMA: ['s2', 2] })), 1);
  t.same(out.events.map((e) => e.kind), ['restarted', 'up']);
  t.same(valuesOf(b, A), { DC: 'dc1', SCHEMA: 's2' }, 'states of the old process are gone');
  t.same(b.stateOf(A)!.heartbeat, { generation: GENERATION + 60, version: 2 });
  t.ok(b.isAlive(A));
});

t.test('a node ignores gossip about itself and syns from another cluster', async (t) => {
  const a = gossiper(A);
  const own = a.stateOf(A);
  t.same(a.receive(B, ack2(stateMessage(A, GENERATION + 1, 99, { DC: ['evil', 98] })), 0), { send: [], events: [] });
  t.same(a.stateOf(A), own);
  const foreign = a.receive(B, { kind: 'GossipDigestSyn', clusterName: 'Other', digests: [] }, 0);
  t.same(foreign.send, [], 'no ack to a node of another cluster');
});

t.test('an endpoint heard of second hand is UP only once its state advances', async (t) => {
  const b = gossiper(B);
  t.same(b.receive(C, ack2(stateMessage(A, GENERATION, 5, {})), 0).events.map((e) => e.kind), ['joined']);
  t.notOk(b.isAlive(A));
  t.same(b.receive(C, ack2(stateMessage(A, GENERATION, 6, {})), 1000).events, [{ kind: 'up', endpoint: A }]);
  t.same(b.liveEndpoints(), [A]);
  t.same(b.unreachableEndpoints(), []);
});

t.test('a silent live endpoint is convicted by a tick, and comes back UP on a newer heartbeat', async (t) => {
  const b = gossiper(B);
  b.receive(C, ack2(stateMessage(A, GENERATION, 1, {})), 0);
  let version = 1;
  let now = 0;
  for (; now <= 20_000; now += 1000) b.receive(C, ack2(stateMessage(A, GENERATION, ++version, {})), now);
  const last = now - 1000;
  t.same(b.tick(last + 10_000).events, [], 'phi below 8 after 10 s');
  const convicted = b.tick(last + 40_000).events;
  t.same(convicted, [{ kind: 'down', endpoint: A }]);
  t.same(b.unreachableEndpoints(), [A]);
  const back = b.receive(C, ack2(stateMessage(A, GENERATION, ++version, {})), last + 41_000).events;
  t.same(back, [{ kind: 'up', endpoint: A }]);
  t.same(b.tick(last + 42_000).events, [], 'not convicted again at once');
});

// ---------------------------------------------------------------------------------------
// Deterministic simulation: a whole cluster in one process, one seed for every choice.

const NODES = 50;
const SEEDS = 3;
const CONVERGENCE_ROUNDS_MAX = 30;
const CONVICTION_SECONDS_MAX = 45; // phi 8 with a mean ≤ 2 s is ≤ 36.8 s of silence, plus spread
const RESTART_SECONDS_MAX = 20;
const DELAY_MS_MAX = 200;

interface SimulatedNode {
  readonly endpoint: string;
  gossiper: Gossiper;
  running: boolean;
  readonly events: GossipEvent[];
}

interface Scheduled {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

/** A binary min-heap of scheduled actions ordered by time, then by scheduling order. */
class Agenda {
  private readonly heap: Scheduled[] = [];
  private order = 0;

  schedule(at: number, run: () => void): void {
    const heap = this.heap;
    heap.push({ at, order: this.order++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  /** Runs everything scheduled up to and including `untilMs`, telling `setNow` each action's time. */
  runUntil(untilMs: number, setNow: (ms: number) => void): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0].at <= untilMs) {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && this.before(heap[l], heap[m])) m = l;
          if (r < heap.length && this.before(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      setNow(top.at);
      top.run();
    }
  }

  private before(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }
}

class Simulation {
  nowMs = 0;
  readonly nodes: SimulatedNode[] = [];
  readonly byEndpoint = new Map<string, SimulatedNode>();
  readonly seedEndpoints: string[];
  private readonly agenda = new Agenda();
  private readonly random: () => number;

  constructor(readonly seed: number) {
    this.random = seededRandom(seed);
    const endpoints = Array.from({ length: NODES }, (_, i) => `10.0.${i >> 8}.${(i & 255) + 1}:7000`);
    this.seedEndpoints = endpoints.slice(0, SEEDS);
    for (const endpoint of endpoints) {
      const node: SimulatedNode = { endpoint, gossiper: this.newGossiper(endpoint, this.nodes.length, GENERATION, 1), running: true, events: [] };
      this.nodes.push(node);
      this.byEndpoint.set(endpoint, node);
      // Nodes start at different moments within the first second, as real ones would.
      this.scheduleTicks(node, Math.floor(this.random() * 1000));
    }
  }

  newGossiper(endpoint: string, index: number, generation: number, schemaVersion: number): Gossiper {
    const states: [string, string][] = [
      [ApplicationState.STATUS, 'NORMAL'],
      [ApplicationState.TOKENS, `${endpoint}-tokens`],
      [ApplicationState.DC, 'dc1'],
      [ApplicationState.RACK, `rack${index % 3}`],
      [ApplicationState.HOST_ID, `host-${endpoint}`],
      [ApplicationState.SCHEMA, `schema-${schemaVersion}`],
      [ApplicationState.LOAD, String(1000 * generation + index)],
      [ApplicationState.HTTP, endpoint.replace(':7000', ':8080')],
    ];
    // Only the first process of each node announces a release version, so a restart shows
    // whether stale states are dropped rather than merged.
    if (schemaVersion === 1) states.push([ApplicationState.RELEASE_VERSION, '0.1.0']);
    return new Gossiper({
      localEndpoint: endpoint,
      generation,
      seeds: this.seedEndpoints,
      random: seededRandom(Math.floor(this.random() * 2 ** 32)),
      localStates: states,
    });
  }

  private scheduleTicks(node: SimulatedNode, firstAt: number): void {
    const gossiper = node.gossiper;
    const tick = (): void => {
      // A killed (or replaced) process stops ticking.
      if (!node.running || node.gossiper !== gossiper) return;
      this.dispatch(node, gossiper.tick(this.nowMs));
      this.agenda.schedule(this.nowMs + 1000, tick);
    };
    this.agenda.schedule(firstAt, tick);
  }

  private dispatch(from: SimulatedNode, output: { send: Envelope[]; events: GossipEvent[] }): void {
    from.events.push(...output.events);
    for (const { to, message } of output.send) {
      const delay = 1 + Math.floor(this.random() * DELAY_MS_MAX);
      this.agenda.schedule(this.nowMs + delay, () => {
        const target = this.byEndpoint.get(to);
        if (target === undefined || !target.running) return; // a dead node answers nothing
        this.dispatch(target, target.gossiper.receive(from.endpoint, message, this.nowMs));
      });
    }
  }

  advanceTo(ms: number): void {
    this.agenda.runUntil(ms, (at) => {
      this.nowMs = at;
    });
    this.nowMs = ms;
  }

  kill(node: SimulatedNode): void {
    node.running = false;
  }

  restart(node: SimulatedNode, generation: number): void {
    node.gossiper = this.newGossiper(node.endpoint, this.nodes.indexOf(node), generation, 2);
    node.running = true;
    this.scheduleTicks(node, this.nowMs + 1);
  }

  running(): SimulatedNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** Whether every running node sees every other running node UP with its current states. */
  converged(): boolean {
    const running = this.running();
    for (const observer of running) {
      for (const subject of running) {
        if (subject === observer) continue;
        if (!observer.gossiper.isAlive(subject.endpoint)) return false;
        if (!sameStates(observer.gossiper, subject.gossiper, subject.endpoint)) return false;
      }
    }
    return true;
  }

  /** Advances one simulated second at a time until `done` holds; returns the seconds taken. */
  secondsUntil(done: () => boolean, secondsMax: number): number {
    const start = this.nowMs;
    for (let second = 1; second <= secondsMax; second++) {
      this.advanceTo(start + second * 1000);
      if (done()) return second;
    }
    return Infinity;
  }
}

/** Whether `observer` holds the generation and exactly the application states `owner` has. */
function sameStates(observer: Gossiper, owner: Gossiper, endpoint: string): boolean {
  const seen = observer.stateOf(endpoint);
  const truth = owner.stateOf(endpoint)!;
  if (seen === undefined || seen.heartbeat.generation !== truth.heartbeat.generation) return false;
  if (seen.states.size !== truth.states.size) return false;
  for (const [name, value] of truth.states) if (seen.states.get(name)?.value !== value.value) return false;
  return true;
}

const simulationSeeds = process.env.GOSSIP_SEED ? [Number(process.env.GOSSIP_SEED)] : [1, 2, 3];

for (const seed of simulationSeeds) {
  t.test(`${NODES}-node cluster converges, convicts a killed node and takes back a restarted one (seed ${seed})`, async (t) => {
    const sim = new Simulation(seed);
    const replay = `replay with GOSSIP_SEED=${seed}`;

    const convergence = sim.secondsUntil(() => sim.converged(), CONVERGENCE_ROUNDS_MAX);
    t.comment(`seed ${seed}: every node knew every other node's states and saw it UP after ${convergence} rounds`);
    t.ok(convergence <= CONVERGENCE_ROUNDS_MAX, `converged within ${CONVERGENCE_ROUNDS_MAX} rounds (${replay})`);

    sim.advanceTo(sim.nowMs + 10_000); // some steady state, so failure-detector windows fill
    const victim = sim.nodes[17];
    sim.kill(victim);
    const others = sim.running();
    const conviction = sim.secondsUntil(
      () => others.every((n) => !n.gossiper.isAlive(victim.endpoint)),
      CONVICTION_SECONDS_MAX,
    );
    t.comment(`seed ${seed}: the killed node was DOWN everywhere after ${conviction} s`);
    t.ok(conviction <= CONVICTION_SECONDS_MAX, `convicted everywhere within ${CONVICTION_SECONDS_MAX} s (${replay})`);
    t.ok(conviction >= 10, `not convicted implausibly early: ${conviction} s (${replay})`);

    sim.advanceTo(sim.nowMs + 5000);
    const newGeneration = GENERATION + Math.floor(sim.nowMs / 1000);
    sim.restart(victim, newGeneration);
    const restart = sim.secondsUntil(() => sim.converged(), RESTART_SECONDS_MAX);
    t.comment(`seed ${seed}: the restarted node was UP everywhere with its new states after ${restart} s`);
    t.ok(restart <= RESTART_SECONDS_MAX, `restarted node UP everywhere within ${RESTART_SECONDS_MAX} s (${replay})`);
    for (const node of others) {
      const state = node.gossiper.stateOf(victim.endpoint)!;
      if (state.heartbeat.generation !== newGeneration || state.states.has('RELEASE_VERSION')) {
        t.fail(`${node.endpoint} kept states of the old process (${replay})`);
        break;
      }
      if (!node.events.some((e) => e.kind === 'restarted' && e.endpoint === victim.endpoint)) {
        t.fail(`${node.endpoint} saw no restart of ${victim.endpoint} (${replay})`);
        break;
      }
    }

    const falseConvictions = sim.nodes.flatMap((n) =>
      n.events.filter((e) => e.kind === 'down' && e.endpoint !== victim.endpoint).map((e) => `${n.endpoint} → ${e.endpoint}`),
    );
    t.same(falseConvictions, [], `no running node was ever convicted (${replay})`);
  });
}
