/**
 * The durable SchemaStore: the schema in the system store's `schema` sublevel, one
 * record per keyspace (schema-codec.ts describes the JSON):
 *
 *   'format'          → SCHEMA_FORMAT_VERSION; present once a schema has been saved
 *   'keyspace:<name>' → StoredKeyspace
 *   'dropped'         → when keyspaces and tables were dropped (StoredSchema.dropped)
 *
 * A save replaces the whole schema in one synced LevelDB batch (records of dropped
 * keyspaces deleted, every other record rewritten), so a crash leaves either the old
 * schema or the new one, never a mix. Rewriting unchanged keyspaces keeps the code
 * simple; schema changes are rare and a schema is small.
 */
import { ConfigurationError } from '../errors.js';
import type { SchemaStore } from '../schema/manager.js';
import type { Schema } from '../schema/schema.js';
import { decodeSchema, encodeSchema, type StoredKeyspace } from './schema-codec.js';
import type { SystemDatabase, SystemSublevel } from './system-store.js';

const FORMAT_KEY = 'format';
const DROPPED_KEY = 'dropped';
const KEYSPACE_PREFIX = 'keyspace:';
/** Upper bound of the keyspace records' key range: ';' sorts right after ':'. */
const KEYSPACE_RANGE_END = 'keyspace;';

export class LevelSchemaStore implements SchemaStore {
  /** Saves run one at a time: each computes its deletions from the records on disk. */
  private saving: Promise<unknown> = Promise.resolve();

  /** `records` is the `schema` sublevel of `db`; batches go through `db` to be synced. */
  constructor(
    private readonly db: SystemDatabase,
    private readonly records: SystemSublevel<unknown>,
  ) {}

  async load(): Promise<Schema | null> {
    const format = await this.records.get(FORMAT_KEY);
    if (format === undefined) return null;
    const keyspaces: unknown[] = [];
    for await (const [key, value] of this.records.iterator({ gte: KEYSPACE_PREFIX, lt: KEYSPACE_RANGE_END })) {
      // decodeSchema checks the record's shape; the key must also name what it holds.
      const held = (value as Partial<StoredKeyspace> | null)?.name;
      if (held !== key.slice(KEYSPACE_PREFIX.length)) {
        throw new ConfigurationError(`Stored schema is unreadable: record '${key}' holds keyspace ${JSON.stringify(held) ?? 'nothing'}`);
      }
      keyspaces.push(value);
    }
    const dropped = await this.records.get(DROPPED_KEY);
    return decodeSchema({ format, keyspaces, ...(dropped === undefined ? {} : { dropped }) });
  }

  save(schema: Schema): Promise<void> {
    const run = () => this.write(schema);
    const result = this.saving.then(run, run);
    this.saving = result.catch(() => undefined);
    return result;
  }

  private async write(schema: Schema): Promise<void> {
    const stored = encodeSchema(schema);
    const kept = new Set(stored.keyspaces.map((keyspace) => KEYSPACE_PREFIX + keyspace.name));
    const stale: string[] = [];
    for await (const key of this.records.keys({ gte: KEYSPACE_PREFIX, lt: KEYSPACE_RANGE_END })) {
      if (!kept.has(key)) stale.push(key);
    }
    const sublevel = this.records;
    await this.db.batch<string, unknown>(
      [
        ...stale.map((key) => ({ type: 'del' as const, sublevel, key })),
        ...stored.keyspaces.map((keyspace) => ({ type: 'put' as const, sublevel, key: KEYSPACE_PREFIX + keyspace.name, value: keyspace })),
        { type: 'put', sublevel, key: DROPPED_KEY, value: stored.dropped ?? [] },
        { type: 'put', sublevel, key: FORMAT_KEY, value: stored.format },
      ],
      // The schema must survive a power loss once a DDL statement has been acknowledged.
      { sync: true },
    );
  }
}
