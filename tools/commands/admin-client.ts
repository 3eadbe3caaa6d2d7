/**
 * The CLI's side of /v1/admin/*: one request to the node named by -h/--host, the JSON
 * answer back, and every way that can fail turned into an AdminRequestFailed whose
 * message is what the user should read (the node's own error message when it sent one).
 */
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

/** Why the connection failed, from fetch's TypeError('fetch failed') and its cause. */
function connectionProblem(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause as (Error & { code?: string; errors?: Error[] }) | undefined;
  if (cause === undefined) return (error as Error).message;
  // Connecting to a name with several addresses (localhost: ::1 and 127.0.0.1) fails
  // with an AggregateError whose own message is empty.
  return cause.message || cause.errors?.[0]?.message || cause.code || String(cause);
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
    return this.request<T>(text === '' ? path : `${path}?${text}`, { method: 'GET' });
  }

  post<T>(path: string, body: object): Promise<T> {
    return this.request<T>(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async request<T>(path: string, init: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.base + path, init);
    } catch (error) {
      throw new AdminRequestFailed(`Cannot connect to sibyl node at ${this.address}: ${connectionProblem(error)}`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AdminRequestFailed(`Unexpected answer from ${this.address} (HTTP ${response.status}); is it a sibyl node's HTTP address?`);
    }
    if (isErrorBody(body)) throw new AdminRequestFailed(body.error.message, body);
    if (!response.ok) throw new AdminRequestFailed(`HTTP ${response.status} from ${this.address}`);
    return body as T;
  }
}
