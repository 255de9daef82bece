/**
 * Each protective limit biting on a real in-process server: what the refused or dropped peer
 * sees, the `limitReached` event, and the counter on GET /metrics.
 */
import { Registry } from 'prom-client';
import t from 'tap';
import type { ServerEventMap } from '../../src/server/events';
import { nextEvent, startTestServer, type TestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

const busy = (message: string) => ({ type: 'error', code: 'server_busy', message });

function limitEvents(server: TestServer): ServerEventMap['limitReached'][] {
  const seen: ServerEventMap['limitReached'][] = [];
  server.events.on('limitReached', (e) => seen.push(e));
  return seen;
}

/** From a local address other than 127.0.0.1, so the test's source has a bucket of its own. */
const connectFrom = (port: number, localAddress: string): Promise<TestAgent> => TestAgent.connect(port, localAddress);

t.test('handshakes in progress: beyond the limit new connections are told server_busy, until one ends', async (t) => {
  const server = await startTestServer(t, { admission: { maxHandshakes: 2 } });
  const seen = limitEvents(server);
  const slow = [await TestAgent.connect(server.agentPort), await TestAgent.connect(server.agentPort)];
  const refused = await TestAgent.connect(server.agentPort);
  t.same(await refused.next(), busy('this server has its maximum of 2 handshakes in progress'));
  await refused.closed;
  t.match(seen, [{ limit: 'max_handshakes', message: 'this server has its maximum of 2 handshakes in progress', remoteAddress: /^127\.0\.0\.1:\d+$/ }]);
  await slow[0]!.hello({ guid: 'h1' });
  const admitted = await TestAgent.connect(server.agentPort);
  t.match(await admitted.hello({ guid: 'h2' }), { type: 'welcome' }, 'a finished handshake frees its slot');
  await slow[1]!.close();
  const another = await TestAgent.connect(server.agentPort);
  t.match(await another.hello({ guid: 'h3' }), { type: 'welcome' }, 'so does a connection that closes mid-handshake');
  for (const agent of [slow[0]!, admitted, another]) await agent.close();
});

t.test('connection rate per source: the burst, then server_busy naming the source', async (t) => {
  const server = await startTestServer(t, { admission: { maxConnectionRate: 1, connectionBurst: 2, rateLimitLoopback: true } });
  const seen = limitEvents(server);
  const first = await connectFrom(server.agentPort, '127.0.0.2');
  const second = await connectFrom(server.agentPort, '127.0.0.2');
  const third = await connectFrom(server.agentPort, '127.0.0.2');
  t.same(await third.next(), busy('too many new connections from 127.0.0.2 (limit 1 per second)'));
  t.match(seen, [{ limit: 'connection_rate' }]);
  const elsewhere = await connectFrom(server.agentPort, '127.0.0.3');
  t.match(await elsewhere.hello({ guid: 'other-source' }), { type: 'welcome' }, 'another source is not held back');
  t.match(await first.hello({ guid: 'h1' }), { type: 'welcome' });
  for (const agent of [first, second, elsewhere]) await agent.close();
});

t.test('loopback sources are exempt from the rate limit unless asked', async (t) => {
  const server = await startTestServer(t, { admission: { maxConnectionRate: 1, connectionBurst: 1 } });
  const agents = [];
  for (let i = 0; i < 5; i++) {
    const agent = await TestAgent.connect(server.agentPort);
    t.match(await agent.hello({ guid: `h${i}` }), { type: 'welcome' });
    agents.push(agent);
  }
  for (const agent of agents) await agent.close();
});

t.test('an oversized frame length is refused from its header, and counted as max_frame', async (t) => {
  const server = await startTestServer(t, { connection: { maxFrame: 1024 } });
  const limit = nextEvent(server.events, 'limitReached');
  const agent = await TestAgent.connect(server.agentPort);
  agent.send(Buffer.from([0x00, 0x00, 0x04, 0x01])); // 1025: no payload needs to follow
  t.same(await agent.next(), { type: 'error', code: 'bad_frame', message: 'frame length 1025 exceeds the maximum of 1024' });
  t.match(await limit, { limit: 'max_frame', message: 'frame length 1025 exceeds the maximum of 1024', connId: 1 });
  await agent.closed;
});

t.test('a silent connection gets handshake_timeout, counted as a limit', async (t) => {
  const server = await startTestServer(t, { connection: { handshakeTimeoutMs: 50 } });
  const limit = nextEvent(server.events, 'limitReached');
  const agent = await TestAgent.connect(server.agentPort);
  t.same(await agent.next(), { type: 'error', code: 'handshake_timeout', message: 'no hello within 50 ms' });
  t.match(await limit, { limit: 'handshake_timeout', message: 'no hello within 50 ms' });
});

t.test('output beyond the write-buffer cap drops the agent, counted as write_buffer', async (t) => {
  // A cap below one welcome frame: the first write exceeds it, as if the kernel's buffers to an
  // agent that stopped reading were full (test/fuzz/server-fuzz.test.ts does that for real).
  const server = await startTestServer(t, { metricsRegistry: new Registry(), connection: { maxWriteBufferBytes: 16 } });
  const dropped = nextEvent(server.events, 'disconnected');
  const limit = nextEvent(server.events, 'limitReached');
  const agent = await TestAgent.connect(server.agentPort);
  agent.sendHello({ guid: 'h1' });
  await agent.closed;
  t.match(await dropped, { reason: 'slow_consumer', guid: 'h1' });
  t.match(await limit, { limit: 'write_buffer', message: 'more than 16 bytes queued for an agent that stopped reading' });
  t.match(await (await fetch(`${server.adminUrl}/metrics`)).text(), /agentlb_limit_hits_total\{limit="write_buffer"\} 1\n/);
});

t.test('every refusal at accept is counted on /metrics by limit', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry(), admission: { maxConnections: 1 } });
  const held = await TestAgent.connect(server.agentPort);
  for (let i = 0; i < 3; i++) {
    const refused = await TestAgent.connect(server.agentPort);
    t.same(await refused.next(), busy('this server holds its maximum of 1 agents'));
  }
  const metrics = await (await fetch(`${server.adminUrl}/metrics`)).text();
  t.match(metrics, /agentlb_limit_hits_total\{limit="max_connections"\} 3\n/);
  t.match(metrics, /# HELP agentlb_tls_failures_total /);
  await held.close();
});
