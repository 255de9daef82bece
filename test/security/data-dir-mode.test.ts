/**
 * The data directory is its owner's only (audit: an existing 0755 directory was used as is,
 * hosts.log and settings.json were 0644): a real server made 0700 / 0600 whatever the umask,
 * a looser existing directory and its files tightened with a warning naming each.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { api, startTestServer } from '../helpers/server';
import { captureLogger } from '../helpers/log';
import { TestAgent } from '../helpers/test-agent';

const modeOf = async (file: string): Promise<string> => `0${((await stat(file)).mode & 0o777).toString(8)}`;

t.test('a new data dir is 0700 and every file the server writes 0600, under umask 022', async (t) => {
  const old = process.umask(0o022);
  t.teardown(() => process.umask(old));
  const dataDir = path.join(t.testdir(), 'fresh');
  const server = await startTestServer(t, { dataDir, admin: { token: undefined } });
  t.equal((await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' }, token: server.adminToken })).status, 200);
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'h1' });
  await agent.close();
  t.equal(await modeOf(dataDir), '0700');
  for (const file of ['settings.json', 'hosts.log', 'admin.token', 'server.lock']) t.equal(await modeOf(path.join(dataDir, file)), '0600', file);
});

t.test('a looser existing dir and its files are tightened, each with a warning', async (t) => {
  const dataDir = path.join(t.testdir(), 'loose');
  await mkdir(dataDir);
  await chmod(dataDir, 0o755);
  await writeFile(path.join(dataDir, 'settings.json'), JSON.stringify({ version: 3, settings: { host: 'M1' } }));
  await chmod(path.join(dataDir, 'settings.json'), 0o644);
  const { logger, lines } = captureLogger();
  await startTestServer(t, { dataDir, logger });
  t.equal(await modeOf(dataDir), '0700');
  t.equal(await modeOf(path.join(dataDir, 'settings.json')), '0600');
  const warnings = lines.filter((line) => line.event === 'permissions_tightened');
  t.same(
    warnings.map(({ path, was, now, msg, level }) => ({ path, was, now, msg, level })),
    [
      { path: dataDir, was: '0755', now: '0700', msg: `${dataDir} was mode 0755, readable by others; changed to 0700`, level: 40 },
      {
        path: path.join(dataDir, 'settings.json'),
        was: '0644',
        now: '0600',
        msg: `${path.join(dataDir, 'settings.json')} was mode 0644, readable by others; changed to 0600`,
        level: 40,
      },
    ],
  );
});

t.test('a data dir already 0700 with 0600 files starts without a warning', async (t) => {
  const dataDir = path.join(t.testdir(), 'tight');
  const first = await startTestServer(t, { dataDir });
  await first.close();
  const { logger, lines } = captureLogger();
  await startTestServer(t, { dataDir, logger });
  t.same(lines.filter((line) => line.event === 'permissions_tightened'), []);
});
