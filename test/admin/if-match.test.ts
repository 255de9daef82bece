/**
 * PUT /api/settings with If-Match: the ETag of GET /api/settings is the settings version, and
 * a PUT made against a version that is no longer current is refused with 412 (nothing changed),
 * so two admins editing at once cannot silently overwrite each other. Real in-process server.
 */
import t from 'tap';
import { ifMatchVersion } from '../../src/admin/settings-routes';
import { startTestServer, TEST_TOKEN } from '../helpers/server';

async function put(adminUrl: string, body: unknown, ifMatch?: string): Promise<{ status: number; body: unknown; etag: string | null }> {
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };
  if (ifMatch !== undefined) headers['if-match'] = ifMatch;
  const response = await fetch(`${adminUrl}/api/settings`, { method: 'PUT', headers, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json(), etag: response.headers.get('etag') };
}

t.test('a PUT against the current ETag commits; against an old one it is 412 and changes nothing', async (t) => {
  const server = await startTestServer(t);
  const first = await fetch(`${server.adminUrl}/api/settings`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  const etag = first.headers.get('etag')!;
  t.match(etag, /^"\d+"$/);

  const ok = await put(server.adminUrl, { 'indirect.agent.lb.check.interval': 30 }, etag);
  t.equal(ok.status, 200);
  t.equal(ok.etag, `"${Number(JSON.parse(etag)) + 1}"`);

  const stale = await put(server.adminUrl, { 'indirect.agent.lb.check.interval': 60 }, etag);
  t.equal(stale.status, 412);
  t.same(stale.body, {
    error: `the settings are at version ${JSON.parse(ok.etag!)}, not ${JSON.parse(etag)} as If-Match expects: read them again (GET /api/settings) and retry`,
  });
  t.equal(stale.etag, ok.etag, 'the 412 names the current ETag');
  t.equal(server.controller.current().settings['indirect.agent.lb.check.interval'], 30, 'nothing changed');

  t.equal((await put(server.adminUrl, { 'indirect.agent.lb.check.interval': 60 }, '*')).status, 200, '* matches any version');
  t.equal((await put(server.adminUrl, { 'indirect.agent.lb.check.interval': 90 })).status, 200, 'no If-Match: unconditional, as before');
});

t.test('two PUTs made against one version at once: exactly one wins', async (t) => {
  const server = await startTestServer(t);
  const etag = `"${server.controller.current().settingsVersion}"`;
  const answers = await Promise.all([10, 20, 30].map((interval) => put(server.adminUrl, { 'indirect.agent.lb.check.interval': interval }, etag)));
  t.same(answers.map((a) => a.status).sort(), [200, 412, 412]);
});

t.test('a malformed If-Match is a 400 naming it, before anything is parsed or written', async (t) => {
  const server = await startTestServer(t);
  const before = server.controller.current().settingsVersion;
  const answer = await put(server.adminUrl, { 'indirect.agent.lb.check.interval': 5 }, 'W/"1"');
  t.same([answer.status, answer.body], [400, { error: 'If-Match must be one ETag of GET /api/settings (as "7") or *, got "W/\\"1\\""' }]);
  t.equal(server.controller.current().settingsVersion, before);
  t.same(ifMatchVersion(' "12" '), 12);
  t.same(ifMatchVersion(undefined), undefined);
  t.match(ifMatchVersion('"1", "2"'), { status: 400 });
  t.match(ifMatchVersion('7'), { status: 400 }, 'an ETag is quoted');
});
