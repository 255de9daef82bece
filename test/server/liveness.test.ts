/**
 * Ping/pong liveness with short intervals: a silent agent is dropped at the deadline and
 * counted; an agent that answers stays; the server answers the agent's pings.
 */
import t from 'tap';
import type { ServerMessage } from '../../src/protocol/messages';
import { nextEvent, startTestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

/** Holds the default settings' list (the server's own address): the server has nothing to send it but pings. */
function upToDate(server: { agentPort: number }) {
  return { hosts: [`127.0.0.1:${server.agentPort}`], algorithm: 'static', checkInterval: 0 };
}

t.test('a silent agent is pinged, then dropped after the ping deadline', async (t) => {
  // 250 ms, not 20: the server pings at its first tick unless the whole deadline (750 ms) is
  // already silent, so with 20 ms a server whose loop stalled 60 ms on a loaded machine dropped
  // the agent at that tick without a ping, and the test saw none.
  const server = await startTestServer(t, { connection: { pingIntervalMs: 250, maxMissedPings: 3 } });
  const agent = await TestAgent.connect(server.agentPort);
  const dropped = nextEvent(server.events, 'disconnected');
  // Listening from before the hello: on a loaded machine the first pings can arrive in the
  // same read as the welcome, and are emitted before the hello's await resumes.
  const received: ServerMessage[] = [];
  agent.sock.on('message', (message) => received.push(message));
  await agent.hello({ guid: 'quiet', ...upToDate(server) });
  await agent.closed;
  t.match(await dropped, { reason: 'ping_timeout', hostId: 1, guid: 'quiet' });
  t.equal(received[0]?.type, 'welcome');
  const afterWelcome = received.slice(1);
  t.ok(afterWelcome.length >= 1, 'pinged before being dropped');
  t.ok(
    afterWelcome.every((message) => message.type === 'ping'),
    'nothing but pings: a dead agent gets no error frame',
  );
});

t.test('an agent that answers pings stays connected past the deadline', async (t) => {
  // The deadline (10 x 30 ms) is generous so a busy test machine cannot fake a silence; the
  // agent outlives it by answering 12 pings (360 ms).
  const server = await startTestServer(t, { connection: { pingIntervalMs: 30, maxMissedPings: 10 } });
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'lively' });
  let pings = 0;
  while (pings < 12) {
    const message = await agent.next();
    if (message.type !== 'ping') continue;
    pings++;
    agent.send({ type: 'pong' });
  }
  t.same(await agent.roundTrip(), [], 'still connected and served after more than one deadline');
  t.equal(server.agentCount, 1);
  await agent.close();
});

t.test('the server answers an agent ping with pong', async (t) => {
  const server = await startTestServer(t);
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'p', ...upToDate(server) });
  agent.send({ type: 'ping' });
  t.same(await agent.next(), { type: 'pong' });
  await agent.close();
});

t.test('an ack settles the last list sent; an ack for a seq never sent is ignored', async (t) => {
  const server = await startTestServer(t);
  const agent = await TestAgent.connect(server.agentPort);
  const acked = nextEvent(server.events, 'acked');
  const { hosts } = await agent.handshake({ guid: 'acker' });
  agent.send({ type: 'ack', seq: 99, ok: true });
  agent.send({ type: 'ack', seq: hosts!.seq, ok: false, error: 'disk full' });
  const event = await acked;
  t.match(event, { hostId: 1, seq: 0, ok: false, error: 'disk full' });
  t.type(event.latencyMs, 'number');
  t.same(await agent.roundTrip(), [], 'the stray ack did not close the connection');
  await agent.close();
});

t.test('an agent that closes mid-handshake is reported as closed', async (t) => {
  const server = await startTestServer(t);
  const handshake = nextEvent(server.events, 'handshake');
  const agent = await TestAgent.connect(server.agentPort);
  await agent.close();
  t.match(await handshake, { result: 'closed' });
});

t.test('beyond --max-connections, agents are sent server_busy', async (t) => {
  const server = await startTestServer(t, { admission: { maxConnections: 1 } });
  const first = await TestAgent.connect(server.agentPort);
  await first.hello({ guid: 'one' });
  const second = await TestAgent.connect(server.agentPort);
  t.same(await second.next(), { type: 'error', code: 'server_busy', message: 'this server holds its maximum of 1 agents' });
  await second.closed;
  await first.close();
});

t.test('output beyond the write-buffer cap drops the agent instead of buffering it', async (t) => {
  // A cap below one welcome frame: the very first write would exceed it.
  const server = await startTestServer(t, { connection: { maxWriteBufferBytes: 16 } });
  const dropped = nextEvent(server.events, 'disconnected');
  const agent = await TestAgent.connect(server.agentPort);
  agent.sendHello({ guid: 'slow' });
  await agent.closed;
  t.match(await dropped, { reason: 'slow_consumer', hostId: 1 });
  t.equal(agent.sock.takeQueued(), undefined, 'nothing was written');
});
