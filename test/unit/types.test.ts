import t from 'tap';
import fc from 'fast-check';
import type { CqlType, Literal } from '../../lib/schema/type.js';
import { propertyHolds } from '../helpers/property.js';
import {
  InvalidLiteral,
  literalKindName,
  nativeTypes,
  parseTypeName,
  parseTypeSpec,
  referencesDuration,
  typeFromSpec,
} from '../../lib/schema/types.js';

const n = nativeTypes;
const numRuns = 150;

// ---------------------------------------------------------------------------
// Helpers: value equality, reference orders

/** Deep equality over JS values of CQL types. `strictNumbers` tells -0 from 0 (binary
 *  round trips keep the sign of zero; JSON numbers cannot). */
function sameValue(a: unknown, b: unknown, strictNumbers = true): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    return strictNumbers ? Object.is(a, b) : a === b || (Number.isNaN(a) && Number.isNaN(b));
  }
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i], strictNumbers));
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], strictNumbers))
    );
  }
  return a === b;
}

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);
const byNumber = (a: number | bigint, b: number | bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** Java's Float.compare: -0 below +0, NaN above everything. */
function floatOrder(a: number, b: number): number {
  const rank = (x: number): [number, number] => (Number.isNaN(x) ? [2, 0] : [0, Object.is(x, -0) ? -Number.MIN_VALUE / 2 : x]);
  const [ra, xa] = rank(a);
  const [rb, xb] = rank(b);
  if (ra !== rb) return ra - rb;
  if (a === 0 && b === 0) return (Object.is(a, -0) ? 0 : 1) - (Object.is(b, -0) ? 0 : 1);
  return byNumber(xa, xb);
}

/** Code point order, which is what UTF-8 byte order amounts to. */
function codePointOrder(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Plain decimal text → a fraction compared by cross-multiplication. */
function decimalOrder(a: string, b: string): number {
  const parse = (text: string): [bigint, number] => {
    const [whole, fraction = ''] = text.split('.');
    return [BigInt(whole! + fraction), fraction.length];
  };
  const [ua, sa] = parse(a);
  const [ub, sb] = parse(b);
  return byNumber(ua * 10n ** BigInt(sb), ub * 10n ** BigInt(sa));
}

/** 60-bit timestamp of a v1 UUID string, from its hex fields. */
function uuidTicks(uuid: string): bigint {
  const hex = uuid.replace(/-/g, '');
  return (BigInt(`0x${hex.slice(13, 16)}`) << 48n) | (BigInt(`0x${hex.slice(8, 12)}`) << 32n) | BigInt(`0x${hex.slice(0, 8)}`);
}

const hexOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function timeuuidOrder(a: string, b: string): number {
  return byNumber(uuidTicks(a), uuidTicks(b)) || hexOrder(a.replace(/-/g, '').slice(16), b.replace(/-/g, '').slice(16));
}

function uuidOrder(a: string, b: string): number {
  const version = (u: string): number => parseInt(u[14]!, 16);
  if (version(a) !== version(b)) return version(a) - version(b);
  return version(a) === 1 ? timeuuidOrder(a, b) : hexOrder(a.replace(/-/g, ''), b.replace(/-/g, ''));
}

function lexicographic<T>(element: (a: T, b: T) => number) {
  return (a: T[], b: T[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const order = element(a[i]!, b[i]!);
      if (order !== 0) return order;
    }
    return a.length - b.length;
  };
}

// ---------------------------------------------------------------------------
// Generators

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const nanosPerDay = 86_400_000_000_000n;

const asciiText = fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const unicodeText = fc.string({ unit: 'binary', maxLength: 12 });
const decimalText = fc
  .tuple(fc.bigInt(-(10n ** 25n), 10n ** 25n), fc.integer({ min: 0, max: 12 }))
  .map(([unscaled, scale]) => {
    const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
    const body = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return unscaled < 0n ? `-${body}` : body;
  });
const durationValue = fc
  .tuple(
    fc.boolean(),
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.bigInt(0n, int64Max),
  )
  .map(([negative, months, days, nanos]) =>
    negative ? { months: -months || 0, days: -days || 0, nanoseconds: -nanos } : { months, days, nanoseconds: nanos },
  );
const inetText = fc
  .oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map((bytes) => n.inet.deserialize(Buffer.from(bytes)) as string);

interface Case {
  type: CqlType;
  values: fc.Arbitrary<unknown>;
  /** The natural order on JS values; absent where there is none (duration). */
  order?: (a: never, b: never) => number;
}

const nativeCases: Case[] = [
  { type: n.int, values: fc.integer(), order: byNumber },
  { type: n.smallint, values: fc.integer({ min: -32768, max: 32767 }), order: byNumber },
  { type: n.tinyint, values: fc.integer({ min: -128, max: 127 }), order: byNumber },
  { type: n.bigint, values: fc.bigInt(int64Min, int64Max), order: byNumber },
  { type: n.counter, values: fc.bigInt(int64Min, int64Max), order: byNumber },
  {
    type: n.varint,
    values: fc.oneof(fc.bigInt(-70000n, 70000n), fc.bigInt(-(2n ** 200n), 2n ** 200n)),
    order: byNumber,
  },
  { type: n.float, values: fc.float(), order: floatOrder },
  { type: n.double, values: fc.double(), order: floatOrder },
  { type: n.decimal, values: decimalText, order: decimalOrder },
  { type: n.boolean, values: fc.boolean(), order: (a: boolean, b: boolean) => Number(a) - Number(b) },
  { type: n.text, values: unicodeText, order: codePointOrder },
  { type: n.ascii, values: asciiText, order: codePointOrder },
  { type: n.uuid, values: fc.uuid(), order: uuidOrder },
  { type: n.timeuuid, values: fc.uuid({ version: 1 }), order: timeuuidOrder },
  {
    type: n.timestamp,
    values: fc.oneof(fc.integer({ min: -1e9, max: 1e9 }), fc.bigInt(-8_640_000_000_000_000n, 8_640_000_000_000_000n).map(Number)),
    order: byNumber,
  },
  { type: n.date, values: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), order: byNumber },
  { type: n.time, values: fc.bigInt(0n, nanosPerDay - 1n), order: byNumber },
  { type: n.blob, values: fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes)), order: Buffer.compare },
  { type: n.inet, values: inetText },
  { type: n.duration, values: durationValue },
];

