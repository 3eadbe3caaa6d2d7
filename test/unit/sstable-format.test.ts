import t from 'tap';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { crc32c } from '@node-rs/crc32';
import { NO_DELETION_TIME, type Cell, type DeletionTime } from '../../lib/model/cell.js';
import type { ComplexColumn, Row } from '../../lib/model/partition.js';
import { CorruptSSTable } from '../../lib/errors.js';
import { seededRandom } from '../../lib/model/random.js';
import { murmur3Token, tokenOfWords } from '../../lib/model/token.js';
import { BloomFilter, TokenBloomFilter, filterOf } from '../../lib/storage/sstable/bloom.js';
import {
  ByteReader,
  ByteWriter,
  ColumnIds,
  compareHeaderKeyAt,
  decodeFilter,
  decodeStatistics,
  decodeToc,
  encodeFilter,
  encodeStatistics,
  encodeToc,
  readPartitionHeader,
  readRowBody,
  readRowClustering,
  writePartitionHeader,
  writeRowBody,
  type Statistics,
} from '../../lib/storage/sstable/format.js';
import type { PartitionHeader } from '../../lib/storage/source.js';
import { propertyHolds } from '../helpers/property.js';
import { plain } from '../helpers/plain.js';

const FILE = 'test-Data.db';

// ---------------------------------------------------------------------------------
// Primitives

t.test('varints and signed varints round-trip every safe integer exactly', async (t) => {
  const safe = fc.oneof(
    fc.integer(),
    fc.constantFrom(0, 1, -1, 63, 64, -63, -64, 127, 128, 2 ** 31, -(2 ** 31), 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
    fc.maxSafeInteger(),
    fc.maxSafeInteger().map((n) => -n),
  );
  propertyHolds(t, fc.check(
    fc.property(fc.array(safe, { maxLength: 20 }), (values) => {
      const writer = new ByteWriter(4);
      for (const v of values) {
        writer.svarint(v);
        writer.varint(Math.abs(v));
      }
      const reader = new ByteReader(writer.toBuffer(), FILE);
      for (const v of values) {
        if (!Object.is(reader.svarint(), v === 0 ? 0 : v)) return false;
        if (reader.varint() !== Math.abs(v)) return false;
      }
      return reader.remaining === 0;
    }),
    { numRuns: 300 },
  ), 'the property holds');
  const writer = new ByteWriter();
  t.throws(() => writer.varint(-1), /varint out of range/, 'a negative varint is a bug');
  t.throws(() => writer.svarint(2 ** 53), /svarint out of range/, 'an unsafe integer is a bug');
});

t.test('reading past the end of a record is reported as corruption of the file', async (t) => {
  const writer = new ByteWriter();
  writer.bytes(Buffer.from('hello'));
  const truncated = writer.toBuffer().subarray(0, 3);
  try {
    new ByteReader(truncated, FILE).bytes();
    t.fail('no error');
  } catch (error) {
    t.type(error, CorruptSSTable);
    t.equal((error as CorruptSSTable).file, FILE);
  }
});

// ---------------------------------------------------------------------------------
// Rows and partition headers

const timestamp = fc.oneof(fc.maxSafeInteger(), fc.maxSafeInteger().map((n) => -n), fc.constant(1_700_000_000_000_000));
const seconds = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constant(NO_DELETION_TIME));
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const deletionArb: fc.Arbitrary<DeletionTime> = fc.record({ markedForDeleteAt: timestamp, localDeletionTime: seconds });
// Every combination of value/tombstone, TTL and expiry, not only the ones liveCell makes.
const cellArb = (withPath: boolean): fc.Arbitrary<Cell> =>
  fc.record({
    timestamp,
    value: fc.option(bytes, { nil: null }),
    ttl: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 31 - 1 })),
    localDeletionTime: seconds,
    path: withPath ? bytes : fc.constant(undefined),
  });
