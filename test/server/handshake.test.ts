/**
 * The handshake end to end over real sockets: welcome, `hosts` only when outdated, the seed
 * example, registration, and every way a handshake is refused.
 */
import t from 'tap';
import { connect } from 'node:net';
import { once } from 'node:events';
import { encodeMessage } from '../../src/protocol/encoder';
import { api, nextEvent, startTestServer } from '../helpers/server';
import { connectAgents, TestAgent } from '../helpers/test-agent';

const SEED = { host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin' };

t.test('seed example: M1,M2,M3 roundrobin, four agents in order get H1..H4 lists', async (t) => {
  const server = await startTestServer(t);
  t.equal((await api(server, 'PUT', '/api/settings', { body: SEED })).status, 200);
  const agents = await connectAgents(server.agentPort, ['H1', 'H2', 'H3', 'H4']);
  t.same(
    agents.map(({ welcome }) => welcome.hostId),
    [1, 2, 3, 4],
    'ids are issued in registration order',
  );
  t.same(
    agents.map(({ hosts }) => hosts?.hosts),
    [
      ['M1', 'M2', 'M3'],
      ['M2', 'M3', 'M1'],
      ['M3', 'M1', 'M2'],
      ['M1', 'M2', 'M3'],
    ],
  );
  for (const { hosts } of agents) {
    t.match(hosts, { type: 'hosts', seq: 1, algorithm: 'roundrobin', checkInterval: 0 });
  }
  for (const { agent } of agents) await agent.close();
});

t.test('welcome carries the version, host id, advertised address and ping interval', async (t) => {
  const server = await startTestServer(t, { listen: { advertise: 'mgmt-1.example:8250' }, connection: { pingIntervalMs: 12_345 } });
  const agent = await TestAgent.connect(server.agentPort);
  t.same(await agent.hello({ guid: 'g1' }), {
    type: 'welcome',
    version: 2,
    hostId: 1,
    server: 'mgmt-1.example:8250',
    pingInterval: 12_345,
  });
  await agent.close();
  const v1 = await TestAgent.connect(server.agentPort);
  t.same(await v1.hello({ guid: 'g1', version: 1 }), { type: 'welcome', version: 1, hostId: 1, server: 'mgmt-1.example:8250', pingInterval: 12_345 }, 'a version 1 hello gets a version 1 welcome');
  await v1.close();
});

t.test('a server with protocol 2 switched off refuses version 2 and serves version 1', async (t) => {
  const server = await startTestServer(t, { connection: { protocolVersions: [1] } });
  const v2 = await TestAgent.connect(server.agentPort);
  v2.sendHello({ guid: 'g2' });
  t.same(await v2.next(), { type: 'error', code: 'unsupported_version', message: 'supported versions: 1' });
  await v2.closed;
  const v1 = await TestAgent.connect(server.agentPort);
  t.equal((await v1.hello({ guid: 'g2', version: 1 })).version, 1);
  await v1.close();
});

t.test('without --advertise, welcome.server is the address the agent reached', async (t) => {
  const server = await startTestServer(t);
  const agent = await TestAgent.connect(server.agentPort);
  t.equal((await agent.hello({ guid: 'g1' })).server, `127.0.0.1:${server.agentPort}`);
  await agent.close();
});

t.test('an agent reconnecting with its up-to-date list gets welcome and no hosts', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { ...SEED, 'indirect.agent.lb.check.interval': 30 } });
  const [first, second] = await connectAgents(server.agentPort, ['H1', 'H2']);
  const given = second!.hosts!;
  second!.agent.ack(given);
  await second!.agent.close();

  const again = await TestAgent.connect(server.agentPort);
  const { welcome, hosts, others } = await again.handshake({
    guid: 'H2',
    hosts: given.hosts,
    algorithm: given.algorithm,
    checkInterval: given.checkInterval,
  });
  t.equal(welcome.hostId, 2, 'the same id as before');
  t.equal(hosts, undefined, 'no hosts frame before the pong');
  t.same(others, []);
  await again.close();
  await first!.agent.close();
});

t.test('a list that differs in order, algorithm or interval is re-sent', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { ...SEED, 'indirect.agent.lb.check.interval': 30 } });
  const cases = [
    { name: 'order', hosts: ['M2', 'M1', 'M3'], algorithm: 'roundrobin', checkInterval: 30 },
    { name: 'algorithm', hosts: ['M1', 'M2', 'M3'], algorithm: 'static', checkInterval: 30 },
    { name: 'interval', hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 31 },
    { name: 'no interval', hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin' },
  ];
  for (const { name, ...held } of cases) {
    const agent = await TestAgent.connect(server.agentPort);
    // Each case reconnects the same guid (id 1, position 0): the expected list is M1,M2,M3.
    const { hosts } = await agent.handshake({ guid: 'H1', ...held });
    t.same(hosts?.hosts, ['M1', 'M2', 'M3'], `re-sent when the ${name} differs`);
    await agent.close();
  }
});

t.test('a shuffle agent presenting a permutation of the list gets no hosts', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3,M4', 'indirect.agent.lb.algorithm': 'shuffle' } });
  const agent = await TestAgent.connect(server.agentPort);
  const { hosts } = await agent.handshake({ guid: 'S1', hosts: ['M3', 'M1', 'M4', 'M2'], algorithm: 'shuffle', checkInterval: 0 });
  t.equal(hosts, undefined);
  await agent.close();

  const missing = await TestAgent.connect(server.agentPort);
  const resent = await missing.handshake({ guid: 'S1', hosts: ['M3', 'M1', 'M2'], algorithm: 'shuffle', checkInterval: 0 });
  t.same([...resent.hosts!.hosts].sort(), ['M1', 'M2', 'M3', 'M4'], 'a list missing a server is re-sent as a permutation');
  await missing.close();
});

