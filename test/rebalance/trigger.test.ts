/**
 * The automatic rebalance's trigger, pure, with the time passed in: property tests of the
 * threshold, the 10-agent floor, the grace period, the hysteresis and the gates (store
 * availability, three heartbeats after it came back, drains, rebalance=off).
 */
import fc from 'fast-check';
import t from 'tap';
import { isOff, isSettled, MIN_AGENTS_OFF, RebalanceTrigger, type ServerLoad, type TriggerGates, type TriggerSettings } from '../../src/server/rebalance/trigger';

const OPEN: TriggerGates = { storeAvailable: true, storeAvailableSince: -1e12, heartbeatMs: 10_000, draining: false };
const settingsArb = fc.record({
  mode: fc.constant('auto' as const),
  thresholdPercent: fc.integer({ min: 1, max: 100 }),
  graceMs: fc.integer({ min: 0, max: 120_000 }),
});
const loadArb = fc.record({ live: fc.integer({ min: 0, max: 5_000 }), planned: fc.integer({ min: 0, max: 5_000 }) });
/** Observations: a time step (ms) and the loads of servers A, B, C. */
const stepsArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.tuple(loadArb, loadArb, loadArb)), { minLength: 1, maxLength: 40 });

function loadsOf(loads: readonly ServerLoad[]): Map<string, ServerLoad> {
  return new Map(loads.map((load, i) => [`M${i + 1}`, load]));
}

t.test('isOff and isSettled at their edges', async (t) => {
  t.equal(isOff({ live: 109, planned: 100 }, 5), false, '9 agents off: under the floor, whatever the percentage');
  t.equal(isOff({ live: 110, planned: 100 }, 5), true, '10 agents and 10 % > 5 %');
  t.equal(isOff({ live: 120, planned: 100 }, 20), false, 'exactly the threshold is not more than it');
  t.equal(isOff({ live: 121, planned: 100 }, 20), true);
  t.equal(isOff({ live: 10, planned: 0 }, 100), true, 'a server planned for nobody, holding 10');
  t.equal(isSettled({ live: 110, planned: 100 }, 20), true, 'within half of 20 %');
  t.equal(isSettled({ live: 111, planned: 100 }, 20), false);
  t.equal(MIN_AGENTS_OFF, 10);
});

