/**
 * `agentlb servers drain / undrain / drains` against a real server in this process: what
 * they print, and bad command lines (exit 2) or refusals (exit 1) naming the problem.
 */
import t from 'tap';
import { SERVERS_USAGE } from '../../src/cli/servers-command';
import { api, startTestServer } from '../helpers/server';
import { cli } from './in-process-cli';

t.test('drain, list, undrain', async (t) => {
  const server = await startTestServer(t, { listen: { advertise: 'M1' } });
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3' } });
  const admin = ['--admin', `127.0.0.1:${server.adminAddress.port}`];

  const other = await cli(['servers', 'drain', 'M2', '--rate', '20', ...admin]);
  t.equal(other.code, 0);
  t.match(other.out, /^draining M2 at 20 agents\/s since \d{4}-\d\d-\d\dT[\d:.]+Z; this server sends it last \(embedded mode: drain it on each server that sends lists\)\n$/);
  const self = await cli(['servers', 'drain', ...admin]);
  t.match(self.out, /^draining M1 \(the server asked\) at 50 agents\/s since /);

  const listed = await cli(['servers', 'drains', ...admin]);
  t.equal(listed.code, 0);
  const status = (await api(server, 'GET', '/api/servers/drain')).body as { draining: { address: string; since: string }[] };
  const [m1, m2] = ['M1', 'M2'].map((address) => status.draining.find((drain) => drain.address === address)!.since) as [string, string];
  t.equal(
    listed.out,
    `ADDRESS  STATE     RATE  TIMEOUT  SINCE${' '.repeat(m1.length - 5)}  SELF\n` +
      `M1       draining  50/s  -        ${m1}  yes\nM2       draining  20/s  -        ${m2}  -\n` +
      'this server (M1): draining at 50/s, 0 agents handed over, 0 still connected\n' +
      'drains known to this server only (embedded mode)\n',
  );

  t.same(await cli(['servers', 'undrain', 'M2', ...admin]), { code: 0, out: 'M2 is no longer draining\n', err: '' });
  t.same(await cli(['servers', 'undrain', 'M2', ...admin]), { code: 0, out: 'M2 was not draining\n', err: '' });
  t.same(await cli(['servers', 'undrain', ...admin]), { code: 0, out: 'M1 is no longer draining\n', err: '' });
  t.same(await cli(['servers', 'drains', ...admin]), {
    code: 0,
    out: 'no server is draining\nthis server (M1): not draining, 0 agents connected\ndrains known to this server only (embedded mode)\n',
    err: '',
  });
  const json = await cli(['servers', 'drain', 'M3', '--json', ...admin]);
  t.match(JSON.parse(json.out), { address: 'M3', rate: 50, self: false, scope: 'server' });
  // --timeout on servers drain is the drain's deadline, not the request's.
  const timed = await cli(['servers', 'drain', 'M2', '--rate', '4', '--timeout', '3600', ...admin]);
  t.match(timed.out, /^draining M2 at 4 agents\/s since \S+, the rest at once after 3600 s; this server sends it last/);
  const rows = (await cli(['servers', 'drains', ...admin])).out.split('\n');
  t.match(rows[0], /^ADDRESS  STATE     RATE  TIMEOUT  SINCE/);
  t.match(rows.find((row) => row.startsWith('M2')), /^M2       draining  4\/s   3600s    \S+  -$/);
});

t.test('refusals and bad command lines', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3' } });
  const admin = ['--admin', `127.0.0.1:${server.adminAddress.port}`];
  t.same(await cli(['servers', 'drain', 'M9', ...admin]), {
    code: 1,
    out: '',
    err: 'agentlb servers: POST /api/servers/drain failed (HTTP 400): address "M9" is not an entry of host (M1,M2,M3); servers are named exactly as written there\n',
  });
  const usage = (message: string) => ({ code: 2, out: '', err: `agentlb servers: ${message}\nRun \`agentlb servers --help\` for usage.\n` });
  t.same(await cli(['servers', 'drain', 'M1', 'M2', ...admin]), usage('servers drain takes at most one ADDRESS, got "M2"'));
  t.same(await cli(['servers', 'drains', 'M1', ...admin]), usage('servers drains takes no argument, got "M1"'));
  t.same(await cli(['servers', 'undrain', '--rate', '3', ...admin]), usage('--rate only applies to servers drain'));
  t.same(await cli(['servers', '--rate', '3', ...admin]), usage('--rate only applies to servers drain and servers rebalance'));
  t.same(await cli(['servers', 'drain', '--rate', '0', ...admin]), usage('--rate must be an integer from 1 to 100000, got "0"'));
  t.same(await cli(['servers', 'drain', 'M1', '--timeout', '0', ...admin]), usage('--timeout must be a number of seconds from 0.001 to 2147483, got "0"'));
  t.same(await cli(['servers', 'drain', 'M1', '--timeout', '700000', ...admin]), usage('--timeout must be a number of seconds from 0.001 to 604800, got "700000"'));
  t.same(await cli(['servers', 'cordon', ...admin]), usage('unknown action "cordon" (expected drain, undrain, drains, forget or rebalance, or none to list)'));
  const help = await cli(['servers', '--help']);
  t.same(help, { code: 0, out: SERVERS_USAGE, err: '' });
  t.match(SERVERS_USAGE, 'agentlb servers drain [ADDRESS] [--rate K] [--timeout SECONDS]');
});
