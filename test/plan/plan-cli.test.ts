/**
 * `agentlb plan` against the fixed fleet (plan-fleet.ts): the exact table and bar chart, the
 * JSON, and refusals (the server's 400 as exit 1; bad flags as exit 2).
 */
import t from 'tap';
import { PLAN_USAGE } from '../../src/cli/plan-command';
import { api } from '../helpers/server';
import { cli } from '../drain/in-process-cli';
import { startPlanFleet } from './plan-fleet';

const FAIL_M1 = `plan: roundrobin over M1,M2,M3 (the current settings)
failed: M1
8 hosts in 2 zones; 0 agents would change first server if applied

zone default: 6 hosts, 0 would change first server
worst single failure: M1, after which one server carries 4 (1.33x its fair share)
SERVER  FIRST CHOICE  AFTER FAILURE
M1                 2         failed
M2                 2              4
M3                 2              2

M1  ████████████████████                      2 -> failed
M2  ████████████████████░░░░░░░░░░░░░░░░░░░░  2 -> 4
M3  ████████████████████                      2 -> 2
█ first choice  ░ added by the failure of M1

zone z2: 2 hosts, 0 would change first server
worst single failure: M1, after which one server carries 2 (2.00x its fair share)
SERVER  FIRST CHOICE  AFTER FAILURE
M1                 1         failed
M2                 1              2
M3                 0              0

M1  ████████████████████                      1 -> failed
M2  ████████████████████░░░░░░░░░░░░░░░░░░░░  1 -> 2
M3                                            0 -> 0
█ first choice  ░ added by the failure of M1

all zones: 8 hosts
SERVER  FIRST CHOICE  AFTER FAILURE
M1                 3         failed
M2                 3              6
M3                 2              2

M1  ████████████████████                      3 -> failed
M2  ████████████████████░░░░░░░░░░░░░░░░░░░░  3 -> 6
M3  █████████████                             2 -> 2
█ first choice  ░ added by the failure of M1
`;

const BALANCED_HEAD = `plan: balanced over M1,M2,M3 (now: roundrobin over M1,M2,M3)
8 hosts in 2 zones; 7 agents would change first server if applied

zone default: 6 hosts, 5 would change first server
worst single failure: M1, after which one server carries 3 (1.00x its fair share)
SERVER  FIRST CHOICE
M1                 2
M2                 2
M3                 2

M1  ████████████████████████████████████████  2
M2  ████████████████████████████████████████  2
M3  ████████████████████████████████████████  2
█ first choice
`;

t.test('a table and a bar chart per zone, then summed', async (t) => {
  const { server } = await startPlanFleet(t);
  const admin = ['--admin', `127.0.0.1:${server.adminAddress.port}`];
  t.same(await cli(['plan', '--fail', 'M1', ...admin]), { code: 0, out: FAIL_M1, err: '' });
  const balanced = await cli(['plan', '--algorithm', 'balanced', ...admin]);
  t.equal(balanced.code, 0);
  t.equal(balanced.out.slice(0, BALANCED_HEAD.length), BALANCED_HEAD, 'a proposal is compared with the settings in force');
  const json = await cli(['plan', '--algorithm', 'balanced', '--host', 'M1,M2,M3', '--fail', 'M2', '--json', ...admin]);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.out), (await api(server, 'GET', '/api/plan?algorithm=balanced&host=M1%2CM2%2CM3&fail=M2')).body, '--json prints the API answer');
});

t.test('refusals: the server names a bad value (exit 1), the command line a bad flag (exit 2)', async (t) => {
  const { server } = await startPlanFleet(t);
  const admin = ['--admin', `127.0.0.1:${server.adminAddress.port}`];
  t.same(await cli(['plan', '--algorithm', 'fastest', ...admin]), {
    code: 1,
    out: '',
    err: 'agentlb plan: GET /api/plan?algorithm=fastest failed (HTTP 400): algorithm "fastest" is not one of static, roundrobin, shuffle, balanced\n',
  });
  t.same(await cli(['plan', '--fail', 'M1,M9', ...admin]), {
    code: 1,
    out: '',
    err: 'agentlb plan: GET /api/plan?fail=M1%2CM9 failed (HTTP 400): fail "M9" is not an entry of host (M1,M2,M3); servers are named exactly as written there\n',
  });
  const usage = (message: string) => ({ code: 2, out: '', err: `agentlb plan: ${message}\nRun \`agentlb plan --help\` for usage.\n` });
  t.same(await cli(['plan', '--fail=', ...admin]), usage('--fail must not be empty'));
  t.same(await cli(['plan', 'balanced']), usage('unexpected argument "balanced"'));
  t.same(await cli(['plan', '--bogus']), usage("Unknown option '--bogus'"));
  t.same(await cli(['plan', '--help']), { code: 0, out: PLAN_USAGE, err: '' });
  t.match(PLAN_USAGE, 'static, roundrobin, shuffle, balanced', 'the help lists the registered algorithms');
});
