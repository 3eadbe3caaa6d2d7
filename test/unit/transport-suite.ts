/**
 * The messaging contract (lib/net/transport.ts) as one suite every transport runs:
 * `transportSuite(t, 'memory', factory)`. It uses nothing but the Transport interface
 * and the harness below, so TCP and the in-memory hub are held to the same rules.
 */
import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MessageDropped,
  type NetLogger,
  RemoteError,
  RequestTimeout,
  type Transport,
  TransportClosed,
} from '../../lib/net/transport.js';

export interface NodeOptions {
  logger?: NetLogger;
  /** Frames that may wait per peer before the oldest is dropped. */
  queueMax?: number;
}

export interface TransportHarness {
  /** Starts a node at a fresh address. */
  node(options?: NodeOptions): Promise<Transport>;
  /** An address where no node is listening. */
  deadAddress(): Promise<string>;
  /** Stops every node started. */
  close(): Promise<void>;
}

export type HarnessFactory = () => Promise<TransportHarness>;

/** Collects warnings so tests can check that a rejection was logged with its reason. */
export class RecordingLogger implements NetLogger {
  readonly warnings: string[] = [];
  warn(_obj: object, msg: string): void {
    this.warnings.push(msg);
  }
  info(): void {}
}

export const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
export const text = (payload: Uint8Array): string => Buffer.from(payload).toString('utf8');

/**
 * Resolves once `condition` holds, polling; fails the test after `timeoutMs` (10 s by
 * default: a bound on a hang, not on speed, which a loaded machine must not trip).
 */
