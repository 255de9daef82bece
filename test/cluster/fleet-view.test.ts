/**
 * The cluster-wide host view and the server lifecycle, with real `agentlb server` processes
 * on one real PostgreSQL: GET /api/hosts through any server names the server holding each
 * agent; removal through another server is refused with 409 and forced through, the holder
 * disconnecting the agent; a server killed with -9 has its hosts read disconnected once it
 * is listed down; SIGTERM lists a server `stopped` at once; `servers forget` removes it and a
 * forgotten server, like one that is not an entry of `host`, is never avoided; a zone change
 * moves the host for every server.
 *
 * Facts inside the server processes are polled through the API with a generous deadline
 * (WAIT_MS); the agents' side is awaited on their sockets.
 */
import t, { type Test } from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import type { HostView } from '../../src/api/hosts';
import type { ServerRecord } from '../../src/store/types';
import { runCliProcess, cleanEnv, startServerProcess, type ServerProcess } from '../helpers/cli';
import { pollUntil } from '../helpers/pg-store-fixtures';
import { api, TEST_TOKEN } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';
import { knowsHosts } from './cluster-helpers';

const WAIT_MS = 30_000;
/** Down after three silent intervals (3 s): a margin a loaded 2-core machine keeps. */
const HEARTBEAT_S = '1';

type Member = ServerProcess & { address: string; adminUrl: string };

async function startMember(t: Test, url: string, address: string): Promise<Member> {
  const server = await startServerProcess(t, [
    '--store', url,
    '--admin-token', TEST_TOKEN,
    '--data-dir', t.testdir(),
    '--advertise', address,
    '--heartbeat-interval', HEARTBEAT_S,
  ]);
  return Object.assign(server, { address, adminUrl: `http://127.0.0.1:${server.adminPort}` });
}

