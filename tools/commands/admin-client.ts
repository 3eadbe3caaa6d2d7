/**
 * The CLI's side of /v1/admin/*: one request to the node named by -h/--host, the JSON
 * answer back, and every way that can fail turned into an AdminRequestFailed whose
 * message is what the user should read (the node's own error message when it sent one).
 *
 * Requests are made with node:http, which sets no time limit: decommission, removenode
 * or a major compaction answer when their work is done, however long that takes, as
 * nodetool waits for them (fetch gives up after 300 s without an answer).
 */
import { request as httpRequest } from 'node:http';
import { formatHostPort, type HostPort } from '../../lib/config.js';

/** The node's error body, `{ error: { code, message, ...details } }`. */
export interface AdminErrorBody {
  error: { code: string; message: string; [detail: string]: unknown };
}

export class AdminRequestFailed extends Error {
  constructor(
    message: string,
    /** The node's error body, when the node answered with one. */
    readonly body: AdminErrorBody | null = null,
  ) {
    super(message);
  }
}

function isErrorBody(value: unknown): value is AdminErrorBody {
  const error = (value as Partial<AdminErrorBody> | null)?.error;
  return typeof error === 'object' && error !== null && typeof error.message === 'string' && typeof error.code === 'string';
}

export class AdminClient {
  /** HOST:PORT as the user would write it, for messages. */
  readonly address: string;
  private readonly base: string;

  constructor(node: HostPort) {
    this.address = formatHostPort(node);
    this.base = `http://${this.address}`;
  }

  get<T>(path: string, query: Record<string, string | string[] | undefined> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      for (const item of value === undefined ? [] : [value].flat()) search.append(name, item);
    }
    const text = search.toString();
    return this.request<T>('GET', text === '' ? path : `${path}?${text}`);
  }

  post<T>(path: string, body: object): Promise<T> {
    return this.request<T>('POST', path, JSON.stringify(body));
  }

  private async request<T>(method: string, path: string, body?: string): Promise<T> {
    let status: number;
    let text: string;
    try {
      ({ status, text } = await send(this.base + path, method, body));
    } catch (error) {
      throw new AdminRequestFailed(`Cannot connect to sibyl node at ${this.address}: ${connectionProblem(error)}`);
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new AdminRequestFailed(`Unexpected answer from ${this.address} (HTTP ${status}); is it a sibyl node's HTTP address?`);
    }
    if (isErrorBody(answer)) throw new AdminRequestFailed(answer.error.message, answer);
    if (status < 200 || status > 299) throw new AdminRequestFailed(`HTTP ${status} from ${this.address}`);
    return answer as T;
  }
}

/** One HTTP exchange with no time limit: the status and the whole body as text. */
function send(url: string, method: string, body: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const request = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Why the connection failed. Connecting to a name with several addresses (localhost:
 *  ::1 and 127.0.0.1) fails with an AggregateError whose own message is empty. */
function connectionProblem(error: unknown): string {
  const failure = error as Error & { code?: string; errors?: Error[] };
  return failure.message || failure.errors?.[0]?.message || failure.code || String(failure);
}
