/**
 * The stored schema form (lib/system/schema-codec.ts): what it encodes rebuilds an
 * equal schema with the same version UUID, and damaged or newer records are refused
 * with a message naming the field.
 */
import fc from 'fast-check';
import t from 'tap';
import { ConfigurationError } from '../../lib/errors.js';
import type { ColumnKind } from '../../lib/schema/metadata.js';
import { buildKeyspace, describeSchema, parseReplication, Schema } from '../../lib/schema/schema.js';
import { decodeSchema, encodeSchema, SCHEMA_FORMAT_VERSION, type StoredSchema } from '../../lib/system/schema-codec.js';
import { COLLECTION_TYPE_NAMES, column, NATIVE_TYPE_NAMES, richSchema, table } from './fixtures/schemas.js';
import { propertyHolds } from '../helpers/property.js';

/** Through JSON text, as LevelDB stores it. */
function roundTrip(schema: Schema): Schema {
  return decodeSchema(JSON.parse(JSON.stringify(encodeSchema(schema))));
}

function encoded(): StoredSchema {
  return JSON.parse(JSON.stringify(encodeSchema(richSchema()))) as StoredSchema;
}

t.test('a decoded schema equals the encoded one and keeps its version', async (t) => {
  const saved = richSchema();
  const loaded = roundTrip(saved);
  t.equal(loaded.version, saved.version);
  t.same(describeSchema(loaded), describeSchema(saved));
  for (const keyspace of saved.keyspaces.values()) {
    const other = loaded.keyspace(keyspace.name)!;
    t.same(other.replication, keyspace.replication, `${keyspace.name} replication`);
    t.equal(other.durableWrites, keyspace.durableWrites, `${keyspace.name} durable_writes`);
    for (const original of keyspace.tables.values()) {
      const rebuilt = other.tables.get(original.name)!;
      t.equal(rebuilt.id, original.id, `${original.name} keeps its id`);
      t.same(rebuilt.options, original.options, `${original.name} options`);
      t.same([...rebuilt.droppedColumns], [...original.droppedColumns], `${original.name} dropped columns`);
      for (const [name, meta] of original.columns) {
        const again = rebuilt.columns.get(name)!;
        // Types are cached by canonical name: the very same instance comes back.
        t.equal(again.type, meta.type, `${original.name}.${name} type ${meta.type.name}`);
        t.equal(again.kind, meta.kind);
        t.equal(again.position, meta.position);
        t.equal(again.order, meta.order);
      }
    }
  }
});

t.test('a decoded table orders clustering DESC where it was declared DESC', async (t) => {
  const events = roundTrip(richSchema()).table('shop', 'events')!;
  const at = events.columns.get('at')!.type;
  const seq = events.columns.get('seq')!.type;
  const kind = events.columns.get('kind')!.type;
  const row = (ms: number, n: number) => [at.serialize(ms), seq.serialize(n), kind.serialize(['x', 1])];
  t.ok(events.comparator.compare(row(2000, 0), row(1000, 0)) < 0, 'later timestamp sorts first (DESC)');
  t.ok(events.comparator.compare(row(1000, 1), row(1000, 2)) < 0, 'then seq ascending (ASC)');
  t.same(
    events.staticColumns.map((c) => c.name),
    ['owner', 'limits'],
  );
});

t.test('an empty schema round-trips to an empty schema', async (t) => {
  const loaded = roundTrip(new Schema());
  t.equal(loaded.keyspaces.size, 0);
  t.equal(loaded.version, new Schema().version);
});

t.test('NetworkTopologyStrategy keeps each datacenter factor', async (t) => {
  const audit = roundTrip(richSchema()).keyspace('audit')!;
  t.same(audit.replication, { class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3, 'eu-west': 2 } });
});

t.test('a newer format is refused, not guessed at', async (t) => {
  const stored = encoded();
  stored.format = SCHEMA_FORMAT_VERSION + 1;
  t.throws(() => decodeSchema(stored), {
    constructor: ConfigurationError,
    message: `Stored schema has format ${SCHEMA_FORMAT_VERSION + 1}, which this version of sibyl cannot read (it reads format ${SCHEMA_FORMAT_VERSION})`,
  });
});

