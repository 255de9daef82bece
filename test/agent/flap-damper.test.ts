import t from 'tap';
import { FlapDamper } from '../../agent/flap-damper';

const INTERVAL = 1_000;

function damperAt(): { damper: FlapDamper; clock: { now: number } } {
  const clock = { now: 0 };
  return { damper: new FlapDamper({ now: () => clock.now }), clock };
}

t.test('two switches are failback, the third within the window is flapping', async (t) => {
  const { damper, clock } = damperAt();
  clock.now = 1_000;
  t.equal(damper.recordSwitch('a', 'b', INTERVAL), undefined);
  clock.now = 2_000;
  t.equal(damper.recordSwitch('b', 'a', INTERVAL), undefined);
  t.same(damper.paceFor(INTERVAL), { intervalMs: 1_000, calmed: false });
  clock.now = 3_000;
  t.same(damper.recordSwitch('a', 'c', INTERVAL), { servers: ['a', 'b', 'c'], switches: 3, windowMs: 10_000 });
  t.same(damper.paceFor(INTERVAL), { intervalMs: 2_000, calmed: false });
});

t.test('switches older than the window are forgotten', async (t) => {
  const { damper, clock } = damperAt();
  for (const at of [0, 5_000, 10_000, 15_000]) {
    clock.now = at;
    t.equal(damper.recordSwitch('a', 'b', INTERVAL), undefined, `switch at ${at}`);
  }
  t.equal(damper.flapping, false);
});

t.test('each further switch doubles the pace up to 16x, then the 1-hour cap', async (t) => {
  const { damper, clock } = damperAt();
  const paces: number[] = [];
  for (let i = 0; i < 8; i += 1) {
    clock.now += paces[paces.length - 1] ?? INTERVAL;
    damper.recordSwitch('a', 'b', INTERVAL);
    paces.push(damper.paceFor(INTERVAL).intervalMs);
  }
  t.same(paces, [1_000, 1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000]);
  t.equal(damper.paceFor(600_000).intervalMs, 3_600_000, '16 x 10 min capped at an hour');
  t.equal(damper.paceFor(7_200_000).intervalMs, 7_200_000, 'an interval above the cap is never shortened');
});

t.test('a full window at the backed-off pace without a switch is calm again', async (t) => {
  const { damper, clock } = damperAt();
  for (const at of [0, 1_000, 2_000, 4_000]) {
    clock.now = at;
    damper.recordSwitch('a', 'b', INTERVAL);
  }
  t.equal(damper.factor, 4);
  clock.now = 4_000 + 40_000 - 1;
  t.same(damper.paceFor(INTERVAL), { intervalMs: 4_000, calmed: false }, 'one ms short of 10 x 4 intervals');
  clock.now = 4_000 + 40_000;
  t.same(damper.paceFor(INTERVAL), { intervalMs: 1_000, calmed: true });
  t.same(damper.paceFor(INTERVAL), { intervalMs: 1_000, calmed: false }, 'calmed is said once');
  t.equal(damper.recordSwitch('a', 'b', INTERVAL), undefined, 'the history went with it: one switch is not flapping');
});

t.test('reset says whether it was flapping', async (t) => {
  const { damper } = damperAt();
  t.equal(damper.reset(), false);
  for (let i = 0; i < 3; i += 1) damper.recordSwitch('a', 'b', INTERVAL);
  t.equal(damper.reset(), true);
  t.equal(damper.factor, 1);
});

t.test('a landing counts only when the landing server names another server first', async (t) => {
  const { damper, clock } = damperAt();
  // Three failbacks to a (it restarted three times): a names itself first, or sends nothing.
  for (const at of [1_000, 2_000, 3_000]) {
    clock.now = at;
    damper.switched('b', 'a');
    clock.now = at + 10;
    t.same(damper.listFrom('a', true, INTERVAL), { kind: 'agrees', calmed: false }, `failback at ${at}`);
  }
  clock.now = 4_000;
  damper.switched('b', 'a'); // no list at all: nothing to judge, nothing counted
  t.equal(damper.flapping, false, 'four failbacks within the window are not flapping');

  // Disagreement: each landing server names the other first.
  const verdicts = [];
  for (const [at, from, to] of [[5_000, 'a', 'b'], [6_000, 'b', 'a'], [7_000, 'a', 'b']] as const) {
    clock.now = at;
    damper.switched(from, to);
    clock.now = at + 10;
    verdicts.push(damper.listFrom(to, false, INTERVAL));
  }
  t.same(verdicts, [
    { kind: 'flap', onset: undefined, factorChanged: false },
    { kind: 'flap', onset: undefined, factorChanged: false },
    { kind: 'flap', onset: { servers: ['a', 'b'], switches: 3, windowMs: 10_000 }, factorChanged: true },
  ]);
  t.equal(damper.factor, 2);
});

t.test('a verdict is only for the landing it follows, and only within one interval', async (t) => {
  const { damper, clock } = damperAt();
  damper.switched('a', 'b');
  t.same(damper.listFrom('c', false, INTERVAL), { kind: 'none' }, 'a list from another server');
  damper.switched('a', 'b');
  clock.now = INTERVAL + 1;
  t.same(damper.listFrom('b', false, INTERVAL), { kind: 'none' }, 'a list long after the landing (an admin change)');
  t.same(damper.listFrom('b', false, INTERVAL), { kind: 'none' }, 'one verdict per landing');
});
