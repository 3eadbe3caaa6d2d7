/**
 * Schema propagation: pushes after DDL, pulls from nodes that disagree, the merge rule
 * that makes pulls converge, and the bounded wait for schema agreement — over the
 * memory transport, with gossip replaced by a list of live peers and their versions.
 */
import t from 'tap';
import fc from 'fast-check';
import { mergeSchemas, SchemaSync, type SchemaPeer } from '../../lib/cluster/schema-sync.js';
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

function table(keyspace: string, name: string, id: string, regularColumns: number, timestamp = 0): TableMetadata {
  const columns: ColumnDefinition[] = [{ name: 'k', type: int, kind: 'partition_key', order: 'ASC' }];
  for (let i = 0; i < regularColumns; i++) columns.push({ name: `c${i}`, type: int, kind: 'regular', order: 'ASC' });
  return buildTable({ keyspace, name, id, columns, options: DEFAULT_TABLE_OPTIONS, timestamp });
}

/** Small schemas over few names, so generated pairs share keyspaces and tables. */
const schemaArbitrary = fc
  .array(
    fc.record({
      keyspace: fc.constantFrom('k1', 'k2'),
      tables: fc.array(
        fc.record({
          name: fc.constantFrom('t1', 't2'),
          id: fc.constantFrom(...IDS),
          columns: fc.integer({ min: 0, max: 2 }),
          timestamp: fc.integer({ min: 0, max: 3 }),
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 2 },
  )
  .chain((specs) =>
    fc.array(fc.tuple(fc.constantFrom('k1', 'k2', 'k1.t1', 'k2.t2'), fc.integer({ min: 1, max: 3 })), { maxLength: 2 }).map((drops) => {
      const keyspaces = new Map<string, KeyspaceMetadata>();
      for (const spec of specs) {
        const tables = new Map(spec.tables.map((t) => [t.name, table(spec.keyspace, t.name, t.id, t.columns, t.timestamp)]));
        // One definition per keyspace name (its timestamp and replication): DDL gives every
        // change its own timestamp, so two different definitions with one timestamp do not
        // occur, and which of two dead definitions a merge keeps must not matter. Keyspace
        // attribute conflicts are checked by the tests below.
        const timestamp = spec.keyspace === 'k1' ? 1 : 2;
        const replication = { class: 'SimpleStrategy' as const, replicationFactor: timestamp };
        keyspaces.set(spec.keyspace, buildKeyspace({ name: spec.keyspace, replication, durableWrites: true, timestamp }, tables));
      }
      // A real schema never holds a definition older than its own drop (DDL timestamps
      // follow the drop): merging with the empty schema removes such generated ones.
      return mergeSchemas(new Schema(keyspaces, new Map(drops)), new Schema());
    }),
  );

t.test('the schema merge is commutative, associative and idempotent, so pulls converge', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(schemaArbitrary, schemaArbitrary, schemaArbitrary, (a, b, c) => {
      t.equal(mergeSchemas(a, a), a, 'merging a schema with itself changes nothing');
      t.equal(mergeSchemas(a, b).version, mergeSchemas(b, a).version);
      t.equal(mergeSchemas(mergeSchemas(a, b), c).version, mergeSchemas(a, mergeSchemas(b, c)).version);
      const merged = mergeSchemas(a, b);
      for (const side of [a, b]) {
        for (const ks of side.keyspaces.values()) {
          for (const [name, tbl] of ks.tables) {
            // Every definition newer than every drop that covers it survives the merge.
            const droppedAt = Math.max(merged.droppedAt(ks.name), merged.droppedAt(ks.name, name));
            if (droppedAt === 0 || tbl.timestamp > droppedAt) t.ok(merged.table(ks.name, name), `${ks.name}.${name} survives`);
            if (droppedAt > 0 && tbl.timestamp <= droppedAt && merged.table(ks.name, name) !== undefined) {
              t.ok(merged.table(ks.name, name)!.timestamp > droppedAt, 'only a definition newer than its drop survives');
            }
          }
        }
      }
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('the merge keeps the newer definition of a table and of a keyspace', async (t) => {
  const ks = (tables: TableMetadata[], rf = 1, timestamp = 0) =>
    new Schema(new Map([['k1', buildKeyspace({ name: 'k1', replication: { class: 'SimpleStrategy', replicationFactor: rf }, durableWrites: true, timestamp }, new Map(tables.map((x) => [x.name, x])))]]));
  const wide = table('k1', 't1', IDS[0], 2, 10);
  const narrowLater = table('k1', 't1', IDS[0], 1, 20);
  t.equal(mergeSchemas(ks([narrowLater]), ks([wide])).table('k1', 't1'), narrowLater, 'a dropped column stays dropped');
  t.equal(mergeSchemas(ks([wide]), ks([narrowLater])).table('k1', 't1'), narrowLater);
  t.same(mergeSchemas(ks([], 3, 5), ks([], 1, 6)).keyspace('k1')!.replication, { class: 'SimpleStrategy', replicationFactor: 1 }, 'the later ALTER KEYSPACE wins');
});

t.test('a node that was down during a DROP does not bring the dropped table or keyspace back', async (t) => {
  const { node, down } = await cluster(['a:1', 'b:1']);
  await node('a:1').cql.execute({ query: KS });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.gone (k int PRIMARY KEY)' });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.kept (k int PRIMARY KEY)' });
  await node('a:1').cql.execute({ query: "CREATE KEYSPACE old WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" });
  await node('a:1').cql.execute({ query: 'CREATE TABLE old.t (k int PRIMARY KEY)' });
  t.ok(node('b:1').schema.current.table('ks', 'gone'), 'b got the tables while it was up');

  down.add('b:1');
  await node('a:1').cql.execute({ query: 'DROP TABLE ks.gone' });
  await node('a:1').cql.execute({ query: 'DROP KEYSPACE old' });
  await node('a:1').cql.execute({ query: 'ALTER TABLE ks.kept ADD v text' });
  t.ok(node('b:1').schema.current.table('ks', 'gone'), 'b missed the drop');
  down.delete('b:1');

  // Both directions: a pulls b's old schema, b pulls a's.
  await node('a:1').sync.pullFromDisagreeing();
  await node('b:1').sync.pullFromDisagreeing();
  for (const name of ['a:1', 'b:1']) {
    const schema = node(name).schema.current;
    t.equal(schema.table('ks', 'gone'), undefined, `${name}: the dropped table stays dropped`);
    t.equal(schema.keyspace('old'), undefined, `${name}: the dropped keyspace stays dropped`);
    t.ok(schema.table('ks', 'kept')!.columns.has('v'), `${name}: the ALTER made while b was down holds`);
  }
  t.equal(node('a:1').schema.current.version, node('b:1').schema.current.version, 'the nodes agree');
  t.equal(node('b:1').storage.table(IDS[0]), undefined);
});

t.test('a table created again after a DROP lives, and the old definition does not come back', async (t) => {
  const { node, down } = await cluster(['a:1', 'b:1']);
  await node('a:1').cql.execute({ query: KS });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.t (k int PRIMARY KEY, old int)' });
  const oldId = node('b:1').schema.current.table('ks', 't')!.id;
  down.add('b:1');
  await node('a:1').cql.execute({ query: 'DROP TABLE ks.t' });
  await node('a:1').cql.execute({ query: 'CREATE TABLE ks.t (k int PRIMARY KEY, fresh text)' });
  down.delete('b:1');
  await node('b:1').sync.pullFromDisagreeing();
  await node('a:1').sync.pullFromDisagreeing();
  for (const name of ['a:1', 'b:1']) {
    const recreated = node(name).schema.current.table('ks', 't')!;
    t.ok(recreated.columns.has('fresh') && !recreated.columns.has('old'), `${name} holds the new definition`);
    t.not(recreated.id, oldId, `${name}: a new table id, so no old data is read as the new table's`);
  }
});