const compositeCases: Case[] = [
  { type: parseTypeName('list<int>'), values: fc.array(fc.integer(), { maxLength: 6 }), order: lexicographic(byNumber) },
  {
    type: parseTypeName('frozen<list<bigint>>'),
    values: fc.array(fc.bigInt(int64Min, int64Max), { maxLength: 5 }),
    order: lexicographic(byNumber),
  },
  {
    type: parseTypeName('set<text>'),
    values: fc
      .uniqueArray(unicodeText, { maxLength: 6 })
      .map((items) => items.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
    order: lexicographic(codePointOrder),
  },
  {
    type: parseTypeName('map<int, text>'),
    values: fc
      .uniqueArray(fc.tuple(fc.integer(), unicodeText), { selector: ([key]) => key, maxLength: 5 })
      .map((entries) => entries.sort(([a], [b]) => a - b)),
    order: lexicographic<[number, string]>(([ka, va], [kb, vb]) => byNumber(ka, kb) || codePointOrder(va, vb)),
  },
  {
    type: parseTypeName('frozen<map<frozen<list<int>>, timestamp>>'),
    values: fc
      .uniqueArray(fc.tuple(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 3 }), fc.integer()), {
        selector: ([key]) => key.join(','),
        maxLength: 4,
      })
      .map((entries) => entries.sort(([a], [b]) => lexicographic(byNumber)(a, b))),
    order: lexicographic<[number[], number]>(([ka, va], [kb, vb]) => lexicographic(byNumber)(ka, kb) || byNumber(va, vb)),
  },
  {
    type: parseTypeName('list<frozen<set<date>>>'),
    values: fc.array(
      fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { maxLength: 3 }).map((days) => days.sort((a, b) => a - b)),
      { maxLength: 3 },
    ),
    order: lexicographic(lexicographic(byNumber)),
  },
  {
    type: parseTypeName('tuple<int, text, boolean>'),
    values: fc.tuple(fc.option(fc.integer()), fc.option(asciiText), fc.option(fc.boolean())),
    order: (a: unknown[], b: unknown[]) => {
      const fields = [byNumber, codePointOrder, (x: boolean, y: boolean) => Number(x) - Number(y)] as ((x: never, y: never) => number)[];
      for (let i = 0; i < 3; i++) {
        if (a[i] === null || b[i] === null) {
          if (a[i] !== b[i]) return a[i] === null ? -1 : 1;
          continue;
        }
        const order = fields[i]!(a[i] as never, b[i] as never);
        if (order !== 0) return order;
      }
      return 0;
    },
  },
];

// ---------------------------------------------------------------------------
// Properties

for (const { type, values, order } of [...nativeCases, ...compositeCases]) {
  t.test(`${type.name}: bytes, JSON and order agree with the JS value`, async (t) => {
    propertyHolds(t, fc.check(
      fc.property(values, (value) => sameValue(type.deserialize(type.serialize(value)), value)),
      { numRuns },
    ), 'the property holds');
    propertyHolds(t, fc.check(
      fc.property(values, (value) => {
        const wire = JSON.parse(JSON.stringify(type.toJson(value), (_, v) => (typeof v === 'bigint' ? String(v) : v)));
        return sameValue(type.fromJson(wire), value, false);
      }),
      { numRuns },
    ), 'the property holds');
    if (order !== undefined) {
      propertyHolds(t, fc.check(
        fc.property(values, values, (a, b) => {
          const expected = sign(order(a as never, b as never));
          return sign(type.compare(type.serialize(a), type.serialize(b))) === expected;
        }),
        { numRuns },
      ), 'the property holds');
      // Equal values are also equal in bytes order (compare(x, x) === 0).
      propertyHolds(t, fc.check(
        fc.property(values, (a) => type.compare(type.serialize(a), type.serialize(a)) === 0),
        { numRuns: 30 },
      ), 'the property holds');
    }
  });
}

t.test('byte-wise varint order matches numeric order across widths', async (t) => {
  // int/bigint bytes are non-minimal varints: varint's order must still be numeric.
  propertyHolds(t, fc.check(
    fc.property(fc.integer(), fc.bigInt(int64Min, int64Max), (a, b) => {
      return sign(n.varint.compare(n.int.serialize(a), n.bigint.serialize(b))) === sign(byNumber(BigInt(a), b));
    }),
    { numRuns },
  ), 'the property holds');
  t.ok(n.varint.isCompatibleWith(n.int));
});

