import t from 'tap';
import { PreferredCheck } from '../../agent/preferred-check';
import { LIMITS } from '../../src/protocol/limits';
import { MAX_TIMER_DELAY_MS } from '../../src/util/timer-delay';

t.test('delays are jittered ±20 % around the interval', async (t) => {
  const draws = [0, 0.5, 0.999];
  const check = new PreferredCheck({ check: async () => {}, random: () => draws.shift() ?? 0 });
  t.equal(check.delayFor(10_000), 8_000);
  t.equal(check.delayFor(10_000), 10_000);
  t.equal(check.delayFor(10_000), Math.round(10_000 * (0.8 + 0.4 * 0.999)));
  const wide = new PreferredCheck({ check: async () => {}, random: () => 1, jitter: 0.5 });
  t.equal(wide.delayFor(1_000), 1_500);
});

t.test('the longest interval plus jitter stays a real wait (setTimeout makes a longer delay 1 ms)', async (t) => {
  const late = new PreferredCheck({ check: async () => {}, random: () => 0.999 });
  t.equal(late.delayFor(LIMITS.checkIntervalSeconds * 1_000), MAX_TIMER_DELAY_MS);
});

t.test('a fleet of checks does not fire in lock-step', async (t) => {
  const delays = Array.from({ length: 100 }, (_, i) => new PreferredCheck({ check: async () => {}, random: () => i / 100 }).delayFor(60_000));
  t.equal(new Set(delays).size, 100, 'every agent its own moment');
  t.equal(Math.min(...delays), 48_000);
  t.ok(Math.max(...delays) < 72_000);
});

t.test('checks repeat every interval until stopped', async (t) => {
  let calls = 0;
  let stopAt: () => void = () => {};
  const threeDone = new Promise<void>((resolve) => (stopAt = resolve));
  const check: PreferredCheck = new PreferredCheck({
    check: async () => {
      calls += 1;
      if (calls === 3) {
        check.stop();
        stopAt();
      }
    },
  });
  t.equal(check.active, false);
  check.schedule(5);
  t.equal(check.active, true);
  await threeDone;
  await check.idle();
  t.equal(calls, 3);
  t.equal(check.active, false, 'stopped from inside a check: nothing timed after it');
});

t.test('schedule(0) stops, and a new interval re-times at once', async (t) => {
  let calls = 0;
  const idle = new PreferredCheck({ check: async () => void (calls += 1) });
  idle.schedule(60_000);
  t.equal(idle.active, true);
  idle.schedule(0);
  t.equal(idle.active, false);
  t.equal(calls, 0);

  // an hour-long interval replaced by a 1 ms one: the check runs without waiting the hour
  await new Promise<void>((resolve) => {
    const check: PreferredCheck = new PreferredCheck({
      check: async () => {
        check.stop();
        resolve();
      },
    });
    check.schedule(3_600_000);
    check.schedule(1);
  });
  t.pass('the re-timed check ran');
});

t.test('checks never overlap: a re-time during a check waits for it to settle', async (t) => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let release: () => void = () => {};
  let firstStarted: () => void = () => {};
  const first = new Promise<void>((resolve) => (firstStarted = resolve));
  let secondStarted: () => void = () => {};
  const second = new Promise<void>((resolve) => (secondStarted = resolve));
  const check: PreferredCheck = new PreferredCheck({
    check: async () => {
      calls += 1;
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) {
        // re-timed while the first check is still in progress
        check.schedule(1);
        check.schedule(1);
        const released = new Promise<void>((resolve) => (release = resolve));
        firstStarted();
        await released;
      } else {
        check.stop();
        secondStarted();
      }
      running -= 1;
    },
  });
  check.schedule(1);
  await first;
  t.equal(check.active, true, 'running counts as active');
  release();
  await second;
  await check.idle();
  t.equal(maxRunning, 1);
  t.equal(calls, 2);
});

t.test('the same interval again does not push the timer back', async (t) => {
  const check = new PreferredCheck({ check: async () => {} });
  t.teardown(() => check.stop());
  t.equal(check.nextDueAt, undefined);
  check.schedule(60_000);
  const due = check.nextDueAt;
  t.type(due, 'number');
  check.schedule(60_000);
  check.schedule(60_000);
  t.equal(check.nextDueAt, due, 'still the first timing');
  check.schedule(30_000);
  t.not(check.nextDueAt, due, 'a new interval re-times');
  check.stop();
  t.equal(check.nextDueAt, undefined);
});

t.test('runNow: a check at once with no interval, never two at a time, and no timer left behind', async (t) => {
  let calls = 0;
  let finish: () => void = () => {};
  const check = new PreferredCheck({
    check: () => {
      calls += 1;
      return new Promise<void>((resolve) => (finish = resolve));
    },
  });
  t.equal(check.runNow(), true, 'interval 0: runs anyway');
  t.equal(calls, 1);
  t.equal(check.runNow(), false, 'one in flight: that one counts');
  t.equal(calls, 1);
  finish();
  await check.idle();
  t.equal(check.active, false, 'interval 0: nothing timed after it');
});