const columnName = fc.string({ minLength: 1, maxLength: 8, unit: 'grapheme' });
const clusteringArb = fc.array(bytes, { maxLength: 3 });
const rowArb: fc.Arbitrary<Row> = fc.record({
  clustering: clusteringArb,
  liveness: fc.option(fc.record({ timestamp, ttl: fc.nat(), localDeletionTime: seconds }), { nil: null }),
  deletion: fc.option(deletionArb, { nil: null }),
  cells: fc.array(fc.tuple(columnName, cellArb(false)), { maxLength: 5 }).map((entries) => new Map(entries)),
  complex: fc
    .array(
      fc.tuple(
        columnName,
        fc.record({ deletion: fc.option(deletionArb, { nil: null }), cells: fc.array(cellArb(true), { maxLength: 4 }) }) as fc.Arbitrary<ComplexColumn>,
      ),
      { maxLength: 3 },
    )
    .map((entries) => new Map(entries)),
});


t.test('a row record round-trips every field exactly, whatever the columns and values', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.array(rowArb, { minLength: 1, maxLength: 4 }), (rows) => {
      // One column table across several rows, as in one SSTable.
      const columns = new ColumnIds();
      const records = rows.map((row) => {
        const writer = new ByteWriter(8);
        writeRowBody(writer, row, columns);
        return writer.toBuffer();
      });
      return rows.every((row, i) => {
        const decoded = readRowBody(records[i], columns.names, FILE);
        const clustering = readRowClustering(records[i], FILE);
        const reusing = readRowBody(records[i], columns.names, FILE, clustering);
        const expected = JSON.stringify(plain(row));
        return JSON.stringify(plain(decoded)) === expected && JSON.stringify(plain(reusing)) === expected;
      });
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('a partition header round-trips its key, token, deletion, range tombstones and static row', async (t) => {
  const bound = fc.record({ prefix: clusteringArb, inclusive: fc.boolean() });
  const headerArb: fc.Arbitrary<PartitionHeader> = fc.record({
    key: bytes,
    token: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    deletion: fc.option(deletionArb, { nil: null }),
    staticRow: fc.option(rowArb.map((r) => ({ ...r, clustering: [] })), { nil: null }),
    rangeTombstones: fc.array(fc.record({ start: bound, end: bound, deletion: deletionArb }), { maxLength: 4 }),
  });
  propertyHolds(t, fc.check(
    fc.property(headerArb, (header) => {
      const columns = new ColumnIds();
      const writer = new ByteWriter();
      writePartitionHeader(writer, header, columns);
      const decoded = readPartitionHeader(writer.toBuffer(), columns.names, FILE);
      return JSON.stringify(plain(decoded)) === JSON.stringify(plain(header));
    }),
    { numRuns: 200 },
  ), 'the property holds');
});

t.test('a record with bytes left over after decoding is corruption', async (t) => {
  const columns = new ColumnIds();
  const writer = new ByteWriter();
  writeRowBody(writer, { clustering: [], liveness: null, deletion: null, cells: new Map(), complex: new Map() }, columns);
  writer.u8(7);
  t.throws(() => readRowBody(writer.toBuffer(), columns.names, FILE), CorruptSSTable);
});

// ---------------------------------------------------------------------------------
// Whole-file components

t.test('statistics round-trip; any flipped bit is caught by the checksum', async (t) => {
  const statistics: Statistics = {
    stats: {
      minTimestamp: -5,
      maxTimestamp: Number.MAX_SAFE_INTEGER,
      minLocalDeletionTime: 10,
      maxLocalDeletionTime: NO_DELETION_TIME,
      minToken: -(2n ** 63n) + 1n,
      maxToken: 2n ** 63n - 1n,
      partitionCount: 3,
      rowCount: 9,
      tombstoneCount: 2,
      uncompressedBytes: 2 ** 40,
      diskBytes: 12345,
      level: 4,
      compression: 'LZ4Compressor',
    },
    firstKey: Buffer.from('a'),
    lastKey: Buffer.from('zz'),
    columns: ['v', 'ünïcode', 'tags'],
  };
  const encoded = encodeStatistics(statistics);
  t.same(plain(decodeStatistics(encoded, 'Statistics.db')), plain(statistics));
  for (let bit = 0; bit < encoded.length * 8; bit += 7) {
    const damaged = Buffer.from(encoded);
    damaged[bit >> 3] ^= 1 << (bit & 7);
    t.throws(() => decodeStatistics(damaged, 'Statistics.db'), CorruptSSTable);
  }
});

t.test('the table of contents round-trips and rejects damage', async (t) => {
  const components = ['Data.db', 'Index.db', 'Statistics.db'];
  const toc = encodeToc(components);
  t.same(decodeToc(toc, 'TOC.db'), components);
  t.match(toc.toString('utf8'), /^sibyl-sstable-toc 1\nData\.db\n/, 'readable text');
  const edited = Buffer.from(toc.toString('utf8').replace('Index.db', 'Index.dc'));
  t.throws(() => decodeToc(edited, 'TOC.db'), CorruptSSTable);
  t.throws(() => decodeToc(toc.subarray(0, toc.length - 5), 'TOC.db'), CorruptSSTable, 'a truncated TOC');
});

// ---------------------------------------------------------------------------------
// Bloom filter

t.test('the bloom filter never forgets a key it was given', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.uniqueArray(bytes, { maxLength: 200, comparator: (a, b) => a.equals(b) }), fc.double({ min: 0.0001, max: 0.5, noNaN: true }), (keys, p) => {
      const filter = BloomFilter.sized(keys.length, p);
      keys.forEach((k) => filter.add(k));
      return keys.every((k) => filter.mightContain(k));
    }),
    { numRuns: 100 },
  ), 'the property holds');
  const everything = BloomFilter.sized(10, 1);
  t.equal(everything.bitCount, 0, 'fp chance 1 means no filter');
  t.ok(everything.mightContain(Buffer.from('anything')));
});

