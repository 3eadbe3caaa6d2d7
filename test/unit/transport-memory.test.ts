import t from 'tap';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../lib/net/memory.js';
import { RequestTimeout, type Transport } from '../../lib/net/transport.js';
import { bytes, eventually, text, transportSuite } from './transport-suite.js';

transportSuite(t, 'memory', async () => {
  const network = new MemoryNetwork({ seed: 7 });
  const nodes: Transport[] = [];
  let next = 1;
  return {
    async node(options = {}) {
      const transport = network.join(`10.0.0.${next++}:7000`, {
        ...(options.logger ? { logger: options.logger } : {}),
        ...(options.queueMax !== undefined ? { outgoingQueueMax: options.queueMax } : {}),
      });
      nodes.push(transport);
      return transport;
    },
    async deadAddress() {
      return `10.0.0.${next++}:7000`;
    },
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
});

function cluster(size: number, options: MemoryNetworkOptions = {}): { network: MemoryNetwork; nodes: Transport[] } {
  const network = new MemoryNetwork(options);
  const nodes = Array.from({ length: size }, (_, i) => network.join(`127.0.0.${i + 1}:7000`));
  for (const node of nodes) node.onMessage('ECHO', (_from, p) => p);
  return { network, nodes };
}

/**
 * Whether an ECHO from `from` is answered by `to` within `timeoutMs`: short where the
 * link is expected cut (the wait is the test's time), long where it is expected up, so
 * that a machine stalled for a moment (a loaded CI runner) does not read as a cut link.
 */
const reaches = (from: Transport, to: Transport, timeoutMs: number): Promise<boolean> =>
  from.request(to.address, 'ECHO', bytes('?'), timeoutMs).then(
    () => true,
    (error: unknown) => {
      if (!(error instanceof RequestTimeout)) throw error;
      return false;
    },
  );
const CUT_MS = 100;
const UP_MS = 5000;

t.test('memory: a partition cuts both directions between the groups and nothing else', async (t) => {
  const { network, nodes } = cluster(4);
  const [a, b, c, d] = nodes;
  network.partition([a.address, b.address], [c.address]);
  t.notOk(await reaches(a, c, CUT_MS), 'a → c is cut');
  t.notOk(await reaches(c, b, CUT_MS), 'c → b is cut');
  t.ok(await reaches(a, b, UP_MS), 'a → b stays: same side');
  t.ok(await reaches(c, d, UP_MS), 'c → d stays: d is in neither group');
  t.ok(await reaches(d, a, UP_MS), 'd → a stays');
  t.ok(network.lost > 0, 'the lost messages are counted');
  await Promise.all(nodes.map((n) => n.close()));
});

t.test('memory: an isolated node neither sends nor receives; heal restores every link', async (t) => {
  const { network, nodes } = cluster(3);
  const [a, b, c] = nodes;
  network.isolate(b.address);
  t.notOk(await reaches(a, b, CUT_MS));
  t.notOk(await reaches(b, c, CUT_MS));
  t.ok(await reaches(a, c, UP_MS));
  network.partition([a.address], [c.address]);
  network.heal();
  t.ok(await reaches(a, b, UP_MS));
  t.ok(await reaches(b, c, UP_MS));
  t.ok(await reaches(c, a, UP_MS));
  await Promise.all(nodes.map((n) => n.close()));
});

t.test('memory: messages in flight when a partition starts are lost', async (t) => {
  const { network, nodes } = cluster(2, { delayMsMin: 30, delayMsMax: 30 });
  const [a, b] = nodes;
  const seen: string[] = [];
  b.onMessage('GOSSIP_SYN', (_from, p) => {
    seen.push(text(p));
  });
  a.send(b.address, 'GOSSIP_SYN', bytes('before'));
  network.partition([a.address], [b.address]);
  // Heal once the message is lost, not after a fixed sleep: timers count from the event
  // loop's cached clock, so the delivery timer, found early, can be re-armed past a sleep.
  await eventually(() => network.lost === 1);
  network.heal();
  a.send(b.address, 'GOSSIP_SYN', bytes('after'));
  await eventually(() => seen.length > 0);
  t.same(seen, ['after']);
  await Promise.all(nodes.map((n) => n.close()));
});

/** Which of 200 numbered messages arrive, and in which order, under `seed` with 30% loss and delays. */
async function arrivals(seed: number): Promise<{ arrived: number[]; lost: number }> {
  const { network, nodes } = cluster(3, { seed, dropRate: 0.3, delayMsMin: 0, delayMsMax: 3 });
  const [a, b, c] = nodes;
  const arrived: number[] = [];
  c.onMessage('MUTATION', (_from, p) => {
    arrived.push(Buffer.from(p).readUInt16LE(0));
  });
  for (let i = 0; i < 200; i++) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16LE(i, 0);
    (i % 2 === 0 ? a : b).send(c.address, 'MUTATION', payload);
  }
  await eventually(() => network.lost + network.delivered === 200);
  await Promise.all(nodes.map((n) => n.close()));
  return { arrived: [...arrived].sort((x, y) => x - y), lost: network.lost };
}

