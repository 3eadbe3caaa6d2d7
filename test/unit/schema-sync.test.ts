/**
 * Schema propagation: pushes after DDL, pulls from nodes that disagree, the merge rule
 * that makes pulls converge, and the bounded wait for schema agreement — over the
 * memory transport, with gossip replaced by a list of live peers and their versions.
 */
import t from 'tap';
import fc from 'fast-check';
import { applyPushedChange, mergeSchemas, SchemaSync, type SchemaPeer } from '../../lib/cluster/schema-sync.js';
import { LocalStorageProxy } from '../../lib/coordinator/proxy.js';
import { CqlExecutor } from '../../lib/cql/executor.js';
import type { CqlService } from '../../lib/cql/request.js';
import { ManualClock } from '../../lib/model/clock.js';
import { MemoryNetwork } from '../../lib/net/memory.js';
import { awaitingSchemaAgreement, SCHEMA_AGREEMENT_WARNING } from '../../lib/node.js';
import { MemorySchemaStore, SchemaManager } from '../../lib/schema/manager.js';
import type { KeyspaceMetadata, TableMetadata } from '../../lib/schema/metadata.js';
import { buildKeyspace, buildTable, type ColumnDefinition, DEFAULT_TABLE_OPTIONS, Schema } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import { MemoryStorageEngine } from '../../lib/storage/memory.js';
import { syncStorageWithSchema } from '../../lib/storage/schema-sync.js';
import { propertyHolds } from '../helpers/property.js';

interface TestNode {
  address: string;
  schema: SchemaManager;
  storage: MemoryStorageEngine;
  sync: SchemaSync;
  cql: CqlService;
}

/** Nodes on one memory network; a node in `down` sees no peers and no peer sees it (gossip's view). */
async function cluster(addresses: string[], options: { agreementTimeoutMs?: number } = {}) {
  const network = new MemoryNetwork();
  const down = new Set<string>();
  const nodes = new Map<string, TestNode>();
  const peersOf = (self: string): SchemaPeer[] =>
    down.has(self) ? [] : [...nodes.values()]
      .filter((n) => n.address !== self && !down.has(n.address))
      .map((n) => ({ address: n.address, schemaVersion: n.schema.current.version }));
  for (const address of addresses) {
    const schema = await SchemaManager.open(new MemorySchemaStore());
    const storage = new MemoryStorageEngine();
    syncStorageWithSchema(schema, storage);
    const transport = network.join(address);
    const sync = new SchemaSync({ transport, schema, livePeers: () => peersOf(address), agreementPollMs: 20, ...options });
    sync.register();
    const executor = new CqlExecutor({
      schema,
      proxy: new LocalStorageProxy(storage, 'datacenter1'),
      clock: new ManualClock(),
      dataCenters: ['datacenter1'],
    });
    nodes.set(address, { address, schema, storage, sync, cql: awaitingSchemaAgreement(executor, sync) });
  }
  return { network, nodes, down, node: (address: string) => nodes.get(address)! };
}

const KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}";

t.test('a DDL statement reaches every live node before it is answered', async (t) => {
  const { node } = await cluster(['a:1', 'b:1', 'c:1']);
  const created = await node('a:1').cql.execute({ query: KS });
  t.equal(created.warnings, undefined, 'agreement reached: no warning');
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.t (k int PRIMARY KEY, v text)' });
  const id = node('a:1').schema.current.table('ks', 't')!.id;
  for (const address of ['b:1', 'c:1']) {
    t.equal(node(address).schema.current.version, node('a:1').schema.current.version, `${address} has the same schema version`);
    t.equal(node(address).schema.current.table('ks', 't')?.id, id, `${address} has the table with the same id`);
    t.ok(node(address).storage.table(id), `${address} opened storage for the table`);
  }
});

t.test('pushed drops and alters reach live nodes', async (t) => {
  const { node } = await cluster(['a:1', 'b:1']);
  await node('a:1').cql.execute({ query: KS });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.t (k int PRIMARY KEY, v text, w int)' });
  await node('b:1').cql.execute({ query: 'ALTER TABLE ks.t DROP w' });
  t.notOk(node('a:1').schema.current.table('ks', 't')!.columns.has('w'), 'a column dropped on b is gone on a');
  await node('a:1').cql.execute({ query: 'DROP TABLE ks.t' });
  t.equal(node('b:1').schema.current.table('ks', 't'), undefined, 'a table dropped on a is gone on b');
  await node('b:1').cql.execute({ query: "ALTER KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" });
  t.same(node('a:1').schema.current.keyspace('ks')!.replication, { class: 'SimpleStrategy', replicationFactor: 1 });
});