// ---------------------------------------------------------------------------
// Known byte vectors

t.test('serialized forms match the native protocol encodings', async (t) => {
  const hex = (type: CqlType, value: unknown): string => type.serialize(value).toString('hex');
  t.equal(hex(n.int, 1), '00000001');
  t.equal(hex(n.int, -2), 'fffffffe');
  t.equal(hex(n.smallint, -1), 'ffff');
  t.equal(hex(n.tinyint, 127), '7f');
  t.equal(hex(n.bigint, -1n), 'ffffffffffffffff');
  t.equal(hex(n.counter, 256n), '0000000000000100');
  t.equal(hex(n.varint, 0n), '00');
  t.equal(hex(n.varint, 127n), '7f');
  t.equal(hex(n.varint, 128n), '0080');
  t.equal(hex(n.varint, -1n), 'ff');
  t.equal(hex(n.varint, -128n), '80');
  t.equal(hex(n.varint, -129n), 'ff7f');
  t.equal(hex(n.decimal, '1.5'), '00000001' + '0f', 'scale 1, unscaled 15');
  t.equal(hex(n.decimal, '-0.01'), '00000002' + 'ff');
  t.equal(hex(n.decimal, '1e3'), '00000000' + '03e8', 'positive exponents fold into the unscaled value');
  t.equal(hex(n.date, 0), '80000000', 'the epoch is 2^31');
  t.equal(hex(n.date, -1), '7fffffff');
  t.equal(hex(n.boolean, true), '01');
  t.equal(hex(n.boolean, false), '00');
  t.equal(hex(n.float, 1), '3f800000');
  t.equal(hex(n.double, -2), 'c000000000000000');
  t.equal(hex(n.timestamp, -1), 'ffffffffffffffff');
  t.equal(hex(n.timestamp, 1_700_000_000_123), '0000018bcfe5687b');
  t.equal(hex(n.time, 1_000_000_000n), '000000003b9aca00');
  t.equal(hex(n.text, 'é'), 'c3a9');
  t.equal(hex(n.uuid, '00112233-4455-6677-8899-AABBCCDDEEFF'), '00112233445566778899aabbccddeeff');
  t.equal(hex(n.inet, '127.0.0.1'), '7f000001');
  t.equal(hex(n.inet, '::1'), '00000000000000000000000000000001');
  t.equal(hex(n.duration, { months: 1, days: 2, nanoseconds: 3n }), '020406', 'zig-zag vints');
  t.equal(hex(n.duration, { months: -1, days: 0, nanoseconds: 0n }), '010000');
  // 1h = 3.6e12 ns → zig-zag 7.2e12 = 0x68c61714000 (43 bits) → six extra bytes, so
  // the first byte is 0b1111110 followed by bit 48 of the value (0).
  t.equal(hex(n.duration, { months: 0, days: 0, nanoseconds: 3_600_000_000_000n }), '0000fc068c61714000');
  t.equal(hex(parseTypeName('list<int>'), [1, 2]), '00000002' + '00000004' + '00000001' + '00000004' + '00000002');
  t.equal(hex(parseTypeName('map<int, boolean>'), [[1, true]]), '00000001' + '00000004' + '00000001' + '00000001' + '01');
  t.equal(hex(parseTypeName('tuple<int, text>'), [7, null]), '00000004' + '00000007' + 'ffffffff', 'no count; null is -1');
});

t.test('a tuple value missing trailing fields reads them as null', async (t) => {
  const type = parseTypeName('tuple<int, text, int>');
  t.same(type.deserialize(Buffer.from('0000000400000001', 'hex')), [1, null, null]);
  t.throws(() => type.deserialize(Buffer.from('00000004000000', 'hex')), { code: 'Invalid' });
});

t.test('malformed bytes are refused, not misread', async (t) => {
  t.throws(() => n.int.deserialize(Buffer.from('000001', 'hex')), { message: 'Expected 4 bytes for a int value, got 3' });
  t.throws(() => parseTypeName('list<int>').deserialize(Buffer.from('0000000200000004', 'hex')), { code: 'Invalid' });
  t.throws(() => n.timeuuid.deserialize(Buffer.alloc(16)), { code: 'Invalid' });
  t.throws(() => n.inet.deserialize(Buffer.alloc(5)), { code: 'Invalid' });
  t.throws(() => n.duration.deserialize(Buffer.from('02', 'hex')), { code: 'Invalid' });
});

// ---------------------------------------------------------------------------
// Canonical collections

t.test('sets serialize sorted and de-duplicated whatever the input order', async (t) => {
  const type = parseTypeName('set<int>');
  t.same(type.deserialize(type.serialize([3, 1, 3, -2])), [-2, 1, 3]);
  t.same(type.fromJson([3, 1, 3, -2]), [-2, 1, 3]);
  t.same(type.fromLiteral({ kind: 'set', items: [3, 1, 1].map((i) => ({ kind: 'integer', text: String(i) })) }), [1, 3]);
});

