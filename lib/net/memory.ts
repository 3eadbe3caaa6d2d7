/**
 * Many nodes in one process: a MemoryNetwork hub joins MemoryTransports by address and
 * carries their messages with faults drawn from one seed — a drop rate, a delay range,
 * partitions between groups and isolated nodes — so a multi-node test replays exactly
 * from its seed (given the same sequence of sends).
 *
 * Like a TCP connection, each (sender, receiver) link is FIFO: a message never overtakes
 * an earlier one on the same link, however the delays were drawn. Delivery is always
 * asynchronous, even with no delay, so no handler runs inside `send`. Partitions are
 * checked when a message arrives, so messages in flight when a partition starts are lost
 * too. A message to an address no node has joined (a stopped node) is silently lost.
 */
import { Dispatcher } from './dispatcher.js';
import type { Envelope } from './frame.js';
import { seededRandom } from '../model/random.js';
import {
  type MessageHandler,
  MessageDropped,
  type NetLogger,
  SILENT_NET_LOGGER,
  type Transport,
  TransportClosed,
  type TransportStats,
  type Verb,
} from './transport.js';

export interface MemoryNetworkOptions {
  /** Seed of every random fault decision (default 1). */
  seed?: number;
  /** Probability in [0, 1] that a message is lost (default 0). */
  dropRate?: number;
  /** Each message's delay is drawn uniformly from [delayMsMin, delayMsMax] (default 0). */
  delayMsMin?: number;
  delayMsMax?: number;
  /** Messages in flight per link; when full the oldest is dropped (default 1024). */
  outgoingQueueMax?: number;
}


interface InFlight {
  readonly due: number;
  readonly envelope: Envelope;
}

/** The messages from one node to another, in send order. */
class Link {
  readonly queue: InFlight[] = [];
  scheduled = false;
  constructor(
    readonly sender: MemoryTransport,
    readonly to: string,
  ) {}
}

export class MemoryNetwork {
  private readonly nodes = new Map<string, MemoryTransport>();
  private readonly links = new Map<string, Link>();
  /** Directed pairs "from to" that cannot talk, added by partition(). */
  private readonly cuts = new Set<string>();
  private readonly isolated = new Set<string>();
  private readonly random: () => number;
  private dropRate: number;
  private delayMsMin: number;
  private delayMsMax: number;
  private readonly outgoingQueueMax: number;
  /** Messages lost to the drop rate, a partition or an absent receiver. */
  lost = 0;
  delivered = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.dropRate = 0;
    this.delayMsMin = 0;
    this.delayMsMax = 0;
    this.setDropRate(options.dropRate ?? 0);
    this.setDelay(options.delayMsMin ?? 0, options.delayMsMax ?? options.delayMsMin ?? 0);
    this.outgoingQueueMax = options.outgoingQueueMax ?? 1024;
  }

  /** A transport for the node at `address`; a stopped node's address may join again (a restart). */
  join(address: string, options: { logger?: NetLogger; outgoingQueueMax?: number } = {}): MemoryTransport {
    if (this.nodes.has(address)) throw new TypeError(`address ${address} is already in use on this network`);
    const transport = new MemoryTransport(
      this,
      address,
      options.logger ?? SILENT_NET_LOGGER,
      options.outgoingQueueMax ?? this.outgoingQueueMax,
    );
    this.nodes.set(address, transport);
    return transport;
  }

  /** Cuts every link between a node of `groupA` and a node of `groupB`, both ways. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.cuts.add(`${a} ${b}`);
        this.cuts.add(`${b} ${a}`);
      }
    }
  }

  /** Cuts `node` off from every other node, both ways. */
  isolate(node: string): void {
    this.isolated.add(node);
  }

  /** Removes every partition and isolation (drop rate and delays stay). */
  heal(): void {
    this.cuts.clear();
    this.isolated.clear();
  }

  setDropRate(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`drop rate ${rate} is not in [0, 1]`);
    this.dropRate = rate;
  }

  setDelay(minMs: number, maxMs: number): void {
    if (!(minMs >= 0 && maxMs >= minMs)) throw new RangeError(`delay range [${minMs}, ${maxMs}] ms is invalid`);
    this.delayMsMin = minMs;
    this.delayMsMax = maxMs;
  }

  /** @internal the node at `address` stopped. */
  leave(transport: MemoryTransport): void {
    if (this.nodes.get(transport.address) === transport) this.nodes.delete(transport.address);
  }

  /** @internal puts `envelope` on the link from `sender` to `to`. */
  transmit(sender: MemoryTransport, to: string, envelope: Envelope): void {
    // Draw both decisions for every message so that a change of drop rate does not
    // shift the delays drawn for later messages.
    const dropDraw = this.random();
    const delayDraw = this.random();
    if (dropDraw < this.dropRate) {
      this.lost++;
      return;
    }
    const delay = this.delayMsMin + Math.floor(delayDraw * (this.delayMsMax - this.delayMsMin + 1));
    const key = `${sender.address} ${to}`;
    let link = this.links.get(key);
    if (link === undefined || link.sender !== sender) {
      link = new Link(sender, to);
      this.links.set(key, link);
    }
    if (link.queue.length >= sender.outgoingQueueMax) sender.droppedFromQueue(link.queue.shift()!.envelope, to);
    link.queue.push({ due: performance.now() + delay, envelope });
    if (!link.scheduled) this.schedule(link, delay);
  }

  private schedule(link: Link, delayMs: number): void {
    link.scheduled = true;
    if (delayMs <= 0) setImmediate(() => this.pump(link));
    else setTimeout(() => this.pump(link), Math.ceil(delayMs));
  }

  /** Delivers the link's due messages in order, then waits for the next head. */
  private pump(link: Link): void {
    link.scheduled = false;
    const now = performance.now();
    while (link.queue.length > 0 && link.queue[0].due <= now) this.deliver(link, link.queue.shift()!.envelope);
    if (link.queue.length > 0) this.schedule(link, link.queue[0].due - now);
  }

  private deliver(link: Link, envelope: Envelope): void {
    const from = link.sender.address;
    const receiver = this.nodes.get(link.to);
    if (
      receiver === undefined ||
      link.sender.closed ||
      this.isolated.has(from) ||
      this.isolated.has(link.to) ||
      this.cuts.has(`${from} ${link.to}`)
    ) {
      this.lost++;
      return;
    }
    this.delivered++;
    receiver.receive(from, envelope);
  }
}

