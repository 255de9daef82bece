/**
 * The admin HTTP API against a real in-process server: routes, auth, body limits, exact
 * error bodies, the host view, the token file and the hook for extra routes.
 */
import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import { json } from '../../src/admin/http';
import { startServer, ServerStartError } from '../../src/app/daemon';
import { api, nextEvent, startTestServer } from '../helpers/server';
import { connectAgents, TestAgent } from '../helpers/test-agent';

t.test('GET /api/settings answers the defaults', async (t) => {
  const server = await startTestServer(t);
  const answer = await api(server, 'GET', '/api/settings');
  t.equal(answer.status, 200);
  t.same(answer.body, { host: `127.0.0.1:${server.agentPort}`, 'indirect.agent.lb.algorithm': 'static', 'indirect.agent.lb.check.interval': 0, 'indirect.agent.lb.rebalance': 'auto', 'indirect.agent.lb.rebalance.threshold': 20, 'indirect.agent.lb.rebalance.grace': 60 });
  t.equal(answer.headers.get('content-type'), 'application/json; charset=utf-8');
});

t.test('every /api call needs the bearer token', async (t) => {
  const server = await startTestServer(t);
  for (const token of [null, 'wrong', '']) {
    const answer = await api(server, 'PUT', '/api/settings', { body: { host: 'M1' }, token });
    t.equal(answer.status, 401, `token ${JSON.stringify(token)}`);
    t.same(answer.body, { error: 'missing or wrong bearer token' });
    t.equal(answer.headers.get('www-authenticate'), 'Bearer');
  }
  t.equal((await api(server, 'DELETE', '/api/hosts/1', { token: null })).status, 401);
  t.equal((await api(server, 'GET', '/api/settings', { token: null })).status, 401, 'reads need the token too');
  t.equal((await api(server, 'GET', '/api/settings')).status, 200, 'reads with the token');
  const basic = await fetch(`${server.adminUrl}/api/settings`, { method: 'PUT', headers: { authorization: 'Basic dGVzdA==' }, body: '{}' });
  t.equal(basic.status, 401, 'only Bearer');
});

t.test('bodies: bad JSON, too large, not an object', async (t) => {
  const server = await startTestServer(t, { admin: { maxBodyBytes: 100 } });
  const bad = await api(server, 'PUT', '/api/settings', { rawBody: '{"host": ' });
  t.equal(bad.status, 400);
  t.match(bad.body, { error: /^body is not valid JSON: / });
  const large = await api(server, 'PUT', '/api/settings', { rawBody: JSON.stringify({ host: 'M'.repeat(200) }) });
  t.equal(large.status, 413);
  t.same(large.body, { error: 'body exceeds 100 bytes' });
  const list = await api(server, 'PUT', '/api/settings', { body: ['host'] });
  t.same([list.status, list.body], [400, { error: 'settings must be a JSON object, got an array' }]);
});

t.test('unknown routes are 404, wrong methods 405 with Allow', async (t) => {
  const server = await startTestServer(t);
  const missing = await api(server, 'GET', '/api/nothing');
  t.same([missing.status, missing.body], [404, { error: 'no route for /api/nothing' }]);
  const wrong = await api(server, 'POST', '/api/settings', { body: {} });
  t.same([wrong.status, wrong.body], [405, { error: 'method POST not allowed on /api/settings' }]);
  t.equal(wrong.headers.get('allow'), 'GET, PUT');
  const deleteAll = await api(server, 'DELETE', '/api/hosts');
  t.equal(deleteAll.status, 405);
  t.equal(deleteAll.headers.get('allow'), 'GET');
});

t.test('GET /api/hosts shows connection, last list sent and ack state', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2', 'indirect.agent.lb.algorithm': 'roundrobin' } });
  const [a, b, c] = await connectAgents(server.agentPort, ['a', 'b', 'c']);
  const acks = nextEvent(server.events, 'acked', (e) => e.guid === 'b');
  a!.agent.ack(a!.hosts!);
  b!.agent.ack(b!.hosts!, false);
  await acks;
  const gone = nextEvent(server.events, 'disconnected', (e) => e.guid === 'c');
  await c!.agent.close();
  await gone;
  const { body } = await api(server, 'GET', '/api/hosts');
  const hosts = body as Record<string, unknown>[];
  t.match(hosts, [
    { id: 1, guid: 'a', zone: 'default', connected: true, remoteAddress: /^127\.0\.0\.1:\d+$/, lastSent: { seq: 1, hosts: ['M1', 'M2'], algorithm: 'roundrobin', checkInterval: 0 }, acked: true },
    { id: 2, guid: 'b', connected: true, lastSent: { hosts: ['M2', 'M1'] }, acked: false },
    { id: 3, guid: 'c', connected: false, remoteAddress: null, lastSent: null, acked: null },
  ]);
  t.match(hosts[0], { registeredAt: /^\d{4}-\d\d-\d\dT/, lastSent: { at: /^\d{4}-\d\d-\d\dT/ } });
  await a!.agent.close();
  await b!.agent.close();
});

