/**
 * The internode messaging contract. Two implementations sit behind it: TCP for real
 * nodes (lib/net/tcp.ts) and an in-process hub with seeded faults for deterministic
 * multi-node tests (lib/net/memory.ts); test/unit/transport-suite.ts holds both to it.
 *
 * A node is named by its listen address, "host:port". Delivery is at most once: a
 * message can be lost (peer down, queue full, connection reset, partition) and nothing
 * retries it here — callers that need an answer use `request`, which times out, and
 * decide themselves whether to retry, hint or give up, as Cassandra's coordinator does.
 */

/** Every verb a node may use; the numbers on the wire are in protocol/messaging.proto. */
export const VERBS = [
  'ECHO',
  'GOSSIP_SYN',
  'GOSSIP_ACK',
  'GOSSIP_ACK2',
  'MUTATION',
  'MUTATION_RSP',
  'READ',
  'READ_RSP',
  'HINT',
  'HINT_RSP',
  'SCHEMA_PULL',
  'SCHEMA_PUSH',
  'RANGE_READ',
  'TRUNCATE',
  'VALIDATION',
  'STREAM_PULL',
  'STREAM_PUSH',
  'STREAM_FETCH',
] as const;

export type Verb = (typeof VERBS)[number];

/**
 * Handles one verb. For a request, the returned bytes (or an empty payload for void)
 * are the answer and a throw or rejection is sent back as an error the requester sees
 * as a RemoteError; for a one-way message the return value is ignored.
 */
export type MessageHandler = (from: string, payload: Uint8Array) => Uint8Array | void | Promise<Uint8Array | void>;

export interface TransportStats {
  /**
   * Messages given to `send`/`request` (or answers) that were dropped before reaching
   * the wire: the peer's outgoing queue was full (the oldest queued message is dropped
   * to make room, so fresh state such as gossip wins over stale), or the transport was closed.
   */
  readonly droppedOutgoing: number;
  /** Frames or messages received and rejected: unknown verb, no handler, garbage. */
  readonly rejectedIncoming: number;
}

export interface Transport {
  /** This node's listen address, "host:port". */
  readonly address: string;
  /** Fire and forget: queued for `to` and never answered; see TransportStats for drops. */
  send(to: string, verb: Verb, payload: Uint8Array): void;
  /**
   * Sends and waits for the handler's answer. Rejects with RequestTimeout after
   * `timeoutMs`, with RemoteError when the peer's handler failed or has no handler for
   * the verb, with MessageDropped when the queue dropped it, and with TransportClosed.
   */
  request(to: string, verb: Verb, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Registers the one handler of `verb`; registering a second is a programmer error. */
  onMessage(verb: Verb, handler: MessageHandler): void;
  stats(): TransportStats;
  /** Stops listening, drops connections and queues, rejects pending requests. Idempotent. */
  close(): Promise<void>;
}

/** Where a transport reports what it drops and why (a pino logger fits). */
export interface NetLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const SILENT_NET_LOGGER: NetLogger = { warn() {}, info() {} };

/** Base of the messaging errors: conditions of the network, not bugs. */
export class MessagingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No answer within the request's timeout (the peer may still have applied it). */
export class RequestTimeout extends MessagingError {
  constructor(
    readonly to: string,
    readonly verb: Verb,
    readonly timeoutMs: number,
  ) {
    super(`${verb} request to /${to} timed out after ${timeoutMs} ms`);
  }
}

/** The peer received the request and answered with an error (handler threw, unknown verb). */
export class RemoteError extends MessagingError {
  constructor(
    readonly from: string,
    readonly verb: Verb,
    readonly remoteMessage: string,
  ) {
    super(`${verb} request failed on /${from}: ${remoteMessage}`);
  }
}

/** The request was dropped from a full outgoing queue before it was sent. */
export class MessageDropped extends MessagingError {
  constructor(
    readonly to: string,
    readonly verb: Verb,
  ) {
    super(`${verb} request to /${to} dropped: outgoing queue full`);
  }
}

/** The connection a request was written to closed before its answer came (the peer stopped or restarted). */
export class ConnectionLost extends MessagingError {
  constructor(
    readonly to: string,
    readonly verb: Verb,
  ) {
    super(`${verb} request to /${to} failed: the connection closed before the answer came`);
  }
}

/** The transport was closed before the request was answered. */
export class TransportClosed extends MessagingError {
  constructor(readonly address: string) {
    super(`messaging service on /${address} is closed`);
  }
}

/** Splits "host:port", rejecting anything else (a programmer or configuration error). */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`invalid node address '${address}': expected host:port`);
  }
  // "[::1]:7000" names an IPv6 host; sockets want it without the brackets.
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}