export async function eventually(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

export function transportSuite(t: Test, name: string, factory: HarnessFactory): void {
  async function setup(t: Test): Promise<TransportHarness> {
    const harness = await factory();
    t.teardown(() => harness.close());
    return harness;
  }

  t.test(`${name}: a one-way message reaches the verb's handler with the sender's address`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    const received: [string, string][] = [];
    b.onMessage('GOSSIP_SYN', (from, payload) => {
      received.push([from, text(payload)]);
    });
    a.send(b.address, 'GOSSIP_SYN', bytes('digests'));
    await eventually(() => received.length === 1);
    t.same(received, [[a.address, 'digests']]);
  });

  t.test(`${name}: a request resolves with the handler's answer, sync, async or void`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    b.onMessage('ECHO', (from, payload) => bytes(`${from}:${text(payload)}`));
    b.onMessage('READ', async (_from, payload) => {
      await sleep(5);
      return bytes(text(payload).toUpperCase());
    });
    b.onMessage('MUTATION', () => {});
    t.equal(text(await a.request(b.address, 'ECHO', bytes('ping'), 2000)), `${a.address}:ping`);
    t.equal(text(await a.request(b.address, 'READ', bytes('row'), 2000)), 'ROW');
    t.equal((await a.request(b.address, 'MUTATION', bytes('m'), 2000)).length, 0);
  });

  t.test(`${name}: a failing handler rejects the request with a RemoteError carrying its message`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    b.onMessage('MUTATION', () => {
      throw new Error('commit log is full');
    });
    b.onMessage('READ', async () => Promise.reject(new Error('sstable corrupt')));
    const sync = await a.request(b.address, 'MUTATION', bytes('m'), 2000).catch((e: unknown) => e);
    t.type(sync, RemoteError);
    t.match((sync as RemoteError).message, /MUTATION request failed on \/.*: commit log is full/);
    t.equal((sync as RemoteError).from, b.address);
    await t.rejects(a.request(b.address, 'READ', bytes('r'), 2000), { name: 'RemoteError', remoteMessage: 'sstable corrupt' });
  });

  t.test(`${name}: a verb without a handler is refused, logged and counted`, async (t) => {
    const h = await setup(t);
    const logger = new RecordingLogger();
    const a = await h.node();
    const b = await h.node({ logger });
    await t.rejects(a.request(b.address, 'HINT', bytes('h'), 2000), {
      name: 'RemoteError',
      remoteMessage: 'no handler for verb HINT',
    });
    a.send(b.address, 'SCHEMA_PUSH', bytes('s'));
    await eventually(() => b.stats().rejectedIncoming === 2);
    t.match(logger.warnings, [/no handler for verb HINT/, /no handler for verb SCHEMA_PUSH/]);
    t.throws(() => b.onMessage('NOT_A_VERB' as 'ECHO', () => {}), /unknown verb NOT_A_VERB/);
  });

  t.test(`${name}: registering a second handler for a verb is refused`, async (t) => {
    const h = await setup(t);
    const a = await h.node();
    a.onMessage('ECHO', () => {});
    t.throws(() => a.onMessage('ECHO', () => {}), /already registered/);
  });

  t.test(`${name}: an unanswered request rejects with RequestTimeout after its timeout`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    b.onMessage('READ', () => new Promise<Uint8Array>(() => {}));
    const started = Date.now();
    const error = await a.request(b.address, 'READ', bytes('r'), 150).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    t.type(error, RequestTimeout);
    t.match(error, { to: b.address, verb: 'READ', timeoutMs: 150 });
    t.match((error as Error).message, /READ request to \/.* timed out after 150 ms/);
    // The lower bound has slack: timers count from the event loop's cached clock.
    t.ok(elapsed >= 120 && elapsed < 1500, `timed out after ${elapsed} ms`);
  });

  t.test(`${name}: a request to an address where no node runs times out`, async (t) => {
    const h = await setup(t);
    const a = await h.node();
    await t.rejects(a.request(await h.deadAddress(), 'ECHO', bytes('x'), 200), RequestTimeout);
  });

  t.test(`${name}: a large payload arrives intact`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    b.onMessage('ECHO', (_from, p) => p);
    const answer = await a.request(b.address, 'ECHO', payload, 5000);
    t.equal(answer.length, payload.length);
    t.ok(Buffer.from(answer).equals(payload), 'echoed bytes are equal');
  });

  t.test(`${name}: messages to one peer arrive in the order they were sent`, async (t) => {
    const h = await setup(t);
    const [a, b, c] = [await h.node(), await h.node(), await h.node()];
    const atB: number[] = [];
    const atC: number[] = [];
    b.onMessage('MUTATION', (_from, p) => {
      atB.push(Buffer.from(p).readUInt32LE(0));
    });
    c.onMessage('MUTATION', (_from, p) => {
      atC.push(Buffer.from(p).readUInt32LE(0));
    });
    const count = 500;
    for (let i = 0; i < count; i++) {
      const payload = Buffer.alloc(4 + (i % 7) * 1000);
      payload.writeUInt32LE(i, 0);
      a.send(i % 3 === 0 ? c.address : b.address, 'MUTATION', payload);
    }
    await eventually(() => atB.length + atC.length === count);
    const sorted = (xs: number[]): number[] => [...xs].sort((x, y) => x - y);
    t.same(atB, sorted(atB), 'B saw its messages in send order');
    t.same(atC, sorted(atC), 'C saw its messages in send order');
  });

  t.test(`${name}: many concurrent requests each get their own answer`, async (t) => {
    const h = await setup(t);
    const [a, b, c] = [await h.node(), await h.node(), await h.node()];
    b.onMessage('READ', async (from, p) => {
      // Answer out of order, so correlation by request id is what matches them up.
      await sleep(p[0] % 5);
      return bytes(`${from === a.address ? 'a' : 'c'}${text(p.subarray(1))}`);
    });
    const requests: Promise<string>[] = [];
    for (let i = 0; i < 1000; i++) {
      const from = i % 2 === 0 ? a : c;
      const payload = Buffer.concat([Buffer.from([i % 251]), Buffer.from(String(i))]);
      requests.push(from.request(b.address, 'READ', payload, 5000).then(text));
    }
    const answers = await Promise.all(requests);
    t.same(
      answers,
      answers.map((_, i) => `${i % 2 === 0 ? 'a' : 'c'}${i}`),
    );
  });

  t.test(`${name}: a full outgoing queue drops the oldest messages and counts them`, async (t) => {
    const h = await setup(t);
    const a = await h.node({ queueMax: 2 });
    const dead = await h.deadAddress();
    const requests = [1, 2, 3, 4].map((i) => a.request(dead, 'ECHO', bytes(String(i)), 300).catch((e: unknown) => e));
    a.send(dead, 'GOSSIP_SYN', bytes('5'));
    const outcomes = await Promise.all(requests);
    t.type(outcomes[0], MessageDropped);
    t.type(outcomes[1], MessageDropped);
    t.type(outcomes[2], MessageDropped, 'the oldest is dropped to make room for the newest');
    t.type(outcomes[3], RequestTimeout, 'a queued request that is never answered times out');
    t.equal(a.stats().droppedOutgoing, 3);
  });

  t.test(`${name}: close rejects pending requests and later sends are dropped`, async (t) => {
    const h = await setup(t);
    const [a, b] = [await h.node(), await h.node()];
    b.onMessage('READ', () => new Promise<Uint8Array>(() => {}));
    const pending = a.request(b.address, 'READ', bytes('r'), 5000);
    await sleep(20);
    await a.close();
    await t.rejects(pending, TransportClosed);
    await t.rejects(a.request(b.address, 'READ', bytes('r'), 5000), TransportClosed);
    const before = a.stats().droppedOutgoing;
    a.send(b.address, 'GOSSIP_SYN', bytes('late'));
    t.equal(a.stats().droppedOutgoing, before + 1);
    await a.close();
  });
}
