/**
 * Limits on new hosts (audit: no cap, and one source registered 10 000 fake hosts at
 * 3 300/s): --max-hosts and the per-source new-host rate, on a real server with real sockets
 * from distinct loopback addresses. Known guids always reconnect.
 */
import t from 'tap';
import type { ServerEventMap } from '../../src/server/events';
import { startTestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

const busy = (message: string) => ({ type: 'error', code: 'server_busy', message });

t.test('--max-hosts: a new guid beyond it gets server_busy; known guids still connect', async (t) => {
  const server = await startTestServer(t, { registration: { maxHosts: 2 } });
  const seen: ServerEventMap['limitReached'][] = [];
  server.events.on('limitReached', (e) => seen.push(e));
  const agents = [await TestAgent.connect(server.agentPort), await TestAgent.connect(server.agentPort)];
  await agents[0]!.hello({ guid: 'h1' });
  await agents[1]!.hello({ guid: 'h2' });
  const third = await TestAgent.connect(server.agentPort);
  third.sendHello({ guid: 'h3' });
  t.same(await third.next(), busy("this server's registry holds its maximum of 2 hosts; no new host can register"));
  await third.closed;
  t.match(seen, [{ limit: 'max_hosts' }]);
  await agents[0]!.close();
  const again = await TestAgent.connect(server.agentPort);
  t.match(await again.hello({ guid: 'h1' }), { type: 'welcome', hostId: 1 }, 'a known guid reconnects at the cap');
  for (const agent of [again, agents[1]!]) await agent.close();
});

t.test('new hosts per source: ten seconds worth at once, then server_busy; other sources and known guids pass', async (t) => {
  const server = await startTestServer(t, { admission: { rateLimitLoopback: true, maxConnectionRate: 0 }, registration: { newHostRate: 1 } });
  const seen: ServerEventMap['limitReached'][] = [];
  server.events.on('limitReached', (e) => seen.push(e));
  const agents: TestAgent[] = [];
  for (let i = 0; i < 10; i++) {
    const agent = await TestAgent.connect(server.agentPort, '127.0.0.2');
    await agent.hello({ guid: `burst-${i}` });
    agents.push(agent);
  }
  const refused = await TestAgent.connect(server.agentPort, '127.0.0.2');
  refused.sendHello({ guid: 'one-too-many' });
  t.same(await refused.next(), busy('too many new hosts from 127.0.0.2 (limit 1 per second)'));
  t.match(seen, [{ limit: 'new_host_rate', remoteAddress: /^127\.0\.0\.2:\d+$/ }]);
  await agents[0]!.close();
  const known = await TestAgent.connect(server.agentPort, '127.0.0.2');
  t.match(await known.hello({ guid: 'burst-0' }), { type: 'welcome' }, 'a known guid is not counted');
  const elsewhere = await TestAgent.connect(server.agentPort, '127.0.0.3');
  t.match(await elsewhere.hello({ guid: 'from-elsewhere' }), { type: 'welcome' }, 'another source has its own bucket');
  for (const agent of [...agents.slice(1), known, elsewhere]) await agent.close();
});

t.test('loopback is exempt by default', async (t) => {
  const server = await startTestServer(t, { registration: { newHostRate: 1 } });
  for (let i = 0; i < 15; i++) {
    const agent = await TestAgent.connect(server.agentPort);
    await agent.hello({ guid: `local-${i}` });
    await agent.close();
  }
  t.equal(server.controller.registeredHosts, 15);
});