t.test('GET /api/hosts: where each host is, filters, keyset paging, exact refusals', async (t) => {
  const server = await startTestServer(t);
  const self = `127.0.0.1:${server.agentPort}`;
  const [a, b, c, d] = await connectAgents(server.agentPort, ['a', 'b', 'c', 'd']);
  await connectAgents(server.agentPort, ['e'], { zone: 'z2' }).then(([e]) => e!.agent.close());
  const gone = nextEvent(server.events, 'disconnected', (e) => e.guid === 'd');
  await d!.agent.close();
  await gone;
  const all = (await api(server, 'GET', '/api/hosts')).body as Record<string, unknown>[];
  t.match(all, [
    { id: 1, guid: 'a', connected: true, server: self, connectedSince: /^\d{4}-/, lastServer: self, lastSeen: /^\d{4}-/ },
    { id: 2, connected: true, server: self },
    { id: 3, connected: true, server: self },
    { id: 4, guid: 'd', connected: false, server: null, connectedSince: null, remoteAddress: null, lastServer: self, lastSeen: /^\d{4}-/ },
    { id: 5, guid: 'e', zone: 'z2', connected: false, server: null },
  ]);
  const ids = async (query: string): Promise<number[]> => ((await api(server, 'GET', `/api/hosts?${query}`)).body as { id: number }[]).map((h) => h.id);
  t.same(await ids('connected=true'), [1, 2, 3]);
  t.same(await ids('connected=false'), [4, 5]);
  t.same(await ids('zone=z2'), [5]);
  t.same(await ids(`server=${encodeURIComponent(self)}`), [1, 2, 3]);
  t.same(await ids('server=elsewhere%3A8250'), []);
  const first = await api(server, 'GET', '/api/hosts?limit=2');
  t.same((first.body as { id: number }[]).map((h) => h.id), [1, 2]);
  t.equal(first.headers.get('link'), '</api/hosts?limit=2&after=2>; rel="next"', 'a full page links to the next');
  t.equal(first.headers.get('x-agentlb-host-view'), 'fleet');
  t.same(await ids('limit=2&after=2'), [3, 4]);
  const last = await api(server, 'GET', '/api/hosts?limit=2&after=4');
  t.same((last.body as { id: number }[]).map((h) => h.id), [5]);
  t.equal(last.headers.get('link'), null, 'a short page is the last');
  t.same(await ids('limit=1&after=1&connected=true'), [2], 'filters and paging together');
  for (const [query, error] of [
    ['limit=0', 'limit must be an integer from 1 to 10000, got "0"'],
    ['limit=10001', 'limit must be an integer from 1 to 10000, got "10001"'],
    ['limit=x', 'limit must be an integer from 1 to 10000, got "x"'],
    ['after=-1', 'after must be a host id (a non-negative integer), got "-1"'],
    ['connected=yes', 'connected must be true or false, got "yes"'],
    ['zone=', 'zone must be a zone name, got ""'],
    ['server=', 'server must be a server address, got ""'],
    ['zone=a&zone=b', 'query parameter zone given more than once'],
    ['state=up', 'unknown query parameter "state" (expected server, zone, connected, limit, after)'],
  ] as const) {
    const answer = await api(server, 'GET', `/api/hosts?${query}`);
    t.same([answer.status, answer.body], [400, { error }], query);
  }
  for (const agent of [a, b, c]) await agent!.agent.close();
});

