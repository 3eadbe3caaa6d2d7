import t from 'tap';
import { Throttle, type ThrottleClock } from '../../lib/storage/compaction/throttle.js';

/** A clock that only moves when a sleep on it ends (or the test advances it). */
class FakeClock implements ThrottleClock {
  now = 0;
  readonly sleeps: number[] = [];
  nowMillis(): number {
    return this.now;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    const until = this.now + ms;
    // Concurrent sleepers all start at the time they were called.
    await Promise.resolve();
    this.now = Math.max(this.now, until);
  }
}

t.test('a rate of 0 never waits', async (t) => {
  const clock = new FakeClock();
  const throttle = new Throttle(0, clock);
  await throttle.consume(10 ** 12);
  t.same(clock.sleeps, []);
});

t.test('consuming at the rate takes bytes / rate seconds, however it is chunked', async (t) => {
  for (const chunk of [1, 100, 250, 1000, 5000]) {
    const clock = new FakeClock();
    const throttle = new Throttle(1000, clock);
    for (let consumed = 0; consumed < 5000; consumed += chunk) await throttle.consume(chunk);
    t.equal(Math.round(clock.now), 5000, `in chunks of ${chunk} bytes`);
  }
});

t.test('idle time earns at most one second of allowance', async (t) => {
  const clock = new FakeClock();
  const throttle = new Throttle(1000, clock);
  clock.now += 10_000;
  await throttle.consume(1000);
  t.same(clock.sleeps, [], 'one second worth passes at once');
  clock.now += 10_000;
  await throttle.consume(3000);
  t.same(clock.sleeps, [2000], 'the rest waits');
});

t.test('concurrent consumers queue behind each other', async (t) => {
  const clock = new FakeClock();
  const throttle = new Throttle(1000, clock);
  await Promise.all([throttle.consume(1000), throttle.consume(1000), throttle.consume(500)]);
  t.same(clock.sleeps, [1000, 2000, 2500]);
  t.equal(clock.now, 2500, 'the last is through at 2.5 s');
});

t.test('the rate can change while running; 0 lifts the limit', async (t) => {
  const clock = new FakeClock();
  const throttle = new Throttle(1000, clock);
  await throttle.consume(1000);
  throttle.setRate(4000);
  t.equal(throttle.rateBytesPerSecond, 4000);
  await throttle.consume(4000);
  t.same(clock.sleeps, [1000, 1000]);
  throttle.setRate(0);
  await throttle.consume(10 ** 9);
  t.equal(clock.sleeps.length, 2);
  t.throws(() => throttle.setRate(-1), RangeError);
  t.throws(() => new Throttle(NaN), RangeError);
});

t.test('without a sleep of its own, a clock that follows real time waits on real timers', async (t) => {
  const throttle = new Throttle(1_000_000, { nowMillis: () => performance.now() });
  const started = performance.now();
  await throttle.consume(100_000);
  // Not >= 100: timers count from the event loop's cached clock, a little behind real time.
  t.ok(performance.now() - started >= 80, 'about 100 ms at 1 MB/s');
});
