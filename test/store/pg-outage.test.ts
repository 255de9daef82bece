/**
 * Database faults: PostgreSQL restarting under two PgStores, and a LISTEN connection
 * killed on its own. Calls during the outage fail fast with StoreUnavailableError; afterwards
 * every subscriber gets a `resync` before any further change, and nothing committed is lost.
 */
import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { StoreUnavailableError, type HostRecord, type StoreChange, type StoreSnapshot } from '../../src/store/types';
import { SETTING_ALGORITHM, SETTING_HOST } from '../../src/settings/types';
import { startPostgres } from '../../native-bench/postgres';
import { PgStore } from '../../src/store/pg/store';
import { openStore, sql, TEST_STORE_OPTIONS, type OpenedStore } from '../helpers/pg-store-fixtures';

const accept = (): undefined => undefined;

/**
 * A TCP proxy that can turn into a black hole: bytes in either direction are dropped while
 * `blackhole` is set, as on a network partition (no RST, no FIN: only timeouts can tell).
 */
async function startProxy(target: URL): Promise<{ url: string; server: Server; setBlackhole(on: boolean): void }> {
  let blackhole = false;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const [from, to] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => {
        if (!blackhole) to.write(chunk);
      });
      from.on('close', () => to.destroy());
      from.on('error', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = new URL(target.toString());
  url.port = String(typeof address === 'object' && address ? address.port : 0);
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  return { url: url.toString(), server, setBlackhole: (on) => (blackhole = on) };
}
const isResync = (c: StoreChange): boolean => c.kind === 'resync';

t.test('PgStore across database faults', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const a: OpenedStore = await openStore(pg.url);
  const b: OpenedStore = await openStore(pg.url);
  t.teardown(async () => {
    await a.store.close();
    await b.store.close();
  });

  const committed = await a.store.updateSettings({ [SETTING_ALGORITHM]: 'roundrobin', [SETTING_HOST]: 'M1,M2,M3' }, accept);
  const hostsBefore = await Promise.all(['h1', 'h2', 'h3'].map((guid) => a.store.registerHost(guid, 'z')));

  /** Wait until `to` has delivered every change `from` committed so far (NOTIFY is in commit order). */
  const settle = async (from: OpenedStore, to: OpenedStore): Promise<HostRecord> => {
    const mark = to.recorder.mark();
    const marker = await from.store.registerHost(`settle-${mark}`, 'z');
    await to.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === marker.id, mark);
    return marker;
  };

  await t.test('a PostgreSQL restart: fail fast while down, resync after, nothing lost', async (t) => {
    const marker = await settle(a, b);
    const late = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: pg.url });
    t.teardown(() => late.close());
    const fromA = a.recorder.mark();
    const fromB = b.recorder.mark();
    await pg.restart(async () => {
      await t.rejects(a.store.registerHost('h4', 'z'), StoreUnavailableError, 'a registration during the outage');
      t.match(a.store.status(), { available: false, lastError: /./ }, 'status() says unavailable, and why');
      // Now the store knows: the next calls are refused without touching the network.
      await t.rejects(
        a.store.updateSettings({ [SETTING_HOST]: 'X' }, accept),
        { name: 'StoreUnavailableError', message: /^PostgreSQL unavailable since / },
        'a settings change is refused at once',
      );
      await t.rejects(b.store.listServers(), StoreUnavailableError, 'the other server is refused too');
      await t.rejects(late.open(), StoreUnavailableError, 'a server starting during the outage cannot open');
    });

    const [resyncA, resyncB] = await Promise.all([a.recorder.waitFor(isResync, fromA), b.recorder.waitFor(isResync, fromB)]);
    const expected: StoreSnapshot = { settings: committed.settings, settingsVersion: committed.settingsVersion, hosts: [...hostsBefore, marker] };
    t.same(resyncB, { kind: 'resync', snapshot: expected }, 'B resyncs to every committed setting and host');
    t.same(resyncA, { kind: 'resync', snapshot: expected }, 'so does A');
    t.same(b.recorder.since(fromB)[0], resyncB, 'the resync is the first change B delivers after the outage');
    t.equal(a.store.status().available, true, 'A is available again by the time it resyncs');

    const h4 = await a.store.registerHost('h4', 'z');
    t.ok(hostsBefore.every((h) => h.id < h4.id), 'ids keep ascending: none reused');
    const added = await b.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === h4.id, fromB);
    t.same(added, { kind: 'host-added', host: h4 }, 'the bus works again');
    t.same(b.recorder.since(fromB).slice(0, 2), [resyncB, added], 'resync, then the new change');
    t.same((await late.open()).hosts.slice(0, 5), [...expected.hosts, h4], 'the server that failed to start opens now');
  });

  await t.test('a database that stops answering: calls time out instead of hanging, then resync', async (t) => {
    const proxy = await startProxy(new URL(pg.url));
    t.teardown(() => new Promise<void>((resolve) => proxy.server.close(() => resolve())));
    const c = await openStore(proxy.url, { statementTimeoutMs: 300, connectTimeoutMs: 500, healthCheckIntervalMs: 200 });
    t.teardown(() => c.store.close());
    const fromC = c.recorder.mark();
    proxy.setBlackhole(true);
    await t.rejects(c.store.registerHost('blackholed', 'z'), StoreUnavailableError, 'the call times out');
    t.equal(c.store.status().available, false, 'status() says unavailable');
    const meanwhile = await a.store.registerHost('while-blackholed', 'z');
    proxy.setBlackhole(false);
    const resync = await c.recorder.waitFor(isResync, fromC);
    t.ok(resync.kind === 'resync' && resync.snapshot.hosts.some((h) => h.id === meanwhile.id), 'the resync holds the change C could not hear');
    const after = await c.store.registerHost('after-blackhole', 'z');
    t.ok(after.id > meanwhile.id, 'C registers again');
  });

  await t.test('a killed LISTEN connection alone: resync before any further change', async (t) => {
    // Changes committed before the kill (the last subtest's 'after-blackhole') may still be on
    // their way to B; delivered after the mark they would look like changes after the loss.
    await settle(a, b);
    const fromB = b.recorder.mark();
    // With a timeout, pg_terminate_backend waits until the backend has exited: the change
    // below cannot then reach B on the old connection before its loss.
    const killed = await sql(pg.url, 'SELECT pg_terminate_backend(pid, 5000) AS exited FROM pg_stat_activity WHERE application_name = $1', [
      `agentlb-listen/${b.store.instanceId}`,
    ]);
    t.same(killed, [{ exited: true }], "B's LISTEN connection terminated");
    // A change committed while B may still be reconnecting: B must deliver resync first.
    const settings = await a.store.updateSettings({ [SETTING_HOST]: 'M4,M5' }, accept);
    const seen = await b.recorder.waitFor(
      (c) => (c.kind === 'resync' && c.snapshot.settingsVersion >= settings.settingsVersion) || (c.kind === 'settings' && c.settingsVersion === settings.settingsVersion),
      fromB,
    );
    t.equal(b.recorder.since(fromB)[0]?.kind, 'resync', 'the first change after the loss is a resync');
    t.ok(seen, 'and B caught up with the change made meanwhile');
    t.equal(b.store.status().available, true, 'B is available again');
  });
});
