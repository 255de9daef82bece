/**
 * The connection registry in PostgreSQL (PgStore as ConnectionRegistry and ConnectionRecorder)
 * on a real database: which server holds each host, liveness derived from the holder's server
 * record (stopped at once, down after the threshold, a restarted process's old rows ended),
 * a late release that never clears another server's claim, forgetting a server, the listing's
 * filters and keyset paging, and a zone move announced to the other servers.
 */
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import type { HostWhereabouts, StoreChange } from '../../src/store/types';
import { openStore, pollUntil, sql, type OpenedStore } from '../helpers/pg-store-fixtures';

const DOWN_AFTER_MS = 4_000;
const STARTED = '2026-01-01T00:00:00.000Z';

t.test('the connection registry in PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const opened: OpenedStore[] = [];
  t.teardown(async () => {
    for (const { store } of opened) await store.close();
  });
  const open = async (url: string): Promise<OpenedStore> => {
    const o = await openStore(url, { serverDownAfterMs: DOWN_AFTER_MS });
    opened.push(o);
    return o;
  };

  t.test('holder, held-by, live counts and the listing follow the recorded changes', async (t) => {
    const url = await pg.database();
    const { store: a } = await open(url);
    const { store: b } = await open(url);
    await a.heartbeat({ address: 'A', startedAt: STARTED, agents: 0 });
    await b.heartbeat({ address: 'B', startedAt: STARTED, agents: 0 });
    const hosts = await Promise.all(['h1', 'h2', 'h3', 'h4'].map((guid, i) => a.registerHost(guid, i < 2 ? 'z1' : 'z2')));
    const [h1, h2, h3, h4] = hosts.map((host) => host.id) as [number, number, number, number];

    await a.recordConnections('A', [
      { hostId: h1, held: true, remoteAddress: '10.0.0.1:5000' },
      { hostId: h2, held: true, remoteAddress: '10.0.0.2:5000' },
    ]);
    await b.recordConnections('B', [{ hostId: h3, held: true, remoteAddress: '10.0.0.3:5000' }]);
    t.equal(await b.holderOf(h1), 'A', 'any store answers for the fleet');
    t.equal(await a.holderOf(h3), 'B');
    t.equal(await a.holderOf(h4), null, 'never connected');
    t.same(await b.hostsHeldBy('A'), [h1, h2]);
    t.same(await b.hostsHeldBy('nobody'), []);
    t.same([...(await a.liveCounts())], [['A', 2], ['B', 1]]);

    const all = await b.listHosts({});
    t.same(all.map((h) => [h.id, h.connected, h.server, h.remoteAddress, h.lastServer]), [
      [h1, true, 'A', '10.0.0.1:5000', 'A'],
      [h2, true, 'A', '10.0.0.2:5000', 'A'],
      [h3, true, 'B', '10.0.0.3:5000', 'B'],
      [h4, false, null, null, null],
    ]);
    t.match(all[0], { guid: 'h1', zone: 'z1', registeredAt: String, connectedSince: String, lastSeen: String });
    t.same(all[3]!.lastSeen, null);
    const ids = (list: HostWhereabouts[]): number[] => list.map((h) => h.id);
    t.same(ids(await b.listHosts({ server: 'A' })), [h1, h2]);
    t.same(ids(await b.listHosts({ zone: 'z2' })), [h3, h4]);
    t.same(ids(await b.listHosts({ connected: false })), [h4]);
    t.same(ids(await b.listHosts({ connected: true, zone: 'z1' })), [h1, h2]);
    t.same(ids(await b.listHosts({ limit: 2 })), [h1, h2], 'first page');
    t.same(ids(await b.listHosts({ limit: 2, after: h2 })), [h3, h4], 'next page');
    t.same(ids(await b.listHosts({ limit: 2, after: h4 })), [], 'past the end');

    // h1 moves to B; A's release arrives after B's claim and must not clear it.
    await b.recordConnections('B', [{ hostId: h1, held: true, remoteAddress: '10.0.0.1:6000' }]);
    await a.recordConnections('A', [{ hostId: h1, held: false }, { hostId: h2, held: false }]);
    t.equal(await a.holderOf(h1), 'B', 'a late release of the old server leaves the new claim');
    t.equal(await a.holderOf(h2), null, 'a release ends the connection');
    const h2View = (await a.listHosts({ after: h1, limit: 1 }))[0]!;
    t.match(h2View, { id: h2, connected: false, server: null, connectedSince: null, remoteAddress: null, lastServer: 'A', lastSeen: String });
    t.same([...(await a.liveCounts())], [['B', 2]]);

    // A removed host's record goes with it.
    await a.removeHost(h3);
    t.same(await sql(url, 'SELECT host_id FROM host_connections WHERE host_id = $1', [h3]), []);
    t.equal(await a.holderOf(h3), null);
    // A record for a host that no longer exists is not written.
    await b.recordConnections('B', [{ hostId: h3, held: true, remoteAddress: 'x' }]);
    t.same(await sql(url, 'SELECT host_id FROM host_connections WHERE host_id = $1', [h3]), []);
  });

  t.test('liveness comes from the holder: stopped at once, down after the threshold, restarted ends the old rows', async (t) => {
    const url = await pg.database();
    const { store: a } = await open(url);
    const { store: b } = await open(url);
    await a.heartbeat({ address: 'A', startedAt: STARTED, agents: 1 });
    await b.heartbeat({ address: 'B', startedAt: STARTED, agents: 1 });
    const [x, y] = await Promise.all([a.registerHost('x', 'z'), a.registerHost('y', 'z')]);
    await a.recordConnections('A', [{ hostId: x.id, held: true, remoteAddress: 'r1' }]);
    await b.recordConnections('B', [{ hostId: y.id, held: true, remoteAddress: 'r2' }]);

    await a.markStopped('A');
    t.match((await b.listServers()).find((s) => s.address === 'A'), { state: 'stopped', up: false, stoppedAt: String });
    t.equal(await b.holderOf(x.id), null, 'a stopped server holds nothing, at once');
    const stoppedView = (await b.listHosts({ limit: 1 }))[0]!;
    const stoppedAt = (await b.listServers()).find((s) => s.address === 'A')!.stoppedAt!;
    t.match(stoppedView, { id: x.id, connected: false, server: null, lastServer: 'A' });
    t.ok(stoppedView.lastSeen! >= stoppedAt, 'last seen when its server stopped');

    // B stops beating (a kill -9): its host reads disconnected once B is down, nothing rewritten.
    await b.heartbeat({ address: 'B', startedAt: STARTED, agents: 1 });
    t.equal(await a.holderOf(y.id), 'B');
    t.ok(await pollUntil(async () => (await a.listServers()).find((s) => s.address === 'B')?.state === 'down', 20_000), 'B listed down');
    t.equal(await a.holderOf(y.id), null, 'a down server holds nothing');
    t.same(await sql(url, 'SELECT disconnected_at FROM host_connections WHERE host_id = $1', [y.id]), [{ disconnected_at: null }], 'its row was not rewritten');

    // B comes back as a new process: its first beat ends what the old one left open.
    const { store: b2 } = await open(url);
    await b2.heartbeat({ address: 'B', startedAt: new Date().toISOString(), agents: 0 });
    t.equal(await a.holderOf(y.id), null, 'the new process does not inherit the old one\'s connections');
    const [ended] = await sql<{ disconnected_at: Date | null }>(url, 'SELECT disconnected_at FROM host_connections WHERE host_id = $1', [y.id]);
    t.ok(ended!.disconnected_at instanceof Date, 'the old row ended');

    // A beat again clears stopped.
    await a.heartbeat({ address: 'A', startedAt: STARTED, agents: 0 });
    t.match((await b.listServers()).find((s) => s.address === 'A'), { state: 'up', up: true, stoppedAt: null });
  });

  t.test('forgetting a server: refused while up, unknown is unknown, down or stopped is removed', async (t) => {
    const url = await pg.database();
    const { store: a } = await open(url);
    const { store: b } = await open(url);
    await a.heartbeat({ address: 'A', startedAt: STARTED, agents: 0 });
    await b.heartbeat({ address: 'B', startedAt: STARTED, agents: 0 });
    const host = await b.registerHost('held-by-b', 'z');
    await b.recordConnections('B', [{ hostId: host.id, held: true, remoteAddress: 'r' }]);
    t.match(await a.forgetServer('B'), { kind: 'up', server: { address: 'B', state: 'up' } });
    t.same(await a.forgetServer('nobody'), { kind: 'unknown' });
    await b.markStopped('B');
    t.match(await a.forgetServer('B'), { kind: 'forgotten', server: { address: 'B', state: 'stopped' } });
    t.same((await a.listServers()).map((s) => s.address), ['A']);
    t.match((await a.listHosts({}))[0], { connected: false, lastServer: 'B', lastSeen: String });
    t.same(await a.forgetServer('B'), { kind: 'unknown' }, 'once');
  });

  t.test('a zone move is committed and announced as host-moved', async (t) => {
    const url = await pg.database();
    const a = await open(url);
    const b = await open(url);
    const host = await a.store.registerHost('mover', 'old-zone');
    await b.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === host.id);
    const from = b.recorder.mark();
    t.match(await a.store.moveHost(host.id, 'new-zone'), { id: host.id, guid: 'mover', zone: 'new-zone' });
    const moved = (await b.recorder.waitFor((c) => c.kind === 'host-moved', from)) as Extract<StoreChange, { kind: 'host-moved' }>;
    t.same(moved.host, { ...host, zone: 'new-zone' });
    t.match(await a.store.moveHost(host.id, 'new-zone'), { zone: 'new-zone' }, 'moving to the same zone writes nothing');
    t.equal(await a.store.moveHost(999_999, 'z'), undefined, 'unknown id');
    t.same(await sql(url, 'SELECT zone FROM hosts WHERE id = $1', [host.id]), [{ zone: 'new-zone' }]);
  });
});
