/**
 * What every transport does the same way above the wire: one handler per verb, request
 * ids and their timeouts, and turning a handler's answer (or failure) into a response
 * envelope. A transport hands it incoming envelopes and gives it a way to reply.
 */
import { HANDSHAKE, type Envelope } from './frame.js';
import {
  type MessageHandler,
  type NetLogger,
  RemoteError,
  RequestTimeout,
  type Verb,
  VERBS,
} from './transport.js';

interface PendingRequest {
  readonly to: string;
  readonly verb: Verb;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** What the request was written to (a transport's connection), once it was. */
  sentOn?: object;
}

const KNOWN_VERBS: ReadonlySet<unknown> = new Set(VERBS);
const EMPTY = new Uint8Array(0);

export class Dispatcher {
  private readonly handlers = new Map<Verb, MessageHandler>();
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  /** Incoming messages refused (unknown verb, no handler, unexpected response). */
  rejectedIncoming = 0;

  constructor(
    private readonly address: string,
    private readonly logger: NetLogger,
  ) {}

  onMessage(verb: Verb, handler: MessageHandler): void {
    if (!KNOWN_VERBS.has(verb)) throw new TypeError(`unknown verb ${String(verb)}`);
    if (this.handlers.has(verb)) throw new TypeError(`a handler for ${verb} is already registered`);
    this.handlers.set(verb, handler);
  }

  oneWay(verb: Verb, payload: Uint8Array): Envelope {
    return { id: 0, verb, isResponse: false, from: this.address, payload };
  }

  /**
   * Registers a request to `to` and returns its envelope and the promise of its answer;
   * the caller transmits the envelope. The timeout starts now, queueing time included,
   * as Cassandra counts a request's time from when the coordinator issues it.
   */
  startRequest(
    to: string,
    verb: Verb,
    payload: Uint8Array,
    timeoutMs: number,
  ): { envelope: Envelope; answer: Promise<Uint8Array> } {
    const id = this.nextId++;
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeout(to, verb, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { to, verb, resolve, reject, timer });
    });
    return { envelope: { id, verb, isResponse: false, from: this.address, payload }, answer };
  }

  /** Rejects the pending request `id` (dropped, unsendable); no-op when it already ended. */
  fail(id: number, error: Error): void {
    const request = this.pending.get(id);
    if (request === undefined) return;
    this.pending.delete(id);
    clearTimeout(request.timer);
    request.reject(error);
  }

  /** Whether request `id` still waits for its answer (not answered, timed out or failed). */
  isPending(id: number): boolean {
    return this.pending.has(id);
  }

  /** Notes that request `id` was written to `connection` (see failSentOn). */
  markSent(id: number, connection: object): void {
    const request = this.pending.get(id);
    if (request !== undefined) request.sentOn = connection;
  }

  /**
   * Rejects the pending requests written to `connection`, which closed: their answers
   * will not come if the peer went away, and waiting for their timeouts (up to half an
   * hour for a repair's validation) would only delay what the caller does instead.
   */
  failSentOn(connection: object, error: (verb: Verb) => Error): void {
    for (const [id, request] of [...this.pending]) if (request.sentOn === connection) this.fail(id, error(request.verb));
  }

  failAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.fail(id, error);
  }

  /**
   * Handles an envelope that arrived from `from` (the sender's listen address). A
   * request's answer goes to `reply`; responses settle their pending request.
   */
  receive(from: string, envelope: Envelope, reply: (response: Envelope) => void): void {
    if (envelope.isResponse) {
      this.settle(from, envelope);
      return;
    }
    const verb = envelope.verb;
    const handler = KNOWN_VERBS.has(verb) ? this.handlers.get(verb as Verb) : undefined;
    if (handler === undefined) {
      this.rejectedIncoming++;
      const reason =
        verb === HANDSHAKE || !KNOWN_VERBS.has(verb) ? `unknown verb ${String(verb)}` : `no handler for verb ${String(verb)}`;
      this.logger.warn({ from, verb, id: envelope.id }, `dropping message from /${from}: ${reason}`);
      if (envelope.id !== 0) reply(this.response(envelope, EMPTY, reason));
      return;
    }
    // Starting from a resolved promise turns a synchronous throw into a rejection too.
    const answer = Promise.resolve(envelope.payload).then((payload) => handler(from, payload));
    if (envelope.id === 0) {
      answer.catch((error: unknown) => {
        this.logger.warn({ from, verb, err: error }, `${String(verb)} handler failed on a message from /${from}`);
      });
      return;
    }
    answer.then(
      (payload) => reply(this.response(envelope, payload ?? EMPTY)),
      (error: unknown) => reply(this.response(envelope, EMPTY, error instanceof Error ? error.message : String(error))),
    );
  }

  private response(request: Envelope, payload: Uint8Array, error?: string): Envelope {
    const response = { id: request.id, verb: request.verb, isResponse: true, from: this.address, payload };
    return error === undefined ? response : { ...response, error };
  }

  private settle(from: string, response: Envelope): void {
    const request = this.pending.get(response.id);
    // Only the node asked may answer: an id is unique per requester, not per peer.
    if (request === undefined || request.to !== from) {
      // A late answer to a request that already timed out is normal, not worth a warning.
      return;
    }
    this.pending.delete(response.id);
    clearTimeout(request.timer);
    if (response.error !== undefined) request.reject(new RemoteError(from, request.verb, response.error));
    else request.resolve(response.payload);
  }
}
