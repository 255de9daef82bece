/**
 * Library use (README "Library use"): the package's own entry points, resolved through
 * package.json `exports` exactly as a dependent's `require('agentlb')` and
 * `require('agentlb/agent')` are (the built dist/, with its .d.ts beside it). A server and an
 * agent started in-process through them: the agent's in-process handler answers call() and
 * callMany(), its events fire, and a bad method is refused before any agent is asked.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

// Self-reference by package name goes through `exports`, as for any dependent.
const server = require('agentlb') as typeof import('../../src/app/index');
const agentLib = require('agentlb/agent') as typeof import('../../agent/index');

t.test('exports resolve to the built entry points, with their types', async (t) => {
  t.match(require.resolve('agentlb'), /dist\/src\/app\/index\.js$/);
  t.match(require.resolve('agentlb/agent'), /dist\/agent\/index\.js$/);
  t.ok(existsSync(require.resolve('agentlb').replace(/\.js$/, '.d.ts')), 'agentlb has its .d.ts');
  t.ok(existsSync(require.resolve('agentlb/agent').replace(/\.js$/, '.d.ts')), 'agentlb/agent has its .d.ts');
  t.throws(() => require('agentlb/dist/src/app/daemon.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, 'only the faces are exported');
});

t.test('startServer + startAgent: handle(), call(), callMany(), events', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentlb-lib-'));
  const handle = await server.startServer({ dataDir: join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: 'library-test-token' } });
  t.teardown(() => handle.close());
  const properties = join(dir, 'agent.properties');
  // @roundrobin: not what the server runs (static), so it sends its list and `list` fires.
  writeFileSync(properties, `host=127.0.0.1:${handle.agentAddress.port}@roundrobin\nguid=lib-1\nzone=lib\n`);
  const agent = await agentLib.createAgent({ properties });
  t.teardown(() => agent.stop());
  agent.handle('greet', async (params, context) => `hello ${(params as { name: string }).name} from ${context.guid}`);
  const connected = new Promise<{ server: string; hostId: number }>((resolve) => agent.once('connected', resolve));
  const list = new Promise<{ hosts: string[] }>((resolve) => agent.once('list', resolve));
  agent.start();
  const { hostId } = await connected;
  t.match(await list, { hosts: [String] }, 'the list event');

  t.match(await handle.call(hostId, 'greet', { name: 'ops' }), { hostId, guid: 'lib-1', status: 'ok', ok: true, value: 'hello ops from lib-1' });
  t.match(await handle.call(hostId, 'agentlb.info'), { ok: true, value: { guid: 'lib-1', zone: 'lib', hostId } });
  await t.rejects(handle.call(hostId, '../etc', undefined), { name: 'CallRefusedError', message: 'method "../etc" must be [A-Za-z0-9._-] only, not starting with "."' });
  await t.rejects(handle.call(4242, 'agentlb.ping'), { name: 'CallRefusedError', message: 'no host with id 4242' });

  const lines = [];
  for await (const line of handle.callMany({ zone: 'lib' }, 'greet', { name: 'all' }, { concurrency: 4, timeout: 5 })) lines.push(line);
  t.match(lines, [{ hostId, status: 'ok', value: 'hello all from lib-1' }, { done: true, total: 1, ok: 1 }]);

  const disconnected = new Promise((resolve) => agent.once('disconnected', resolve));
  await handle.close();
  t.match(await disconnected, { reason: { serverCode: 'shutting_down' } }, 'the disconnected event');
});
