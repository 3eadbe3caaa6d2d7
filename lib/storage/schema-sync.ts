/**
 * Keeps storage's tables in step with the schema: a created or altered table gets
 * (or refreshes) its store, a dropped table or keyspace loses its data.
 */
import type { SchemaManager } from '../schema/manager.js';
import type { Schema } from '../schema/schema.js';
import type { StorageEngine } from './engine.js';

function tablesById(schema: Schema) {
  const out = new Map<string, import('../schema/metadata.js').TableMetadata>();
  for (const ks of schema.keyspaces.values()) for (const t of ks.tables.values()) out.set(t.id, t);
  return out;
}

export function syncStorageWithSchema(schema: SchemaManager, storage: StorageEngine): void {
  for (const table of tablesById(schema.current).values()) storage.openTable(table);
  schema.onChange(async (next, previous) => {
    const before = tablesById(previous);
    const after = tablesById(next);
    for (const [id, table] of after) if (before.get(id) !== table) storage.openTable(table);
    for (const id of before.keys()) if (!after.has(id)) await storage.dropTable(id);
  });
}
