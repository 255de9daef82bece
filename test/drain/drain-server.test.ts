/**
 * Drain on one real server (embedded store), with scripted agents over real sockets: the
 * avoid list in every list sent, a draining server refusing new agents and handing its own
 * over at the rate asked, undrain, and every refused request's exact error.
 */
import t from 'tap';
import type { ServerMessage } from '../../src/protocol/messages';
import { api, startTestServer, type TestServer } from '../helpers/server';
import { connectAgents, TestAgent } from '../helpers/test-agent';

const DRAINING = { type: 'error', code: 'draining', message: 'this server is draining: try your next server' };

async function seed(server: TestServer, host: string, algorithm = 'roundrobin'): Promise<void> {
  const answer = await api(server, 'PUT', '/api/settings', { body: { host, 'indirect.agent.lb.algorithm': algorithm } });
  if (answer.status !== 200) throw new Error(`seed failed: ${JSON.stringify(answer.body)}`);
}

/** Every message up to the server's close. */
async function untilClosed(agent: TestAgent): Promise<ServerMessage[]> {
  const messages: ServerMessage[] = [];
  for (;;) {
    try {
      messages.push(await agent.next());
    } catch {
      return messages;
    }
  }
}

t.test('draining another server puts it last in every list, pushed at once; undrain restores them', async (t) => {
  const server = await startTestServer(t);
  await seed(server, 'M1,M2,M3');
  const agents = await connectAgents(server.agentPort, ['H1', 'H2', 'H3']);
  for (const { agent, hosts } of agents) agent.ack(hosts!);

  const drained = await api(server, 'POST', '/api/servers/drain', { body: { address: 'M2' } });
  t.equal(drained.status, 200);
  t.match(drained.body, { address: 'M2', rate: 50, self: false, scope: 'server', since: /^\d{4}-\d\d-\d\dT/ });
  const [h1, h2, h3] = agents.map(({ agent }) => agent);
  t.same(await h1!.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M1', 'M3', 'M2'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await h2!.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M3', 'M1', 'M2'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await h3!.roundTrip(), [], 'M3,M1,M2 has M2 last already: nothing sent');

  const [late] = await connectAgents(server.agentPort, ['H4']);
  t.same(late!.hosts?.hosts, ['M1', 'M3', 'M2'], 'a new agent gets the list with M2 last');
  const status = await api(server, 'GET', '/api/servers/drain');
  t.match(status.body, {
    scope: 'server',
    self: null,
    draining: [{ address: 'M2', rate: 50, self: false }],
    handover: { active: false, rate: null, agents: 4, handedOver: 0 },
  });

  const undrained = await api(server, 'POST', '/api/servers/undrain', { body: { address: 'M2' } });
  t.same(undrained.body, { address: 'M2', wasDraining: true, self: false, scope: 'server' });
  t.same(await h1!.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await h2!.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M2', 'M3', 'M1'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await h3!.roundTrip(), []);
  t.same(await late!.agent.roundTrip(), [{ type: 'hosts', seq: 1, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 }]);
  const again = await api(server, 'POST', '/api/servers/undrain', { body: { address: 'M2' } });
  t.same(again.body, { address: 'M2', wasDraining: false, self: false, scope: 'server' }, 'undrain is idempotent');
  for (const { agent } of agents) await agent.close();
  await late!.agent.close();
});

t.test('shuffle agents are re-sent a list when a drained server is not last (the set compare alone would keep it)', async (t) => {
  const server = await startTestServer(t);
  await seed(server, 'M1,M2,M3', 'shuffle');
  const agents = await connectAgents(server.agentPort, ['S1', 'S2', 'S3', 'S4', 'S5', 'S6']);
  await api(server, 'POST', '/api/servers/drain', { body: { address: 'M1' } });
  for (const { agent, hosts } of agents) {
    const received = await agent.roundTrip();
    if (hosts!.hosts[2] === 'M1') {
      t.same(received, [], `${hosts!.hosts.join(',')}: M1 already last, nothing sent`);
    } else {
      t.equal(received.length, 1, `${hosts!.hosts.join(',')}: one new list`);
      t.match(received[0], { type: 'hosts', algorithm: 'shuffle' });
      t.equal((received[0] as { hosts: string[] }).hosts[2], 'M1', 'with M1 last');
    }
  }
  for (const { agent } of agents) await agent.close();
});

t.test('a draining server refuses new agents and hands its own over at the rate asked', async (t) => {
  const server = await startTestServer(t);
  const self = `127.0.0.1:${server.agentPort}`;
  await seed(server, `${self},M2,M3`);
  const guids = ['A1', 'A2', 'A3', 'A4', 'A5'];
  const agents = await connectAgents(server.agentPort, guids);
  for (const { agent, hosts } of agents) agent.ack(hosts!);
  const handedOver: number[] = [];
  server.events.on('handedOver', (event) => handedOver.push(event.at));
  // Both events, in order: a list sent to one of its own agents must come with its hand-over.
  const sequence: string[] = [];
  server.events.on('hostsSent', (event) => sequence.push(`hostsSent ${event.cause} ${event.connId}`));
  server.events.on('handedOver', (event) => sequence.push(`handedOver ${event.connId}`));

  const drained = await api(server, 'POST', '/api/servers/drain', { body: { rate: 2 } });
  t.match(drained.body, { address: self, rate: 2, self: true, scope: 'server' });
  // A new connection is refused at once, before any hello.
  const refused = await TestAgent.connect(server.agentPort);
  t.same(await refused.next(), DRAINING, 'a new agent is told to try its next server');
  await refused.closed;

  const status = await api(server, 'GET', '/api/servers/drain');
  t.match(status.body, { self, draining: [{ address: self, self: true }], handover: { active: true, rate: 2 } });

  for (const [index, { agent }] of agents.entries()) {
    const received = await untilClosed(agent);
    t.same(received.at(-1), DRAINING, `${guids[index]} is told to move on, last thing before the close`);
    const lists = received.filter((message) => message.type === 'hosts') as { hosts: string[] }[];
    // Rotations of self,M2,M3: the ones not ending with self are re-sent first with self last.
    const original = [self, 'M2', 'M3'].map((_, i, all) => all[(i + index) % 3]!);
    if (original[2] === self) t.same(lists, [], `${original.join(',')} keeps its list`);
    else t.same(lists.map((list) => list.hosts), [[...original.filter((entry) => entry !== self), self]], 'its list with this server last came first');
  }
  t.equal(handedOver.length, 5, 'every agent handed over');
  const sentWithHandOver = sequence.every((entry, i) => !entry.startsWith('hostsSent') || sequence[i + 1] === `handedOver ${entry.split(' ')[2]}`);
  t.ok(sentWithHandOver, `its own agents are sent their list at their hand-over, not before: ${sequence.join('; ')}`);
  t.equal(sequence.filter((entry) => entry.startsWith('hostsSent avoid')).length, 3, 'the three whose list did not end with this server');
  for (const start of handedOver) {
    const inWindow = handedOver.filter((at) => at >= start && at < start + 1000).length;
    t.ok(inWindow <= 2, `at most 2 in the second from ${start.toFixed(0)} ms (got ${inWindow})`);
  }
  t.match((await api(server, 'GET', '/api/servers/drain')).body, { handover: { active: true, agents: 0, handedOver: 5 } });

  const undrained = await api(server, 'POST', '/api/servers/undrain', { body: {} });
  t.same(undrained.body, { address: self, wasDraining: true, self: true, scope: 'server' });
  const [back] = await connectAgents(server.agentPort, ['A1']);
  t.equal(back!.welcome.type, 'welcome', 'admitted again after undrain');
  t.same(back!.hosts?.hosts, [self, 'M2', 'M3'], 'with the usual list');
  await back!.agent.close();
});

t.test('a new rate for a running drain keeps its start time', async (t) => {
  const server = await startTestServer(t);
  await seed(server, 'M1,M2');
  const first = (await api(server, 'POST', '/api/servers/drain', { body: { address: 'M1', rate: 5 } })).body as { since: string };
  const second = await api(server, 'POST', '/api/servers/drain', { body: { address: 'M1', rate: 9 } });
  t.match(second.body, { address: 'M1', rate: 9, since: first.since });
});

t.test('bad drain requests are refused with a 400 naming what is wrong', async (t) => {
  const server = await startTestServer(t);
  await seed(server, 'M1,M2,M3');
  const cases: [string, unknown, string][] = [
    ['/api/servers/drain', [], 'body must be a JSON object (with optional "address" and "rate" and "timeout")'],
    ['/api/servers/drain', { adress: 'M1' }, 'unknown field "adress" (known: address, rate, timeout)'],
    ['/api/servers/drain', { address: 'M1', timeout: 0 }, 'timeout must be a number of seconds from 0.001 to 604800, got 0'],
    ['/api/servers/drain', { address: 'M1', timeout: -5 }, 'timeout must be a number of seconds from 0.001 to 604800, got -5'],
    ['/api/servers/drain', { address: 'M1', timeout: '60' }, 'timeout must be a number of seconds from 0.001 to 604800, got "60"'],
    ['/api/servers/drain', { address: 'M1', timeout: 604_801 }, 'timeout must be a number of seconds from 0.001 to 604800, got 604801'],
    ['/api/servers/drain', { address: ' ' }, 'address must be a non-empty string (a server as written in host), got " "'],
    ['/api/servers/drain', { address: 7 }, 'address must be a non-empty string (a server as written in host), got 7'],
    ['/api/servers/drain', { address: 'M1', rate: 0 }, 'rate must be an integer number of agents per second from 1 to 100000, got 0'],
    ['/api/servers/drain', { address: 'M1', rate: 2.5 }, 'rate must be an integer number of agents per second from 1 to 100000, got 2.5'],
    ['/api/servers/drain', { address: 'M1', rate: '5' }, 'rate must be an integer number of agents per second from 1 to 100000, got "5"'],
    ['/api/servers/drain', { address: 'M9' }, 'address "M9" is not an entry of host (M1,M2,M3); servers are named exactly as written there'],
    ['/api/servers/drain', { address: 'm1' }, 'address "m1" is not an entry of host (M1,M2,M3); servers are named exactly as written there'],
    [
      '/api/servers/drain',
      {},
      'this server cannot tell which entry of host is its own: name the address, or start the server with --advertise ADDRESS (its entry in host)',
    ],
    ['/api/servers/undrain', { address: 'M1', rate: 3 }, 'unknown field "rate" (known: address)'],
    ['/api/servers/undrain', { address: 'M9' }, 'address "M9" is not an entry of host (M1,M2,M3); servers are named exactly as written there'],
  ];
  for (const [path, body, error] of cases) {
    const answer = await api(server, 'POST', path, { body });
    t.same({ status: answer.status, body: answer.body }, { status: 400, body: { error } }, `${path} ${JSON.stringify(body)}`);
  }
  const noToken = await api(server, 'POST', '/api/servers/drain', { body: { address: 'M1' }, token: null });
  t.equal(noToken.status, 401, 'drain needs the bearer token');
  t.same(((await api(server, 'GET', '/api/servers/drain')).body as { draining: unknown[] }).draining, [], 'nothing was recorded');
});

t.test('--advertise names this server; a drain of it is a drain of itself', async (t) => {
  const server = await startTestServer(t, { listen: { advertise: 'M2' }, drain: { rate: 7 } });
  await seed(server, 'M1,M2,M3');
  const changes: unknown[] = [];
  server.events.on('drainChanged', (event) => changes.push(event));
  const drained = await api(server, 'POST', '/api/servers/drain', { body: {} });
  t.match(drained.body, { address: 'M2', rate: 7, self: true }, 'the default rate is --drain-rate');
  const refused = await TestAgent.connect(server.agentPort);
  t.same(await refused.next(), DRAINING);
  await refused.closed;
  await api(server, 'POST', '/api/servers/drain', { body: { rate: 3 } });
  t.match((await api(server, 'GET', '/api/servers/drain')).body, { handover: { active: true, rate: 3 } }, 're-rated while running');
  await api(server, 'POST', '/api/servers/undrain', { body: {} });
  t.same(changes, [
    { address: 'M2', draining: true, rate: 7 },
    { address: 'M2', draining: true, rate: 3 },
    { address: 'M2', draining: false },
  ]);
});

t.test('a drain past its timeout hands the rest over at once and is reported timed out', async (t) => {
  const server = await startTestServer(t);
  const self = `127.0.0.1:${server.agentPort}`;
  await seed(server, `${self},M2`);
  const guids = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'];
  const agents = await connectAgents(server.agentPort, guids);
  for (const { agent, hosts } of agents) agent.ack(hosts!);
  const timedOut: unknown[] = [];
  server.events.on('drainTimedOut', (event) => timedOut.push(event));

  // 1 agent per second would take 6 s; the deadline comes after 1.5 s.
  const drained = await api(server, 'POST', '/api/servers/drain', { body: { rate: 1, timeout: 1.5 } });
  t.match(drained.body, { address: self, rate: 1, timeout: 1.5, self: true });
  const before = (await api(server, 'GET', '/api/servers/drains')).body as { handover: { deadline: string; timedOut: boolean } };
  t.equal(before.handover.timedOut, false);
  t.equal(Date.parse(before.handover.deadline), Date.parse((drained.body as { since: string }).since) + 1_500, 'deadline = since + timeout');
  for (const { agent } of agents) t.same((await untilClosed(agent)).at(-1), DRAINING);
  t.equal(timedOut.length, 1, 'one time-out');
  const event = timedOut[0] as { address: string; remaining: number; handedOver: number };
  t.equal(event.address, self);
  t.ok(event.handedOver >= 1 && event.remaining >= 1, `paced before the deadline, the rest after it (${event.handedOver} + ${event.remaining})`);
  t.equal(event.handedOver + event.remaining, 6, 'every agent was either paced or handed over at the deadline');
  const status = await api(server, 'GET', '/api/servers/drains');
  t.match(status.body, {
    draining: [{ address: self, rate: 1, timeout: 1.5, self: true, timedOut: true }],
    handover: { active: true, agents: 0, handedOver: 6, timedOut: true },
  });
  t.same(status.body, (await api(server, 'GET', '/api/servers/drain')).body, 'drains and drain are one status');
  const again = await api(server, 'POST', '/api/servers/drain', { body: { rate: 5 } });
  t.match(again.body, { rate: 5, timeout: 1.5 }, 'a new rate keeps the deadline');
});
