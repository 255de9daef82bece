/**
 * The agent against real agentlb servers on loopback: a roundrobin fleet M1..M3, agents landing
 * on their preferred servers, failover within the ping deadline when M1 goes dark, failback
 * when it returns, and a check interval changed live by an admin.
 *
 * Each server has its own data directory. Roundrobin positions come from each server's own
 * host registry, so the hosts are registered on every server in the same order first (in a
 * real fleet the servers share one store and this is automatic).
 */
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { api, nextEvent, startTestServer, type TestServer } from '../helpers/server';
import { startFreezeProxy } from './freeze-proxy';
import { makeAgent, next, until, type TestAgent } from './harness';

/** Server pings every 200 ms: agents declare a silent server dead after 600 ms. */
const SERVER_TIMERS = { connection: { pingIntervalMs: 200, maxMissedPings: 3 } };
const addr = (port: number): string => `127.0.0.1:${port}`;

async function startFleet(t: Test, count: number): Promise<TestServer[]> {
  const servers: TestServer[] = [];
  for (let i = 0; i < count; i++) servers.push(await startTestServer(t, SERVER_TIMERS));
  return servers;
}

async function configure(servers: TestServer[], host: string, algorithm: 'static' | 'roundrobin', interval: number, guids: string[]): Promise<void> {
  for (const server of servers) {
    await server.controller.updateSettings({ host, 'indirect.agent.lb.algorithm': algorithm, 'indirect.agent.lb.check.interval': interval });
    for (const guid of guids) await server.controller.registerHost(guid, 'default');
  }
}

const PROPERTIES = (host: string, guid: string): string =>
  ['# agent.properties for a failover test', `host=${host}`, '# identity', `guid=${guid}`, '! end', ''].join('\n');

t.test('roundrobin fleet: land on the preferred server, fail over within the ping deadline, fail back', async (t) => {
  const [m1, m2, m3] = await startFleet(t, 3);
  const p1 = await startFreezeProxy(t, m1!.agentPort); // M1 as the agents reach it
  const [M1, M2, M3] = [addr(p1.port), addr(m2!.agentPort), addr(m3!.agentPort)];
  const guids = ['h1', 'h2', 'h3', 'h4'];
  await configure([m1!, m2!, m3!], `${M1},${M2},${M3}`, 'roundrobin', 1, guids);

  // Every agent starts with the same list; the servers hand out the rotations.
  const agents: TestAgent[] = [];
  for (const guid of guids) agents.push(await makeAgent(t, PROPERTIES(`${M1},${M2},${M3}@roundrobin`, guid)));
  const [h1, h2, h3, h4] = agents as [TestAgent, TestAgent, TestAgent, TestAgent];
  const landed = Promise.all([
    until(h1.agent, 'hostsUpdated', (u) => u.hosts[0] === M1),
    until(h2.agent, 'switched', (s) => s.to === M2),
    until(h3.agent, 'switched', (s) => s.to === M3),
    until(h4.agent, 'hostsUpdated', (u) => u.hosts[0] === M1),
  ]);
  for (const { agent } of agents) agent.start();
  await landed;

  t.same(
    agents.map(({ agent }) => [agent.hosts, agent.currentServer]),
    [
      [[M1, M2, M3], M1],
      [[M2, M3, M1], M2],
      [[M3, M1, M2], M3],
      [[M1, M2, M3], M1],
    ],
    'the seed example: H1 M1,M2,M3; H2 M2,M3,M1; H3 M3,M1,M2; H4 M1,M2,M3, each on its first entry',
  );
  t.equal(
    await readFile(h2.path, 'latin1'),
    PROPERTIES(`${M2},${M3},${M1}@roundrobin`, 'h2') + 'host.lb.check.interval=1\n',
    'persisted with the comments in place',
  );

  // M1 goes dark: no FIN, no RST, nothing. Only the ping deadline can tell.
  const movedOff = Promise.all(
    [h1, h4].map(async ({ agent }) => {
      const gone = await until(agent, 'disconnected', (d) => d.server === M1);
      const back = await until(agent, 'connected', () => true);
      return [gone.reason.code, back.server];
    }),
  );
  p1.mode = 'frozen';
  t.same(await movedOff, [
    ['ping_timeout', M2],
    ['ping_timeout', M2],
  ], 'both of M1\'s agents noticed by the ping deadline and moved to their second entry');
  t.equal(h2.agent.currentServer, M2);
  t.equal(h3.agent.currentServer, M3);

  // M1 is restarted (same data) and reachable again: the agents' checks bring them back.
  await m1!.close();
  const m1again = await startTestServer(t, { ...SERVER_TIMERS, dataDir: m1!.dataDir });
  const cameBack = Promise.all([h1, h4].map(({ agent }) => until(agent, 'switched', (s) => s.to === M1)));
  p1.dropAll();
  p1.targetPort = m1again.agentPort;
  p1.mode = 'forward';
  t.same(await cameBack, [
    { from: M2, to: M1 },
    { from: M2, to: M1 },
  ]);
  t.same(agents.map(({ agent }) => agent.currentServer), [M1, M2, M3, M1]);
});

t.test('a check interval set by an admin reaches the agent live and starts its checks, no restart', async (t) => {
  const [m1, m2] = await startFleet(t, 2);
  const p1 = await startFreezeProxy(t, m1!.agentPort);
  const [M1, M2] = [addr(p1.port), addr(m2!.agentPort)];
  await configure([m1!, m2!], `${M1},${M2}`, 'static', 0, ['h1']);
  p1.mode = 'reject'; // M1 accepts and closes: not healthy, so the agent must use M2
  const { agent, path } = await makeAgent(t, PROPERTIES(`${M1},${M2}@static`, 'h1'));
  agent.start();
  t.same(await next(agent, 'connected'), { server: M2, hostId: 1 });
  t.equal(p1.accepted, 1, 'M1 was tried first');
  t.equal(agent.checkInterval, 0);
  p1.mode = 'forward';

  const acked = nextEvent(m2!.events, 'acked', (e) => e.guid === 'h1');
  const updated = next(agent, 'hostsUpdated');
  const switched = next(agent, 'switched');
  const answer = await api(m2!, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 1 } });
  t.equal(answer.status, 200);
  t.same(await updated, { hosts: [M1, M2], algorithm: 'static', checkInterval: 1, persisted: true });
  t.match(await acked, { ok: true });
  t.same(await switched, { from: M2, to: M1 }, 'the new interval took effect at once');
  t.match(await readFile(path, 'latin1'), /\nhost\.lb\.check\.interval=1\n$/);
});

t.test('a server that accepts and closes at once is never chosen, even when it is first', async (t) => {
  const [m2] = await startFleet(t, 1);
  const p1 = await startFreezeProxy(t, m2!.agentPort);
  p1.mode = 'reject';
  const [M1, M2] = [addr(p1.port), addr(m2!.agentPort)];
  await configure([m2!], `${M1},${M2}`, 'static', 1, ['h1']);
  const { agent } = await makeAgent(t, PROPERTIES(`${M1},${M2}@static`, 'h1'));
  let switched = false;
  agent.on('switched', () => (switched = true));
  agent.start();
  t.equal((await next(agent, 'connected')).server, M2);
  await next(agent, 'hostsUpdated'); // the server's interval 1 arrives and checks begin
  for (let i = 0; i < 3; i++) t.same(await next(agent, 'checkFailed'), { server: M1, code: 'closed' });
  t.equal(switched, false);
  t.equal(agent.currentServer, M2);
});
