/**
 * GET /api/plan on a small fixed fleet (plan-fleet.ts): exact loads per server, after
 * failures, agents that would change first server, per zone and summed; and every bad
 * parameter refused with a 400 naming it.
 */
import t from 'tap';
import { api } from '../helpers/server';
import { startPlanFleet } from './plan-fleet';

const load = (server: string, firstChoice: number, afterFailure: number, failed = false) => ({ server, firstChoice, afterFailure, failed });

t.test('the current settings: balanced first choices, the herd after a roundrobin failure, nobody moves', async (t) => {
  const { server } = await startPlanFleet(t);
  const plan = await api(server, 'GET', '/api/plan?fail=M1');
  t.equal(plan.status, 200);
  t.same(plan.body, {
    algorithm: 'roundrobin',
    host: 'M1,M2,M3',
    fail: ['M1'],
    current: { algorithm: 'roundrobin', host: 'M1,M2,M3' },
    avoided: [],
    hosts: 8,
    firstServerChanges: 0,
    unserved: 0,
    servers: [load('M1', 3, 0, true), load('M2', 3, 6), load('M3', 2, 2)],
    zones: [
      {
        zone: 'default',
        hosts: 6,
        firstServerChanges: 0,
        unserved: 0,
        // Rotation: both of M1's hosts fall to M2.
        servers: [load('M1', 2, 0, true), load('M2', 2, 4), load('M3', 2, 2)],
        worstSingleFailure: { server: 'M1', maxLoad: 4, ratioToFair: 4 / 3 },
      },
      {
        zone: 'z2',
        hosts: 2,
        firstServerChanges: 0,
        unserved: 0,
        servers: [load('M1', 1, 0, true), load('M2', 1, 2), load('M3', 0, 0)],
        worstSingleFailure: { server: 'M1', maxLoad: 2, ratioToFair: 2 },
      },
    ],
  });
});

t.test('proposing balanced: every survivor within one host of fair, and who would move', async (t) => {
  const { server } = await startPlanFleet(t);
  const plan = await api(server, 'GET', '/api/plan?algorithm=balanced&fail=M1');
  t.match(plan.body, {
    algorithm: 'balanced',
    current: { algorithm: 'roundrobin' },
    hosts: 8,
    // default: H1..H4 and H6 get another first server (H5 keeps M2); z2: both swap.
    firstServerChanges: 7,
    zones: [
      { zone: 'default', firstServerChanges: 5, servers: [load('M1', 2, 0, true), load('M2', 2, 3), load('M3', 2, 3)], worstSingleFailure: { maxLoad: 3, ratioToFair: 1 } },
      { zone: 'z2', firstServerChanges: 2, servers: [load('M1', 1, 0, true), load('M2', 1, 1), load('M3', 0, 1)] },
    ],
  });
});

t.test('other proposals: static piles everyone on M1; a fourth server takes a share', async (t) => {
  const { server } = await startPlanFleet(t);
  const staticPlan = await api(server, 'GET', '/api/plan?algorithm=static');
  t.match(staticPlan.body, {
    firstServerChanges: 5, // H2, H3, H5, H6 and H8 leave M2/M3 for M1
    servers: [load('M1', 8, 8), load('M2', 0, 0), load('M3', 0, 0)],
  });
  const wider = await api(server, 'GET', `/api/plan?host=${encodeURIComponent('M1,M2,M3,M4')}`);
  t.match(wider.body, {
    algorithm: 'roundrobin',
    host: 'M1,M2,M3,M4',
    firstServerChanges: 3, // default zone: H4 -> M4, H5 -> M1, H6 -> M2; z2 keeps M1, M2
    servers: [load('M1', 3, 3), load('M2', 3, 3), load('M3', 1, 1), load('M4', 1, 1)],
  });
  const shuffled = await api(server, 'GET', '/api/plan?algorithm=shuffle');
  t.equal(shuffled.status, 200, 'shuffle plans too (its figures are random)');
  t.match(shuffled.body, { algorithm: 'shuffle', hosts: 8 });
});

t.test('every server failed: all hosts unserved', async (t) => {
  const { server } = await startPlanFleet(t);
  const plan = await api(server, 'GET', '/api/plan?fail=M3,M1,M2');
  t.match(plan.body, { fail: ['M3', 'M1', 'M2'], unserved: 8, servers: [load('M1', 3, 0, true), load('M2', 3, 0, true), load('M3', 2, 0, true)] });
});

t.test('a drain in force: the lists agents hold already put it last, so the current plan moves nobody', async (t) => {
  const { server, agents } = await startPlanFleet(t);
  await api(server, 'POST', '/api/servers/drain', { body: { address: 'M2' } });
  for (const agent of agents) await agent.roundTrip(); // the lists with M2 last have arrived
  const plan = await api(server, 'GET', '/api/plan');
  t.match(plan.body, { avoided: ['M2'], firstServerChanges: 0, servers: [load('M1', 3, 3), load('M2', 3, 3), load('M3', 2, 2)] });
  const balanced = await api(server, 'GET', '/api/plan?algorithm=balanced');
  t.match(balanced.body, { avoided: ['M2'] });
});

t.test('bad parameters are refused with a 400 naming them', async (t) => {
  const { server } = await startPlanFleet(t);
  const cases: [string, string][] = [
    ['algorithm=fastest', 'algorithm "fastest" is not one of static, roundrobin, shuffle, balanced'],
    ['algorithm=', 'algorithm "" is not one of static, roundrobin, shuffle, balanced'],
    ['host=M1,,M2', 'host "M1,,M2" is refused: empty entry #2 in "M1,,M2"'],
    ['host=', 'host "" is refused: empty host list'],
    ['fail=M9', 'fail "M9" is not an entry of host (M1,M2,M3); servers are named exactly as written there'],
    ['host=A,B&fail=M1', 'fail "M1" is not an entry of host (A,B); servers are named exactly as written there'],
    ['fail=M1,,M2', 'fail "M1,,M2" has an empty entry #2'],
    ['fail=M1,M1', 'fail "M1" is given twice'],
    ['fails=M1', 'unknown parameter "fails" (known: algorithm, host, fail)'],
    ['fail=M1&fail=M2', 'parameter fail is given 2 times; give it once'],
  ];
  for (const [query, error] of cases) {
    const answer = await api(server, 'GET', `/api/plan?${query}`);
    t.same({ status: answer.status, body: answer.body }, { status: 400, body: { error } }, query);
  }
});
