/**
 * The default `host` is the server's own advertised address (it used to be 127.0.0.1:8250
 * whatever the server listened on, which stranded agents), and a server whose `host` does not
 * name it warns `self_not_in_host` at start and on each change. Real server processes.
 */
import os from 'node:os';
import t from 'tap';
import { hostEntryKey, parseHostEntry, type HostEntry } from '../../src/protocol/host-list';
import { ownEntryKeys, ownHostEntry, selfNotInHostWarning } from '../../src/server/fleet/self-address';
import { DEFAULT_SETTINGS } from '../../src/settings/types';
import { cleanEnv, runCliProcess, startServerProcess, type ServerProcess } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';

const TOKEN = 'default-host-admin-token';

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${server.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

/** The settings_changed line of the change that set the check interval to `interval`. */
function changeLogged(server: ServerProcess, interval: number): Promise<unknown> {
  return server.waitForLog(
    (line) => line.event === 'settings_changed' && (line['settings'] as Record<string, unknown> | undefined)?.['indirect.agent.lb.check.interval'] === interval,
  );
}

function start(t: Parameters<typeof startServerProcess>[0], dataDir: string, args: string[] = []): Promise<ServerProcess> {
  return startServerProcess(t, ['--data-dir', dataDir, ...args], cleanEnv({ AGENTLB_ADMIN_TOKEN: TOKEN }));
}

t.test('a server nobody configured sends agents its own address, on whatever port it listens', async (t) => {
  const server = await start(t, t.testdir());
  const own = `127.0.0.1:${server.agentPort}`;
  t.same((await api(server, 'GET', '/api/settings')).body, { ...DEFAULT_SETTINGS, host: own });
  const started = await server.waitForLog((line) => line.event === 'started');
  t.match(started['settings'], { host: own }, 'the started line shows it');

  const agent = await TestAgent.connect(server.agentPort);
  const { hosts } = await agent.handshake({ guid: 'h1', hosts: ['127.0.0.1:8250'], algorithm: 'static', checkInterval: 0 });
  t.same(hosts?.hosts, [own], 'an agent holding the old placeholder is corrected to this server');
  agent.close();
  t.equal(server.logs.filter((line) => line.event === 'self_not_in_host').length, 0, 'no warning: host names this server');
});

t.test('the first change keeps that default explicit; a restart elsewhere warns at start', async (t) => {
  const dataDir = t.testdir();
  const first = await start(t, dataDir);
  const own = `127.0.0.1:${first.agentPort}`;
  const changed = await api(first, 'PUT', '/api/settings', { 'indirect.agent.lb.check.interval': 30 });
  t.match(changed, { status: 200, body: { host: own, 'indirect.agent.lb.algorithm': 'static', 'indirect.agent.lb.check.interval': 30 } });
  first.child.kill('SIGTERM');
  t.equal(await first.exited, 0);

  const second = await start(t, dataDir);
  t.not(second.agentPort, first.agentPort);
  const warning = await second.waitForLog((line) => line.event === 'self_not_in_host');
  t.match(warning, {
    level: 40,
    host: own,
    self: `127.0.0.1:${second.agentPort}`,
    msg: `host "${own}" does not name this server (127.0.0.1:${second.agentPort}): every agent it serves is sent a list without it and moves to those servers. Intended only while moving agents to other servers; otherwise add 127.0.0.1:${second.agentPort} to host`,
  });
});

t.test('a change to a host without this server warns; one naming it again is quiet', async (t) => {
  const server = await start(t, t.testdir());
  const own = `127.0.0.1:${server.agentPort}`;
  t.equal((await api(server, 'PUT', '/api/settings', { host: 'new-1.example:8250,new-2.example:8250' })).status, 200);
  const warning = await server.waitForLog((line) => line.event === 'self_not_in_host');
  t.equal(warning['host'], 'new-1.example:8250,new-2.example:8250');
  t.equal((await api(server, 'PUT', '/api/settings', { host: `new-1.example:8250,${own}` })).status, 200);
  t.equal((await api(server, 'PUT', '/api/settings', { 'indirect.agent.lb.check.interval': 5 })).status, 200);
  // Log lines come in order: once the last change's line is read, any warning of the one before it was too.
  await changeLogged(server, 5);
  t.equal(server.logs.filter((line) => line.event === 'self_not_in_host').length, 1, 'one warning, for the one change that left this server out');
});

t.test('--advertise is the default; without a port it takes the listen port; a bad one exits 2', async (t) => {
  const withPort = await start(t, t.testdir(), ['--advertise', 'm1.example:9999']);
  t.equal(((await api(withPort, 'GET', '/api/settings')).body as { host: string }).host, 'm1.example:9999');
  const bare = await start(t, t.testdir(), ['--advertise', 'm1.example']);
  t.equal(((await api(bare, 'GET', '/api/settings')).body as { host: string }).host, `m1.example:${bare.agentPort}`);
  const bad = await runCliProcess(['server', '--advertise', 'http://m1:80', '--data-dir', t.testdir()]);
  t.equal(bad.code, 2);
  t.equal(
    bad.stderr.split('\n')[0],
    'agentlb server: --advertise must be this server\'s address as agents write it in host (HOST, HOST:PORT or [IPv6]:PORT): entry "http://m1:80" is a URL: write host:port, without "http://"',
  );
});

t.test('a wildcard listener: the host name by default, and any local address counts as this server', async (t) => {
  const server = await startServerProcess(t, ['--data-dir', t.testdir(), '--listen', '0.0.0.0:0'], cleanEnv({ AGENTLB_ADMIN_TOKEN: TOKEN }));
  const port = server.agentPort;
  t.equal(((await api(server, 'GET', '/api/settings')).body as { host: string }).host, `${os.hostname()}:${port}`);
  t.equal((await api(server, 'PUT', '/api/settings', { host: `elsewhere.example:8250,127.0.0.1:${port}` })).status, 200);
  t.equal((await api(server, 'PUT', '/api/settings', { 'indirect.agent.lb.check.interval': 7 })).status, 200);
  await changeLogged(server, 7);
  t.equal(server.logs.filter((line) => line.event === 'self_not_in_host').length, 0, 'loopback is one of its addresses');
});

t.test('units: own entry keys and the warning', async (t) => {
  const key = (entry: string): string => hostEntryKey(parseHostEntry(entry) as HostEntry);
  const listen = { address: '0.0.0.0', family: 'IPv4', port: 8250 };
  const interfaces = { lo: [{ address: '127.0.0.1' }], eth0: [{ address: '10.1.2.3' }, { address: 'fe80::1' }] } as unknown as ReturnType<typeof os.networkInterfaces>;
  const keys = ownEntryKeys(undefined, listen, interfaces, 'MS1');
  t.same([...keys].sort(), [key('10.1.2.3'), key('127.0.0.1'), key('[fe80::1]'), key('ms1')].sort());
  t.equal(ownHostEntry(undefined, { address: '::1', family: 'IPv6', port: 9 }), '[::1]:9');
  t.equal(ownHostEntry('[::2]', { address: '::1', family: 'IPv6', port: 9 }), '[::2]:9');
  const settings = { ...DEFAULT_SETTINGS, host: 'MS1,other:8250' };
  t.equal(selfNotInHostWarning(settings, keys, 'MS1:8250'), undefined, 'case and the default port do not matter');
  t.match(selfNotInHostWarning({ ...settings, host: 'ms1:8251' }, keys, 'MS1:8250'), /^host "ms1:8251" does not name this server \(MS1:8250\)/);
});
