/** The hand-over pacer: never more than `rate` in any sliding second, in small steady steps. */
import t from 'tap';
import { HandoverPacer, MIN_TICK_MS } from '../../src/server/drain/pacer';

/** Drives a pacer on its own tick for `durationMs`, taking all it allows; returns release times. */
function drive(pacer: HandoverPacer, durationMs: number, start = 0, jitter: (tick: number) => number = () => 0): number[] {
  const times: number[] = [];
  for (let tick = 0, now = start; now < start + durationMs; tick++, now += pacer.tickMs + jitter(tick)) {
    const count = pacer.allowance(now);
    pacer.record(now, count);
    for (let i = 0; i < count; i++) times.push(now);
  }
  return times;
}

/** The most releases in any window [t, t + 1000). */
function maxPerSecond(times: readonly number[]): number {
  let max = 0;
  for (const start of times) max = Math.max(max, times.filter((at) => at >= start && at < start + 1000).length);
  return max;
}

t.test('never more than rate in any second, and the rate is reached', async (t) => {
  for (const rate of [1, 3, 7, 50, 75, 1000]) {
    const times = drive(new HandoverPacer(rate), 5_000);
    t.ok(maxPerSecond(times) <= rate, `rate ${rate}: at most ${rate} in any second (got ${maxPerSecond(times)})`);
    t.ok(times.length >= rate * 4, `rate ${rate}: ${times.length} released in 5 s`);
  }
});

t.test('late timers cannot squeeze more into a second', async (t) => {
  const pacer = new HandoverPacer(10);
  // Ticks arrive late by varying amounts, then bunch up.
  const times = drive(pacer, 6_000, 0, (tick) => (tick % 7 === 0 ? 400 : tick % 3 === 0 ? -pacer.tickMs + 1 : 0));
  t.ok(maxPerSecond(times) <= 10, `got ${maxPerSecond(times)}`);
});

t.test('steady steps: a tick of at least MIN_TICK_MS, a small batch per tick', async (t) => {
  const slow = new HandoverPacer(5);
  t.equal(slow.tickMs, 200);
  t.equal(slow.allowance(0), 1);
  const fast = new HandoverPacer(1000);
  t.equal(fast.tickMs, MIN_TICK_MS);
  t.equal(fast.allowance(0), 20, '1000/s in 20 ms ticks: 20 per tick, not 1000 at once');
  const times = drive(new HandoverPacer(75), 1_000);
  const perTick = new Map<number, number>();
  for (const at of times) perTick.set(at, (perTick.get(at) ?? 0) + 1);
  t.ok(Math.max(...perTick.values()) <= 2, '75/s: at most 2 per 20 ms tick');
});

t.test('a new rate keeps counting the last second', async (t) => {
  const pacer = new HandoverPacer(1000);
  let now = 0;
  let released = 0;
  for (; now < 500; now += pacer.tickMs) {
    const count = pacer.allowance(now);
    pacer.record(now, count);
    released += count;
  }
  const slower = pacer.withRate(10);
  t.equal(slower.allowance(now), 0, `${released} released in the last second already exceed 10`);
  t.equal(slower.allowance(1_500), 1, 'once they have left the window, 10/s resumes');
});

t.test('a rate that is not a positive integer is refused', async (t) => {
  t.throws(() => new HandoverPacer(0), { message: 'drain rate must be a positive integer, got 0' });
  t.throws(() => new HandoverPacer(1.5), RangeError);
});
