/**
 * Settings and host-set changes applied live: who gets a `hosts` frame, exactly once, and
 * who gets nothing; refused changes; a restart keeping ids and settings.
 */
import t from 'tap';
import { api, nextEvent, startTestServer } from '../helpers/server';
import { connectAgents, TestAgent } from '../helpers/test-agent';
import { CLOSE_SLICE } from '../../src/server/net/listener';

const SEED = { host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin' };

t.test('PUT /api/settings reaches every connected agent exactly once', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const agents = await connectAgents(server.agentPort, ['H1', 'H2', 'H3', 'H4']);
  for (const { agent, hosts } of agents) agent.ack(hosts!);

  const changed = nextEvent(server.events, 'settingsChanged');
  const answer = await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3,M4' } });
  t.same(answer.body, { host: 'M1,M2,M3,M4', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0, 'indirect.agent.lb.rebalance': 'auto', 'indirect.agent.lb.rebalance.threshold': 20, 'indirect.agent.lb.rebalance.grace': 60 });
  t.match(await changed, { settingsVersion: 2, agentsUpdated: 4 });
  const expected = [
    ['M1', 'M2', 'M3', 'M4'],
    ['M2', 'M3', 'M4', 'M1'],
    ['M3', 'M4', 'M1', 'M2'],
    ['M4', 'M1', 'M2', 'M3'],
  ];
  for (const [index, { agent }] of agents.entries()) {
    const received = await agent.roundTrip();
    t.same(received, [{ type: 'hosts', seq: 2, hosts: expected[index], algorithm: 'roundrobin', checkInterval: 0 }], `H${index + 1}: one frame`);
  }
  for (const { agent } of agents) await agent.close();
});

t.test('a change that leaves an agent\'s list as it is sends it nothing', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'shuffle' } });
  const agents = await connectAgents(server.agentPort, ['S1', 'S2']);
  // The same set in another order: every shuffle agent's permutation is still up to date.
  const changed = nextEvent(server.events, 'settingsChanged');
  t.equal((await api(server, 'PUT', '/api/settings', { body: { host: 'M3, M2 ,M1' } })).status, 200);
  t.match(await changed, { settingsVersion: 2, agentsUpdated: 0, settings: { host: 'M3,M2,M1' } });
  for (const { agent } of agents) t.same(await agent.roundTrip(), [], 'nothing sent');
  for (const { agent } of agents) await agent.close();
});

t.test('an interval change alone is pushed, with the same list', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const [one] = await connectAgents(server.agentPort, ['H1']);
  await api(server, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 60 } });
  t.same(await one!.agent.roundTrip(), [{ type: 'hosts', seq: 2, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 60 }]);
  await one!.agent.close();
});

t.test('agents sharing a list are sent the very same encoded frame', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' } });
  const agents = await connectAgents(server.agentPort, ['a', 'b', 'c']);
  const frames = new Set<readonly string[]>();
  server.events.on('hostsSent', (e) => frames.add(e.hosts));
  await api(server, 'PUT', '/api/settings', { body: { host: 'M2,M1' } });
  for (const { agent } of agents) t.match(await agent.roundTrip(), [{ type: 'hosts', hosts: ['M2', 'M1'] }]);
  t.equal(frames.size, 1, 'one list instance (and so one cached frame) for all three');
  for (const { agent } of agents) await agent.close();
});

t.test('a bad setting is refused with a 400 naming it, and nothing changes', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const [one] = await connectAgents(server.agentPort, ['H1']);
  const before = await api(server, 'GET', '/api/settings');
  const refused = [
    [{ host: '' }, 'host "" is refused: empty host list'],
    [{ host: 'M1,,M2' }, 'host "M1,,M2" is refused: empty entry #2 in "M1,,M2"'],
    [{ 'indirect.agent.lb.algorithm': 'fastest' }, 'indirect.agent.lb.algorithm "fastest" is not one of static, roundrobin, shuffle, balanced'],
    [{ 'indirect.agent.lb.check.interval': -1 }, 'indirect.agent.lb.check.interval must be an integer number of seconds from 0 to 86400, got -1'],
    // A good key with a bad one: the whole change is refused.
    [{ host: 'M9', 'indirect.agent.lb.check.interval': '5' }, 'indirect.agent.lb.check.interval must be an integer number of seconds from 0 to 86400, got "5"'],
    [{ hosts: 'M1' }, 'unknown setting "hosts" (known: host, indirect.agent.lb.algorithm, indirect.agent.lb.check.interval, indirect.agent.lb.rebalance, indirect.agent.lb.rebalance.threshold, indirect.agent.lb.rebalance.grace)'],
  ] as const;
  for (const [body, error] of refused) {
    const answer = await api(server, 'PUT', '/api/settings', { body });
    t.equal(answer.status, 400, JSON.stringify(body));
    t.same(answer.body, { error });
  }
  const after = await api(server, 'GET', '/api/settings');
  t.same(after.body, before.body, 'settings unchanged');
  t.equal(after.headers.get('etag'), before.headers.get('etag'), 'version unchanged');
  t.same(await one!.agent.roundTrip(), [], 'no agent was sent anything');
  await one!.agent.close();
});

