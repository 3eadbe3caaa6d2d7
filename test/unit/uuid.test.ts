import t from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../lib/model/clock.js';
import { propertyHolds } from '../helpers/property.js';
import {
  TimeUuidGenerator,
  bytesToUuid,
  compareTimeuuid,
  compareUuid,
  randomUuid,
  timeuuidFromMillis,
  timeuuidToMillis,
  uuidToBytes,
  uuidVersion,
} from '../../lib/schema/uuid.js';

t.test('uuid text and bytes convert both ways, text in lower case', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (raw) => {
      const bytes = Buffer.from(raw);
      return uuidToBytes(bytesToUuid(bytes)).equals(bytes);
    }),
    { numRuns: 100 },
  ), 'the property holds');
  t.equal(bytesToUuid(uuidToBytes('550E8400-E29B-41D4-A716-446655440000')), '550e8400-e29b-41d4-a716-446655440000');
  t.throws(() => uuidToBytes('550e8400e29b41d4a716446655440000'), { code: 'Invalid' });
  t.throws(() => bytesToUuid(Buffer.alloc(15)), { code: 'Invalid' });
});

t.test('randomUuid produces distinct version 4 UUIDs', async (t) => {
  const a = randomUuid();
  const b = randomUuid();
  t.not(a, b);
  t.equal(uuidVersion(uuidToBytes(a)), 4);
  t.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

t.test('timeuuids from one generator are unique and ascending even within one millisecond', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const generator = new TimeUuidGenerator(clock);
  const made: Buffer[] = [];
  for (let i = 0; i < 2000; i++) made.push(generator.nextBytes());
  clock.advanceMillis(1);
  made.push(generator.nextBytes());
  for (let i = 1; i < made.length; i++) {
    if (compareTimeuuid(made[i - 1]!, made[i]!) >= 0) t.fail(`uuid ${i} does not sort after uuid ${i - 1}`);
  }
  t.equal(new Set(made.map((bytes) => bytes.toString('hex'))).size, made.length, 'all distinct');
  t.equal(timeuuidToMillis(made[0]!), 1_700_000_000_000, 'the time is the clock time');
  t.equal(timeuuidToMillis(made[1999]!), 1_700_000_000_000, '2000 UUIDs fit in one millisecond (10000 ticks)');
  t.equal(timeuuidToMillis(made[2000]!), 1_700_000_000_001);
  t.ok(made.every((bytes) => uuidVersion(bytes) === 1 && (bytes[8]! & 0xc0) === 0x80), 'version 1, RFC 4122 variant');
});

t.test('a clock stepping back does not make timeuuids go back', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const generator = new TimeUuidGenerator(clock);
  const before = generator.nextBytes();
  clock.advanceMillis(-5);
  const after = generator.nextBytes();
  t.ok(compareTimeuuid(before, after) < 0);
});

t.test('two generators at the same instant differ by clock sequence and node', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const a = new TimeUuidGenerator(clock, { clockSequence: 1, node: Buffer.from('010203040506', 'hex') }).next();
  const b = new TimeUuidGenerator(clock, { clockSequence: 2, node: Buffer.from('010203040506', 'hex') }).next();
  t.not(a, b);
  t.equal(a.slice(0, 18), b.slice(0, 18), 'same time fields');
  t.equal(a.slice(19), '8001-010203040506', 'clock sequence with variant bits, then the node');
});

t.test('minTimeuuid/maxTimeuuid bracket every timeuuid of their millisecond', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(
      fc.integer({ min: -1_000_000_000_000, max: 4_000_000_000_000 }),
      fc.integer({ min: 0, max: 0x3fff }),
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      (ms, clockSequence, node) => {
        const clock = new ManualClock(ms);
        const made = new TimeUuidGenerator(clock, { clockSequence, node: Buffer.from(node) }).nextBytes();
        const min = uuidToBytes(timeuuidFromMillis(ms, 'min'));
        const max = uuidToBytes(timeuuidFromMillis(ms, 'max'));
        const previousMax = uuidToBytes(timeuuidFromMillis(ms - 1, 'max'));
        const nextMin = uuidToBytes(timeuuidFromMillis(ms + 1, 'min'));
        return (
          compareTimeuuid(previousMax, min) < 0 &&
          compareTimeuuid(min, made) < 0 &&
          compareTimeuuid(made, max) < 0 &&
          compareTimeuuid(max, nextMin) < 0 &&
          timeuuidToMillis(min) === ms &&
          timeuuidToMillis(max) === ms
        );
      },
    ),
    { numRuns: 200 },
  ), 'the property holds');
  t.throws(() => timeuuidFromMillis(-12_219_292_800_001, 'min'), { code: 'Invalid' }, 'before 1582-10-15');
});

t.test('timeuuids order by time before bytes', async (t) => {
  // Later in time but with smaller leading bytes: time_low wraps while time_mid grows.
  const earlier = uuidToBytes('ffffffff-0001-1000-8000-000000000000');
  const later = uuidToBytes('00000000-0002-1000-8000-000000000000');
  t.ok(Buffer.compare(earlier, later) > 0, 'bytes alone would say otherwise');
  t.ok(compareTimeuuid(earlier, later) < 0);
  t.ok(compareUuid(earlier, later) < 0, 'uuid orders version 1 UUIDs by time too');
  const v4 = uuidToBytes('00000000-0000-4000-8000-000000000000');
  t.ok(compareUuid(later, v4) < 0, 'uuid orders by version first');
  t.equal(compareUuid(v4, Buffer.from(v4)), 0);
  t.throws(() => timeuuidToMillis(v4), { code: 'Invalid' });
});
