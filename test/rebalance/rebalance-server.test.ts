/**
 * The rebalance on real servers (embedded stores) with real agents (agent/agent.ts) over real
 * sockets: S holds agents whose roundrobin list names B first (check interval 0, so no check
 * would ever move them); POST /api/rebalance on S tells exactly those to recheck, they move to
 * B make-before-break, and S counts them moved. Also the dry run, GET and DELETE, the refusals,
 * the metrics and `agentlb servers rebalance`.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { makeAgent, next, type TestAgent } from '../agent/harness';
import { api, nextEvent, startTestServer, type TestServer } from '../helpers/server';
import { cli } from '../drain/in-process-cli';

async function pair(t: Parameters<typeof startTestServer>[0]): Promise<{ s: TestServer; b: TestServer; S: string; B: string }> {
  const s = await startTestServer(t, { metricsRegistry: new Registry() });
  const b = await startTestServer(t);
  const S = `127.0.0.1:${s.agentPort}`;
  const B = `127.0.0.1:${b.agentPort}`;
  for (const server of [s, b]) {
    const answer = await api(server, 'PUT', '/api/settings', {
      body: { host: `${S},${B}`, 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0, 'indirect.agent.lb.rebalance': 'off' },
    });
    if (answer.status !== 200) throw new Error(JSON.stringify(answer.body));
  }
  return { s, b, S, B };
}

/** Agents that connect to S (listed first) and hold the list S sends them. */
async function agentsOn(t: Parameters<typeof startTestServer>[0], S: string, B: string, count: number): Promise<TestAgent[]> {
  const agents: TestAgent[] = [];
  for (let i = 1; i <= count; i++) {
    const made = await makeAgent(t, `host=${S},${B}\nguid=h${i}\nhost.lb.check.interval=0\n`);
    const connected = next(made.agent, 'connected');
    // H2 and H4 are sent [B, S]; the others hold [S, B] already and are sent nothing.
    const updated = i % 2 === 0 ? next(made.agent, 'hostsUpdated') : undefined;
    made.agent.start();
    await connected;
    await updated;
    agents.push(made);
  }
  return agents;
}

t.test('POST /api/rebalance moves exactly the misplaced agents, make-before-break, and counts them', async (t) => {
  const { s, S, B } = await pair(t);
  const agents = await agentsOn(t, S, B, 4);
  t.same(agents.map(({ agent }) => agent.hosts[0]), [S, B, S, B], 'roundrobin: H2 and H4 prefer B');
  t.same(agents.map(({ agent }) => agent.currentServer), [S, S, S, S], 'all on S: interval 0, nobody checks');

  const dry = await api(s, 'POST', '/api/rebalance', { body: { dryRun: true } });
  t.same([dry.status, dry.body], [200, { toMove: 2, rate: 50, dryRun: true }]);
  t.same((await api(s, 'GET', '/api/rebalance')).body, {
    active: false, source: null, toMove: 0, moved: 0, notMoved: 0, startedAt: null, endedAt: null, endReason: null, rate: null, zone: null, scope: 'server', pending: 0,
  }, 'a dry run starts nothing');

  const switched = [next(agents[1]!.agent, 'switched'), next(agents[3]!.agent, 'switched')];
  const started = nextEvent(s.events, 'rebalanceStarted');
  const ended = nextEvent(s.events, 'rebalanceEnded');
  const posted = await api(s, 'POST', '/api/rebalance', { body: { rate: 10 } });
  t.same([posted.status, posted.body], [202, { toMove: 2, rate: 10 }]);
  t.match(await started, { source: 'manual', rate: 10, toMove: 2, mine: 2, self: S });
  t.same(await Promise.all(switched), [{ from: S, to: B }, { from: S, to: B }], 'H2 and H4 moved to B');
  t.match(await ended, { source: 'manual', reason: 'done', toMove: 2, moved: 2, notMoved: 0 });
  t.same(agents.map(({ agent }) => agent.currentServer), [S, B, S, B]);
  t.match((await api(s, 'GET', '/api/rebalance')).body, { active: false, source: 'manual', toMove: 2, moved: 2, notMoved: 0, endReason: 'done', rate: 10, pending: 0 });

  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text();
  t.match(metrics, /agentlb_rebalance_moves_total\{outcome="moved"\} 2/);
  t.match(metrics, /agentlb_rebalance_moves_total\{outcome="not_moved"\} 0/);
  t.match(metrics, /agentlb_rebalance_pending 0/);

  const again = await api(s, 'POST', '/api/rebalance', { body: {} });
  t.same([again.status, again.body], [202, { toMove: 0, rate: 50 }], 'nothing misplaced any more');
  t.match((await api(s, 'GET', '/api/rebalance')).body, { active: false, toMove: 0, endReason: 'done' });
});

