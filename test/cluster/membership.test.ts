/**
 * Servers sharing one PostgreSQL, in process: the server registry (GET /api/servers,
 * `agentlb servers`), changes flowing between servers, and what a server does while the
 * database is down — known agents served from memory, new ones refused with server_busy,
 * changes refused with 503, /healthz and agentlb_store_up telling why — and how it catches up.
 */
import t from 'tap';
import { type ServerRecord } from '../../src/store/types';
import { DEFAULT_SETTINGS, type Settings } from '../../src/settings/types';
import { runCliInProcess } from '../helpers/cli';
import { startPostgres } from '../../native-bench/postgres';
import { pollUntil, sql } from '../helpers/pg-store-fixtures';
import { metricValue } from '../../native-bench/admin-client';
import { api, startTestServer, TEST_TOKEN } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';
import { CROSS_SERVER_MS, gauge, health, knowsHosts, startMember, storeBecomes } from './cluster-helpers';

const RR: Settings = { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 };

async function servers(server: { adminUrl: string }): Promise<ServerRecord[]> {
  return (await api(server, 'GET', '/api/servers')).body as ServerRecord[];
}


t.test('cluster members', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());

  t.test('each server lists every server with its agents; a stopped one turns down', async (t) => {
    const url = await pg.database();
    const m1 = await startMember(t, url, 'm1.example:8250');
    const m2 = await startMember(t, url, 'm2.example:8250');
    const agent = await TestAgent.connect(m1.agentPort);
    await agent.hello({ guid: 'on-m1' });
    // A heartbeat carries the count; the next one after the connect is not an event here.
    t.ok(await pollUntil(async () => (await servers(m2)).find((s) => s.address === 'm1.example:8250')?.agents === 1), 'm1 reports its agent');
    const listed = await servers(m2);
    t.match(listed, [
      { address: 'm1.example:8250', up: true, agents: 1, startedAt: String, heartbeatAt: String },
      { address: 'm2.example:8250', up: true, agents: 0 },
    ]);
    t.equal(listed.length, 2);

    const table = await runCliInProcess(['servers', '--token', TEST_TOKEN, '--admin', `127.0.0.1:${m1.adminAddress.port}`]);
    t.equal(table.code, 0);
    const lines = table.out.trimEnd().split('\n');
    t.match(lines[0], /^ADDRESS\s+STATE\s+AGENTS\s+PLANNED\s+STARTED\s+HEARTBEAT$/);
    t.match(lines[1], /^m1\.example:8250\s+up\s+1\s+(\d+|-)\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$/);
    t.match(lines[2], /^m2\.example:8250\s+up\s+0\s+/);
    const json = await runCliInProcess(['servers', '--json', '--token', TEST_TOKEN, '--admin', `127.0.0.1:${m1.adminAddress.port}`]);
    t.match(JSON.parse(json.out), [{ address: 'm1.example:8250' }, { address: 'm2.example:8250' }]);

    // agentlb_peer_servers: m2 reads the registry every heartbeat; polled, no event says when.
    const peers = async (state: string): Promise<number | undefined> => metricValue(await (await fetch(`${m2.adminUrl}/metrics`)).text(), 'agentlb_peer_servers', { state });
    t.ok(await pollUntil(async () => (await peers('up')) === 1), 'm2 counts m1 up (not itself)');
    await agent.close();
    await m1.close();
    t.ok(await pollUntil(async () => (await servers(m2))[0]?.up === false), 'm1 is listed down once its heartbeats stopped (TEST_SERVER_DOWN_AFTER_MS)');
    t.match(await servers(m2), [{ address: 'm1.example:8250', up: false }, { address: 'm2.example:8250', up: true }]);
    t.ok(await pollUntil(async () => (await peers('stopped')) === 1 && (await peers('up')) === 0), 'then stopped (a clean stop)');
  });

  t.test('a change through one server reaches the agents of another; ids are shared', async (t) => {
    const url = await pg.database();
    const m1 = await startMember(t, url);
    const m2 = await startMember(t, url);
    const a = await TestAgent.connect(m1.agentPort);
    t.match(await a.handshake({ guid: 'a' }), { welcome: { hostId: 1 } });
    t.ok(await knowsHosts(m2, ['a']), 'm2 learns of host 1');
    const b = await TestAgent.connect(m2.agentPort);
    t.match(await b.handshake({ guid: 'b' }), { welcome: { hostId: 2 } }, 'the next id, though registered by another server');
    t.equal((await api(m2, 'PUT', '/api/settings', { body: RR })).status, 200);
    // Through NOTIFY to m1 (a margin for a loaded machine, not a figure).
    t.same(await a.next(CROSS_SERVER_MS), { type: 'hosts', seq: 1, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 });
    t.same(await b.next(), { type: 'hosts', seq: 1, hosts: ['M2', 'M3', 'M1'], algorithm: 'roundrobin', checkInterval: 0 });
    // m1 learns of host 2 (registered on m2) and places a third host after it.
    t.ok(await knowsHosts(m1, ['b']));
    const c = await TestAgent.connect(m1.agentPort);
    const third = await c.handshake({ guid: 'c' });
    t.match(third, { welcome: { hostId: 3 }, hosts: { hosts: ['M3', 'M1', 'M2'] } });
    for (const agent of [a, b, c]) await agent.close();
  });

  t.test('while the database is down: known agents served, new ones and changes refused; then catch-up', async (t) => {
    const url = await pg.database();
    const m1 = await startMember(t, url);
    const m2 = await startMember(t, url);
    const rr = await api(m1, 'PUT', '/api/settings', { body: RR });
    t.equal(rr.status, 200);
    const held = await TestAgent.connect(m1.agentPort);
    const heldWelcome = await held.handshake({ guid: 'held' });
    t.ok(await knowsHosts(m2, ['held']));
    // m2 has m1's change through NOTIFY too, which no event tells a test: `known` is welcomed under it.
    t.ok(await pollUntil(async () => (await api(m2, 'GET', '/api/settings')).headers.get('etag') === rr.headers.get('etag')), 'm2 has the settings');
    const known = await TestAgent.connect(m2.agentPort);
    const knownFirst = await known.handshake({ guid: 'known' });
    await known.close();
    t.match(await health(m1), { status: 'ok', store: 'available', storeKind: 'postgresql' });
    t.equal(await gauge(m1, 'agentlb_store_up'), 1);

    await pg.restart(async () => {
      t.ok(await storeBecomes(m1, 'unavailable'), 'm1 noticed');
      t.ok(await storeBecomes(m2, 'unavailable'), 'm2 noticed');
      const healthz = await api(m1, 'GET', '/healthz', { token: null });
      t.equal(healthz.status, 200, 'still healthy: it serves its agents');
      t.match(healthz.body, { status: 'ok', store: 'unavailable', storeSince: String, storeError: String });
      t.equal(await gauge(m1, 'agentlb_store_up'), 0);

      const put = await api(m2, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 30 } });
      t.equal(put.status, 503);
      t.match(put.body, { error: /^PostgreSQL unavailable/ });
      t.same((await api(m2, 'GET', '/api/settings')).body, RR, 'the last known settings are still served');
      t.equal((await api(m1, 'GET', '/api/servers')).status, 503);
      t.equal((await api(m1, 'DELETE', '/api/hosts/2')).status, 503);

      const again = await TestAgent.connect(m2.agentPort);
      const served = await again.handshake({ guid: 'known', hosts: knownFirst.hosts!.hosts, algorithm: 'roundrobin', checkInterval: 0 });
      t.equal(served.welcome.hostId, knownFirst.welcome.hostId, 'a known guid is welcomed from memory');
      t.equal(served.hosts, undefined, 'its list is still up to date');
      await again.close();

      const fresh = await TestAgent.connect(m1.agentPort);
      fresh.sendHello({ guid: 'brand-new' });
      t.match(await fresh.next(), { type: 'error', code: 'server_busy', message: /^cannot register the host: PostgreSQL unavailable/ });
      await fresh.closed;

      t.same(await held.roundTrip(), [], 'a connected agent is left alone');
    });

    t.ok(await storeBecomes(m1, 'available'), 'm1 reconnected');
    t.ok(await storeBecomes(m2, 'available'), 'm2 reconnected');
    t.equal(await gauge(m1, 'agentlb_store_up'), 1);
    t.equal((await api(m2, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 30 } })).status, 200);
    t.match(await held.next(CROSS_SERVER_MS), { type: 'hosts', seq: 2, hosts: heldWelcome.hosts!.hosts, checkInterval: 30 }, 'a change after the outage reaches the other server');
    const rows = await sql<{ guid: string }>(url, 'SELECT guid FROM hosts ORDER BY id');
    t.same(rows.map((r) => r.guid), ['held', 'known'], 'no host lost, none added by the refused agent');
    const late = await TestAgent.connect(m1.agentPort);
    t.match(await late.handshake({ guid: 'brand-new' }), { welcome: { hostId: 3 } }, 'new agents register again');
    await late.close();
    await held.close();
  });
});

t.test('with the embedded store, /api/servers lists the one server', async (t) => {
  const server = await startTestServer(t, { listen: { advertise: 'solo.example:8250' } });
  t.match(await servers(server), [{ address: 'solo.example:8250', up: true, agents: 0 }]);
  t.equal((await servers(server)).length, 1);
  t.notOk('store' in (await health(server)), '/healthz has no store fields without a database');
  t.match(await health(server), { storeKind: 'embedded' });
});
