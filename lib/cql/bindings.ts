/**
 * Bound values of one execution, and the per-execution context terms are
 * evaluated in. Values arrive in their JSON forms (the HTTP contract); a term's
 * receiver type converts them.
 */
import { InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';
import type { TimeUuidGenerator } from '../schema/uuid.js';

export class Bindings {
  private readonly values: unknown[];

  constructor(markers: readonly { name: string | null }[], params: unknown[] | Record<string, unknown> | undefined) {
    if (params === undefined || params === null) {
      if (markers.length > 0) {
        throw new InvalidRequest(`There were ${markers.length} markers(?) in CQL but 0 bound variables`);
      }
      this.values = [];
      return;
    }
    if (Array.isArray(params)) {
      if (params.length !== markers.length) {
        throw new InvalidRequest(`There were ${markers.length} markers(?) in CQL but ${params.length} bound variables`);
      }
      this.values = params;
      return;
    }
    const names = new Set<string>();
    this.values = markers.map((marker, i) => {
      if (marker.name === null) {
        throw new InvalidRequest(`Named values were supplied but bind marker ${i + 1} is positional (?); use an array of params`);
      }
      names.add(marker.name);
      if (!Object.hasOwn(params, marker.name)) throw new InvalidRequest(`No value given for bind marker :${marker.name}`);
      return params[marker.name];
    });
    for (const name of Object.keys(params)) {
      if (!names.has(name)) throw new InvalidRequest(`Unknown bind marker :${name} (the statement has no such marker)`);
    }
  }

  /** The JSON value bound to marker `index`; undefined is treated as null. */
  get(index: number): unknown {
    return this.values[index] ?? null;
  }
}

/** Everything evaluating a term may need during one execution. */
export interface ExecContext {
  readonly bindings: Bindings;
  readonly clock: Clock;
  readonly timeuuids: TimeUuidGenerator;
  /** The execution's "now", fixed for the whole statement (TTL expiry and liveness). */
  readonly nowSeconds: number;
}
