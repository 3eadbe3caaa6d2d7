/**
 * Holds the node's current schema and applies changes one at a time.
 *
 * A change is a pure function from the old snapshot to the new one; the manager
 * serialises changes (so two concurrent DDL statements cannot lose each other's
 * work), persists the result through the injected store, and then tells listeners
 * (storage opens or drops tables; later, gossip announces the new version).
 */
import { Schema } from './schema.js';

export interface SchemaStore {
  load(): Promise<Schema | null>;
  save(schema: Schema): Promise<void>;
}

/** Keeps the schema in memory only (until the durable system store lands). */
export class MemorySchemaStore implements SchemaStore {
  private saved: Schema | null = null;
  async load(): Promise<Schema | null> {
    return this.saved;
  }
  async save(schema: Schema): Promise<void> {
    this.saved = schema;
  }
}

export type SchemaListener = (next: Schema, previous: Schema) => Promise<void> | void;

export class SchemaManager {
  private schema: Schema;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners: SchemaListener[] = [];

  private constructor(
    private readonly store: SchemaStore,
    initial: Schema,
  ) {
    this.schema = initial;
  }

  static async open(store: SchemaStore): Promise<SchemaManager> {
    return new SchemaManager(store, (await store.load()) ?? new Schema());
  }

  get current(): Schema {
    return this.schema;
  }

  onChange(listener: SchemaListener): void {
    this.listeners.push(listener);
  }

  /**
   * Applies `change` to the latest schema. `change` may throw (a typed error) to
   * refuse; then nothing is saved. Returns the schema after the change.
   */
  apply(change: (current: Schema) => Schema): Promise<Schema> {
    const run = async (): Promise<Schema> => {
      const previous = this.schema;
      const next = change(previous);
      if (next === previous) return previous;
      await this.store.save(next);
      this.schema = next;
      for (const listener of this.listeners) await listener(next, previous);
      return next;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
