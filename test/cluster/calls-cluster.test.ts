/**
 * Calls in cluster mode, routed between servers through PostgreSQL, with real `agentlb
 * server` processes on a real PostgreSQL: a call asked of server A for an agent held by
 * server B is run by B's agent and answered through A; a fan-out through A over agents on A
 * and on B returns every line (each named by the server that ran it); B killed mid-call gives
 * server_lost (502) within the call's timeout, and the call was sent to the agent once.
 */
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import { pollUntil } from '../helpers/pg-store-fixtures';
import { health, startMemberProcess, type MemberProcess } from './cluster-helpers';
import { api, TEST_TOKEN } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

/** A scripted agent on `server` that answers every call with `answer(method)`, or never for `hang`. */
async function agentOn(server: MemberProcess, guid: string, calls: string[]): Promise<{ agent: TestAgent; hostId: number }> {
  const agent = await TestAgent.connect(server.agentPort);
  const { hostId } = await agent.hello({ guid });
  agent.sock.on('message', (message) => {
    if (message.type !== 'call') return;
    calls.push(`${guid}:${message.method}`);
    if (message.method !== 'hang') agent.send({ type: 'result', id: message.id, ok: true, value: `${message.method} on ${guid}` });
  });
  return { agent, hostId };
}

/**
 * Every server knows that each of `hostIds` is connected to the server it expects, and holds
 * them all in memory: /api/hosts reads PostgreSQL, while a call is refused as an unknown host
 * by a server that has not yet learnt of it (/healthz `hosts`).
 */
async function everyoneKnows(servers: MemberProcess[], where: Map<number, string>): Promise<boolean> {
  return pollUntil(async () => {
    for (const server of servers) {
      const hosts = (await api(server, 'GET', '/api/hosts')).body as { id: number; server: string | null }[] | undefined;
      if (hosts === undefined) return false;
      for (const [id, holder] of where) if (hosts.find((host) => host.id === id)?.server !== holder) return false;
      if (((await health(server)).hosts ?? 0) < where.size) return false;
    }
    return true;
  }, 20_000);
}

async function fanout(server: MemberProcess, body: unknown): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${server.adminUrl}/api/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

t.test('calls routed between server processes through PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const url = await pg.database();
  const a = await startMemberProcess(t, url, 'a.example:8250');
  const b = await startMemberProcess(t, url, 'b.example:8250');
  const calls: string[] = [];
  const onA = await Promise.all(['a1', 'a2'].map((guid) => agentOn(a, guid, calls)));
  const onB = await Promise.all(['b1', 'b2', 'b3'].map((guid) => agentOn(b, guid, calls)));
  t.teardown(() => Promise.all([...onA, ...onB].map(({ agent }) => agent.close())));
  const where = new Map<number, string>([...onA.map(({ hostId }) => [hostId, a.name] as const), ...onB.map(({ hostId }) => [hostId, b.name] as const)]);
  t.ok(await everyoneKnows([a, b], where), 'both servers know where every agent is');

  await t.test('a call made through A is answered by the agent B holds', async (t) => {
    const hostId = onB[0]!.hostId;
    const answer = await api(a, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'x', params: { n: 1 } } });
    t.equal(answer.status, 200);
    t.match(answer.body, { hostId, guid: 'b1', server: b.name, status: 'ok', ok: true, value: 'x on b1' });
    t.same(calls.filter((entry) => entry === 'b1:x'), ['b1:x'], 'run once, on b1');
    // B logs the call once, naming the client that asked A (not A) and A as the carrier.
    const logged = await b.process.waitForLog((line) => line.event === 'call' && line['method'] === 'x');
    t.match(logged, { hostId, outcome: 'ok', caller: /^(::ffff:)?127\.0\.0\.1:\d+$/, via: a.name });
    t.notOk(a.process.logs.some((line) => line.event === 'call' && line['method'] === 'x'), 'A did not log it a second time');
  });

  await t.test('a fan-out through A over agents on A and on B returns every line', async (t) => {
    const lines = await fanout(a, { method: 'fan', all: true, concurrency: 8 });
    const summary = lines.at(-1)!;
    const perHost = lines.slice(0, -1).sort((x, y) => (x['hostId'] as number) - (y['hostId'] as number));
    t.same(
      perHost.map((line) => [line['guid'], line['server'], line['status'], line['value']]),
      [...onA.map((_, i) => [`a${i + 1}`, a.name, 'ok', `fan on a${i + 1}`]), ...onB.map((_, i) => [`b${i + 1}`, b.name, 'ok', `fan on b${i + 1}`])],
    );
    t.match(summary, { done: true, total: 5, ok: 5, server_lost: 0 });
    t.same(calls.filter((entry) => entry.endsWith(':fan')).sort(), ['a1:fan', 'a2:fan', 'b1:fan', 'b2:fan', 'b3:fan'], 'each host ran it once');
  });

  await t.test('B killed mid-call: server_lost within the timeout, the call sent once', async (t) => {
    const hostId = onB[1]!.hostId;
    const started = Date.now();
    const pending = api(a, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'hang', timeout: 60 } });
    t.ok(await pollUntil(async () => calls.includes('b2:hang'), 20_000), 'the agent on B got the call');
    b.process.child.kill('SIGKILL');
    const answer = await pending;
    t.equal(answer.status, 502);
    t.match(answer.body, { status: 'server_lost', server: b.name, hostId, guid: 'b2' });
    t.match((answer.body as { error: string }).error, /went away before the call's result came back; the call may have run, and is not retried/);
    t.ok(Date.now() - started < 60_000, 'within the timeout');
    t.same(calls.filter((entry) => entry === 'b2:hang'), ['b2:hang'], 'sent once, not retried');
  });
});
