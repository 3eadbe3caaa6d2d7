import t from 'tap';
import fc from 'fast-check';
import { propertyHolds } from '../helpers/property.js';
import {
  MAX_TOKEN,
  MIN_TOKEN,
  compareKeys,
  compositeKey,
  tokenWords,
  murmur3H1,
  murmur3Token,
  splitCompositeKey,
} from '../../lib/model/token.js';

// A deliberately plain BigInt transcription of Cassandra's hash3_x64_128 (h1 only),
// tail bytes sign-extended: the specification the fast implementation must match.
const MASK64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const rotl = (x: bigint, r: number): bigint => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & MASK64;
const mul = (a: bigint, b: bigint): bigint => (a * b) & MASK64;
const add = (a: bigint, b: bigint): bigint => (a + b) & MASK64;

function fmix(k: bigint): bigint {
  k ^= k >> 33n;
  k = mul(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul(k, 0xc4ceb9fe1a85ec53n);
  k ^= k >> 33n;
  return k;
}

function referenceH1(bytes: Uint8Array): bigint {
  const littleEndian64 = (offset: number): bigint => {
    let value = 0n;
    for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(bytes[offset + i]);
    return value;
  };
  let h1 = 0n;
  let h2 = 0n;
  const blocks = bytes.length >> 4;
  for (let i = 0; i < blocks; i++) {
    let k1 = littleEndian64(i * 16);
    let k2 = littleEndian64(i * 16 + 8);
    k1 = mul(rotl(mul(k1, C1), 31), C2);
    h1 ^= k1;
    h1 = add(mul(add(rotl(h1, 27), h2), 5n), 0x52dce729n);
    k2 = mul(rotl(mul(k2, C2), 33), C1);
    h2 ^= k2;
    h2 = add(mul(add(rotl(h2, 31), h1), 5n), 0x38495ab5n);
  }
  const tail = bytes.length & 15;
  let k1 = 0n;
  let k2 = 0n;
  for (let j = 0; j < tail; j++) {
    const byte = bytes[blocks * 16 + j];
    const signed = BigInt(byte >= 0x80 ? byte - 256 : byte);
    const shifted = BigInt.asUintN(64, signed << BigInt(8 * (j % 8)));
    if (j >= 8) k2 ^= shifted;
    else k1 ^= shifted;
  }
  if (tail > 8) h2 ^= mul(rotl(mul(k2, C2), 33), C1);
  if (tail > 0) h1 ^= mul(rotl(mul(k1, C1), 31), C2);
  const length = BigInt(bytes.length);
  h1 ^= length;
  h2 ^= length;
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = add(h1, h2);
  return BigInt.asIntN(64, h1);
}

t.test('tokens match Cassandra Murmur3Partitioner vectors', async (t) => {
  t.equal(murmur3Token(Buffer.from('123')), -7468325962851647638n);
  t.equal(murmur3Token(Buffer.alloc(8, 0xfe)), -8927430733708461935n);
  t.equal(murmur3Token(Buffer.from('Hello')), 3871253994707141660n);
  t.equal(murmur3Token(Buffer.from([0x00])), 5048724184180415669n);
});

t.test('the BigInt reference reproduces the vectors too', async (t) => {
  t.equal(referenceH1(Buffer.from('123')), -7468325962851647638n);
  t.equal(referenceH1(Buffer.alloc(8, 0xfe)), -8927430733708461935n);
});

t.test('fast hash equals the BigInt reference for any bytes of length 0..64', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => murmur3H1(bytes) === referenceH1(bytes)),
    { numRuns: 2000 },
  ), 'the property holds');
  // Tails full of high bytes are where sign extension matters most.
  for (let length = 0; length <= 48; length++) {
    const bytes = Buffer.alloc(length, 0xff);
    t.equal(murmur3H1(bytes), referenceH1(bytes), `${length} bytes of 0xff`);
  }
});

t.test('tokens stay within the ring and never equal the reserved minimum', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
      const token = murmur3Token(bytes);
      return token > MIN_TOKEN && token <= MAX_TOKEN;
    }),
    { numRuns: 500 },
  ), 'the property holds');
  t.equal(MIN_TOKEN, -(2n ** 63n));
  t.equal(MAX_TOKEN, 2n ** 63n - 1n);
});

t.test('an empty key has the minimum token, as in Cassandra', async (t) => {
  t.equal(murmur3Token(Buffer.alloc(0)), MIN_TOKEN);
});

t.test('a single-column key is not composite: it is its own bytes', async (t) => {
  const key = Buffer.from('abc');
  t.equal(compositeKey([key]), key);
  t.same(splitCompositeKey(key, 1), [key]);
});

t.test('composite keys use uint16 length, bytes and a 0x00 end-of-component byte', async (t) => {
  const key = compositeKey([Buffer.from([0, 0, 0, 1]), Buffer.from('xy')]);
  t.equal(key.toString('hex'), '0004' + '00000001' + '00' + '0002' + '7879' + '00');
  t.same(splitCompositeKey(key, 2), [Buffer.from([0, 0, 0, 1]), Buffer.from('xy')]);
  t.equal(compositeKey([Buffer.alloc(0), Buffer.alloc(0)]).toString('hex'), '000000000000');
});

t.test('splitCompositeKey inverts compositeKey for any components', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 2, maxLength: 5 }), (parts) => {
      const buffers = parts.map((p) => Buffer.from(p));
      const split = splitCompositeKey(compositeKey(buffers), buffers.length);
      return split.length === buffers.length && split.every((s, i) => s.equals(buffers[i]));
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('malformed composite keys are rejected', async (t) => {
  const key = compositeKey([Buffer.from('a'), Buffer.from('b')]);
  t.throws(() => splitCompositeKey(key, 3), /expected 3 components/);
  t.throws(() => splitCompositeKey(key.subarray(0, key.length - 1), 2));
  t.throws(() => compositeKey([Buffer.alloc(70000), Buffer.from('b')]), /longer than maximum of 65535/);
});

t.test('keys order by token, then by unsigned key bytes', async (t) => {
  t.ok(compareKeys(-5n, Buffer.from([0xff]), 3n, Buffer.from([0x00])) < 0);
  t.ok(compareKeys(3n, Buffer.from([0x80]), 3n, Buffer.from([0x7f])) > 0);
  t.equal(compareKeys(3n, Buffer.from('a'), 3n, Buffer.from('a')), 0);
});

t.test('tokenWords splits a token into its signed high and unsigned low words, ordered as the token', async (t) => {
  for (const token of [0n, -1n, 1n << 32n, -(1n << 63n), (1n << 63n) - 1n, 0x123456789abcdef0n - (1n << 63n)]) {
    t.same(tokenWords(token), [Number(BigInt.asIntN(32, token >> 32n)), Number(BigInt.asUintN(32, token))], `token ${token}`);
  }
});