t.test('memory: the same seed loses the same messages; another seed loses others', async (t) => {
  const first = await arrivals(42);
  const again = await arrivals(42);
  const other = await arrivals(43);
  t.same(again, first, 'seed 42 replays exactly');
  t.ok(first.lost > 30 && first.lost < 90, `about 30% lost (${first.lost} of 200)`);
  t.notSame(other.arrived, first.arrived, 'seed 43 decides differently');
});

t.test('memory: delivery is asynchronous and waits at least the minimum delay', async (t) => {
  const { nodes } = cluster(2, { delayMsMin: 40, delayMsMax: 60 });
  const [a, b] = nodes;
  let receivedAt = 0;
  b.onMessage('GOSSIP_ACK', () => {
    receivedAt = performance.now();
  });
  const sentAt = performance.now();
  a.send(b.address, 'GOSSIP_ACK', bytes('x'));
  t.equal(receivedAt, 0, 'the handler did not run inside send');
  await eventually(() => receivedAt > 0);
  // Timers count from the event loop's cached clock, which lags real time by however
  // long this turn has run: a few ms of slack keeps a busy machine from failing this.
  t.ok(receivedAt - sentAt >= 30, `delivered after ${Math.round(receivedAt - sentAt)} ms`);

  const { network: fast, nodes: fastNodes } = cluster(2);
  let ran = false;
  fastNodes[1].onMessage('GOSSIP_ACK', () => {
    ran = true;
  });
  fastNodes[0].send(fastNodes[1].address, 'GOSSIP_ACK', bytes('x'));
  t.notOk(ran, 'not synchronous even without delay');
  await eventually(() => fast.delivered === 1);
  t.ok(ran);
  await Promise.all([...nodes, ...fastNodes].map((n) => n.close()));
});

t.test('memory: a stopped node loses its messages and a restarted one at the same address is reachable', async (t) => {
  const network = new MemoryNetwork();
  const a = network.join('127.0.0.1:7000');
  let b = network.join('127.0.0.2:7000');
  b.onMessage('ECHO', () => bytes('first life'));
  t.equal(text(await a.request(b.address, 'ECHO', bytes('?'), UP_MS)), 'first life');
  await b.close();
  t.throws(() => network.join('127.0.0.1:7000'), /already in use/);
  await t.rejects(a.request('127.0.0.2:7000', 'ECHO', bytes('?'), 50), RequestTimeout);
  b = network.join('127.0.0.2:7000');
  b.onMessage('ECHO', () => bytes('second life'));
  t.equal(text(await a.request(b.address, 'ECHO', bytes('?'), UP_MS)), 'second life');
  await Promise.all([a.close(), b.close()]);
});

t.test('memory: a payload is copied, so later changes by the sender are not seen', async (t) => {
  const { nodes } = cluster(2);
  const [a, b] = nodes;
  let seen = '';
  b.onMessage('HINT', (_from, p) => {
    seen = text(p);
  });
  const payload = Buffer.from('original');
  a.send(b.address, 'HINT', payload);
  payload.write('modified');
  await eventually(() => seen !== '');
  t.equal(seen, 'original');
  await Promise.all(nodes.map((n) => n.close()));
});

t.test('memory: invalid fault settings are refused', async (t) => {
  const network = new MemoryNetwork();
  t.throws(() => network.setDropRate(1.5), RangeError);
  t.throws(() => network.setDelay(10, 5), RangeError);
});
