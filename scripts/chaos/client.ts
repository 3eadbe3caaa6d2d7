/**
 * One CQL request over HTTP (POST /v1/cql) with a deadline, and what its answer says
 * about whether it took effect: ok (200), fail (certainly not applied: refused before
 * any replica was asked — 4xx, 503 Unavailable / Overloaded, connection refused), or
 * unknown (timeouts on either side, 500, a connection lost after sending: the write may
 * have been applied, or may still be).
 */
import type { Outcome } from './history.js';

export type Consistency = 'ONE' | 'QUORUM' | 'ALL';

export interface CqlAnswer {
  outcome: Outcome;
  rows: Record<string, unknown>[];
  /** Error code or message when not ok. */
  error?: string;
}

/** Rows per page for reads; a longer result is read page by page. */
const PAGE_SIZE = 5_000;

function errorCode(error: unknown): string | undefined {
  let current = error as { code?: string; cause?: unknown; name?: string } | undefined;
  for (let depth = 0; current !== undefined && depth < 4; depth++) {
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return 'ClientTimeout';
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** Runs one statement, following pages, within `timeoutMs` overall. */
export async function cql(http: string, query: string, params: unknown[], consistency: Consistency, timeoutMs: number): Promise<CqlAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  const rows: Record<string, unknown>[] = [];
  let pagingState: string | undefined;
  do {
    let response: Response;
    let body: { rows?: Record<string, unknown>[]; pagingState?: string | null; error?: { code?: string; message?: string } };
    try {
      response = await fetch(`http://${http}/v1/cql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, params, consistency, pageSize: PAGE_SIZE, ...(pagingState === undefined ? {} : { pagingState }) }),
        signal,
      });
      body = (await response.json()) as typeof body;
    } catch (error) {
      const code = errorCode(error) ?? (error as Error).message;
      // Refused: the node is down and nothing was sent.
      return { outcome: code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' ? 'fail' : 'unknown', rows, error: code };
    }
    if (response.status !== 200) {
      const code = body.error?.code ?? `HTTP ${response.status}`;
      const definite = response.status === 503 || (response.status >= 400 && response.status < 500);
      return { outcome: definite ? 'fail' : 'unknown', rows, error: code };
    }
    rows.push(...(body.rows ?? []));
    pagingState = body.pagingState ?? undefined;
  } while (pagingState !== undefined);
  return { outcome: 'ok', rows };
}