t.test('a new guid without a zone registers in zone "default"; one with a zone keeps it', async (t) => {
  const server = await startTestServer(t);
  await connectAgents(server.agentPort, ['a']);
  await connectAgents(server.agentPort, ['b'], { zone: 'zone-2' });
  const { body } = await api(server, 'GET', '/api/hosts');
  t.match(body, [
    { id: 1, guid: 'a', zone: 'default' },
    { id: 2, guid: 'b', zone: 'zone-2' },
  ]);
});

t.test('roundrobin positions are per zone', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const a = await connectAgents(server.agentPort, ['a1', 'a2'], { zone: 'A' });
  const b = await connectAgents(server.agentPort, ['b1'], { zone: 'B' });
  t.same(a.map((x) => x.hosts?.hosts[0]), ['M1', 'M2']);
  t.same(b[0]!.hosts?.hosts[0], 'M1', 'the first host of zone B is at position 0');
});

t.test('refusals', async (t) => {
  const server = await startTestServer(t, { connection: { handshakeTimeoutMs: 50 }, security: { agentToken: undefined } });

  t.test('unsupported version', async (t) => {
    const agent = await TestAgent.connect(server.agentPort);
    agent.sendHello({ guid: 'v', version: 3 });
    t.same(await agent.next(), { type: 'error', code: 'unsupported_version', message: 'supported versions: 1, 2' });
    await agent.closed;
  });

  t.test('a first message that is not hello', async (t) => {
    const agent = await TestAgent.connect(server.agentPort);
    agent.send({ type: 'ping' });
    t.same(await agent.next(), { type: 'error', code: 'bad_message', message: 'expected hello first, got ping' });
    await agent.closed;
  });

  t.test('a second hello', async (t) => {
    const agent = await TestAgent.connect(server.agentPort);
    await agent.hello({ guid: 'twice' });
    agent.sendHello({ guid: 'twice' });
    const messages = [await agent.next()];
    while (messages.at(-1)!.type !== 'error') messages.push(await agent.next());
    t.same(messages.at(-1), { type: 'error', code: 'bad_message', message: 'hello was already received' });
    await agent.closed;
  });

  t.test('handshake timeout', async (t) => {
    const socket = connect(server.agentPort, '127.0.0.1');
    const failed = nextEvent(server.events, 'handshake', (e) => e.result === 'handshake_timeout');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    t.same(Buffer.concat(chunks), encodeMessage({ type: 'error', code: 'handshake_timeout', message: 'no hello within 50 ms' }));
    t.match(await failed, { result: 'handshake_timeout' });
  });

  t.test('a bad frame', async (t) => {
    const agent = await TestAgent.connect(server.agentPort);
    agent.send(Buffer.from([0, 0, 0, 0]));
    t.same(await agent.next(), { type: 'error', code: 'bad_frame', message: 'frame length 0: a frame must hold one message' });
    await agent.closed;
  });
});

t.test('enrolment token', async (t) => {
  const server = await startTestServer(t, { security: { agentToken: 'join-me' } });
  const missing = await TestAgent.connect(server.agentPort);
  missing.sendHello({ guid: 'x' });
  t.same(await missing.next(), { type: 'error', code: 'unauthorized', message: 'this server requires an enrolment token' });
  const wrong = await TestAgent.connect(server.agentPort);
  wrong.sendHello({ guid: 'x', token: 'nope' });
  t.same(await wrong.next(), { type: 'error', code: 'unauthorized', message: 'wrong enrolment token' });
  const right = await TestAgent.connect(server.agentPort);
  t.equal((await right.hello({ guid: 'x', token: 'join-me' })).hostId, 1);
  await right.close();
});

t.test('a second connection with the same guid replaces the first', async (t) => {
  const server = await startTestServer(t);
  const [old] = await connectAgents(server.agentPort, ['dup']);
  const replaced = nextEvent(server.events, 'disconnected', (e) => e.reason === 'replaced');
  const [fresh] = await connectAgents(server.agentPort, ['dup']);
  await old!.agent.closed;
  t.match(await replaced, { reason: 'replaced', hostId: 1, guid: 'dup' });
  t.equal(fresh!.welcome.hostId, 1);
  t.same(await fresh!.agent.roundTrip(), [], 'the new connection is still served');
  const { body } = await api(server, 'GET', '/api/hosts');
  t.match(body, [{ id: 1, connected: true }]);
  await fresh!.agent.close();
});

t.test('bad frames from one agent leave the others connected and served', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: SEED });
  const good = await connectAgents(server.agentPort, ['g1', 'g2']);
  const bad = await TestAgent.connect(server.agentPort);
  await bad.hello({ guid: 'bad' });
  bad.send(Buffer.from([0x00, 0x01, 0x00, 0x01])); // length 65537: over maxFrame
  const messages = [];
  for (let m = await bad.next(); ; m = await bad.next()) {
    messages.push(m);
    if (m.type === 'error') break;
  }
  t.match(messages.at(-1), { type: 'error', code: 'bad_frame' });
  await bad.closed;
  for (const { agent } of good) t.same(await agent.roundTrip(), [], 'still answered');
  const change = await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' } });
  t.equal(change.status, 200);
  for (const { agent } of good) t.match(await agent.next(), { type: 'hosts', seq: 2 }, 'still sent list changes');
  const late = await TestAgent.connect(server.agentPort);
  t.equal((await late.hello({ guid: 'late' })).type, 'welcome', 'new agents are still accepted');
  for (const { agent } of [...good, { agent: late }]) await agent.close();
});
