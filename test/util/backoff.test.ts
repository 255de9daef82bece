import t from 'tap';
import { Backoff } from '../../src/util/backoff';

/** A random source that replays `values` in order. */
function replay(values: number[]): () => number {
  let i = 0;
  return () => {
    const value = values[i % values.length];
    i += 1;
    return value as number;
  };
}

t.test('ceilings double from base up to the cap', async (t) => {
  const backoff = new Backoff({ baseMs: 1_000, capMs: 60_000 });
  t.same(
    [0, 1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => backoff.ceilingMs(attempt)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000],
  );
});

t.test('full jitter: each delay is min + random × (ceiling − min)', async (t) => {
  const backoff = new Backoff({ baseMs: 1_000, capMs: 60_000, minMs: 50, random: replay([0, 0.5, 0.999, 0.25]) });
  // attempt 0 (the first reconnect after a drop) is itself jittered over 50..1000 ms
  t.equal(backoff.next(), 50);
  t.equal(backoff.next(), 50 + 0.5 * 1_950);
  t.equal(backoff.next(), Math.round(50 + 0.999 * 3_950));
  t.equal(backoff.next(), Math.round(50 + 0.25 * 7_950));
  t.equal(backoff.attempts, 4);
});

t.test('the window stays at the cap however many rounds fail, and never overflows', async (t) => {
  const backoff = new Backoff({ baseMs: 1_000, capMs: 60_000, minMs: 50, random: () => 0.999999 });
  for (let i = 0; i < 2_000; i++) backoff.next();
  t.equal(backoff.next(), 60_000);
  t.ok(Number.isFinite(backoff.ceilingMs(10_000)));
});

t.test('reset returns to attempt 0', async (t) => {
  const backoff = new Backoff({ baseMs: 100, capMs: 1_000, minMs: 0, random: () => 1 });
  backoff.next();
  backoff.next();
  t.equal(backoff.next(), 400);
  backoff.reset();
  t.equal(backoff.attempts, 0);
  t.equal(backoff.next(), 100);
});

t.test('never below the floor, so refused connects cannot spin', async (t) => {
  const backoff = new Backoff({ baseMs: 1_000, random: () => 0 });
  t.equal(backoff.delayMs(0), 50);
  t.equal(backoff.delayMs(9), 50);
  // a floor above base is clamped to base: the first window is never empty
  t.equal(new Backoff({ baseMs: 10, minMs: 500, random: () => 0.5 }).delayMs(0), 10);
});

t.test('defaults: base 1 s, cap 60 s', async (t) => {
  const backoff = new Backoff();
  t.equal(backoff.ceilingMs(0), 1_000);
  t.equal(backoff.ceilingMs(20), 60_000);
  const delay = backoff.delayMs(0);
  t.ok(delay >= 50 && delay <= 1_000, `${delay} in 50..1000`);
});

t.test('a fleet after one drop is spread over the whole first window', async (t) => {
  // 1 000 agents with evenly spread draws: their first reconnects cover 50..1000 ms with no pile-up
  const delays = Array.from({ length: 1_000 }, (_, i) => new Backoff({ random: () => i / 1_000 }).next());
  const perBucket = new Array<number>(10).fill(0);
  for (const delay of delays) perBucket[Math.min(9, Math.floor(delay / 100))]! += 1;
  t.ok(Math.max(...perBucket) <= 106, `no 100 ms bucket holds much more than a tenth: ${perBucket.join(',')}`);
});