t.test('removing a host re-sends to the agents whose position moved, and only them', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const agents = await connectAgents(server.agentPort, ['H1', 'H2', 'H3', 'H4']);
  const gone = nextEvent(server.events, 'disconnected', (e) => e.hostId === 2);
  await agents[1]!.agent.close();
  await gone;
  const removed = await api(server, 'DELETE', '/api/hosts/2');
  t.same(removed.status, 200);
  t.match(removed.body, { removed: { id: 2, guid: 'H2' }, agentsUpdated: 2 });
  t.same(await agents[0]!.agent.roundTrip(), [], 'H1 kept position 0');
  t.same(await agents[2]!.agent.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M2', 'M3', 'M1'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await agents[3]!.agent.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M3', 'M1', 'M2'], algorithm: 'roundrobin', checkInterval: 0 }]);
  const back = await TestAgent.connect(server.agentPort);
  t.equal((await back.hello({ guid: 'H2' })).hostId, 5, 'a removed guid comes back under a new id: ids are never reused');
  for (const agent of [agents[0]!.agent, agents[2]!.agent, agents[3]!.agent, back]) await agent.close();
});

t.test('a restart keeps host ids and settings', async (t) => {
  const dataDir = t.testdir();
  const first = await startTestServer(t, { dataDir });
  await api(first, 'PUT', '/api/settings', { body: { ...SEED, 'indirect.agent.lb.check.interval': 45 } });
  const agents = await connectAgents(first.agentPort, ['H1', 'H2', 'H3']);
  const held = agents[1]!.hosts!;
  agents[1]!.agent.ack(held);
  await first.close();
  for (const { agent } of agents) await agent.closed;

  const second = await startTestServer(t, { dataDir });
  t.same((await api(second, 'GET', '/api/settings')).body, {
    host: 'M1,M2,M3',
    'indirect.agent.lb.algorithm': 'roundrobin',
    'indirect.agent.lb.check.interval': 45,
    'indirect.agent.lb.rebalance': 'auto',
    'indirect.agent.lb.rebalance.threshold': 20,
    'indirect.agent.lb.rebalance.grace': 60,
  });
  t.match((await api(second, 'GET', '/api/hosts')).body, [
    { id: 1, guid: 'H1', connected: false },
    { id: 2, guid: 'H2', connected: false },
    { id: 3, guid: 'H3', connected: false },
  ]);
  const again = await TestAgent.connect(second.agentPort);
  const { welcome, hosts } = await again.handshake({ guid: 'H2', hosts: held.hosts, algorithm: held.algorithm, checkInterval: held.checkInterval });
  t.equal(welcome.hostId, 2);
  t.equal(hosts, undefined, 'its list is still up to date: nothing sent');
  const fresh = await TestAgent.connect(second.agentPort);
  t.equal((await fresh.hello({ guid: 'H9' })).hostId, 4, 'the next id continues after the last one');
  await again.close();
  await fresh.close();
});

t.test('SIGTERM-style close sends shutting_down to every agent', async (t) => {
  const server = await startTestServer(t);
  const agents = await connectAgents(server.agentPort, ['a', 'b']);
  const closing = server.close();
  for (const { agent } of agents) {
    t.same(await agent.next(), { type: 'error', code: 'shutting_down', message: 'this server is shutting down' });
    await agent.closed;
  }
  await closing;
});

t.test('a close with more agents than one slice tells every one of them shutting_down', async (t) => {
  const server = await startTestServer(t);
  const agents = await connectAgents(
    server.agentPort,
    Array.from({ length: CLOSE_SLICE + 40 }, (_, i) => `s${i}`),
  );
  const closing = server.close();
  const told = await Promise.all(agents.map(({ agent }) => agent.next().then(async (message) => (await agent.closed, message))));
  t.same(new Set(told.map((message) => JSON.stringify(message))), new Set([JSON.stringify({ type: 'error', code: 'shutting_down', message: 'this server is shutting down' })]));
  t.equal(told.length, CLOSE_SLICE + 40, 'every agent, over two slices');
  await closing;
});
