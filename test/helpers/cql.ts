/**
 * A single node's CQL stack in one process (memory storage, manual clock), for
 * executor tests.
 */
import { LocalStorageProxy } from '../../lib/coordinator/proxy.js';
import { CqlExecutor } from '../../lib/cql/executor.js';
import type { CqlRequest, CqlResult } from '../../lib/cql/request.js';
import { ManualClock } from '../../lib/model/clock.js';
import { MemorySchemaStore, SchemaManager } from '../../lib/schema/manager.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { syncStorageWithSchema } from '../../lib/storage/schema-sync.js';

export interface CqlHarness {
  executor: CqlExecutor;
  clock: ManualClock;
  storage: StorageEngine;
  schema: SchemaManager;
  /** Runs a statement in keyspace `ks` (unless the request names another). */
  q(query: string, params?: unknown[] | Record<string, unknown>, extra?: Partial<CqlRequest>): Promise<CqlResult>;
  /** Runs a SELECT and returns its rows. */
  rows(query: string, params?: unknown[] | Record<string, unknown>, extra?: Partial<CqlRequest>): Promise<Record<string, unknown>[]>;
}

export async function cqlHarness(options: { storage?: StorageEngine; keyspace?: boolean } = {}): Promise<CqlHarness> {
  const clock = new ManualClock();
  const storage = options.storage ?? new MemoryStorageEngine();
  const schema = await SchemaManager.open(new MemorySchemaStore());
  syncStorageWithSchema(schema, storage);
  const proxy = new LocalStorageProxy(storage, 'datacenter1');
  const executor = new CqlExecutor({ schema, proxy, clock, dataCenters: ['datacenter1'] });
  const q: CqlHarness['q'] = (query, params, extra) => executor.execute({ query, params, keyspace: 'ks', ...extra });
  const rows: CqlHarness['rows'] = async (query, params, extra) => {
    const result = await q(query, params, extra);
    if (result.kind !== 'rows') throw new Error(`expected rows, got ${result.kind}`);
    return result.rows;
  };
  if (options.keyspace !== false) {
    await q("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  }
  return { executor, clock, storage, schema, q, rows };
}
