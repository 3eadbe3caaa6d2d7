import t from 'tap';
import fc from 'fast-check';
import type { Cell, DeletionTime } from '../../lib/model/cell.js';
import { decodeMutation, encodeMutation } from '../../lib/storage/mutation-codec.js';
import type { ComplexColumn, PartitionUpdate, Row } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';
import { ProtocolError } from '../../lib/errors.js';
import { propertyHolds } from '../helpers/property.js';
import { plain } from '../helpers/plain.js';

t.test('a mutation survives encoding: cells, collections, tombstones of every kind', async (t) => {
  const key = Buffer.from('key1');
  const update: PartitionUpdate = {
    tableId: '5a1c2a1e-0000-4000-8000-000000000001',
    partition: {
      key,
      token: murmur3Token(key),
      deletion: { markedForDeleteAt: 1_700_000_000_000_000, localDeletionTime: 1_700_000_000 },
      staticRow: {
        clustering: [],
        liveness: null,
        deletion: null,
        cells: new Map([['s', { timestamp: 5, value: Buffer.from('static'), ttl: 0, localDeletionTime: 0x7fffffff }]]),
        complex: new Map(),
      },
      rangeTombstones: [
        {
          start: { prefix: [Buffer.from([1])], inclusive: true },
          end: { prefix: [Buffer.from([3])], inclusive: false },
          deletion: { markedForDeleteAt: 9, localDeletionTime: 10 },
        },
      ],
      rows: [
        {
          clustering: [Buffer.from([2]), Buffer.from('b')],
          liveness: { timestamp: 7, ttl: 60, localDeletionTime: 1060 },
          deletion: { markedForDeleteAt: 3, localDeletionTime: 4 },
          cells: new Map([
            ['v', { timestamp: 7, value: Buffer.from('value'), ttl: 60, localDeletionTime: 1060 }],
            ['gone', { timestamp: 8, value: null, ttl: 0, localDeletionTime: 1000 }],
            ['empty', { timestamp: 8, value: Buffer.alloc(0), ttl: 0, localDeletionTime: 0x7fffffff }],
          ]),
          complex: new Map([
            [
              'm',
              {
                deletion: { markedForDeleteAt: 6, localDeletionTime: 1000 },
                cells: [
                  { timestamp: 7, value: Buffer.from('x'), ttl: 0, localDeletionTime: 0x7fffffff, path: Buffer.from('k1') },
                  { timestamp: 7, value: null, ttl: 0, localDeletionTime: 1000, path: Buffer.alloc(0) },
                ],
              },
            ],
          ]),
        },
      ],
    },
  };
  const [decoded] = decodeMutation(encodeMutation([update]));
  t.same(decoded, update);
  t.equal(decoded.partition.token, update.partition.token);
});

t.test('garbage does not decode into a mutation silently', async (t) => {
  t.throws(() => decodeMutation(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
});

// What protobufjs's encoder (sibyl's encoder until the hand-written one) made of the
// update of the first test with the range tombstone's deletion at -9: commit logs, hints
// and streams written by older versions must still decode to the same update.
const PROTOBUFJS_BYTES =
  '0aeb010a2435613163326131652d303030302d343030302d383030302d30303030303030303030303112046b6579311a0f088080f9c0c1c482031080e2cfaa06221522130a01731005220673746174696330ffffffff072a1b0a050a0101100112030a01031a0d08f7ffffffffffffffff01100a32780a01020a016212070807103c18a4081a040803100422110a01761007220576616c7565283c30a408220d0a04676f6e651008180130e807220f0a05656d707479100830ffffffff0722140a016d100722017830ffffffff073a026b314001220c0a016d1007180130e80740012a0a0a016d1205080610e807';

t.test('bytes written by the protobufjs encoder decode to what the hand-written one encodes', async (t) => {
  const [old] = decodeMutation(Buffer.from(PROTOBUFJS_BYTES, 'hex'));
  t.equal(old.partition.rangeTombstones[0].deletion.markedForDeleteAt, -9, 'a negative int64');
  t.equal(old.partition.deletion!.markedForDeleteAt, 1_700_000_000_000_000, 'an int64 above 2^32');
  const [again] = decodeMutation(encodeMutation([old]));
  t.same(again, old);
});

// ---- property: any update survives encoding ----

const blob = fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes));
/** The proto's int64 fields (timestamps in µs): safe integers of every size class, both
 *  signs, and the default the encoder leaves out. */
const int = fc.oneof(
  fc.constant(0),
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(2 ** 32 - 1, 2 ** 32, 2 ** 35 - 1, 2 ** 35, -(2 ** 32), Number.MIN_SAFE_INTEGER),
);
/** The proto's int32 fields (TTLs, local deletion times in seconds). */
const int32 = fc.oneof(fc.constant(0), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constant(0x7fffffff));
const deletionTime: fc.Arbitrary<DeletionTime> = fc.record({ markedForDeleteAt: int, localDeletionTime: int32 });
const column = fc.constantFrom('v', 'w', 'a_long_column_name', 'é', '');
const cell = (withPath: boolean): fc.Arbitrary<Cell> =>
  fc
    .record({ timestamp: int, value: fc.option(blob, { nil: null }), ttl: int32, localDeletionTime: int32, path: blob })
    .map(({ path, ...rest }) => (withPath ? { ...rest, path } : rest));