t.test('an agent that does not move (its first entry refuses it) is counted not moved at the deadline; DELETE stops', async (t) => {
  const { s, b, S, B } = await pair(t);
  const agents = await agentsOn(t, S, B, 2);
  // B is gone, but still first in H2's list (no registry tells S it is down, as in embedded
  // mode): the check fails, the agent stays, and the move counts as not moved at its deadline.
  await b.close();
  const posted = await api(s, 'POST', '/api/rebalance', { body: { rate: 5 } });
  t.same(posted.body, { toMove: 1, rate: 5 });
  const failed = await next(agents[1]!.agent, 'checkFailed');
  t.equal(failed.server, B, 'the check to B failed: B is gone');
  t.equal(agents[1]!.agent.currentServer, S, 'the agent stayed on S, never without a server');
  t.match((await api(s, 'GET', '/api/rebalance')).body, { active: true, toMove: 1, moved: 0, pending: 1 }, 'waiting for its deadline');
  const stopped = await api(s, 'DELETE', '/api/rebalance');
  t.match(stopped.body, { stopped: true, active: false, endReason: 'stopped' });
  t.match((await api(s, 'DELETE', '/api/rebalance')).body, { stopped: false }, 'stopping twice is no error');
});

t.test('bad requests are refused naming the value; a second start while one runs is 409', async (t) => {
  const { s } = await pair(t);
  const cases: [unknown, string][] = [
    [[], 'body must be a JSON object (with optional "rate", "zone" and "dryRun")'],
    [{ speed: 5 }, 'unknown field "speed" (known: rate, zone, dryRun)'],
    [{ rate: 0 }, 'rate must be an integer number of agents per second from 1 to 100000, got 0'],
    [{ rate: 2.5 }, 'rate must be an integer number of agents per second from 1 to 100000, got 2.5'],
    [{ rate: '5' }, 'rate must be an integer number of agents per second from 1 to 100000, got "5"'],
    [{ zone: '' }, 'zone must be a string of 1..128 bytes, got ""'],
    [{ dryRun: 'yes' }, 'dryRun must be true or false, got "yes"'],
  ];
  for (const [body, error] of cases) {
    const answer = await api(s, 'POST', '/api/rebalance', { body });
    t.same([answer.status, answer.body], [400, { error }], JSON.stringify(body));
  }
  t.equal((await api(s, 'POST', '/api/rebalance', { body: {}, token: null })).status, 401);
});

t.test('agentlb servers rebalance, status, stop, and the PLANNED column', async (t) => {
  const { s, S, B } = await pair(t);
  await agentsOn(t, S, B, 2);
  const admin = ['--admin', `127.0.0.1:${s.adminAddress.port}`];
  t.same(await cli(['servers', 'rebalance', '--dry-run', ...admin]), { code: 0, out: '1 agents would be moved, at most 50/s (dry run: nothing moved)\n', err: '' });
  const ended = nextEvent(s.events, 'rebalanceEnded');
  t.same(await cli(['servers', 'rebalance', '--rate', '7', ...admin]), { code: 0, out: 'rebalance started: 1 agents to move, at most 7/s across the fleet\n', err: '' });
  await ended;
  const status = await cli(['servers', 'rebalance', 'status', ...admin]);
  t.match(status.out, /^rebalance \(manual\) ended \S+ \(done\): 1 moved, 0 not moved, 0 left of 1\n$/);
  t.same(await cli(['servers', 'rebalance', 'stop', ...admin]), { code: 0, out: 'no rebalance was running\n', err: '' });
  const usage = (message: string) => ({ code: 2, out: '', err: `agentlb servers: ${message}\nRun \`agentlb servers --help\` for usage.\n` });
  t.same(await cli(['servers', 'rebalance', 'status', '--rate', '3', ...admin]), usage('--rate, --zone and --dry-run only apply to starting a rebalance, not to rebalance status'));
  t.same(await cli(['servers', 'rebalance', 'later', ...admin]), usage('unknown rebalance action "later" (expected status or stop, or none to start)'));
  t.same(await cli(['servers', 'rebalance', '--rate', '0', ...admin]), usage('--rate must be an integer from 1 to 100000, got "0"'));
  t.same(await cli(['servers', '--dry-run', ...admin]), usage('--zone and --dry-run only apply to servers rebalance'));
  const listed = await cli(['servers', ...admin]);
  t.match(listed.out, /^ADDRESS\s+STATE\s+AGENTS\s+PLANNED\s+STARTED\s+HEARTBEAT\n/);
});
