import t from 'tap';
import { firstChoiceCapacities, secondChoiceCapacities } from '../../src/lb/balanced-capacity';

/** A gain order that is not the identity, as a hash would give: reversed and shifted. */
function gainOrderOf(m: number): number[] {
  return Array.from({ length: m }, (_, i) => (m + 1 - i) % m);
}

t.test('first choices: ⌊n/m⌋ each, one more for the first n mod m of the gain order', async (t) => {
  t.same(firstChoiceCapacities(7, [2, 0, 1]), [2, 2, 3]);
  t.same(firstChoiceCapacities(0, [1, 0]), [0, 0]);
  t.same(firstChoiceCapacities(2, [3, 1, 0, 2]), [0, 1, 0, 1]);
});

t.test('first choices: one more host raises exactly the next server of the gain order', async (t) => {
  for (let m = 1; m <= 9; m++) {
    const order = gainOrderOf(m);
    t.equal(new Set(order).size, m, `m=${m}: order is a permutation`);
    for (let n = 0; n < 60; n++) {
      const before = firstChoiceCapacities(n, order);
      const after = firstChoiceCapacities(n + 1, order);
      const raised = after.flatMap((cap, s) => (cap === before[s]! + 1 ? [s] : []));
      const unchanged = after.filter((cap, s) => cap === before[s]).length;
      if (!(raised.length === 1 && raised[0] === order[n % m] && unchanged === m - 1)) {
        t.fail(`m=${m} n=${n}: ${before} -> ${after}`);
      }
    }
  }
  t.pass('checked m = 1..9, n = 0..60');
});

t.test('second choices: feasible and within one host of n/(m−1) after the failure', async (t) => {
  let checked = 0;
  for (let m = 2; m <= 9; m++) {
    const order = gainOrderOf(m);
    for (let n = 0; n <= 150; n++) {
      const first = firstChoiceCapacities(n, order);
      for (let failed = 0; failed < m; failed++) {
        const caps = secondChoiceCapacities(n, first, failed, order);
        const problems: string[] = [];
        if (caps[failed] !== 0) problems.push('the failed server has places');
        if (caps.some((cap) => cap < 0)) problems.push('negative place');
        if (caps.reduce((a, b) => a + b, 0) !== first[failed]) problems.push('sum is not the failed load');
        for (let s = 0; s < m; s++) {
          if (s !== failed && Math.abs(first[s]! + caps[s]! - n / (m - 1)) > 1) problems.push(`survivor ${s} off`);
        }
        if (problems.length > 0) t.fail(`m=${m} n=${n} failed=${failed}: ${problems.join('; ')} (${caps})`);
        checked++;
      }
    }
  }
  t.equal(checked, 151 * (2 + 3 + 4 + 5 + 6 + 7 + 8 + 9));
});

t.test('second choices: one host more changes one place of one server only (low churn)', async (t) => {
  for (let m = 2; m <= 9; m++) {
    const order = gainOrderOf(m);
    for (let n = 0; n < 150; n++) {
      const before = firstChoiceCapacities(n, order);
      const after = firstChoiceCapacities(n + 1, order);
      let changed = 0;
      for (let failed = 0; failed < m; failed++) {
        const was = secondChoiceCapacities(n, before, failed, order);
        const now = secondChoiceCapacities(n + 1, after, failed, order);
        for (let s = 0; s < m; s++) changed += Math.abs(now[s]! - was[s]!);
        // Only the server that gained the host gains a second-choice place to fill.
        if (failed !== order[n % m] && now.join() !== was.join()) t.fail(`m=${m} n=${n}: ${failed} changed`);
      }
      if (changed !== 1) t.fail(`m=${m} n=${n}: ${changed} places changed`);
    }
  }
  t.pass('checked m = 2..9, n = 0..150');
});

t.test('second choices: a worked example, 7 hosts over 3 servers', async (t) => {
  // Gain order [2, 0, 1]: loads [2, 2, 3]. n/(m−1) = 3.5, so survivors end at 3 or 4.
  const first = firstChoiceCapacities(7, [2, 0, 1]);
  t.same(first, [2, 2, 3]);
  // Hosts 1..7 gained servers 2,0,1,2,0,1,2. Survivors end at L = 3, and e = 1 of them at 4:
  // the most recent gainer that survives. Server 2 down: host 7 gained 2 (skipped), host 6
  // gained 1, so 1 ends at 4 = 2 + 2 and 0 at 3 = 2 + 1.
  t.same(secondChoiceCapacities(7, first, 2, [2, 0, 1]), [1, 2, 0]);
  t.same(secondChoiceCapacities(7, first, 0, [2, 0, 1]), [0, 1, 1]);
  t.same(secondChoiceCapacities(7, first, 1, [2, 0, 1]), [1, 0, 1]);
  t.same(secondChoiceCapacities(5, [5], 0, [0]), [0], 'one server: nowhere to go');
});