t.test('a node that missed schema changes pulls them, and nodes that changed apart converge', async (t) => {
  const { node, down } = await cluster(['a:1', 'b:1']);
  down.add('b:1');
  await node('a:1').cql.execute({ query: KS });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.from_a (k int PRIMARY KEY)' });
  t.equal(node('b:1').schema.current.keyspace('ks'), undefined, 'b was down: nothing pushed to it');
  await node('b:1').cql.execute({ query: "CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" });
  down.delete('b:1');

  await node('b:1').sync.pullFromDisagreeing();
  await node('a:1').sync.pullFromDisagreeing();
  const a = node('a:1').schema.current;
  const b = node('b:1').schema.current;
  t.equal(a.version, b.version, 'both nodes hold the same schema');
  t.ok(b.table('ks', 'from_a'), 'b pulled the table created while it was down');
  t.ok(a.keyspace('other'), 'a pulled the keyspace created on b');
  t.equal(b.table('ks', 'from_a')!.id, a.table('ks', 'from_a')!.id);
});

t.test('a DDL answer carries a warning when agreement is not reached in time', async (t) => {
  const { node, network } = await cluster(['a:1', 'b:1'], { agreementTimeoutMs: 200 });
  network.isolate('b:1');
  const started = Date.now();
  const result = await node('a:1').cql.execute({ query: KS });
  t.equal(result.kind, 'schema_change', 'the change is still answered');
  t.same(result.warnings, [SCHEMA_AGREEMENT_WARNING]);
  t.ok(Date.now() - started < 2000, 'the wait is bounded');
});

// ---- the merge rule --------------------------------------------------------------------

const IDS = ['5a1c2d3e-0000-4000-8000-000000000001', '5a1c2d3e-0000-4000-8000-000000000002'];
const int = parseTypeName('int');

function table(keyspace: string, name: string, id: string, regularColumns: number): TableMetadata {
  const columns: ColumnDefinition[] = [{ name: 'k', type: int, kind: 'partition_key', order: 'ASC' }];
  for (let i = 0; i < regularColumns; i++) columns.push({ name: `c${i}`, type: int, kind: 'regular', order: 'ASC' });
  return buildTable({ keyspace, name, id, columns, options: DEFAULT_TABLE_OPTIONS });
}

/** Small schemas over few names, so generated pairs share keyspaces and tables. */
const schemaArbitrary = fc
  .array(
    fc.record({
      keyspace: fc.constantFrom('k1', 'k2'),
      rf: fc.integer({ min: 1, max: 3 }),
      tables: fc.array(fc.record({ name: fc.constantFrom('t1', 't2'), id: fc.constantFrom(...IDS), columns: fc.integer({ min: 0, max: 2 }) }), {
        maxLength: 2,
      }),
    }),
    { maxLength: 2 },
  )
  .map((specs) => {
    const keyspaces = new Map<string, KeyspaceMetadata>();
    for (const spec of specs) {
      const tables = new Map(spec.tables.map((t) => [t.name, table(spec.keyspace, t.name, t.id, t.columns)]));
      keyspaces.set(spec.keyspace, buildKeyspace({ name: spec.keyspace, replication: { class: 'SimpleStrategy', replicationFactor: spec.rf }, durableWrites: true }, tables));
    }
    return new Schema(keyspaces);
  });

t.test('the schema merge is commutative, associative and idempotent, so pulls converge', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(schemaArbitrary, schemaArbitrary, schemaArbitrary, (a, b, c) => {
      t.equal(mergeSchemas(a, a), a, 'merging a schema with itself changes nothing');
      t.equal(mergeSchemas(a, b).version, mergeSchemas(b, a).version);
      t.equal(mergeSchemas(mergeSchemas(a, b), c).version, mergeSchemas(a, mergeSchemas(b, c)).version);
      const merged = mergeSchemas(a, b);
      for (const side of [a, b]) {
        for (const ks of side.keyspaces.values()) for (const name of ks.tables.keys()) t.ok(merged.table(ks.name, name));
      }
    }),
    { numRuns: 100 },
  ), 'the property holds');
});

t.test('the merge keeps the table definition with more columns', async (t) => {
  const ks = (tables: TableMetadata[]) =>
    new Schema(new Map([['k1', buildKeyspace({ name: 'k1', replication: { class: 'SimpleStrategy', replicationFactor: 1 }, durableWrites: true }, new Map(tables.map((x) => [x.name, x])))]]));
  const wide = table('k1', 't1', IDS[0], 2);
  const narrow = table('k1', 't1', IDS[0], 1);
  t.equal(mergeSchemas(ks([narrow]), ks([wide])).table('k1', 't1'), wide);
  t.equal(mergeSchemas(ks([wide]), ks([narrow])).table('k1', 't1'), wide);
  // A push is authoritative for its target: the narrower (a dropped column) wins there.
  const pushed = applyPushedChange(ks([wide]), ks([narrow]), { change: 'UPDATED', target: 'TABLE', keyspace: 'k1', table: 't1' });
  t.equal(pushed.table('k1', 't1'), narrow);
});