async function hosts(server: { adminUrl: string }, query = ''): Promise<HostView[]> {
  const answer = await api(server, 'GET', `/api/hosts${query}`);
  if (answer.status !== 200) throw new Error(`GET /api/hosts${query}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as HostView[];
}

async function serverState(server: { adminUrl: string }, address: string): Promise<ServerRecord | undefined> {
  return ((await api(server, 'GET', '/api/servers')).body as ServerRecord[]).find((record) => record.address === address);
}

async function avoided(server: { adminUrl: string }): Promise<string[]> {
  return ((await api(server, 'GET', '/api/plan')).body as { avoided: string[] }).avoided;
}

/** Waits until `server` names `holder` for every guid (a connection is recorded within one flush). */
function namesHolders(server: { adminUrl: string }, expected: Record<string, string | null>): Promise<boolean> {
  return pollUntil(async () => {
    const listed = await hosts(server);
    return Object.entries(expected).every(([guid, holder]) => listed.find((h) => h.guid === guid)?.server === holder);
  }, WAIT_MS);
}

t.test('the fleet-wide host view and the server lifecycle', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const url = await pg.database();
  const a = await startMember(t, url, 'a.test:8250');
  const b = await startMember(t, url, 'b.test:8250');
  const c = await startMember(t, url, 'c.test:8250');
  // c is deliberately not an entry of host: it must never be listed as avoided.
  t.equal((await api(a, 'PUT', '/api/settings', { body: { host: 'a.test:8250,b.test:8250' } })).status, 200);

  const onA = await TestAgent.connect(a.agentPort);
  await onA.hello({ guid: 'on-a' });
  const onB = await TestAgent.connect(b.agentPort);
  await onB.hello({ guid: 'on-b' });
  const onC = await TestAgent.connect(c.agentPort);
  await onC.hello({ guid: 'on-c' });
  const never = await TestAgent.connect(b.agentPort);
  await never.hello({ guid: 'gone' });
  await never.close();

  await t.test('GET /api/hosts through any server names the server holding each agent', async (t) => {
    const expected = { 'on-a': 'a.test:8250', 'on-b': 'b.test:8250', 'on-c': 'c.test:8250', gone: null };
    for (const server of [a, b, c]) t.ok(await namesHolders(server, expected), `${server.address} names every holder`);
    const fromC = await hosts(c);
    t.match(fromC.find((h) => h.guid === 'on-a'), { connected: true, server: 'a.test:8250', lastServer: 'a.test:8250', connectedSince: /^\d{4}-/, remoteAddress: /^127\.0\.0\.1:\d+$/, lastSeen: /^\d{4}-/ });
    t.match(fromC.find((h) => h.guid === 'gone'), { connected: false, server: null, connectedSince: null, lastServer: 'b.test:8250', lastSeen: /^\d{4}-/ });
    t.same((await hosts(c, '?server=a.test%3A8250')).map((h) => h.guid), ['on-a']);
    t.same((await hosts(c, '?connected=false')).map((h) => h.guid), ['gone']);
    const page = await api(c, 'GET', '/api/hosts?limit=2');
    t.same((page.body as HostView[]).map((h) => h.guid), ['on-a', 'on-b']);
    t.match(page.headers.get('link'), /after=2>; rel="next"$/);

    const table = await runCliProcess(['hosts', '--admin', `127.0.0.1:${c.adminPort}`, '--token', TEST_TOKEN, '--page-size', '1']);
    t.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    t.match(lines[0], /^ID +GUID +ZONE +CONNECTED +SERVER +LIST +ACKED$/);
    t.same(lines.slice(1).map((line) => line.split(/ +/).slice(0, 2).concat(line.split(/ +/)[4]!)), [
      ['1', 'on-a', 'a.test:8250'],
      ['2', 'on-b', 'b.test:8250'],
      ['3', 'on-c', 'c.test:8250'],
      ['4', 'gone', '-'],
    ], 'every page, one table, with the SERVER column');
  });

  await t.test('a host connected to A is refused removal through B, and removed with force (A disconnects it)', async (t) => {
    // B decides from its memory, which learns of A's host through NOTIFY (/api/hosts read PostgreSQL).
    t.ok(await knowsHosts(b, ['on-a', 'on-b', 'on-c', 'gone'], WAIT_MS), 'b holds the four hosts');
    const refused = await api(b, 'DELETE', '/api/hosts/1');
    t.same([refused.status, refused.body], [
      409,
      { error: 'host 1 (on-a) is connected to a.test:8250; stop its agent first, or add ?force=true to disconnect it', hostId: 1, guid: 'on-a', server: 'a.test:8250' },
    ]);
    const cli = await runCliProcess(['hosts', 'remove', '1', '--admin', `127.0.0.1:${b.adminPort}`, '--token', TEST_TOKEN]);
    t.same([cli.code, cli.stdout], [1, '']);
    t.match(cli.stderr, /is connected to a\.test:8250; stop its agent first, or run `agentlb hosts remove 1 --force`/);
    t.notMatch(cli.stderr, /\?force=true/);

    const forced = await runCliProcess(['hosts', 'remove', '1', '--force', '--admin', `127.0.0.1:${b.adminPort}`, '--token', TEST_TOKEN]);
    t.equal(forced.code, 0, forced.stderr);
    t.equal(forced.stdout, 'removed host 1 (on-a); 0 agent(s) of the server asked sent a new list (each other server re-sends to its own agents)\n');
    await onA.closed; // A closed it on the removal's announcement
    await a.waitForLog((line) => line.event === 'disconnected' && line['guid'] === 'on-a' && line['reason'] === 'removed');
    t.pass('A disconnected the removed host');
    t.ok(await pollUntil(async () => (await hosts(a)).every((h) => h.guid !== 'on-a'), WAIT_MS), 'gone from every view');
  });

  await t.test('a zone change moves the host, for every server', async (t) => {
    await onB.close();
    const again = await TestAgent.connect(b.agentPort);
    await again.hello({ guid: 'on-b', zone: 'elsewhere' });
    const moved = await b.waitForLog((line) => line.event === 'zone_changed');
    t.match(moved, { fromZone: 'default', toZone: 'elsewhere', host: { id: 2, guid: 'on-b', zone: 'elsewhere' } });
    t.ok(await pollUntil(async () => (await hosts(a, '?zone=elsewhere')).map((h) => h.guid).join() === 'on-b', WAIT_MS), 'A sees it in its new zone');
    t.same((await hosts(a, '?zone=default')).map((h) => h.guid), ['on-c', 'gone']);
    await again.close();
  });

  await t.test('a killed server\'s hosts turn disconnected once it is listed down; it is never avoided (not in host)', async (t) => {
    t.equal((await hosts(a)).find((h) => h.guid === 'on-c')?.server, 'c.test:8250');
    c.child.kill('SIGKILL');
    await c.exited;
    t.ok(await pollUntil(async () => (await serverState(a, 'c.test:8250'))?.state === 'down', WAIT_MS), 'c listed down');
    t.match((await hosts(a)).find((h) => h.guid === 'on-c'), { connected: false, server: null, lastServer: 'c.test:8250', lastSeen: /^\d{4}-/ });
    t.same(await hosts(a, '?server=c.test%3A8250'), []);
    // Not avoided now; the next test sees a stopped entry avoided beside it, proving the watch ran.
    t.same(await avoided(a), [], 'a down server that is not an entry of host is not avoided');
  });

  await t.test('SIGTERM lists the server stopped at once; servers forget removes it; a forgotten server is never avoided', async (t) => {
    const held = await TestAgent.connect(a.agentPort);
    await held.hello({ guid: 'held-by-a' });
    t.ok(await namesHolders(b, { 'held-by-a': 'a.test:8250' }));
    a.child.kill('SIGTERM');
    t.equal(await a.exited, 0);
    // Right after the exit: a stopped server reads stopped, not up (and not yet down).
    t.match(await serverState(b, 'a.test:8250'), { state: 'stopped', up: false, stoppedAt: /^\d{4}-/ });
    t.match((await hosts(b)).find((h) => h.guid === 'held-by-a'), { connected: false, server: null, lastServer: 'a.test:8250' });
    t.ok(await pollUntil(async () => (await avoided(b)).includes('a.test:8250'), WAIT_MS), 'a stopped entry of host is avoided');
    t.same(await avoided(b), ['a.test:8250'], 'c, down for a while but no entry of host, is not');

    const admin = ['--admin', `127.0.0.1:${b.adminPort}`, '--token', TEST_TOKEN];
    const listed = await runCliProcess(['servers', ...admin]);
    t.match(listed.stdout, /\na\.test:8250 +stopped +/);
    const up = await runCliProcess(['servers', 'forget', 'b.test:8250', ...admin]);
    t.same([up.code, up.stdout], [1, '']);
    t.match(up.stderr, /^agentlb servers: DELETE \/api\/servers\/b\.test%3A8250 failed \(HTTP 409\): server b\.test:8250 is up/);
    const unknown = await api(b, 'DELETE', '/api/servers/nowhere.test%3A1');
    t.same([unknown.status, unknown.body], [404, { error: 'no server "nowhere.test:1" in the server registry' }]);

    const forgot = await runCliProcess(['servers', 'forget', 'a.test:8250', ...admin], cleanEnv());
    t.same([forgot.code, forgot.stdout, forgot.stderr], [0, 'forgot server a.test:8250 (was stopped)\n', '']);
    t.same(((await api(b, 'GET', '/api/servers')).body as ServerRecord[]).map((s) => s.address), ['b.test:8250', 'c.test:8250']);
    t.ok(await pollUntil(async () => (await avoided(b)).length === 0, WAIT_MS), 'a forgotten server is no longer avoided');
    t.match((await hosts(b)).find((h) => h.guid === 'held-by-a'), { connected: false, lastServer: 'a.test:8250' });
    await held.closed;
  });
});
