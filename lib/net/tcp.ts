/**
 * Internode messaging over TCP, in the frames of lib/net/frame.ts.
 *
 * One server socket accepts peers. To each peer this node opens one outbound
 * connection (a pool of one: frames are small next to a socket's bandwidth, and one
 * connection keeps every message to a peer in order); it opens lazily on the first
 * message, and after a failure it reconnects with exponential backoff (doubling from
 * `reconnectDelayMsMin` up to `reconnectDelayMsMax`) for as long as messages wait.
 *
 * A connection opens with a HANDSHAKE frame naming the sender's listen address, so the
 * receiver knows which node is talking whatever ephemeral port the socket came from.
 * A request's answer travels back over the connection the request came in on: it needs
 * no connection of its own and reaches the requester even if the requester's listen
 * port is unreachable from here.
 *
 * Limits: at most `outgoingQueueMax` frames wait per peer (while disconnected or while
 * the socket pushes back); a new frame then drops the oldest, counted in
 * stats().droppedOutgoing, and a dropped request rejects with MessageDropped. Queued
 * requests whose timeout has passed are skipped rather than sent late. Answers are
 * dropped when the requester does not read them (more than `answerBufferBytesMax`
 * unread on its connection). A frame larger than `frameBytesMax` is never sent, and a
 * connection that delivers one — or any bytes that are not valid frames — is closed
 * with a logged reason while the node keeps serving its other connections.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Dispatcher } from './dispatcher.js';
import { type Envelope, FRAME_BYTES_MAX_DEFAULT, FrameDecoder, HANDSHAKE, encodeFrame } from './frame.js';
import {
  ConnectionLost,
  type MessageHandler,
  MessageDropped,
  type NetLogger,
  parseAddress,
  SILENT_NET_LOGGER,
  type Transport,
  TransportClosed,
  type TransportStats,
  type Verb,
} from './transport.js';

export interface TcpTransportOptions {
  /** "host:port" to listen on; port 0 picks a free port (tests). Default 127.0.0.1:0. */
  listen?: string;
  logger?: NetLogger;
  /** Largest envelope sent or accepted, in bytes (default 16 MiB). */
  frameBytesMax?: number;
  /** Frames waiting per peer before the oldest is dropped (default 4096). */
  outgoingQueueMax?: number;
  /** Unread answer bytes on a connection before further answers are dropped (default 64 MiB). */
  answerBufferBytesMax?: number;
  /** First reconnect delay after a failure; doubles per failed attempt (default 50 ms). */
  reconnectDelayMsMin?: number;
  /** Cap of the reconnect delay (default 5000 ms). */
  reconnectDelayMsMax?: number;
  /** Time allowed for a TCP connect (default 2000 ms). */
  connectTimeoutMs?: number;
}

type Settings = Required<Omit<TcpTransportOptions, 'listen' | 'logger'>>;

const EMPTY = new Uint8Array(0);

interface QueuedFrame {
  readonly frame: Buffer;
  /** Id of the request the frame carries, 0 for one-way messages and answers. */
  readonly requestId: number;
  readonly verb: Verb;
}

/** This node's one connection to a peer, with the frames waiting for it. */
class OutboundConnection {
  private socket: Socket | null = null;
  private state: 'idle' | 'connecting' | 'open' | 'backoff' = 'idle';
  private readonly queue: QueuedFrame[] = [];
  private failedAttempts = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Whether the queue has overflowed since it last drained; logs once per episode. */
  private overflowing = false;

  constructor(
    private readonly transport: TcpTransport,
    readonly peer: string,
  ) {}

  enqueue(item: QueuedFrame): void {
    const socket = this.socket;
    if (this.state === 'open' && socket !== null && this.queue.length === 0 && socket.writable && !socket.writableNeedDrain) {
      this.write(socket, item);
      return;
    }
    if (this.queue.length >= this.transport.settings.outgoingQueueMax) {
      const dropped = this.queue.shift()!;
      this.transport.droppedFromQueue(this.peer, dropped);
      if (!this.overflowing) {
        this.overflowing = true;
        this.transport.logger.warn(
          { peer: this.peer, queued: this.queue.length },
          `outgoing queue to /${this.peer} is full; dropping the oldest messages`,
        );
      }
    }
    this.queue.push(item);
    if (this.state === 'idle') this.connect();
  }