t.test('maps serialize in key order and a repeated key keeps its last value', async (t) => {
  const type = parseTypeName('map<text, int>');
  t.same(type.deserialize(type.serialize([['b', 1], ['a', 2], ['b', 3]])), [['a', 2], ['b', 3]]);
  t.same(type.fromJson({ z: 1, a: 2 }), [['a', 2], ['z', 1]]);
  t.same(type.fromJson([['z', 1], ['a', 2]]), [['a', 2], ['z', 1]], 'arrays of pairs are accepted too');
});

t.test('null is refused inside collections but allowed in tuple fields', async (t) => {
  t.throws(() => parseTypeName('list<int>').serialize([1, null]), { message: 'null is not supported inside collections' });
  t.throws(() => parseTypeName('set<int>').fromJson([null]), { message: 'null is not supported inside collections' });
  t.throws(() => parseTypeName('map<int, int>').fromLiteral({ kind: 'map', entries: [[{ kind: 'integer', text: '1' }, { kind: 'null' }]] }), {
    message: 'null is not supported inside collections',
  });
  t.same(parseTypeName('tuple<int, int>').fromLiteral({ kind: 'tuple', items: [{ kind: 'null' }, { kind: 'integer', text: '2' }] }), [null, 2]);
});

// ---------------------------------------------------------------------------
// JSON forms

t.test('JSON results use the HTTP contract forms', async (t) => {
  t.equal(n.int.toJson(5), 5);
  t.equal(n.bigint.toJson(9007199254740993n), '9007199254740993');
  t.equal(n.varint.toJson(-(10n ** 30n)), '-1000000000000000000000000000000');
  t.equal(n.decimal.toJson('-12.50'), '-12.50');
  t.equal(n.timestamp.toJson(1704164645678), '2024-01-02T03:04:05.678Z');
  t.equal(n.date.toJson(0), '1970-01-01');
  t.equal(n.date.toJson(-719529), '-0001-12-31', 'years before 0001 keep a sign');
  t.equal(n.date.toJson(2 ** 31 - 1), '+5881580-07-11');
  t.equal(n.time.toJson(3_723_000_000_001n), '01:02:03.000000001');
  t.equal(n.blob.toJson(Buffer.from([0xca, 0xfe])), '0xcafe');
  t.equal(n.inet.toJson('::1'), '::1');
  t.equal(n.float.toJson(NaN), 'NaN');
  t.equal(n.double.toJson(-Infinity), '-Infinity');
  t.equal(n.duration.toJson({ months: 14, days: 3, nanoseconds: 3_723_004_005_006n }), '1y2mo3d1h2m3s4ms5us6ns');
  t.same(parseTypeName('map<int, text>').toJson([[1, 'a'], [2, 'b']]), { 1: 'a', 2: 'b' });
  t.same(parseTypeName('map<frozen<list<int>>, int>').toJson([[[1, 2], 3]]), { '[1,2]': 3 });
  t.same(parseTypeName('tuple<int, text>').toJson([1, null]), [1, null]);
});

t.test('JSON requests accept the documented alternatives', async (t) => {
  t.equal(n.bigint.fromJson(12), 12n);
  t.equal(n.bigint.fromJson('-9223372036854775808'), int64Min);
  t.equal(n.counter.fromJson('5'), 5n);
  t.equal(n.varint.fromJson('123456789012345678901234567890'), 123456789012345678901234567890n);
  t.equal(n.decimal.fromJson(1.25), '1.25');
  t.equal(n.decimal.fromJson('1.2500'), '1.2500', 'the scale is kept');
  t.equal(n.decimal.fromJson('-0.0'), '0.0');
  t.equal(n.timestamp.fromJson(1704164645678), 1704164645678);
  t.equal(n.timestamp.fromJson('2024-01-02T03:04:05.678Z'), 1704164645678);
  t.equal(n.timestamp.fromJson('2024-01-02 04:04:05.678+01:00'), 1704164645678);
  t.equal(n.date.fromJson('2024-02-29'), 19782);
  t.equal(n.time.fromJson('23:59:59'), 86_399_000_000_000n);
  t.equal(n.uuid.fromJson('550E8400-E29B-41D4-A716-446655440000'), '550e8400-e29b-41d4-a716-446655440000');
  t.same(n.blob.fromJson('0x0aff'), Buffer.from([0x0a, 0xff]));
  t.ok(Number.isNaN(n.double.fromJson('NaN') as number));
  t.equal(n.float.fromJson('Infinity'), Infinity);
  t.equal(n.float.fromJson(0.1), Math.fround(0.1), 'floats are rounded to binary32');
  t.same(parseTypeName('map<int, text>').fromJson({ 2: 'b', '-1': 'a' }), [[-1, 'a'], [2, 'b']]);
  t.same(parseTypeName('map<frozen<set<int>>, int>').fromJson({ '[2,1]': 0 }), [[[1, 2], 0]]);
  t.same(parseTypeName('set<int>').fromJson([2, 1, 2]), [1, 2]);
  t.same(parseTypeName('tuple<int, text, int>').fromJson([1]), [1, null, null]);
});