t.test('the blocked bloom filter never forgets a token it was given', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.uniqueArray(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 300 }), fc.double({ min: 0.0001, max: 0.5, noNaN: true }), (tokens, p) => {
      const filter = TokenBloomFilter.sized(tokens.length, p);
      const key = Buffer.alloc(0);
      tokens.forEach((token) => filter.add(key, token));
      return tokens.every((token) => filter.mightContain(key, token));
    }),
    { numRuns: 100 },
  ), 'the property holds');
  const everything = TokenBloomFilter.sized(10, 1);
  t.equal(everything.bitCount, 0, 'fp chance 1 means no filter');
  t.ok(everything.mightContain(Buffer.from('anything'), 5n));
});

t.test('the blocked bloom filter keeps the false-positive chance it was sized for', async (t) => {
  const random = seededRandom(17);
  const word = () => Math.floor(random() * 2 ** 32);
  for (const [keys, chance] of [[20_000, 0.01], [20_000, 0.001], [5_000, 0.1]] as const) {
    const filter = TokenBloomFilter.sized(keys, chance);
    const key = Buffer.alloc(0);
    for (let i = 0; i < keys; i++) filter.add(key, tokenOfWords(word() | 0, word()));
    const probes = 200_000;
    let positives = 0;
    for (let i = 0; i < probes; i++) if (filter.mightContain(key, tokenOfWords(word() | 0, word()))) positives++;
    const rate = positives / probes;
    t.ok(rate <= chance * 1.25, `fp chance ${chance}: measured ${rate.toFixed(5)} over ${keys} keys`);
    t.ok(rate >= chance / 4, `and not a filter far larger than asked (${filter.bitCount / keys} bits per key)`);
  }
  // Real tokens of real keys, the way SSTables use it.
  const filter = TokenBloomFilter.sized(10_000, 0.01);
  for (let i = 0; i < 10_000; i++) filter.add(Buffer.alloc(0), murmur3Token(Buffer.from(`key-${i}`)));
  let positives = 0;
  for (let i = 10_000; i < 110_000; i++) if (filter.mightContain(Buffer.alloc(0), murmur3Token(Buffer.from(`key-${i}`)))) positives++;
  t.ok(positives / 100_000 <= 0.0125, `murmur3 tokens of keys: ${positives} false positives in 100000`);
});

