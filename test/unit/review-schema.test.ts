/**
 * Review findings on schema changes (lib/cql/ddl.ts, lib/schema/schema.ts): what a DDL
 * statement acknowledges must survive the next schema merge and the stored schema's
 * round trip.
 */
import t from 'tap';
import { mergeSchemas } from '../../lib/cluster/schema-sync.js';
import { LocalStorageProxy } from '../../lib/coordinator/proxy.js';
import { CqlExecutor } from '../../lib/cql/executor.js';
import { ManualClock } from '../../lib/model/clock.js';
import { MemorySchemaStore, SchemaManager } from '../../lib/schema/manager.js';
import { ConfigurationError } from '../../lib/errors.js';
import {
  buildKeyspace,
  buildTable,
  DEFAULT_TABLE_OPTIONS,
  formatSpeculativeRetry,
  parseSpeculativeRetry,
  Schema,
} from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { syncStorageWithSchema } from '../../lib/storage/schema-sync.js';

const SECOND_US = 1_000_000;
const T_MS = 1_700_000_000_000;
const T_US = T_MS * 1000;

t.test('a table created in a keyspace kept past its drop outlives that drop, whatever the clock says', async (t) => {
  // Node A, its clock a minute ahead, dropped ks at T+60 s; node C missed the DROP and
  // created ks.late at T+70 s, so the merge kept ks (its definition from T) for ks.late.
  // This node's clock says T+55 s when it creates ks.fresh there.
  const late = buildTable({
    keyspace: 'ks',
    name: 'late',
    columns: [{ name: 'k', type: parseTypeName('int'), kind: 'partition_key' }],
    options: DEFAULT_TABLE_OPTIONS,
    timestamp: T_US + 70 * SECOND_US,
  });
  const keyspace = buildKeyspace(
    { name: 'ks', replication: { class: 'SimpleStrategy', replicationFactor: 1 }, durableWrites: true, timestamp: T_US },
    new Map([['late', late]]),
  );
  const before = new Schema(new Map([['ks', keyspace]]), new Map([['ks', T_US + 60 * SECOND_US]]));
  t.ok(mergeSchemas(before, new Schema()).table('ks', 'late'), 'the premise: the merge keeps ks for ks.late');

  const store = new MemorySchemaStore();
  await store.save(before);
  const schema = await SchemaManager.open(store);
  const storage = new MemoryStorageEngine();
  syncStorageWithSchema(schema, storage);
  const executor = new CqlExecutor({
    schema,
    proxy: new LocalStorageProxy(storage, 'datacenter1'),
    clock: new ManualClock(T_MS + 55_000),
    dataCenters: ['datacenter1'],
  });
  await executor.execute({ query: 'CREATE TABLE ks.fresh (k int PRIMARY KEY)' });
  const after = schema.current;
  t.ok(after.table('ks', 'fresh'), 'the CREATE was acknowledged');
  t.ok(mergeSchemas(before, after).table('ks', 'fresh'), 'a node merging this schema keeps ks.fresh');
  t.ok(mergeSchemas(after, before).table('ks', 'fresh'), 'this node keeps ks.fresh at its next merge');
});

t.test('a speculative_retry value a statement accepts reads back from the stored schema', async (t) => {
  // Formatting such values gave '1e-7p' and '1e+21ms', which the decoder refuses: the
  // node could not restart, and every peer refused the pushed schema.
  for (const text of ['0.0000001p', '1000000000000000000000ms', '99.9p', '2500ms']) {
    let policy;
    try {
      policy = parseSpeculativeRetry(text);
    } catch (error) {
      t.ok(error instanceof ConfigurationError, `${text} is refused with a ConfigurationError`);
      continue;
    }
    t.same(parseSpeculativeRetry(formatSpeculativeRetry(policy)), policy, `${text} reads back as stored`);
  }
});

t.test('a table named twice in an operator scope (repair, flush …) counts once', async (t) => {
  const int = parseTypeName('int');
  const events = buildTable({ keyspace: 'ks', name: 'events', columns: [{ name: 'k', type: int, kind: 'partition_key' }], options: DEFAULT_TABLE_OPTIONS });
  const schema = new Schema(new Map([['ks', buildKeyspace({ name: 'ks', replication: { class: 'SimpleStrategy', replicationFactor: 1 }, durableWrites: true }, new Map([['events', events]]))]]));
  t.same(schema.tablesOf('ks', ['events', 'events']).map((table) => table.name), ['events']);
});
