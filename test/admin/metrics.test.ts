/**
 * GET /metrics on a real server with real agents: the metrics move when agents connect, get
 * lists, ack, break the protocol and leave; promtool (Debian's `prometheus` package) accepts
 * the exposition when it is installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { Registry } from 'prom-client';
import t from 'tap';
import { metricValue } from '../../native-bench/admin-client';
import { api, nextEvent, startTestServer, type TestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

/** Whether `promtool` (Debian package `prometheus`) is on PATH. */
function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function scrape(server: TestServer): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${server.adminUrl}/metrics`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

t.test('the metrics move with agents', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry() });
  const first = await scrape(server);
  t.equal(first.status, 200);
  t.match(first.type, /^text\/plain; version=0\.0\.4/);
  t.equal(metricValue(first.text, 'agentlb_handshakes_total', { result: 'ok' }), 0, 'no handshake yet: 0, exported from the start');
  t.ok(metricValue(first.text, 'process_resident_memory_bytes')! > 0, 'default process metrics');
  t.ok(metricValue(first.text, 'nodejs_eventloop_lag_p99_seconds') !== undefined, 'event-loop delay');
  const version = metricValue(first.text, 'agentlb_settings_version')!;

  const agent = await TestAgent.connect(server.agentPort);
  t.teardown(() => agent.sock.destroy());
  await agent.hello({ guid: 'metrics-1', zone: 'z1' });
  const hosts = await agent.next();
  if (hosts.type !== 'hosts') throw new Error(`expected hosts, got ${hosts.type}`);
  const acked = nextEvent(server.events, 'acked');
  agent.send({ type: 'ack', seq: hosts.seq, ok: true });
  await acked;

  let text = (await scrape(server)).text;
  t.equal(metricValue(text, 'agentlb_connected_agents', { zone: 'z1' }), 1);
  t.equal(metricValue(text, 'agentlb_registered_hosts'), 1);
  t.equal(metricValue(text, 'agentlb_handshakes_total', { result: 'ok' }), 1);
  t.equal(metricValue(text, 'agentlb_handshake_duration_seconds_count'), 1);
  t.equal(metricValue(text, 'agentlb_hosts_frames_sent_total', { cause: 'handshake' }), 1);
  t.equal(metricValue(text, 'agentlb_hosts_frames_acked_total', { result: 'ok' }), 1);
  t.equal(metricValue(text, 'agentlb_ack_latency_seconds_count'), 1);

  // A settings change: the version moves and the agent is sent its new list.
  const sent = nextEvent(server.events, 'hostsSent');
  t.equal((await api(server, 'PUT', '/api/settings', { body: { host: '10.1.1.1,10.1.1.2' } })).status, 200);
  await sent;
  text = (await scrape(server)).text;
  t.equal(metricValue(text, 'agentlb_settings_version'), version + 1);
  t.equal(metricValue(text, 'agentlb_hosts_frames_sent_total', { cause: 'settings' }), 1);

  // A protocol error from a second agent is counted by code, and its disconnect by reason.
  const bad = await TestAgent.connect(server.agentPort);
  const gone = nextEvent(server.events, 'disconnected', (e) => e.reason === 'protocol_error');
  bad.send(Buffer.from([0, 0, 0, 0]));
  await gone;
  text = (await scrape(server)).text;
  t.equal(metricValue(text, 'agentlb_protocol_errors_total', { code: 'bad_frame' }), 1);
  t.equal(metricValue(text, 'agentlb_disconnects_total', { reason: 'protocol_error' }), 1);

  // The first agent leaves: the gauge follows.
  const left = nextEvent(server.events, 'disconnected', (e) => e.guid === 'metrics-1');
  agent.sock.end();
  await left;
  text = (await scrape(server)).text;
  t.equal(metricValue(text, 'agentlb_connected_agents', { zone: 'z1' }), 0, 'no agent left in z1: 0, still exported');
  t.equal(metricValue(text, 'agentlb_pool_threads'), 0, 'no burst pool started yet');
});

t.test('no default metric that walks every connection on the loop; open fds read off it', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry() });
  const before = metricValue((await scrape(server)).text, 'process_open_fds')!;
  const agents = await Promise.all(Array.from({ length: 5 }, () => TestAgent.connect(server.agentPort)));
  t.teardown(() => agents.forEach((agent) => agent.sock.destroy()));
  await Promise.all(agents.map((agent, i) => agent.hello({ guid: `fds-${i}` })));
  const { text } = await scrape(server);
  t.ok(metricValue(text, 'process_open_fds')! >= before + 5, `process_open_fds counts the 5 agents' sockets (${before} before)`);
  t.notOk(/^nodejs_active_handles[{ ]/m.test(text), 'nodejs_active_handles (one JS object per socket, per scrape) is not exported');
  t.notOk(/^nodejs_active_resources[{ ]/m.test(text), 'nor nodejs_active_resources (one string per socket, per scrape)');
  t.ok(metricValue(text, 'agentlb_connected_agents')! >= 5, 'agentlb_connected_agents counts the agents');
});

t.test('promtool check metrics accepts the exposition', { skip: hasPromtool() ? false : 'promtool is not installed (Debian package `prometheus`)' }, async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry() });
  const agent = await TestAgent.connect(server.agentPort);
  t.teardown(() => agent.sock.destroy());
  await agent.hello({ guid: 'promtool-1' });
  const { text } = await scrape(server);
  const child = execFile('promtool', ['check', 'metrics']);
  const result = new Promise<{ code: number | null; out: string }>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
  child.stdin!.end(text);
  const { code, out } = await result;
  t.equal(out.trim(), '', 'no lint problem reported');
  t.equal(code, 0);
});