t.test('JSON values of the wrong shape or range name the type and the reason', async (t) => {
  t.throws(() => n.int.fromJson(3000000000), { message: 'Invalid value 3000000000 for type int: out of range' });
  t.throws(() => n.tinyint.fromJson(128), { message: 'Invalid value 128 for type tinyint: out of range' });
  t.throws(() => n.int.fromJson(1.5), { message: 'Invalid value 1.5 for type int: not an integer' });
  t.throws(() => n.bigint.fromJson('12x'), { message: 'Invalid value "12x" for type bigint: expected an integer' });
  t.throws(() => n.bigint.fromJson(2 ** 60), /send it as a string/);
  t.throws(() => n.bigint.fromJson('9223372036854775808'), /out of range/);
  t.throws(() => n.text.fromJson(5), { message: 'Invalid value 5 for type text: expected a string' });
  t.throws(() => n.ascii.fromJson('é'), /non-ASCII/);
  t.throws(() => n.text.fromJson('\ud800'), /unpaired surrogate/);
  t.throws(() => n.blob.fromJson('cafe'), /0x/);
  t.throws(() => n.blob.fromJson('0xabc'), /even number/);
  t.throws(() => n.timestamp.fromJson('2024-13-01'), /no such date/);
  t.throws(() => n.timestamp.fromJson('yesterday'), /not a valid timestamp/);
  t.throws(() => n.date.fromJson('2023-02-29'), /no such date/);
  t.throws(() => n.time.fromJson('24:00:00'), /no such time/);
  t.throws(() => n.timeuuid.fromJson('550e8400-e29b-41d4-a716-446655440000'), /version 1/);
  t.throws(() => n.inet.fromJson('localhost'), /not an IPv4 or IPv6 address/);
  t.throws(() => n.inet.fromJson('1::2::3'), { code: 'Invalid' });
  t.throws(() => n.decimal.fromJson('1e999999'), /exponent out of range/);
  t.throws(() => n.duration.fromJson('1x'), /not a valid duration/);
  t.throws(() => parseTypeName('list<int>').fromJson({}), /expected an array/);
  t.throws(() => parseTypeName('map<int, int>').fromJson({ a: 1 }), /for type int/);
  t.throws(() => parseTypeName('tuple<int>').fromJson([1, 2]), /at most 1 fields/);
});

t.test('inet text is canonical: IPv6 compressed as RFC 5952 (as WHATWG URLs do)', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.ipV6(), (address) => {
      const expected = new URL(`http://[${address}]/`).hostname.slice(1, -1);
      return n.inet.fromJson(address) === expected;
    }),
    { numRuns },
  ), 'the property holds');
  propertyHolds(t, fc.check(
    fc.property(fc.ipV4(), (address) => n.inet.fromJson(address) === address),
    { numRuns: 50 },
  ), 'the property holds');
  t.equal(n.inet.fromJson('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of equal zero runs is compressed');
  t.equal(n.inet.fromJson('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7', 'a single zero group is not compressed');
});

// ---------------------------------------------------------------------------
// Literals

/** The InvalidLiteral `run` throws (anything else fails the test by propagating). */
function catchLiteral(run: () => unknown): InvalidLiteral {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidLiteral) return error;
    throw error;
  }
  throw new Error('expected an InvalidLiteral');
}

const str = (text: string): Literal => ({ kind: 'string', text });
const integer = (text: string): Literal => ({ kind: 'integer', text });
const float = (text: string): Literal => ({ kind: 'float', text });

t.test('literals of the right kind become JS values', async (t) => {
  t.equal(n.int.fromLiteral(integer('-2147483648')), -(2 ** 31));
  t.equal(n.bigint.fromLiteral(integer('9223372036854775807')), int64Max);
  t.equal(n.bigint.fromLiteral(str('42')), 42n, 'digit strings are bigints too');
  t.equal(n.varint.fromLiteral(integer('-99999999999999999999')), -99999999999999999999n);
  t.equal(n.double.fromLiteral(integer('3')), 3);
  t.equal(n.double.fromLiteral(float('1.5e3')), 1500);
  t.ok(Number.isNaN(n.double.fromLiteral(float('NaN')) as number));
  t.equal(n.float.fromLiteral(float('-Infinity')), -Infinity);
  t.equal(n.decimal.fromLiteral(float('1.50')), '1.50');
  t.equal(n.decimal.fromLiteral(integer('7')), '7');
  t.equal(n.decimal.fromLiteral(str('-0.25')), '-0.25');
  t.equal(n.counter.fromLiteral(integer('1')), 1n);
  t.equal(n.boolean.fromLiteral({ kind: 'boolean', value: true }), true);
  t.equal(n.text.fromLiteral(str("it's")), "it's");
  t.equal(n.ascii.fromLiteral(str('plain')), 'plain');
  t.equal(n.timestamp.fromLiteral(integer('1000')), 1000);
  t.equal(n.timestamp.fromLiteral(str('1970-01-02')), 86_400_000);
  t.equal(n.timestamp.fromLiteral(str('2024-01-02 03:04')), Date.UTC(2024, 0, 2, 3, 4));
  t.equal(n.timestamp.fromLiteral(str('2024-01-02T03:04:05')), Date.UTC(2024, 0, 2, 3, 4, 5));
  t.equal(n.timestamp.fromLiteral(str('2024-01-02 03:04:05.6+0000')), Date.UTC(2024, 0, 2, 3, 4, 5, 600));
  t.equal(n.timestamp.fromLiteral(str('2024-01-02 03:04:05-0130')), Date.UTC(2024, 0, 2, 4, 34, 5));
  t.equal(n.timestamp.fromLiteral(str('0099-03-01')), new Date('0099-03-01T00:00:00Z').getTime(), 'two-digit years stay themselves');
  t.equal(n.date.fromLiteral(str('1970-01-02')), 1);
  t.equal(n.date.fromLiteral(integer('2147483648')), 0, 'a plain number is the raw stored day (epoch at 2^31)');
  t.equal(n.time.fromLiteral(str('00:00:01.5')), 1_500_000_000n);
  t.equal(n.time.fromLiteral(integer('42')), 42n);
  t.equal(n.inet.fromLiteral(str('0:0::1')), '::1');
  const id = '550e8400-e29b-41d4-a716-446655440000';
  t.equal(n.uuid.fromLiteral({ kind: 'uuid', text: id.toUpperCase() }), id);
  t.equal(n.uuid.fromLiteral(str(id)), id);
  t.equal(n.timeuuid.fromLiteral({ kind: 'uuid', text: '5d5fe1a0-a9b5-11ee-8000-000000000000' }), '5d5fe1a0-a9b5-11ee-8000-000000000000');
  t.same(n.blob.fromLiteral({ kind: 'hex', text: 'CAFE' }), Buffer.from([0xca, 0xfe]));
  t.same(n.duration.fromLiteral({ kind: 'duration', text: '1h30m' }), { months: 0, days: 0, nanoseconds: 5_400_000_000_000n });
  t.same(n.duration.fromLiteral({ kind: 'duration', text: 'P1D' }), { months: 0, days: 1, nanoseconds: 0n });
  t.same(n.duration.fromLiteral({ kind: 'duration', text: '-2w' }), { months: 0, days: -14, nanoseconds: 0n });
  t.same(n.duration.fromLiteral({ kind: 'duration', text: 'P2W' }), { months: 0, days: 14, nanoseconds: 0n });
  t.same(n.duration.fromLiteral({ kind: 'duration', text: 'P0001-02-03T04:05:06' }), {
    months: 14,
    days: 3,
    nanoseconds: 14_706_000_000_000n,
  });
  t.same(n.duration.fromLiteral({ kind: 'duration', text: '1Y2MO3MS4US5NS' }), {
    months: 14,
    days: 0,
    nanoseconds: 3_004_005n,
  });
  t.equal(n.int.fromLiteral({ kind: 'null' }), null, 'null is null for every type');
});

