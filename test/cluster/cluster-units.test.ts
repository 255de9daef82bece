/**
 * The small parts of cluster mode alone: `--store` checking and redaction, the registry
 * address, the heartbeat loop across a failing registry, the local registry, /healthz fields.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import pino from 'pino';
import { serversRoutes } from '../../src/admin/servers-routes';
import { SERVERS_USAGE } from '../../src/cli/servers-command';
import { registryAddress } from '../../src/server/cluster/membership';
import { storeHealth } from '../../src/server/cluster/health';
import { HeartbeatLoop } from '../../src/server/cluster/heartbeat';
import { ShiftResends } from '../../src/server/fleet/resend';
import { isServerRegistry, LocalServerRegistry } from '../../src/server/cluster/registry';
import { checkStoreUrl } from '../../src/cli/cluster-store';
import { FileStore } from '../../src/store/file-store';
import { PgStore } from '../../src/store/pg/store';
import { runCliInProcess } from '../helpers/cli';
import { StoreUnavailableError, type ServerHeartbeat, type ServerRecord, type ServerRegistry } from '../../src/store/types';

t.test('--store values: PostgreSQL URLs only, and the message never echoes the value', async (t) => {
  for (const ok of ['postgres://u:p@db:5432/agentlb', 'postgresql://db/agentlb', 'postgres:///agentlb?host=/run/postgresql']) {
    t.equal(checkStoreUrl(ok), undefined, ok);
  }
  const cases: [string, string][] = [
    ['db:5432', 'must be a postgres:// or postgresql:// URL, got a db:// URL'],
    ['mysql://u:secret@db/x', 'must be a postgres:// or postgresql:// URL, got a mysql:// URL'],
    ['not a url secret', 'must be a URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ['postgres:///agentlb', 'must name the database host: postgres://HOST:PORT/DATABASE'],
  ];
  for (const [value, message] of cases) {
    const error = checkStoreUrl(value);
    t.match(error, { code: 'bad_store_url', message }, value);
    t.notMatch(error?.message, /secret/);
  }
});


t.test('agentlb server refuses a bad --store or AGENTLB_STORE before starting', async (t) => {
  t.same(await runCliInProcess(['server', '--store', 'mysql://u:secret@db/x']), {
    code: 2,
    out: '',
    err: 'agentlb server: --store must be a postgres:// or postgresql:// URL, got a mysql:// URL\nRun `agentlb server --help` for usage.\n',
  });
  t.same(await runCliInProcess(['server'], { AGENTLB_STORE: 'db:5432' }), {
    code: 2,
    out: '',
    err: 'agentlb server: AGENTLB_STORE must be a postgres:// or postgresql:// URL, got a db:// URL\nRun `agentlb server --help` for usage.\n',
  });
  t.match((await runCliInProcess(['server', '--heartbeat-interval', '0'])).err, /^agentlb server: --heartbeat-interval must be a number of seconds from 0\.001/);
  t.same(await runCliInProcess(['servers', '--help']), { code: 0, out: SERVERS_USAGE, err: '' });
});

t.test('GET /api/servers: 503 while the registry is unreachable; other failures are not hidden', async (t) => {
  const failing = (error: Error): ServerRegistry => ({
    heartbeat: () => Promise.resolve(),
    listServers: () => Promise.reject(error),
    markStopped: () => Promise.resolve(),
    forgetServer: () => Promise.reject(error),
  });
  const request = { method: 'GET' as const, url: new URL('http://admin.invalid/api/servers'), params: {}, body: undefined, headers: {} };
  const [unavailable] = serversRoutes(failing(new StoreUnavailableError('PostgreSQL unavailable: refused')));
  t.same(await unavailable!.handle(request), { status: 503, body: { error: 'PostgreSQL unavailable: refused' } });
  const [broken] = serversRoutes(failing(new TypeError('bug')));
  await t.rejects(Promise.resolve(broken!.handle(request)), { message: 'bug' }, 'left to the admin server, which answers 500');
});

t.test('the registry address: --advertise, else the listen address, a wildcard named by the host name', async (t) => {
  const at = (address: string, port: number): AddressInfo => ({ address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' });
  t.equal(registryAddress('m1.example:8250', at('0.0.0.0', 8250)), 'm1.example:8250');
  t.equal(registryAddress(undefined, at('10.0.0.5', 8250)), '10.0.0.5:8250');
  t.equal(registryAddress(undefined, at('fd00::5', 8250)), '[fd00::5]:8250');
  t.equal(registryAddress(undefined, at('0.0.0.0', 8250)), `${os.hostname()}:8250`);
  t.equal(registryAddress(undefined, at('::', 9000)), `${os.hostname()}:9000`);
});

t.test('/healthz store fields', async (t) => {
  t.equal(storeHealth(undefined), undefined);
  t.same(storeHealth({ available: true, since: 'T0', lastError: 'old news' }), { store: 'available', storeSince: 'T0' });
  t.same(storeHealth({ available: false, since: 'T1', lastError: 'refused' }), { store: 'unavailable', storeSince: 'T1', storeError: 'refused' });
  t.same(storeHealth({ available: false, since: 'T1' }), { store: 'unavailable', storeSince: 'T1' });
});

t.test('which stores are server registries', async (t) => {
  t.ok(isServerRegistry(new PgStore({ connectionString: 'postgres://127.0.0.1:1/none' })));
  t.notOk(isServerRegistry(new FileStore({ dataDir: t.testdir() })));
  const local = new LocalServerRegistry(() => new Date('2026-01-01T00:00:05.000Z'));
  t.same(await local.listServers(), []);
  await local.heartbeat({ address: 'solo:8250', startedAt: '2026-01-01T00:00:00.000Z', agents: 3 });
  t.same(await local.listServers(), [
    { address: 'solo:8250', startedAt: '2026-01-01T00:00:00.000Z', agents: 3, heartbeatAt: '2026-01-01T00:00:05.000Z', up: true, state: 'up', stoppedAt: null },
  ]);
});

/** A registry whose answers the test decides, one heartbeat at a time. */
class ScriptedRegistry implements Pick<ServerRegistry, 'heartbeat' | 'listServers'> {
  readonly beats: ServerHeartbeat[] = [];
  private waiting: ((beat: ServerHeartbeat) => void)[] = [];

