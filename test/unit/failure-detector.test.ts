import t from 'tap';
import fc from 'fast-check';
import { FailureDetector, PHI_FACTOR } from '../../lib/cluster/failure-detector.js';
import { propertyHolds } from '../helpers/property.js';

const EP = '10.0.0.1:7000';

/** Reports `count` heartbeats `intervalMs` apart starting at `startMs`; returns the last time. */
function heartbeats(fd: FailureDetector, startMs: number, count: number, intervalMs: number): number {
  let now = startMs;
  for (let i = 0; i < count; i++) {
    fd.report(EP, now);
    if (i < count - 1) now += intervalMs;
  }
  return now;
}

/** The first whole 100 ms of silence after which the endpoint is DOWN. */
function convictionSilenceMs(fd: FailureDetector, lastMs: number): number {
  for (let silence = 0; silence < 600_000; silence += 100) {
    if (fd.interpret(EP, lastMs + silence) === 'DOWN') return silence;
  }
  throw new Error('never convicted');
}

t.test('phi is PHI_FACTOR * silence / mean inter-arrival time', async (t) => {
  const fd = new FailureDetector();
  const last = heartbeats(fd, 0, 1001, 1000); // 1000 real 1 s intervals evict the initial 2 s guess
  t.equal(fd.phi(EP, last), 0);
  t.ok(Math.abs(fd.phi(EP, last + 5000) - PHI_FACTOR * 5) < 1e-9);
  t.ok(Math.abs(PHI_FACTOR - 1 / Math.log(10)) < 1e-15);
});

t.test('phi rises with silence and never falls without a heartbeat', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }),
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 2, maxLength: 20 }),
      (intervals, probes) => {
        const fd = new FailureDetector();
        let now = 1_000_000;
        fd.report(EP, now);
        for (const interval of intervals) fd.report(EP, (now += interval));
        const sorted = [...probes].sort((a, b) => a - b);
        for (let i = 1; i < sorted.length; i++) {
          if (fd.phi(EP, now + sorted[i]) < fd.phi(EP, now + sorted[i - 1])) return false;
        }
        return fd.phi(EP, now + 1) > 0;
      },
    ),
    { numRuns: 200 },
  ), 'the property holds');
});

t.test('with 1 s heartbeats the default threshold 8 convicts after ~18.4 s of silence', async (t) => {
  const fd = new FailureDetector();
  const last = heartbeats(fd, 0, 1001, 1000);
  const expected = (8 / PHI_FACTOR) * 1000; // 18420.7 ms
  t.equal(fd.interpret(EP, last + 18_400), 'UP');
  t.equal(fd.interpret(EP, last + 18_500), 'DOWN');
  t.equal(convictionSilenceMs(fd, last), Math.ceil(expected / 100) * 100);
});

t.test('a heartbeat brings a convicted endpoint back UP', async (t) => {
  const fd = new FailureDetector();
  const last = heartbeats(fd, 0, 100, 1000);
  t.equal(fd.interpret(EP, last + 60_000), 'DOWN');
  fd.report(EP, last + 60_000);
  t.equal(fd.interpret(EP, last + 61_000), 'UP');
});

t.test('the convict threshold is configurable', async (t) => {
  const fd = new FailureDetector({ phiConvictThreshold: 5 });
  const last = heartbeats(fd, 0, 1001, 1000);
  t.equal(convictionSilenceMs(fd, last), Math.ceil(((5 / PHI_FACTOR) * 1000) / 100) * 100); // 11.6 s
});

t.test('a new endpoint is judged on the initial 2 s interval: conviction after ~36.8 s', async (t) => {
  const fd = new FailureDetector();
  fd.report(EP, 50_000);
  t.equal(convictionSilenceMs(fd, 50_000), Math.ceil(((8 / PHI_FACTOR) * 2000) / 100) * 100);
});

t.test('the window is bounded: old intervals leave it', async (t) => {
  const fd = new FailureDetector({ windowSamplesMax: 1000 });
  let last = heartbeats(fd, 0, 1001, 1000);
  last = heartbeats(fd, last + 500, 1000, 500); // 1000 intervals of 0.5 s push the 1 s ones out
  t.ok(Math.abs(fd.phi(EP, last + 1000) - PHI_FACTOR * 2) < 1e-9, 'mean is now 0.5 s');
  t.equal(convictionSilenceMs(fd, last), Math.ceil(((8 / PHI_FACTOR) * 500) / 100) * 100); // 9.3 s
});

t.test('intervals above the maximum are not recorded, so one long pause does not slow detection', async (t) => {
  const fd = new FailureDetector();
  let last = heartbeats(fd, 0, 1001, 1000);
  last += 30_000; // a 30 s pause (say a partition) then heartbeats resume
  fd.report(EP, last);
  t.ok(Math.abs(fd.phi(EP, last + 1000) - PHI_FACTOR) < 1e-9, 'mean is still 1 s');
});

t.test('unknown or removed endpoints accrue no suspicion', async (t) => {
  const fd = new FailureDetector();
  t.equal(fd.phi('unknown:7000', 1e12), 0);
  t.equal(fd.interpret('unknown:7000', 1e12), 'UP');
  heartbeats(fd, 0, 10, 1000);
  fd.remove(EP);
  t.equal(fd.phi(EP, 1e9), 0);
});

t.test('bad options are rejected', async (t) => {
  t.throws(() => new FailureDetector({ phiConvictThreshold: 0 }), /phi_convict_threshold/);
  t.throws(() => new FailureDetector({ windowSamplesMax: 0 }), /at least one sample/);
});