t.test('a damaged record is refused with the path of the bad field', async (t) => {
  const cases: [string, (stored: StoredSchema) => void, RegExp][] = [
    ['unknown type', (s) => (s.keyspaces[0].tables[0].columns[1].type = 'nosuchtype'), /schema\.keyspaces\[0\]\.tables\[0\]\.columns\[1\]\.type: Unknown type nosuchtype/],
    ['bad kind', (s) => ((s.keyspaces[0].tables[0].columns[0] as { kind: string }).kind = 'primary'), /columns\[0\]\.kind should be one of partition_key, clustering, regular, static, found "primary"/],
    ['id not a UUID', (s) => (s.keyspaces[0].tables[0].id = 'abc'), /tables\[0\]\.id should be a UUID, found "abc"/],
    ['options missing', (s) => delete (s.keyspaces[0].tables[0] as Partial<StoredSchema['keyspaces'][0]['tables'][0]>).options, /tables\[0\]\.options should be an object, found nothing/],
    ['bad replication', (s) => (s.keyspaces[0].replication = { class: 'NoSuchStrategy' }), /keyspaces\[0\]\.replication: Unable to find replication strategy class 'NoSuchStrategy'/],
    ['dropped time not an integer', (s) => ((s.keyspaces[0].tables[0].dropped as unknown[]) = [['x', 'soon']]), /dropped\[0\]\[1\] should be an integer/],
    ['invalid table', (s) => (s.keyspaces[0].tables[0].columns = []), /tables\[0\]: No PRIMARY KEY specifed/],
    ['duplicate keyspace', (s) => s.keyspaces.push(s.keyspaces[0]), /schema\.keyspaces\[2\]\.name should be unique/],
  ];
  for (const [name, damage, message] of cases) {
    const stored = encoded();
    damage(stored);
    t.throws(() => decodeSchema(stored), { constructor: ConfigurationError, message }, name);
  }
});

t.test('random tables round-trip with the same version', async (t) => {
  const typeNames = [...NATIVE_TYPE_NAMES, ...COLLECTION_TYPE_NAMES];
  const keyTypeNames = NATIVE_TYPE_NAMES.filter((name) => name !== 'duration').concat(['frozen<list<int>>', 'tuple<int, text>']);
  const columnSpec = (types: string[], kinds: ColumnKind[]) =>
    fc.record({ type: fc.constantFrom(...types), kind: fc.constantFrom(...kinds), desc: fc.boolean() });
  propertyHolds(t, fc.check(
    fc.property(
      fc.array(columnSpec(keyTypeNames, ['partition_key', 'clustering']), { minLength: 1, maxLength: 4 }),
      fc.array(columnSpec(typeNames, ['regular', 'static']), { maxLength: 6 }),
      fc.uuid(),
      (keys, others, id) => {
        const hasClustering = keys.some((k) => k.kind === 'clustering');
        const specs = [{ type: 'int', kind: 'partition_key' as ColumnKind, desc: false }, ...keys, ...others].filter(
          (spec) => spec.kind !== 'static' || hasClustering,
        );
        const columns = specs.map((spec, i) => column(`c${i}`, spec.type, spec.kind, spec.desc ? 'DESC' : 'ASC'));
        const built = table({ keyspace: 'ks', name: 't', id, columns });
        const keyspace = buildKeyspace(
          { name: 'ks', replication: parseReplication({ class: 'SimpleStrategy', replication_factor: 1 }), durableWrites: true },
          new Map([[built.name, built]]),
        );
        const saved = new Schema(new Map([[keyspace.name, keyspace]]));
        return roundTrip(saved).version === saved.version;
      },
    ),
    { numRuns: 100 },
  ), 'the property holds');
});

t.test('definition timestamps and drop times round-trip; records written without them read as 0 and none', async (t) => {
  const base = richSchema();
  const shop = base.keyspace('shop')!;
  const stamped = base
    .withKeyspace({ ...shop, timestamp: 1_700_000_000_000_001 })
    .withoutKeyspace('audit', 1_700_000_000_000_002)
    .withoutTable('shop', [...shop.tables.keys()][0], 1_700_000_000_000_003);
  const loaded = roundTrip(stamped);
  t.equal(loaded.version, stamped.version, 'the version covers timestamps and drops, and survives');
  t.equal(loaded.keyspace('shop')!.timestamp, 1_700_000_000_000_001);
  t.equal(loaded.droppedAt('audit'), 1_700_000_000_000_002);
  t.equal(loaded.droppedAt('shop', [...shop.tables.keys()][0]), 1_700_000_000_000_003);

  const legacy = encoded() as StoredSchema & { keyspaces: { timestamp?: number; tables: { timestamp?: number }[] }[] };
  delete legacy.dropped;
  for (const keyspace of legacy.keyspaces) {
    delete keyspace.timestamp;
    for (const stored of keyspace.tables) delete stored.timestamp;
  }
  const old = decodeSchema(legacy);
  t.equal(old.keyspace('shop')!.timestamp, 0);
  t.equal(old.dropped.size, 0);
});