  constructor(private readonly failFirst: number) {}

  heartbeat(beat: ServerHeartbeat): Promise<void> {
    this.beats.push(beat);
    for (const wake of this.waiting.splice(0)) wake(beat);
    return this.beats.length <= this.failFirst ? Promise.reject(new StoreUnavailableError('PostgreSQL unavailable: refused')) : Promise.resolve();
  }

  listServers(): Promise<ServerRecord[]> {
    return Promise.resolve([]);
  }

  /** Resolves at the n-th heartbeat (at once if it already happened). */
  beat(n: number): Promise<void> {
    if (this.beats.length >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.beats.length >= n) resolve();
        else this.waiting.push(check);
      };
      this.waiting.push(check);
    });
  }
}

t.test('heartbeats go on through failures, logged once per outage', async (t) => {
  // The loop's timer is unref'd (a server's listeners keep it alive): hold the process here.
  const keepAlive = setInterval(() => undefined, 1_000);
  t.teardown(() => clearInterval(keepAlive));
  const lines: { event?: string; level: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const registry = new ScriptedRegistry(3);
  let agents = 0;
  const loop = new HeartbeatLoop({ registry, address: 'm1:8250', startedAt: '2026-01-01T00:00:00.000Z', agents: () => agents++, intervalMs: 1, logger });
  await loop.start();
  t.equal(registry.beats.length, 1, 'start() resolves after the first beat');
  await registry.beat(5);
  await loop.stop();
  t.same(registry.beats.slice(0, 3).map((b) => b.agents), [0, 1, 2], 'the agent count is read at every beat');
  t.match(registry.beats[0], { address: 'm1:8250', startedAt: '2026-01-01T00:00:00.000Z' });
  t.same(
    lines.map((l) => l.event),
    ['heartbeat_failed', 'heartbeat_restored'],
    'three failures, one warning; the first success after them, one info',
  );
});

t.test('re-sends for shifted zones: the first at once, the rest folded into one per interval', async (t) => {
  const resent: string[] = [];
  const timers: { run: () => void; ms: number; cancelled: boolean }[] = [];
  const schedule = (run: () => void, ms: number): (() => void) => {
    const timer = { run, ms, cancelled: false };
    timers.push(timer);
    return () => (timer.cancelled = true);
  };
  const fire = (): void => {
    const due = timers.filter((timer) => !timer.cancelled);
    timers.length = 0;
    for (const timer of due) timer.run();
  };
  const resends = new ShiftResends((zone) => resent.push(zone), 250, schedule);
  resends.shifted('z1');
  t.same(resent, ['z1'], 'a lone shift is re-sent at once');
  t.same(timers.map((timer) => timer.ms), [250], 'and opens a window');
  for (let i = 0; i < 100; i++) resends.shifted('z1');
  resends.shifted('z2');
  t.same(resent, ['z1', 'z2'], 'shifts in the window wait; another zone has its own window');
  fire();
  t.same(resent, ['z1', 'z2', 'z1'], 'a hundred shifts, one re-send at the end of the window');
  t.equal(timers.length, 1, 'which opens the next window (z2 had nothing pending)');
  fire();
  t.same(resent, ['z1', 'z2', 'z1'], 'a quiet window re-sends nothing');
  resends.shifted('z1');
  t.same(resent, ['z1', 'z2', 'z1', 'z1'], 'after a quiet window, at once again');
  resends.shifted('z1');
  resends.close();
  fire();
  t.same(resent, ['z1', 'z2', 'z1', 'z1'], 'closed: the pending re-send is dropped');
});