const complexColumn: fc.Arbitrary<ComplexColumn> = fc.record({
  deletion: fc.option(deletionTime, { nil: null }),
  cells: fc.array(cell(true), { maxLength: 3 }),
});
const row: fc.Arbitrary<Row> = fc.record({
  clustering: fc.array(blob, { maxLength: 3 }),
  liveness: fc.option(fc.record({ timestamp: int, ttl: int32, localDeletionTime: int32 }), { nil: null }),
  deletion: fc.option(deletionTime, { nil: null }),
  cells: fc.uniqueArray(fc.tuple(column, cell(false)), { maxLength: 4, selector: ([name]) => name }).map((entries) => new Map(entries)),
  complex: fc.uniqueArray(fc.tuple(column, complexColumn), { maxLength: 2, selector: ([name]) => name }).map((entries) => new Map(entries)),
});
const bound = fc.record({ prefix: fc.array(blob, { maxLength: 3 }), inclusive: fc.boolean() });
const update: fc.Arbitrary<PartitionUpdate> = fc
  .record({
    tableId: fc.constantFrom('5a1c2a1e-0000-4000-8000-000000000001', 't'),
    key: blob,
    deletion: fc.option(deletionTime, { nil: null }),
    staticRow: fc.option(row, { nil: null }),
    rangeTombstones: fc.array(fc.record({ start: bound, end: bound, deletion: deletionTime }), { maxLength: 2 }),
    rows: fc.array(row, { maxLength: 4 }),
  })
  .map(({ tableId, key, ...partition }) => ({ tableId, partition: { key, token: murmur3Token(key), ...partition } }));

/** What decoding gives back: complex columns with a deletion first (the decoder meets
 *  those first), then the others that hold cells; one with neither leaves no trace. */
function expected(u: PartitionUpdate): PartitionUpdate {
  const normal = (r: Row): Row => {
    const columns = [...r.complex];
    return {
      ...r,
      complex: new Map([
        ...columns.filter(([, c]) => c.deletion !== null),
        ...columns.filter(([, c]) => c.deletion === null && c.cells.length > 0),
      ]),
    };
  };
  return {
    tableId: u.tableId,
    partition: {
      ...u.partition,
      staticRow: u.partition.staticRow === null ? null : normal(u.partition.staticRow),
      rows: u.partition.rows.map(normal),
    },
  };
}

t.test('any partition update survives encoding, every number exact', async (t) => {
  propertyHolds(
    t,
    fc.check(
      fc.property(fc.array(update, { minLength: 1, maxLength: 3 }), (updates) => {
        const decoded = decodeMutation(encodeMutation(updates));
        const want = updates.map(expected);
        return JSON.stringify(decoded.map(plain)) === JSON.stringify(want.map(plain));
      }),
      { numRuns: 300 },
    ),
    'the property holds',
  );
});

t.test('the decoder skips unknown fields and refuses truncated or overrunning bytes', async (t) => {
  const key = Buffer.from('k');
  const original: PartitionUpdate = {
    tableId: 't1',
    partition: { key, token: murmur3Token(key), deletion: { markedForDeleteAt: -5, localDeletionTime: 7 }, staticRow: null, rangeTombstones: [], rows: [] },
  };
  const bytes = encodeMutation([original]);
  // The update's body with unknown fields of every wire type after it (a newer writer's).
  const body = bytes.subarray(2);
  // Field 15 varint, field 16 bytes, field 17 fixed64, field 18 fixed32 (tags above 15 take two bytes).
  const unknown = Buffer.from([0x78, 0x96, 0x01, 0x82, 0x01, 2, 0xaa, 0xbb, 0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x95, 0x01, 1, 2, 3, 4]);
  const extended = Buffer.concat([body, unknown]);
  const withUnknown = Buffer.concat([Buffer.from([0x0a, extended.length]), extended, Buffer.from([(9 << 3) | 0, 1])]);
  t.same(decodeMutation(withUnknown), [original], 'unknown fields inside and outside the update are skipped');
  t.throws(() => decodeMutation(bytes.subarray(0, bytes.length - 1)), ProtocolError, 'truncated');
  const overrun = Buffer.from(bytes);
  overrun[1] += 1;
  t.throws(() => decodeMutation(overrun), ProtocolError, 'an update longer than the bytes');
});

t.test('no bytes, or protobufjs’s empty array for an absent bytes field, hold no update', async (t) => {
  t.same(decodeMutation(Buffer.alloc(0)), []);
  t.same(decodeMutation([] as unknown as Uint8Array), []);
});