t.test('collection and tuple literals apply the element types', async (t) => {
  t.same(parseTypeName('list<bigint>').fromLiteral({ kind: 'list', items: [integer('2'), integer('1')] }), [2n, 1n]);
  t.same(parseTypeName('set<text>').fromLiteral({ kind: 'emptyBraces' }), []);
  t.same(parseTypeName('map<text, int>').fromLiteral({ kind: 'emptyBraces' }), []);
  t.same(
    parseTypeName('map<text, frozen<list<int>>>').fromLiteral({
      kind: 'map',
      entries: [
        [str('b'), { kind: 'list', items: [integer('1')] }],
        [str('a'), { kind: 'list', items: [] }],
      ],
    }),
    [['a', []], ['b', [1]]],
  );
  t.same(parseTypeName('tuple<int, text, boolean>').fromLiteral({ kind: 'tuple', items: [integer('1'), str('x')] }), [1, 'x', null]);
});

t.test('literals that cannot be the type are refused in Cassandra words', async (t) => {
  const refuses = (type: CqlType, literal: Literal, message: string): void => {
    t.equal(catchLiteral(() => type.fromLiteral(literal)).message, message);
  };
  refuses(n.int, str('foo'), 'Invalid STRING constant (foo) for type int');
  refuses(n.int, integer('3000000000'), 'Invalid INTEGER constant (3000000000) for type int: out of range');
  refuses(n.int, float('1.5'), 'Invalid FLOAT constant (1.5) for type int');
  refuses(n.bigint, str('12a'), 'Invalid STRING constant (12a) for type bigint');
  refuses(n.text, integer('1'), 'Invalid INTEGER constant (1) for type text');
  refuses(n.ascii, str('héllo'), 'Invalid STRING constant (héllo) for type ascii: contains non-ASCII characters');
  refuses(n.boolean, str('true'), 'Invalid STRING constant (true) for type boolean');
  refuses(n.uuid, str('nope'), 'Invalid STRING constant (nope) for type uuid: not a UUID');
  refuses(n.timeuuid, { kind: 'uuid', text: '550e8400-e29b-41d4-a716-446655440000' }, 'Invalid UUID constant (550e8400-e29b-41d4-a716-446655440000) for type timeuuid: not a time-based (version 1) UUID');
  refuses(n.blob, str('cafe'), 'Invalid STRING constant (cafe) for type blob');
  refuses(n.blob, { kind: 'hex', text: 'abc' }, 'Invalid HEX constant (0xabc) for type blob: expected an even number of hex digits');
  refuses(n.decimal, float('NaN'), 'Invalid FLOAT constant (NaN) for type decimal: not a decimal number');
  refuses(n.double, { kind: 'boolean', value: false }, 'Invalid BOOLEAN constant (false) for type double');
  refuses(n.date, str('2024-1-1'), 'Invalid STRING constant (2024-1-1) for type date: not a valid date (expected yyyy-mm-dd)');
  refuses(n.date, integer('4294967296'), 'Invalid INTEGER constant (4294967296) for type date: out of range');
  refuses(n.time, str('12:00'), 'Invalid STRING constant (12:00) for type time: not a valid time (expected hh:mm:ss[.fffffffff])');
  refuses(n.timestamp, str('2024-01-02 25:00'), 'Invalid STRING constant (2024-01-02 25:00) for type timestamp: no such date or time');
  refuses(n.duration, { kind: 'duration', text: 'P' }, 'Invalid DURATION constant (P) for type duration: not a valid duration');
  refuses(n.int, { kind: 'list', items: [] }, 'Invalid list literal for type int');
  refuses(parseTypeName('set<int>'), { kind: 'list', items: [] }, 'Invalid list literal for type set<int>');
  refuses(parseTypeName('list<int>'), { kind: 'emptyBraces' }, 'Invalid map literal for type list<int>');
  refuses(parseTypeName('list<int>'), str('x'), 'Invalid STRING constant (x) for type list<int>');
  refuses(
    parseTypeName('tuple<int>'),
    { kind: 'tuple', items: [integer('1'), integer('2')] },
    'Invalid tuple literal for type frozen<tuple<int>>: too many elements: expected at most 1, got 2',
  );
});