export class MemoryTransport implements Transport {
  private readonly dispatcher: Dispatcher;
  private droppedOutgoing = 0;
  closed = false;

  /** Use MemoryNetwork.join. */
  constructor(
    private readonly network: MemoryNetwork,
    readonly address: string,
    private readonly logger: NetLogger,
    /** Messages in flight per receiver before the oldest is dropped. */
    readonly outgoingQueueMax: number,
  ) {
    this.dispatcher = new Dispatcher(address, logger);
  }

  send(to: string, verb: Verb, payload: Uint8Array): void {
    if (this.closed) {
      this.droppedOutgoing++;
      return;
    }
    // A copy, as the wire would make: neither side sees the other's later changes.
    this.network.transmit(this, to, this.dispatcher.oneWay(verb, Buffer.from(payload)));
  }

  request(to: string, verb: Verb, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TransportClosed(this.address));
    const { envelope, answer } = this.dispatcher.startRequest(to, verb, Buffer.from(payload), timeoutMs);
    this.network.transmit(this, to, envelope);
    return answer;
  }

  onMessage(verb: Verb, handler: MessageHandler): void {
    this.dispatcher.onMessage(verb, handler);
  }

  stats(): TransportStats {
    return { droppedOutgoing: this.droppedOutgoing, rejectedIncoming: this.dispatcher.rejectedIncoming };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.network.leave(this);
    this.dispatcher.failAll(new TransportClosed(this.address));
  }

  /** @internal an envelope arrived from the node at `from`. */
  receive(from: string, envelope: Envelope): void {
    this.dispatcher.receive(from, envelope, (response) => {
      // The handler may finish after this node stopped; a stopped node answers nothing.
      if (this.closed) return;
      this.network.transmit(this, from, { ...response, payload: Buffer.from(response.payload) });
    });
  }

  /** @internal the link to `to` was full and dropped `envelope`, its oldest message. */
  droppedFromQueue(envelope: Envelope, to: string): void {
    this.droppedOutgoing++;
    if (envelope.id !== 0 && !envelope.isResponse) {
      this.dispatcher.fail(envelope.id, new MessageDropped(to, envelope.verb as Verb));
    }
    this.logger.warn({ to, verb: envelope.verb }, `outgoing queue to /${to} is full; dropped the oldest message`);
  }
}
