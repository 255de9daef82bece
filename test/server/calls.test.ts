/**
 * Calls through one real server (README "Calls"): POST /api/hosts/ID/call with every status it
 * answers (200, 400, 401, 404, 409, 422, 429, 504), POST /api/calls streaming NDJSON (lines as
 * hosts finish, then the summary; targets by list, zone or all), the `call` log line that never
 * carries params or values, and the call metrics. Agents are real Agent instances (version 2)
 * with in-process handlers, plus a scripted version 1 agent.
 */
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/agent';
import { makeAgent, next } from '../agent/harness';
import type { Logger } from '../../src/log';
import { api, startTestServer, TEST_TOKEN, type TestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

/** A real agent on `server` with guid `guid` in `zone`, connected; returns it and its host id. */
async function agentOn(t: Test, server: TestServer, guid: string, zone = 'default'): Promise<{ agent: Agent; hostId: number }> {
  const made = await makeAgent(t, `host=127.0.0.1:${server.agentPort}\nguid=${guid}\nzone=${zone}\n`);
  made.agent.start();
  const { hostId } = await next(made.agent, 'connected');
  return { agent: made.agent, hostId };
}

/** POST /api/calls, read to the end: the NDJSON lines parsed, and the content type. */
async function fanout(server: TestServer, body: unknown): Promise<{ status: number; type: string | null; lines: Record<string, unknown>[] }> {
  const response = await fetch(`${server.adminUrl}/api/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), lines: text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

function captureLogger(lines: Record<string, unknown>[]): Logger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pino = require('pino') as typeof import('pino');
  return pino.pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) as unknown as Logger;
}

t.test('a single call: 200 with the value; each refusal names its reason', async (t) => {
  const logs: Record<string, unknown>[] = [];
  const registry = new Registry();
  const server = await startTestServer(t, { logger: captureLogger(logs), metricsRegistry: registry, connection: { maxCallsInFlight: 1 } });
  const { agent, hostId } = await agentOn(t, server, 'g-one');
  let release: (() => void) | undefined;
  agent.handle('echo', (params) => params);
  agent.handle('hold', () => new Promise((resolve) => (release = () => resolve('held'))));
  agent.handle('never', () => new Promise(() => undefined));

  const ok = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'echo', params: { secret: 's3cret', n: [1, 2] } } });
  t.equal(ok.status, 200);
  t.match(ok.body, { hostId, guid: 'g-one', server: String, ok: true, value: { secret: 's3cret', n: [1, 2] }, ms: Number });
  t.same(Object.keys(ok.body as object), ['hostId', 'guid', 'server', 'status', 'ok', 'value', 'ms']);

  const pong = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'agentlb.ping' } });
  t.match(pong, { status: 200, body: { ok: true, value: 'pong', status: 'ok' } });
  const unknown = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'nope' } });
  t.match(unknown, { status: 200, body: { ok: false, status: 'error', error: { code: 'unknown_method', message: 'no method nope on this agent' } } }, 'the agent answered: 200');

  t.same(await api(server, 'POST', '/api/hosts/999/call', { body: { method: 'agentlb.ping' } }).then((a) => [a.status, a.body]), [404, { error: 'no host with id 999' }]);
  t.same((await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: '../x' } })).body, { error: 'method "../x" must be [A-Za-z0-9._-] only, not starting with "."' });
  t.same((await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: {} })).body, { error: 'method is required' });
  t.same((await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'echo', timeout: 0 } })).body, { error: 'timeout must be seconds in (0, 3600], got 0' });
  t.same((await api(server, 'POST', `/api/hosts/x/call`, { body: { method: 'echo' } })).body, { error: 'host id must be a non-negative integer, got "x"' });
  const huge = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'echo', params: 'x'.repeat(66_000) }, token: TEST_TOKEN });
  t.same([huge.status, huge.body], [413, { error: 'body exceeds 65536 bytes' }], 'beyond the admin body limit');
  const big = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'echo', params: Array.from({ length: 8000 }, () => 1.5) } });
  t.same([big.status, big.body], [400, { error: 'too_large: the params do not fit one call frame of 65536 bytes' }], 'params within the body limit but beyond one frame');
  t.equal((await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'echo' }, token: null })).status, 401, 'the admin token is required');

  // 429: maxCallsInFlight is 1 and a call holds it.
  const held = api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'hold' } });
  await waitUntil(() => release !== undefined);
  const busy = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'agentlb.ping' } });
  t.same([busy.status, (busy.body as { error: string }).error], [429, `host ${hostId} already has its maximum of calls in flight`]);
  release!();
  t.match((await held).body, { ok: true, value: 'held' });

  // 504: the agent never answers; it is sent cancel.
  const timedOut = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'never', timeout: 0.2 } });
  t.equal(timedOut.status, 504);
  t.match(timedOut.body, { error: /^(no result within 200 ms; the agent was sent cancel|never did not finish within 200 ms)$/, code: 'timeout', status: 'timeout', ok: false });

  // 409: a host that is registered but not connected.
  await agent.stop();
  await waitUntil(() => server.agentCount === 0);
  const gone = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'agentlb.ping' } });
  t.same([gone.status, (gone.body as { error: string }).error], [409, `host ${hostId} (g-one) is not connected to ${(ok.body as { server: string }).server}`]);

  const callLines = logs.filter((line) => line['event'] === 'call');
  t.ok(callLines.length >= 6, 'one log line per call');
  t.match(callLines[0], { level: 30, method: 'echo', hostId, guid: 'g-one', caller: /^127\.0\.0\.1:\d+$/, outcome: 'ok', ms: Number });
  t.notOk(JSON.stringify(logs).includes('s3cret'), 'params never reach the log');
  const metrics = await registry.metrics();
  t.match(metrics, /agentlb_calls_total\{method="echo",outcome="ok"\} 1/);
  t.match(metrics, /agentlb_calls_total\{method="never",outcome="timeout"\} 1/);
  t.match(metrics, /agentlb_call_duration_seconds_count \d+/);
  t.match(metrics, /agentlb_calls_in_flight 0/);
});

t.test('a version 1 agent cannot take calls: 422', async (t) => {
  const server = await startTestServer(t);
  const v1 = await TestAgent.connect(server.agentPort);
  const welcome = await v1.hello({ guid: 'old', version: 1 });
  const answer = await api(server, 'POST', `/api/hosts/${welcome.hostId}/call`, { body: { method: 'agentlb.ping' } });
  t.same([answer.status, (answer.body as { error: string }).error], [422, `host ${welcome.hostId} (old) speaks protocol 1, which has no calls`]);
  // A result from a version 1 agent is a protocol error.
  v1.send({ type: 'result', id: 1, ok: true });
  let reply = await v1.next();
  while (reply.type === 'hosts') reply = await v1.next();
  t.same(reply, { type: 'error', code: 'bad_message', message: '"result" is a version 2 message; this connection speaks version 1' });
  await v1.close();
});

t.test('an agent that disconnects mid-call: disconnected (502), never retried', async (t) => {
  const server = await startTestServer(t);
  const agent = await TestAgent.connect(server.agentPort);
  const { hostId } = await agent.hello({ guid: 'goes-away' });
  let calls = 0;
  agent.sock.on('message', (message) => {
    if (message.type !== 'call') return;
    calls++;
    agent.sock.destroy(); // killed while its call runs
  });
  const answer = await api(server, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'work', timeout: 30 } });
  t.equal(answer.status, 502);
  t.match(answer.body, { error: `host ${hostId} (goes-away) disconnected before it answered; the call is not retried`, code: 'disconnected', status: 'disconnected' });
  t.equal(calls, 1, 'sent once');
  const fan = await fanout(server, { method: 'work', hosts: [hostId] });
  t.match(fan.lines, [{ status: 'not_connected' }, { done: true, not_connected: 1 }], 'gone now: not connected');
});

t.test('a fan-out streams one NDJSON line per host, then the summary', async (t) => {
  const server = await startTestServer(t);
  const a = await agentOn(t, server, 'fa', 'z1');
  const b = await agentOn(t, server, 'fb', 'z1');
  const c = await agentOn(t, server, 'fc', 'z2');
  const v1 = await TestAgent.connect(server.agentPort);
  const old = await v1.hello({ guid: 'fold', zone: 'z2', version: 1 });
  b.agent.handle('who', () => 'b');
  a.agent.handle('who', async () => new Promise((resolve) => setTimeout(() => resolve('a'), 100)));
  c.agent.handle('who', () => {
    throw new Error('c refuses');
  });

  const all = await fanout(server, { method: 'who', all: true, concurrency: 2 });
  t.equal(all.status, 200);
  t.equal(all.type, 'application/x-ndjson');
  const byHost = new Map(all.lines.slice(0, -1).map((line) => [line['hostId'], line]));
  t.equal(all.lines.length, 5, 'four hosts and the summary');
  t.match(byHost.get(a.hostId), { status: 'ok', ok: true, value: 'a' });
  t.match(byHost.get(b.hostId), { status: 'ok', value: 'b' });
  t.match(byHost.get(c.hostId), { status: 'error', ok: false, error: { code: 'handler_failed', message: 'c refuses' } });
  t.match(byHost.get(old.hostId), { status: 'unsupported', ok: false });
  t.match(all.lines.at(-1), { done: true, total: 4, ok: 2, error: 1, timeout: 0, not_connected: 0, unsupported: 1, disconnected: 0, server_lost: 0, ms: Number });
  t.ok(all.lines.findIndex((l) => l['hostId'] === a.hostId) > all.lines.findIndex((l) => l['hostId'] === b.hostId), 'lines come as hosts finish: the slow one after');

  const zone = await fanout(server, { method: 'agentlb.ping', zone: 'z1' });
  t.same(zone.lines.slice(0, -1).map((l) => l['hostId']).sort(), [a.hostId, b.hostId].sort());
  const listed = await fanout(server, { method: 'agentlb.ping', hosts: [c.hostId] });
  t.same(listed.lines.map((l) => l['status'] ?? l['done']), ['ok', true]);

  await c.agent.stop();
  await waitUntil(() => server.agentCount === 3);
  const after = await fanout(server, { method: 'agentlb.ping', hosts: [c.hostId, a.hostId] });
  t.match(after.lines.at(-1), { done: true, total: 2, ok: 1, not_connected: 1 });

  const refusals: [unknown, string][] = [
    [{ method: 'agentlb.ping' }, 'name exactly one of hosts, zone or all (got none)'],
    [{ method: 'agentlb.ping', all: true, zone: 'z1' }, 'name exactly one of hosts, zone or all (got zone, all)'],
    [{ method: 'agentlb.ping', all: false }, 'all must be true, got false'],
    [{ method: 'agentlb.ping', hosts: [] }, 'hosts must be a non-empty array of host ids'],
    [{ method: 'agentlb.ping', hosts: ['1'] }, 'hosts must hold host ids (non-negative integers), got "1"'],
    [{ method: 'agentlb.ping', hosts: [4242] }, 'no host with id 4242'],
    [{ method: 'agentlb.ping', all: true, concurrency: 0 }, 'concurrency must be an integer in 1..20000, got 0'],
  ];
  for (const [body, error] of refusals) t.same(await api(server, 'POST', '/api/calls', { body }).then((r) => [r.status, r.body]), [400, { error }], error);
  await v1.close();
});

t.test('a client that goes away mid fan-out: its calls are cancelled, nothing more starts', async (t) => {
  const server = await startTestServer(t);
  const agents = await Promise.all(['ca', 'cb', 'cc'].map((guid) => agentOn(t, server, guid)));
  const aborted: string[] = [];
  let started = 0;
  for (const { agent } of agents) {
    agent.handle('long', (_p, context) => {
      started++;
      return new Promise((resolve) => context.signal.addEventListener('abort', () => (aborted.push(context.method), resolve(null))));
    });
  }
  const controller = new AbortController();
  const response = await fetch(`${server.adminUrl}/api/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ method: 'long', all: true, concurrency: 2, timeout: 60 }),
    signal: controller.signal,
  });
  t.equal(response.status, 200);
  await waitUntil(() => started === 2);
  controller.abort();
  await waitUntil(() => aborted.length === 2);
  t.equal(started, 2, 'the third host was never called');
  await waitUntil(() => server.calls.inFlight === 0);
  t.equal(server.calls.inFlight, 0);
});

/** Polls `condition` (state with no event of its own) until it holds; generous deadline. */
async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