  close(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.queue.length = 0;
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): void {
    this.state = 'connecting';
    this.reconnectTimer = null;
    const { host, port } = parseAddress(this.peer);
    const localAddress = this.transport.outgoingLocalAddress;
    const socket = connect({ host, port, noDelay: true, ...(localAddress === undefined ? {} : { localAddress }) });
    this.socket = socket;
    socket.setTimeout(this.transport.settings.connectTimeoutMs, () =>
      socket.destroy(new Error(`connect timed out after ${this.transport.settings.connectTimeoutMs} ms`)),
    );
    socket.once('connect', () => {
      socket.setTimeout(0);
      this.state = 'open';
      this.failedAttempts = 0;
      socket.write(this.transport.handshakeFrame);
      this.flush();
    });
    socket.on('drain', () => this.flush());
    this.transport.readFrames(socket, () => this.peer);
    let lastError: Error | null = null;
    socket.on('error', (error) => {
      lastError = error;
    });
    socket.on('close', () => {
      // Requests written to this socket get no answer if the peer went away: fail them now.
      this.transport.failSentOn(socket, this.peer);
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.transport.closed) return;
      if (this.queue.length === 0) {
        this.state = 'idle';
        return;
      }
      const delay = Math.min(
        this.transport.settings.reconnectDelayMsMin * 2 ** this.failedAttempts,
        this.transport.settings.reconnectDelayMsMax,
      );
      // Logged on the first failure only, so a long outage does not flood the log.
      if (this.failedAttempts === 0) {
        this.transport.logger.info(
          { peer: this.peer, err: lastError?.message },
          `connection to /${this.peer} lost; reconnecting with backoff`,
        );
      }
      this.failedAttempts++;
      this.state = 'backoff';
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private write(socket: Socket, item: QueuedFrame): void {
    socket.write(item.frame);
    if (item.requestId !== 0) this.transport.markSent(item.requestId, socket);
  }

  /** Writes waiting frames until the socket pushes back; 'drain' resumes. */
  private flush(): void {
    const socket = this.socket;
    if (socket === null || this.state !== 'open') return;
    while (this.queue.length > 0 && socket.writable && !socket.writableNeedDrain) {
      const item = this.queue.shift()!;
      if (item.requestId !== 0 && !this.transport.isPending(item.requestId)) continue;
      this.write(socket, item);
    }
    if (this.queue.length === 0) this.overflowing = false;
  }
}

export class TcpTransport implements Transport {
  readonly settings: Settings;
  readonly handshakeFrame: Buffer;
  /**
   * The address outgoing connections are bound to: the listen host, as Cassandra binds
   * them, so that on a shared interface (several nodes on 127.0.0.N) a connection comes
   * from the node's own address and firewall rules can tell nodes apart. Undefined for a
   * wildcard listen address, where the OS picks.
   */
  readonly outgoingLocalAddress: string | undefined;
  closed = false;
  private readonly dispatcher: Dispatcher;
  private readonly peers = new Map<string, OutboundConnection>();
  private readonly inbound = new Set<Socket>();
  private droppedOutgoing = 0;
  private rejectedFrames = 0;

  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly logger: NetLogger,
    options: TcpTransportOptions,
  ) {
    this.settings = {
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      outgoingQueueMax: options.outgoingQueueMax ?? 4096,
      answerBufferBytesMax: options.answerBufferBytesMax ?? 64 * 1024 * 1024,
      reconnectDelayMsMin: options.reconnectDelayMsMin ?? 50,
      reconnectDelayMsMax: options.reconnectDelayMsMax ?? 5000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    };
    const listenHost = parseAddress(address).host;
    this.outgoingLocalAddress = listenHost === '0.0.0.0' || listenHost === '::' ? undefined : listenHost;
    this.dispatcher = new Dispatcher(address, logger);
    this.handshakeFrame = encodeFrame({ id: 0, verb: HANDSHAKE, isResponse: false, from: address, payload: EMPTY });
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening; resolves once the port is bound (its address then names the real port). */
  static async listen(options: TcpTransportOptions = {}): Promise<TcpTransport> {
    const { host, port } = parseAddress(options.listen ?? '127.0.0.1:0');
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    if (bound === null || typeof bound === 'string') throw new Error(`cannot tell the port bound on ${host}`);
    const address = host.includes(':') ? `[${host}]:${bound.port}` : `${host}:${bound.port}`;
    return new TcpTransport(server, address, options.logger ?? SILENT_NET_LOGGER, options);
  }

  send(to: string, verb: Verb, payload: Uint8Array): void {
    if (this.closed) {
      this.droppedOutgoing++;
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(this.dispatcher.oneWay(verb, payload), this.settings.frameBytesMax);
    } catch (error) {
      this.droppedOutgoing++;
      this.logger.warn({ to, verb, err: (error as Error).message }, `cannot send ${verb} to /${to}`);
      return;
    }
    this.connection(to).enqueue({ frame, requestId: 0, verb });
  }

  request(to: string, verb: Verb, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TransportClosed(this.address));
    const { envelope, answer } = this.dispatcher.startRequest(to, verb, payload, timeoutMs);
    let frame: Buffer;
    try {
      frame = encodeFrame(envelope, this.settings.frameBytesMax);
    } catch (error) {
      this.dispatcher.fail(envelope.id, error as Error);
      return answer;
    }
    this.connection(to).enqueue({ frame, requestId: envelope.id, verb });
    return answer;
  }

  onMessage(verb: Verb, handler: MessageHandler): void {
    this.dispatcher.onMessage(verb, handler);
  }

  stats(): TransportStats {
    return {
      droppedOutgoing: this.droppedOutgoing,
      rejectedIncoming: this.dispatcher.rejectedIncoming + this.rejectedFrames,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.peers.values()) connection.close();
    this.peers.clear();
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    this.dispatcher.failAll(new TransportClosed(this.address));
    await stopped;
  }

  /** @internal */
  isPending(requestId: number): boolean {
    return this.dispatcher.isPending(requestId);
  }

  /** @internal Notes the connection (socket) a request was written to. */
  markSent(requestId: number, socket: Socket): void {
    this.dispatcher.markSent(requestId, socket);
  }

  /** @internal Fails the requests written to a socket that closed (ConnectionLost). */
  failSentOn(socket: Socket, peer: string): void {
    this.dispatcher.failSentOn(socket, (verb) => new ConnectionLost(peer, verb));
  }

  /** @internal a full queue to `peer` dropped `item`. */
  droppedFromQueue(peer: string, item: QueuedFrame): void {
    this.droppedOutgoing++;
    if (item.requestId !== 0) this.dispatcher.fail(item.requestId, new MessageDropped(peer, item.verb));
  }

  /**
   * @internal Decodes frames arriving on `socket` and dispatches them as coming from
   * `peer()` (null until an inbound connection's handshake names it).
   */
  readFrames(socket: Socket, peer: () => string | null, onHandshake?: (from: string) => void): void {
    const decoder = new FrameDecoder(this.settings.frameBytesMax);
    socket.on('data', (chunk: Buffer) => {
      let envelopes: Envelope[];
      try {
        envelopes = decoder.push(chunk);
      } catch (error) {
        this.reject(socket, peer(), (error as Error).message);
        return;
      }
      for (const envelope of envelopes) {
        const from = peer();
        if (envelope.verb === HANDSHAKE) {
          if (from !== null || onHandshake === undefined) return this.reject(socket, from, 'unexpected handshake');
          try {
            parseAddress(envelope.from);
          } catch {
            return this.reject(socket, null, `handshake names an invalid address '${envelope.from}'`);
          }
          onHandshake(envelope.from);
          continue;
        }
        if (from === null) return this.reject(socket, null, 'expected a handshake first');
        this.dispatcher.receive(from, envelope, (response) => this.answer(socket, from, response));
      }
    });
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    let peer: string | null = null;
    this.readFrames(
      socket,
      () => peer,
      (from) => {
        peer = from;
      },
    );
    // Resets and aborts of a peer's connection are routine; 'close' below cleans up.
    socket.on('error', () => {});
    socket.on('close', () => this.inbound.delete(socket));
  }

  private answer(socket: Socket, peer: string, response: Envelope): void {
    if (socket.destroyed) return;
    if (socket.writableLength > this.settings.answerBufferBytesMax) {
      this.droppedOutgoing++;
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(response, this.settings.frameBytesMax);
    } catch (error) {
      // Too large to send: the requester hears why instead of waiting for its timeout.
      frame = encodeFrame({ ...response, payload: EMPTY, error: (error as Error).message }, this.settings.frameBytesMax);
    }
    socket.write(frame);
  }

  private reject(socket: Socket, peer: string | null, reason: string): void {
    this.rejectedFrames++;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.logger.warn({ peer, remote, reason }, `closing internode connection with ${peer ? `/${peer}` : remote}: ${reason}`);
    socket.destroy();
  }

  private connection(peer: string): OutboundConnection {
    let connection = this.peers.get(peer);
    if (connection === undefined) {
      parseAddress(peer);
      connection = new OutboundConnection(this, peer);
      this.peers.set(peer, connection);
    }
    return connection;
  }
}
