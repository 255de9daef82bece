import t from 'tap';
import {
  DEFAULT_PLAN_TABLE,
  formatPlanTable,
  planningMs,
  planTable,
  removalIds,
  type PlanTableOptions,
} from '../../native-bench/plan-table';
import { balanced } from '../../src/lb/balanced';

const SMALL: PlanTableOptions = {
  hosts: 60,
  servers: ['m1', 'm2', 'm3'],
  addedServer: 'm4',
  removals: 3,
  planningHosts: 200,
  planningRuns: 3,
};

t.test('the default table is the one BENCHMARKS.md asks for', async (t) => {
  t.equal(DEFAULT_PLAN_TABLE.hosts, 1_000);
  t.equal(DEFAULT_PLAN_TABLE.servers.length, 5);
  t.equal(DEFAULT_PLAN_TABLE.planningHosts, 100_000);
  t.notOk(DEFAULT_PLAN_TABLE.servers.includes(DEFAULT_PLAN_TABLE.addedServer));
});

t.test('rows for roundrobin, shuffle and balanced with the figures each one earns', async (t) => {
  const rows = planTable(SMALL);
  t.same(rows.map((row) => row.algorithm), ['roundrobin', 'shuffle', 'balanced']);
  const [roundrobin, , balancedRow] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
  t.equal(roundrobin.maxFirstLoad, 20);
  t.equal(roundrobin.worstFailure.maxLoad, 40, 'roundrobin: one survivor takes both shares');
  t.equal(roundrobin.removedFirstTwoMax, 59, 'roundrobin: removing host 1 changes everyone else');
  t.equal(balancedRow.maxFirstLoad, 20);
  t.equal(balancedRow.worstFailure.maxLoad, 30, 'balanced: exactly 60/2 on each survivor');
  t.equal(balancedRow.worstFailure.ratioToFair, 1);
  t.ok(balancedRow.removedFirstTwoMax <= 2 + 3 * 1, `balanced: ≤ (m−1)+m(m−2) = 5, got ${balancedRow.removedFirstTwoMax}`);
  for (const row of rows) {
    t.equal(row.fairFirstLoad, 20);
    t.equal(row.addedServerShare, 15);
    t.ok(row.addedServerMoved >= 15, `${row.algorithm}: the new server got at least its share`);
    t.ok(row.removedFirstTwoMean <= row.removedFirstTwoMax, `${row.algorithm}: mean ≤ max`);
    t.ok(Number.isFinite(row.planMs) && row.planMs >= 0, `${row.algorithm}: a planning time`);
  }
});

t.test('removalIds spreads the removed hosts evenly, the lowest id first', async (t) => {
  t.same(removalIds([10, 20, 30, 40, 50, 60], 3), [10, 30, 50]);
  t.same(removalIds([10, 20], 5), [10, 20], 'never more than there are hosts');
  t.same(removalIds([], 3), []);
});

t.test('planningMs times a whole plan, median of the runs', async (t) => {
  const ms = planningMs(balanced, ['a', 'b'], 50, 3);
  t.ok(Number.isFinite(ms) && ms >= 0);
});

t.test('formatPlanTable prints a markdown table with the fleet in the header', async (t) => {
  const rows = planTable(SMALL);
  const lines = formatPlanTable(rows, SMALL).split('\n');
  t.equal(lines.length, 5, 'header, rule, three rows');
  t.equal(
    lines[0],
    '| algorithm | max first-choice load (fair 20) | worst single failure: max load (× fair 30) | ' +
      'first two entries changed by removing one host (mean / max of 3) | primaries moved by adding a server (share 15) | ' +
      'plan 200 hosts (ms) |',
  );
  t.equal(lines[1], '| --- | --- | --- | --- | --- | --- |');
  t.match(lines[2], /^\| `roundrobin` \| 20 \| 40 \(1\.33×\) \| [\d.]+ \/ 59 \| [\d,]+ \| [\d.,]+ \|$/);
  t.match(lines[4], /^\| `balanced` \| 20 \| 30 \(1\.00×\) \| [\d.]+ \/ \d \| [\d,]+ \| [\d.,]+ \|$/);
});