t.test('literal errors name the receiving column and the element inside it', async (t) => {
  t.equal(catchLiteral(() => n.int.fromLiteral(str('foo'))).forReceiver('k').message, 'Invalid STRING constant (foo) for "k" of type int');
  const inList = catchLiteral(() => parseTypeName('list<int>').fromLiteral({ kind: 'list', items: [str('x')] }));
  t.equal(inList.message, 'Invalid STRING constant (x) for type int');
  t.equal(inList.forReceiver('v').message, 'Invalid STRING constant (x) for "value(v)" of type int');
  const mapKey = catchLiteral(() =>
    parseTypeName('list<frozen<map<int, text>>>').fromLiteral({ kind: 'list', items: [{ kind: 'map', entries: [[str('k'), str('v')]] }] }),
  );
  t.equal(mapKey.forReceiver('m').message, 'Invalid STRING constant (k) for "key(value(m))" of type int');
  const tupleField = catchLiteral(() => parseTypeName('tuple<int, int>').fromLiteral({ kind: 'tuple', items: [integer('1'), str('x')] }));
  t.equal(tupleField.forReceiver('t').message, 'Invalid STRING constant (x) for "t[1]" of type int');
});

t.test('literalKindName names every literal kind as Cassandra does', async (t) => {
  t.equal(literalKindName(str('a')), 'STRING');
  t.equal(literalKindName(integer('1')), 'INTEGER');
  t.equal(literalKindName(float('1.0')), 'FLOAT');
  t.equal(literalKindName({ kind: 'boolean', value: true }), 'BOOLEAN');
  t.equal(literalKindName({ kind: 'uuid', text: '' }), 'UUID');
  t.equal(literalKindName({ kind: 'hex', text: '' }), 'HEX');
  t.equal(literalKindName({ kind: 'duration', text: '1h' }), 'DURATION');
  t.equal(literalKindName({ kind: 'null' }), 'NULL');
});

t.test('toCqlString renders literals that read back as the same value', async (t) => {
  t.equal(n.text.toCqlString("it's"), "'it''s'");
  t.equal(n.blob.toCqlString(Buffer.from([1, 255])), '0x01ff');
  t.equal(n.timestamp.toCqlString(0), "'1970-01-01T00:00:00.000Z'");
  t.equal(n.date.toCqlString(1), "'1970-01-02'");
  t.equal(n.time.toCqlString(1n), "'00:00:00.000000001'");
  t.equal(n.double.toCqlString(-Infinity), '-Infinity');
  t.equal(n.duration.toCqlString({ months: 0, days: 0, nanoseconds: -60_000_000_000n }), '-1m');
  t.equal(n.duration.toCqlString({ months: 0, days: 0, nanoseconds: 0n }), '0s');
  t.equal(parseTypeName('list<text>').toCqlString(['a', 'b']), "['a', 'b']");
  t.equal(parseTypeName('set<int>').toCqlString([1, 2]), '{1, 2}');
  t.equal(parseTypeName('map<text, boolean>').toCqlString([['a', true]]), "{'a': true}");
  t.equal(parseTypeName('tuple<int, text>').toCqlString([1, null]), '(1, null)');
  // Reading the rendering back through fromLiteral gives the value again.
  const stamp = 1704164645678;
  t.equal(n.timestamp.fromLiteral(str(n.timestamp.toCqlString(stamp).slice(1, -1))), stamp);
  propertyHolds(t, fc.check(
    fc.property(durationValue, (value) => {
      return sameValue(n.duration.fromLiteral({ kind: 'duration', text: n.duration.toCqlString(value) }), value);
    }),
    { numRuns },
  ), 'the property holds');
});

// ---------------------------------------------------------------------------
// Types: names, validation, identity, compatibility

