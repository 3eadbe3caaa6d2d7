/** The part of autocannon 9's API that scripts/bench uses (the package ships no types). */
declare module 'autocannon' {
  export interface Options {
    url: string;
    method?: 'GET' | 'POST';
    headers?: Record<string, string>;
    body?: string;
    /** Replace `[<id>]` in the body with a fresh id per request. */
    idReplacement?: boolean;
    connections?: number;
    /** Seconds. */
    duration?: number;
  }

  export interface Histogram {
    average: number;
    p50: number;
    p99: number;
  }

  export interface Result {
    /** Requests per second. */
    requests: Histogram & { total: number };
    /** Milliseconds. */
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }

  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
