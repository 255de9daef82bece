/**
 * The admin API's exposure: every /api call needs the bearer token (reads, unknown paths and
 * wrong methods too, so nothing is learned without it); /healthz and /metrics stay open; the
 * listener binds to loopback unless told otherwise.
 */
import { Registry } from 'prom-client';
import t from 'tap';
import { silentLogger } from '../../src/log';
import { DEFAULT_ADMIN_HOST, serverOptions } from '../../src/app/daemon';
import { api, startTestServer } from '../helpers/server';

const CALLS: [string, string][] = [
  ['GET', '/api/settings'],
  ['PUT', '/api/settings'],
  ['GET', '/api/hosts'],
  ['DELETE', '/api/hosts/1'],
  ['GET', '/api/servers'],
  ['GET', '/api/servers/drain'],
  ['POST', '/api/servers/drain'],
  ['POST', '/api/servers/undrain'],
  ['GET', '/api/plan'],
  ['GET', '/api/nothing-here'],
  ['POST', '/api/hosts'],
  ['GET', '/api'],
];

t.test('without the right bearer token every /api call is 401, before routing', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry() });
  for (const [method, path] of CALLS) {
    for (const token of [null, '', 'wrong', 'test-admin-tokenX', 'test-admin-toke']) {
      const answer = await api(server, method, path, { token, ...(method === 'GET' ? {} : { body: {} }) });
      t.same([answer.status, answer.body, answer.headers.get('www-authenticate')], [401, { error: 'missing or wrong bearer token' }, 'Bearer'], `${method} ${path} with ${JSON.stringify(token)}`);
    }
  }
  const notBearer = await fetch(`${server.adminUrl}/api/hosts`, { headers: { authorization: 'Basic dGVzdC1hZG1pbi10b2tlbg==' } });
  t.equal(notBearer.status, 401, 'only Bearer');
});

t.test('with the token, routing answers as usual', async (t) => {
  const server = await startTestServer(t);
  t.equal((await api(server, 'GET', '/api/hosts')).status, 200);
  t.equal((await api(server, 'GET', '/api/nothing-here')).status, 404);
  t.equal((await api(server, 'POST', '/api/hosts', { body: {} })).status, 405);
});

t.test('/healthz and /metrics stay open for probes and scrapers', async (t) => {
  const server = await startTestServer(t, { metricsRegistry: new Registry() });
  const health = await api(server, 'GET', '/healthz', { token: null });
  t.equal(health.status, 200);
  const metrics = await fetch(`${server.adminUrl}/metrics`);
  t.equal(metrics.status, 200);
  t.match(await metrics.text(), /^# HELP /m);
});

t.test('the admin listener binds to loopback unless told otherwise', async (t) => {
  t.equal(DEFAULT_ADMIN_HOST, '127.0.0.1');
  t.equal(serverOptions({ logger: silentLogger() }).admin.host, '127.0.0.1');
});