t.test('type names parse to canonical, shared instances', async (t) => {
  t.equal(parseTypeName('int'), n.int);
  t.equal(parseTypeName('VARCHAR'), n.text, 'varchar is text');
  t.equal(n.varchar, n.text);
  t.equal(parseTypeName('map<text, frozen<list<int>>>'), parseTypeName('map<varchar,frozen<list<int>>>'));
  t.equal(parseTypeName('map<text, frozen<list<int>>>').name, 'map<text, frozen<list<int>>>');
  t.equal(parseTypeName('frozen<list<set<int>>>').name, 'frozen<list<frozen<set<int>>>>', 'frozen freezes all the way down');
  t.equal(parseTypeName('tuple<int, list<int>>').name, 'frozen<tuple<int, frozen<list<int>>>>', 'tuples freeze their fields');
  t.equal(parseTypeName('frozen<tuple<int>>'), parseTypeName('tuple<int>'));
  const list = parseTypeName('list<int>');
  t.equal(list.multiCell, true);
  t.equal(list.kind, 'list');
  t.same(list.params, [n.int]);
  t.equal(list.frozen(), parseTypeName('frozen<list<int>>'));
  t.equal(list.frozen().multiCell, false);
  t.equal(list.frozen().frozen(), list.frozen());
  t.same(parseTypeSpec('Map<text, frozen<list<int>>>'), {
    name: 'map',
    params: [
      { name: 'text', params: [] },
      { name: 'frozen', params: [{ name: 'list', params: [{ name: 'int', params: [] }] }] },
    ],
  });
});

t.test('type validation follows Cassandra rules', async (t) => {
  const refuses = (text: string, message: string): void => {
    t.throws(() => parseTypeName(text), { message, code: 'Invalid' }, text);
  };
  refuses('foo', 'Unknown type foo');
  refuses('list<foo>', 'Unknown type foo');
  refuses('list<set<int>>', 'Non-frozen collections are not allowed inside collections: list<set<int>>');
  refuses('map<int, list<int>>', 'Non-frozen collections are not allowed inside collections: map<int, list<int>>');
  refuses('map<list<int>, int>', 'Non-frozen collections are not allowed inside collections: map<list<int>, int>');
  refuses('frozen<int>', 'frozen<> is only allowed on collections, tuples, and user-defined types (got int)');
  refuses('list<counter>', 'Counters are not allowed inside collections: list<counter>');
  refuses('tuple<counter>', 'Counters are not allowed inside tuples: tuple<counter>');
  refuses('set<duration>', 'Durations are not allowed inside sets: set<duration>');
  refuses('set<frozen<list<duration>>>', 'Durations are not allowed inside sets: set<frozen<list<duration>>>');
  refuses('map<duration, int>', 'Durations are not allowed as map keys: map<duration, int>');
  refuses('list<int, int>', 'Invalid type list<int, int>: list takes 1 type parameter, got 2');
  refuses('map<int>', 'Invalid type map<int>: map takes 2 type parameters, got 1');
  refuses('int<text>', 'Invalid type int<text>: int takes no type parameters');
  t.ok(parseTypeName('map<int, duration>'), 'durations are fine as map values');
  t.ok(parseTypeName('list<frozen<map<int, frozen<set<text>>>>>'));
  t.throws(() => parseTypeName('list<int'), { code: 'SyntaxError' });
  t.throws(() => parseTypeName('list<int>>'), { code: 'SyntaxError' });
  t.throws(() => parseTypeName('list<>'), { code: 'SyntaxError' });
  t.throws(() => parseTypeName('li$t'), { code: 'SyntaxError', column: 3, token: '$' });
  t.equal(typeFromSpec({ name: 'list', params: [{ name: 'int', params: [] }] }), parseTypeName('list<int>'));
  t.ok(referencesDuration(parseTypeName('frozen<list<duration>>')));
  t.notOk(referencesDuration(parseTypeName('list<int>')));
});

t.test('isCompatibleWith allows only changes that keep bytes and order meaning the same', async (t) => {
  t.ok(n.text.isCompatibleWith(n.varchar));
  t.ok(n.text.isCompatibleWith(n.ascii));
  t.notOk(n.ascii.isCompatibleWith(n.text));
  t.ok(n.uuid.isCompatibleWith(n.timeuuid));
  t.notOk(n.timeuuid.isCompatibleWith(n.uuid));
  for (const type of [n.int, n.bigint, n.smallint, n.tinyint]) t.ok(n.varint.isCompatibleWith(type), type.name);
  t.notOk(n.int.isCompatibleWith(n.bigint));
  t.notOk(n.bigint.isCompatibleWith(n.counter));
  t.ok(parseTypeName('frozen<list<text>>').isCompatibleWith(parseTypeName('frozen<list<ascii>>')));
  t.ok(parseTypeName('map<uuid, varint>').isCompatibleWith(parseTypeName('map<timeuuid, int>')));
  t.notOk(parseTypeName('list<text>').isCompatibleWith(parseTypeName('frozen<list<text>>')), 'frozenness must match');
  t.notOk(parseTypeName('set<text>').isCompatibleWith(parseTypeName('list<text>')));
  t.ok(parseTypeName('tuple<varint, text>').isCompatibleWith(parseTypeName('tuple<int, ascii>')));
  t.notOk(parseTypeName('tuple<int, text>').isCompatibleWith(parseTypeName('tuple<int>')));
});

t.test('float order puts -0 before +0 and NaN last, as Cassandra', async (t) => {
  const sorted = [NaN, 0, -Infinity, -0, Infinity, 1]
    .map((x) => n.double.serialize(x))
    .sort((a, b) => n.double.compare(a, b))
    .map((bytes) => n.double.deserialize(bytes));
  t.same(sorted.map(String), ['-Infinity', '0', '0', '1', 'Infinity', 'NaN']);
  t.ok(Object.is(sorted[1], -0));
});