t.test('property: a server never off by 10 agents never starts a rebalance', async (t) => {
  fc.assert(
    fc.property(settingsArb, stepsArb, (settings, steps) => {
      const trigger = new RebalanceTrigger();
      let now = 0;
      for (const [dt, loads] of steps) {
        now += dt;
        const small = loads.map((load) => ({ live: load.live, planned: Math.max(0, load.live + ((load.planned % 19) - 9)) }));
        if (trigger.observe(now, loadsOf(small), settings, OPEN) === 'start') return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('no start under the floor');
});

t.test('property: a server never off by more than the threshold never starts a rebalance', async (t) => {
  fc.assert(
    fc.property(settingsArb, stepsArb, (settings, steps) => {
      const trigger = new RebalanceTrigger();
      let now = 0;
      for (const [dt, loads] of steps) {
        now += dt;
        // live within threshold % of planned (rounded towards the plan)
        const within = loads.map(({ planned }, i) => ({ planned, live: planned + (i % 2 === 0 ? 1 : -1) * Math.floor((planned * settings.thresholdPercent) / 100) }));
        for (const load of within) if (load.live < 0) load.live = 0;
        if (trigger.observe(now, loadsOf(within), settings, OPEN) === 'start') return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('no start within the threshold');
});

t.test('property: a start comes at the first observation after a whole grace period off, never before', async (t) => {
  fc.assert(
    fc.property(settingsArb, fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 10, max: 1_000 }), (settings, steps, extra) => {
      const trigger = new RebalanceTrigger();
      const off: ServerLoad = { planned: 1_000, live: 1_000 + Math.max(extra, Math.floor((1_000 * settings.thresholdPercent) / 100) + 1) };
      const fine: ServerLoad = { planned: 1_000, live: 1_000 };
      let now = 0;
      const firstOff = 0;
      for (const dt of [0, ...steps]) {
        now += dt;
        const decision = trigger.observe(now, loadsOf([off, fine, fine]), settings, OPEN);
        const due = now - firstOff >= settings.graceMs;
        if (decision === 'start') return due; // the first start: exactly when due
        if (due) return false; // due, and no start
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('start exactly once the grace has passed');
});

t.test('property: one observation back within the threshold restarts the grace', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 2_000, max: 120_000 }), fc.integer({ min: 1, max: 100 }), (graceMs, thresholdPercent) => {
      const settings: TriggerSettings = { mode: 'auto', thresholdPercent, graceMs };
      const trigger = new RebalanceTrigger();
      const off = loadsOf([{ planned: 100, live: 100 + Math.max(10, thresholdPercent + 1) }]);
      const fine = loadsOf([{ planned: 100, live: 100 }]);
      if (trigger.observe(0, off, settings, OPEN) !== 'idle') return false;
      if (trigger.observe(graceMs - 1, fine, settings, OPEN) !== 'idle') return false;
      if (trigger.observe(graceMs, off, settings, OPEN) !== 'idle') return false; // a new grace from here
      if (trigger.observe(2 * graceMs - 1, off, settings, OPEN) !== 'idle') return false;
      return trigger.observe(2 * graceMs, off, settings, OPEN) === 'start';
    }),
    { numRuns: 200 },
  );
  t.pass('grace restarts after an interruption');
});

t.test('property: hysteresis: a started rebalance continues until every server is within half the threshold', async (t) => {
  fc.assert(
    fc.property(settingsArb, stepsArb, (settings, steps) => {
      const trigger = new RebalanceTrigger();
      const start = loadsOf([{ planned: 0, live: 1_000 }]);
      const started = trigger.observe(0, start, settings, OPEN) === 'start' || trigger.observe(settings.graceMs, start, settings, OPEN) === 'start';
      if (!started) return false;
      let now = settings.graceMs;
      for (const [dt, loads] of steps) {
        now += dt;
        const map = loadsOf(loads);
        const settled = [...map.values()].every((load) => isSettled(load, settings.thresholdPercent));
        const decision = trigger.observe(now, map, settings, OPEN);
        if (decision !== (settled ? 'stop' : 'continue')) return false;
        if (settled) return !trigger.active;
      }
      return trigger.active;
    }),
    { numRuns: 300 },
  );
  t.pass('continue between half and full threshold, stop within half');
});

t.test('the gates: store down, back for less than three heartbeats, a drain, or off: nothing starts, a running one stops', async (t) => {
  const settings: TriggerSettings = { mode: 'auto', thresholdPercent: 20, graceMs: 0 };
  const off = loadsOf([{ planned: 100, live: 200 }]);
  const heartbeatMs = 10_000;
  const cases: [string, TriggerGates, TriggerSettings][] = [
    ['store unavailable', { ...OPEN, storeAvailable: false }, settings],
    ['store back less than 30 s ago', { ...OPEN, storeAvailableSince: 1_000_001 - 29_999, heartbeatMs }, settings],
    ['a drain', { ...OPEN, draining: true }, settings],
    ['rebalance=off', OPEN, { ...settings, mode: 'off' }],
  ];
  for (const [name, gates, gated] of cases) {
    const trigger = new RebalanceTrigger();
    t.equal(trigger.observe(1_000_000, off, gated, gates), 'idle', `${name}: no start`);
    t.equal(trigger.observe(1_000_000, off, settings, OPEN), 'start', `${name}: the grace was reset, then starts once open (grace 0)`);
    t.equal(trigger.observe(1_000_001, off, gated, gates), 'stop', `${name}: a running rebalance stops`);
    t.equal(trigger.active, false);
  }
  const trigger = new RebalanceTrigger();
  t.equal(trigger.observe(1_000_000, off, settings, { ...OPEN, storeAvailableSince: 1_000_000 - 30_000, heartbeatMs }), 'start', 'back for exactly three heartbeats');
});

t.test('a grace of 60 s with observations every 10 s, as the server runs it', async (t) => {
  const settings: TriggerSettings = { mode: 'auto', thresholdPercent: 20, graceMs: 60_000 };
  const trigger = new RebalanceTrigger();
  const after = loadsOf([
    { planned: 5_000, live: 7_500 },
    { planned: 5_000, live: 7_500 },
    { planned: 5_000, live: 0 },
  ]);
  const decisions = [0, 10, 20, 30, 40, 50, 60, 70].map((s) => trigger.observe(s * 1_000, after, settings, OPEN));
  t.same(decisions, ['idle', 'idle', 'idle', 'idle', 'idle', 'idle', 'start', 'continue']);
  const nearly = loadsOf([
    { planned: 5_000, live: 5_600 },
    { planned: 5_000, live: 5_000 },
    { planned: 5_000, live: 4_400 },
  ]);
  t.equal(trigger.observe(80_000, nearly, settings, OPEN), 'continue', '12 % off is more than half of 20 %: keep going');
  const done = loadsOf([
    { planned: 5_000, live: 5_500 },
    { planned: 5_000, live: 5_000 },
    { planned: 5_000, live: 4_500 },
  ]);
  t.equal(trigger.observe(90_000, done, settings, OPEN), 'stop', 'exactly half the threshold: settled');
  t.equal(trigger.observe(100_000, after, settings, OPEN), 'idle', 'a new start needs a new grace');
});