t.test('a known guid that says hello with another zone is moved there, and both zones are re-planned', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2', 'indirect.agent.lb.algorithm': 'roundrobin' } });
  const [a, b] = await connectAgents(server.agentPort, ['a', 'b'], { zone: 'old' });
  const [c] = await connectAgents(server.agentPort, ['c'], { zone: 'new' });
  t.same(b!.hosts!.hosts, ['M2', 'M1'], 'b is second in zone old');
  const closed = nextEvent(server.events, 'disconnected', (e) => e.guid === 'a');
  await a!.agent.close();
  await closed;
  const moved = nextEvent(server.events, 'zoneChanged');
  const again = await TestAgent.connect(server.agentPort);
  const { welcome, hosts } = await again.handshake({ guid: 'a', zone: 'new', hosts: ['M1', 'M2'], algorithm: 'roundrobin', checkInterval: 0 });
  t.same(await moved, { host: { id: 1, guid: 'a', zone: 'new', registeredAt: (await moved).host.registeredAt }, fromZone: 'old', toZone: 'new' });
  t.equal(welcome.hostId, 1, 'same id');
  t.equal(hosts, undefined, 'first of zone new (id 1 before id 3): the list it holds is still right, so none is sent');
  t.same(await b!.agent.next(), { type: 'hosts', seq: 1, hosts: ['M1', 'M2'], algorithm: 'roundrobin', checkInterval: 0 }, 'b is first in zone old now');
  t.same(await c!.agent.next(), { type: 'hosts', seq: 1, hosts: ['M2', 'M1'], algorithm: 'roundrobin', checkInterval: 0 }, 'c is second in zone new now');
  t.match((await api(server, 'GET', '/api/hosts?zone=new')).body, [{ id: 1, zone: 'new' }, { id: 3, zone: 'new' }]);
  const restarted = await readFile(path.join(server.dataDir, 'hosts.log'), 'utf8');
  t.match(restarted, /"zone":"new"/, 'the move is journalled');
  for (const agent of [again, b!.agent, c!.agent]) await agent.close();
});

t.test('DELETE /api/hosts/ID', async (t) => {
  const server = await startTestServer(t);
  const [live] = await connectAgents(server.agentPort, ['live']);
  for (const [id, status, error] of [
    ['abc', 400, 'host id must be a non-negative integer, got "abc"'],
    ['-1', 400, 'host id must be a non-negative integer, got "-1"'],
    ['1.5', 400, 'host id must be a non-negative integer, got "1.5"'],
    ['%E0%A4%A', 400, 'path segment "%E0%A4%A" is not valid percent-encoding'],
    ['99', 404, 'no host with id 99'],
  ] as const) {
    const answer = await api(server, 'DELETE', `/api/hosts/${id}`);
    t.same([answer.status, answer.body], [status, { error }], `DELETE ${id}`);
  }
  const self = `127.0.0.1:${server.agentPort}`;
  const connected = await api(server, 'DELETE', '/api/hosts/1');
  t.same([connected.status, connected.body], [
    409,
    { error: `host 1 (live) is connected to ${self}; stop its agent first, or add ?force=true to disconnect it`, hostId: 1, guid: 'live', server: self },
  ]);
  const badForce = await api(server, 'DELETE', '/api/hosts/1?force=yes');
  t.same([badForce.status, badForce.body], [400, { error: 'force must be true or false, got "yes"' }]);
  const forced = await api(server, 'DELETE', '/api/hosts/1?force=true');
  t.same([forced.status, forced.body], [200, { removed: { id: 1, guid: 'live', zone: 'default', registeredAt: (forced.body as { removed: { registeredAt: string } }).removed.registeredAt }, agentsUpdated: 0, scope: 'fleet' }]);
  await live!.agent.closed;
  t.same((await api(server, 'GET', '/api/hosts')).body, []);
  t.equal((await api(server, 'DELETE', '/api/hosts/1')).status, 404, 'gone');
});

t.test('GET /healthz', async (t) => {
  const server = await startTestServer(t);
  const [one] = await connectAgents(server.agentPort, ['h']);
  const answer = await api(server, 'GET', '/healthz', { token: null });
  const version = (answer.body as { version: string }).version;
  t.same([answer.status, answer.body], [
    200,
    { status: 'ok', version, tls: false, clientCerts: 'none', agentToken: 'none', storeKind: 'embedded', agents: 1, hosts: 1, settingsVersion: 0 },
  ]);
  await one!.agent.close();
});

