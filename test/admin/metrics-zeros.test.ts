/**
 * Metrics that alerts can use: every agentlb series is exported from the start, at 0, not
 * absent (an alert on `== 0` or on a rate never fires on a series that does not exist), every
 * known value of a counter's label included; agentlb_drain_active follows this server's drain;
 * agentlb_peer_servers counts the other servers by state (cluster mode: test/cluster/membership).
 * A real in-process server, scraped over HTTP.
 */
import { Registry } from 'prom-client';
import t from 'tap';
import { metricValue } from '../../native-bench/admin-client';
import { ERROR_CODES } from '../../src/protocol/messages';
import { api, startTestServer, type TestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

async function scrape(server: TestServer): Promise<string> {
  return (await fetch(`${server.adminUrl}/metrics`)).text();
}

/** Every metric family announced with # TYPE, and whether it has at least one sample line. */
function families(text: string): Map<string, boolean> {
  const found = new Map<string, boolean>();
  for (const [, name] of text.matchAll(/^# TYPE (\S+) \S+$/gm)) found.set(name!, false);
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)![1]!;
    const family = [...found.keys()].find((name) => sample === name || sample.startsWith(`${name}_`));
    if (family !== undefined) found.set(family, true);
  }
  return found;
}

t.test('a fresh server with no agents exports every agentlb series, at 0', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry(), listen: { advertise: 'm1.example:8250' } });
  const text = await scrape(server);
  const agentlb = [...families(text)].filter(([name]) => name.startsWith('agentlb_'));
  t.ok(agentlb.length >= 20, `${agentlb.length} agentlb families`);
  t.same(agentlb.filter(([, hasSample]) => !hasSample).map(([name]) => name), [], 'none without a sample');

  t.equal(metricValue(text, 'agentlb_connected_agents', { zone: 'default', server: 'm1.example:8250' }), 0, 'no agents: 0, not absent');
  for (const result of ['ok', 'closed', ...ERROR_CODES]) t.equal(metricValue(text, 'agentlb_handshakes_total', { result }), 0, `handshakes ${result}`);
  for (const reason of ['ping_timeout', 'closed_by_agent', 'slow_consumer', 'shutting_down', 'unauthorized']) {
    t.equal(metricValue(text, 'agentlb_disconnects_total', { reason }), 0, `disconnects ${reason}`);
  }
  for (const cause of ['handshake', 'settings', 'host-set', 'avoid', 'rebalance']) t.equal(metricValue(text, 'agentlb_hosts_frames_sent_total', { cause }), 0);
  for (const result of ['ok', 'error']) t.equal(metricValue(text, 'agentlb_hosts_frames_acked_total', { result }), 0);
  for (const code of ERROR_CODES) t.equal(metricValue(text, 'agentlb_protocol_errors_total', { code }), 0);
  for (const limit of ['max_connections', 'connection_rate', 'handshake_timeout', 'write_buffer']) t.equal(metricValue(text, 'agentlb_limit_hits_total', { limit }), 0);
  t.equal(metricValue(text, 'agentlb_tls_failures_total', { code: 'client_certificate' }), 0);
  t.equal(metricValue(text, 'agentlb_handshake_duration_seconds_count'), 0);
  t.equal(metricValue(text, 'agentlb_drain_active'), 0);
  for (const state of ['up', 'down', 'stopped']) t.equal(metricValue(text, 'agentlb_peer_servers', { state }), 0, `embedded store: no peers ${state}`);
  t.equal(metricValue(text, 'agentlb_build_info', { node: process.version }), 1);
});

t.test('a zone whose agents all left stays at 0', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry(), listen: { advertise: 'm1.example:8250' } });
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'z-1', zone: 'z1' });
  t.equal(metricValue(await scrape(server), 'agentlb_connected_agents', { zone: 'z1', server: 'm1.example:8250' }), 1);
  const gone = new Promise<void>((resolve) => server.events.on('disconnected', () => resolve()));
  await agent.close();
  await gone;
  t.equal(metricValue(await scrape(server), 'agentlb_connected_agents', { zone: 'z1', server: 'm1.example:8250' }), 0);
});

t.test('agentlb_drain_active is 1 while this server drains', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry(), listen: { advertise: 'm1.example:8250' } });
  t.equal((await api(server, 'PUT', '/api/settings', { body: { host: 'm1.example:8250,m2.example:8250' } })).status, 200);
  const drained = await api(server, 'POST', '/api/servers/drain', { body: {} });
  t.equal(drained.status, 200, JSON.stringify(drained.body));
  t.equal(metricValue(await scrape(server), 'agentlb_drain_active'), 1);
  t.equal((await api(server, 'POST', '/api/servers/undrain', { body: {} })).status, 200);
  t.equal(metricValue(await scrape(server), 'agentlb_drain_active'), 0);
});
