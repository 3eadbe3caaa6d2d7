import t from 'tap';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { murmur3Result, murmur3x64 } from '../../lib/model/murmur3.js';
import { propertyHolds } from '../helpers/property.js';

const murmur = createRequire(import.meta.url)('murmurhash3js-revisited') as { x64: { hash128(b: Uint8Array): string } };

// The signed-tail (Cassandra) reading is checked against a BigInt transcription of
// Cassandra's hash in token.test.ts: its h1 folds in h2 (h1 += h2), so a 9..15-byte
// tail's sign-extended k2 is covered there too. Here: the standard reading, both words,
// against an independent implementation, and what sets the two readings apart.

/** The last hash's two words as unsigned 64-bit bigints. */
function lastWords(): [bigint, bigint] {
  const word = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return [word(murmur3Result.h1Hi, murmur3Result.h1Lo), word(murmur3Result.h2Hi, murmur3Result.h2Lo)];
}

const anyBytes = fc.integer({ min: 0, max: 70 }).chain((length) => fc.uint8Array({ minLength: length, maxLength: length }));

/** The words as murmurhash3js-revisited writes them: h1 then h2, 16 hex digits each. */
const hex = ([h1, h2]: [bigint, bigint]): string => h1.toString(16).padStart(16, '0') + h2.toString(16).padStart(16, '0');

t.test('with an unsigned tail both 64-bit words are those murmurhash3js-revisited computes, every length 0..70', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(anyBytes, (bytes) => {
      murmur3x64(bytes, false);
      return hex(lastWords()) === murmur.x64.hash128(bytes);
    }),
    { numRuns: 2000 },
  ), 'the property holds');
  // Tails full of high bytes are where an unsigned read must not sign-extend.
  for (let length = 0; length <= 48; length++) {
    const bytes = Buffer.alloc(length, 0xff);
    murmur3x64(bytes, false);
    t.equal(hex(lastWords()), murmur.x64.hash128(bytes), `${length} bytes of 0xff`);
  }
});

// Sign extension fills the bits above a byte within its 64-bit word, so only a high
// byte below the word's top byte (tail position j with j % 8 < 7) changes the hash.
t.test('the two tail readings differ exactly when a tail byte below a word\'s top byte is >= 0x80', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(anyBytes, (bytes) => {
      murmur3x64(bytes, true);
      const [s1, s2] = lastWords();
      murmur3x64(bytes, false);
      const [u1, u2] = lastWords();
      const signExtends = bytes.subarray(bytes.length & ~15).some((b, j) => b >= 0x80 && j % 8 < 7);
      return (s1 === u1 && s2 === u2) === !signExtends;
    }),
    { numRuns: 1000 },
  ), 'the property holds');
  // The two edges of that rule, spelled out.
  const lowSlot = Buffer.from([0x31, 0x32, 0x33, 0x80]);
  murmur3x64(lowSlot, true);
  const signed = lastWords();
  murmur3x64(lowSlot, false);
  t.notSame(signed, lastWords(), 'a high byte below the top byte sign-extends');
  const topSlot = Buffer.from([1, 2, 3, 4, 5, 6, 7, 0x80]);
  murmur3x64(topSlot, true);
  const signedTop = lastWords();
  murmur3x64(topSlot, false);
  t.same(signedTop, lastWords(), 'a high top byte has no higher bits to fill');
});