t.test('extra routes mount next to the API (the /metrics hook)', async (t) => {
  const server = await startTestServer(t, {
    admin: {
      extraRoutes: [{ method: 'GET', path: '/metrics', handle: () => ({ status: 200, body: 'up 1\n', contentType: 'text/plain; version=0.0.4' }) }],
    },
  });
  const response = await fetch(`${server.adminUrl}/metrics`);
  t.equal(response.status, 200);
  t.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4');
  t.equal(await response.text(), 'up 1\n');
});

t.test('a request target that is not a URL is 400 naming it (not a 500)', async (t) => {
  const server = await startTestServer(t);
  const { port } = new URL(server.adminUrl);
  const socket = net.connect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write('GET http://[bad/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await new Promise((resolve) => socket.once('end', resolve));
  t.equal(text.split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
  t.same(JSON.parse(text.split('\r\n\r\n')[1]!), { error: 'request target "http://[bad/" is not a valid URL' });
});

t.test('a route that throws answers 500 and the server keeps serving', async (t) => {
  const server = await startTestServer(t, {
    admin: {
      extraRoutes: [
        { method: 'GET', path: '/boom', handle: () => { throw new Error('bug'); } },
        { method: 'GET', path: '/echo/:word', handle: (request) => json(200, { word: request.params['word'] }) },
      ],
    },
  });
  t.same(await api(server, 'GET', '/boom').then((a) => [a.status, a.body]), [500, { error: 'internal error' }]);
  t.same(await api(server, 'GET', '/echo/a%20b').then((a) => [a.status, a.body]), [200, { word: 'a b' }]);
});

t.test('the admin token: generated 0600 on first start, reused after, refused when malformed', async (t) => {
  const dataDir = t.testdir();
  const first = await startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } });
  const file = path.join(dataDir, 'admin.token');
  t.equal(first.adminTokenPath, file);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal((await readFile(file, 'utf8')).trim(), first.adminToken);
  t.ok(first.adminToken.length >= 40, 'a long random token');
  const adminUrl = `http://127.0.0.1:${first.adminAddress.port}`;
  t.equal((await api({ adminUrl }, 'PUT', '/api/settings', { body: { host: 'M1' }, token: first.adminToken })).status, 200);
  await first.close();

  const second = await startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } });
  t.equal(second.adminToken, first.adminToken, 'read back from the file');
  await second.close();

  const given = await startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0, token: 'explicit-one' } });
  t.equal(given.adminToken, 'explicit-one');
  t.equal(given.adminTokenPath, undefined);
  await given.close();

  await writeFile(file, 'has space\n');
  await t.rejects(startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } }), {
    name: 'ServerStartError',
    code: 'bad_admin_token',
    message: `${file} must be non-empty printable ASCII without spaces`,
  });
});

t.test('start failures are typed and release what was opened', async (t) => {
  const server = await startTestServer(t);
  const dataDir = t.testdir();
  const inUse = startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: server.agentPort }, admin: { port: 0, token: 'x' } });
  await t.rejects(inUse, { code: 'listen_failed', message: new RegExp(`^cannot listen for agent connections on 127\\.0\\.0\\.1:${server.agentPort}: listen EADDRINUSE`) });
  const adminInUse = startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: server.adminAddress.port, token: 'x' } });
  await t.rejects(adminInUse, ServerStartError);
  // The store was closed on failure: the same directory opens again at once.
  const again = await startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0, token: 'x' } });
  await again.close();

  await writeFile(path.join(dataDir, 'settings.json'), JSON.stringify({ version: 3, settings: { host: '', 'indirect.agent.lb.algorithm': 'static' } }));
  await t.rejects(startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0, token: 'x' } }), {
    code: 'bad_stored_settings',
    message: 'the stored settings are unusable: host "" is refused: empty host list',
  });
  await writeFile(path.join(dataDir, 'settings.json'), 'not json');
  await t.rejects(startServer({ dataDir, logger: silentLogger(), listen: { host: '127.0.0.1', port: 0 }, admin: { port: 0, token: 'x' } }), {
    code: 'store_failed',
    message: /^cannot open the store: .*settings\.json: not valid JSON/,
  });
});

t.test('/healthz answers 503 while shutting down', async (t) => {
  const server = await startTestServer(t);
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'slow-to-leave' });
  // The agent does not close on shutting_down, so close() waits for the close grace period.
  agent.sock.socket.on('data', () => undefined);
  const closing = server.close();
  const answer = await api(server, 'GET', '/healthz');
  t.same([answer.status, (answer.body as { status: string }).status], [503, 'shutting_down']);
  await closing;
  await agent.closed;
});
