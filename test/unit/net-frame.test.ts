import t from 'tap';
import fc from 'fast-check';
import { type Envelope, FrameDecoder, FrameError, encodeFrame } from '../../lib/net/frame.js';
import { VERBS } from '../../lib/net/transport.js';
import { propertyHolds } from '../helpers/property.js';

const envelopeArb: fc.Arbitrary<Envelope> = fc
  .record({
    id: fc.nat(),
    verb: fc.constantFrom(...VERBS),
    isResponse: fc.boolean(),
    from: fc.string(),
    payload: fc.uint8Array({ maxLength: 300 }),
    error: fc.option(fc.string(), { nil: undefined }),
  })
  .map(({ error, ...rest }) => (error === undefined ? rest : { ...rest, error }));

const plain = (e: Envelope): object => ({ ...e, payload: [...e.payload] });

t.test('frames decode to the envelopes encoded, however the stream is cut', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.array(envelopeArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (envelopes, cuts) => {
      const stream = Buffer.concat(envelopes.map((e) => encodeFrame(e)));
      const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
      const decoder = new FrameDecoder();
      const decoded: Envelope[] = [];
      let start = 0;
      for (const point of [...points, stream.length]) {
        decoded.push(...decoder.push(stream.subarray(start, point)));
        start = point;
      }
      t.same(decoded.map(plain), envelopes.map(plain));
    }),
    { numRuns: 200 },
  ), 'the property holds');
});

t.test('any flipped byte of a frame is detected as a FrameError, never misread', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(envelopeArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (envelope, at, mask) => {
      const frame = encodeFrame(envelope);
      frame[at % frame.length] ^= mask;
      t.throws(() => new FrameDecoder().push(frame), FrameError);
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('a header announcing more than the maximum is refused before its body arrives', async (t) => {
  const frame = encodeFrame({ id: 1, verb: 'ECHO', isResponse: false, from: 'a:1', payload: Buffer.alloc(100) });
  const decoder = new FrameDecoder(50);
  t.throws(() => decoder.push(frame.subarray(0, 16)), { name: 'FrameError', message: /exceeds the maximum of 50 bytes/ });
});
