import t from 'tap';
import { Availability } from '../../src/store/pg/availability';
import { RecoveryLoop } from '../../src/store/pg/recovery';

/** A draw just under 1 makes every delay its window's ceiling: exact, growing values. */
const backoff = { baseMs: 4, capMs: 16, minMs: 1, random: () => 1 - Number.EPSILON };

t.test('retries with growing, capped delays until an attempt succeeds', async (t) => {
  const delays: number[] = [];
  let attempts = 0;
  let succeeded!: () => void;
  const done = new Promise<void>((resolve) => (succeeded = resolve));
  const loop = new RecoveryLoop(
    async () => {
      attempts += 1;
      if (attempts < 5) throw new Error(`attempt ${attempts} failed`);
      succeeded();
    },
    (_err, next) => delays.push(next),
    backoff,
  );
  t.teardown(() => loop.stop());
  loop.start();
  loop.start(); // idempotent while waiting
  await done;
  t.equal(attempts, 5, 'one attempt per failure, plus the success');
  t.same(delays, [8, 16, 16, 16], 'doubling from the base, capped');
});

t.test('a start() during an attempt asks for one more attempt after it', async (t) => {
  let attempts = 0;
  let second!: () => void;
  const secondDone = new Promise<void>((resolve) => (second = resolve));
  const loop = new RecoveryLoop(
    async () => {
      attempts += 1;
      if (attempts === 1) loop.start(); // a new failure while recovering
      else second();
    },
    () => t.fail('no attempt fails'),
    backoff,
  );
  t.teardown(() => loop.stop());
  loop.start();
  await secondDone;
  t.equal(attempts, 2);
});

t.test('stop() ends retrying', async (t) => {
  let attempts = 0;
  let failedOnce!: () => void;
  const failed = new Promise<void>((resolve) => (failedOnce = resolve));
  const loop = new RecoveryLoop(
    async () => {
      attempts += 1;
      throw new Error('down');
    },
    () => {
      loop.stop();
      failedOnce();
    },
    backoff,
  );
  loop.start();
  await failed;
  t.equal(loop.active, false, 'nothing scheduled after stop(), even from the failure callback');
  loop.start();
  t.equal(loop.active, false, 'start() is ignored once stopped');
  t.equal(attempts, 1);
});

t.test('Availability: transitions, status and waiting for recovery', async (t) => {
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const availability = new Availability(() => new Date(clock), 'store not open');
  t.same(availability.status(), { available: false, since: '2030-01-01T00:00:00.000Z', lastError: 'store not open' });
  const waited = availability.whenAvailable();
  clock += 1000;
  t.equal(availability.up(), true, 'a transition');
  t.equal(availability.up(), false, 'already up');
  await waited;
  t.same(availability.status(), { available: true, since: '2030-01-01T00:00:01.000Z', lastError: 'store not open' }, 'the last error is kept');
  clock += 1000;
  t.equal(availability.down('ECONNREFUSED'), true);
  t.equal(availability.down('still ECONNREFUSED'), false, 'already down: only the reason changes');
  t.same(availability.status(), { available: false, since: '2030-01-01T00:00:02.000Z', lastError: 'still ECONNREFUSED' });
  const pending = availability.whenAvailable();
  availability.close(new Error('store is closed'));
  await t.rejects(pending, new Error('store is closed'));
  await t.rejects(availability.whenAvailable(), new Error('store is closed'));
  t.equal(availability.up(), false, 'never available again once closed');
});