t.test('Filter.db says which layout its bits are in: old filters keep reading as they were written', async (t) => {
  const keys = Array.from({ length: 500 }, (_, i) => Buffer.from(`k${i}`));
  const others = Array.from({ length: 2000 }, (_, i) => Buffer.from(`other${i}`));
  for (const filter of [TokenBloomFilter.sized(keys.length, 0.01), BloomFilter.sized(keys.length, 0.01)]) {
    for (const key of keys) filter.add(key, murmur3Token(key));
    const read = filterOf(decodeFilter(encodeFilter(filter), 'Filter.db'));
    t.equal(read.constructor, filter.constructor, `a ${filter.constructor.name} reads back as one`);
    t.ok(keys.every((key) => read.mightContain(key, murmur3Token(key))), 'every key it was given');
    t.same(
      others.map((key) => read.mightContain(key, murmur3Token(key))),
      others.map((key) => filter.mightContain(key, murmur3Token(key))),
      'and the same answers for others',
    );
  }
  const encoded = encodeFilter(TokenBloomFilter.sized(10, 0.01));
  // The layout is the header's last u16; the CRC at the end covers it.
  const unknown = Buffer.from(encoded);
  unknown.writeUInt16BE(7, 6);
  unknown.writeUInt32BE(crc32c(unknown.subarray(0, unknown.length - 4)), unknown.length - 4);
  t.throws(() => decodeFilter(unknown, 'Filter.db'), CorruptSSTable, 'an unknown layout is corruption');
});

t.test('the bloom filter hashes the key it is given now, not a reused buffer\'s old content', async (t) => {
  const filter = BloomFilter.sized(1, 1e-9);
  const key = Buffer.from('present');
  filter.add(key);
  t.ok(filter.mightContain(key));
  key.write('absent!');
  t.notOk(filter.mightContain(key), 'the same buffer with other bytes is another key');
  t.ok(filter.mightContain(Buffer.from('present')));
});

t.test('the bloom filter positions come from the x64 128-bit MurmurHash3 that murmurhash3js-revisited computes', async (t) => {
  const murmur = createRequire(import.meta.url)('murmurhash3js-revisited') as { x64: { hash128(b: Uint8Array): string } };
  // A large odd bit count: a wrong hash word would land on the same bits by chance
  // about once in a million keys.
  const bitCount = (1 << 20) + 7;
  propertyHolds(t, fc.check(
    // Every length from 0 to 70 alike: full 16-byte blocks and every tail length.
    fc.property(fc.integer({ min: 0, max: 70 }).chain((length) => fc.uint8Array({ minLength: length, maxLength: length })), (bytes) => {
      const key = Buffer.from(bytes);
      const hex = murmur.x64.hash128(key);
      // The package's hex is h1 (high word first) then h2; positions use the low words.
      const h1 = parseInt(hex.slice(8, 16), 16);
      const h2 = parseInt(hex.slice(24, 32), 16);
      const filter = new BloomFilter(3, bitCount, Buffer.alloc(Math.ceil(bitCount / 8)));
      filter.add(key);
      return [0, 1, 2].every((i) => {
        const bit = (h1 + i * h2) % bitCount;
        return (filter.bits[bit >>> 3] & (1 << (bit & 7))) !== 0;
      });
    }),
    { numRuns: 500 },
  ), 'the property holds');
});

t.test('a partition header compares with a key by token, then key bytes, as Buffer.compare orders them', async (t) => {
  const columns = new ColumnIds();
  const keyOf = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 60, maxLength: 80 }));
  propertyHolds(
    t,
    fc.check(
      fc.property(keyOf, keyOf, fc.integer({ min: -2, max: 2 }), fc.boolean(), (stored, probe, high, shareToken) => {
        const writer = new ByteWriter();
        const token = tokenOfWords(high, 5);
        writePartitionHeader(writer, { key: Buffer.from(stored), token, deletion: null, staticRow: null, rangeTombstones: [] }, columns);
        const record = Buffer.concat([Buffer.from('pad'), writer.toBuffer()]);
        const [probeHigh, probeLow] = shareToken ? [high, 5] : [high + 1, 5];
        const expected = shareToken ? Math.sign(Buffer.from(stored).compare(Buffer.from(probe))) : -1;
        return compareHeaderKeyAt(record, 3, record.length - 3, probeHigh, probeLow, Buffer.from(probe), 'f') === expected;
      }),
      { numRuns: 500 },
    ),
    'the property holds',
  );
});
