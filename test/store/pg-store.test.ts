/**
 * PgStore against a real PostgreSQL (one cluster for the file, shared by the subtests, which
 * run in order and assert relative to the state they find).
 */
import t from 'tap';
import { PgStore } from '../../src/store/pg/store';
import { PgStoreInputError } from '../../src/store/pg/errors';
import { migrate, MIGRATIONS } from '../../src/store/pg/schema';
import { DEFAULT_SETTINGS as DEFAULTS } from '../../src/settings/types';

const DEFAULT_SETTINGS_REBALANCE = {
  'indirect.agent.lb.rebalance': DEFAULTS['indirect.agent.lb.rebalance'],
  'indirect.agent.lb.rebalance.threshold': DEFAULTS['indirect.agent.lb.rebalance.threshold'],
  'indirect.agent.lb.rebalance.grace': DEFAULTS['indirect.agent.lb.rebalance.grace'],
};
import { SettingsConflictError, StoreUnavailableError, type HostRecord, type StoreChange } from '../../src/store/types';
import {
  DEFAULT_SETTINGS,
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  SettingsError,
} from '../../src/settings/types';
import { startPostgres } from '../../native-bench/postgres';
import { openStore, pollUntil, sql, TEST_STORE_OPTIONS, type OpenedStore } from '../helpers/pg-store-fixtures';
import { Client } from 'pg';

t.test('PgStore', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const opened: OpenedStore[] = [];
  t.teardown(async () => {
    for (const { store } of opened) await store.close();
  });
  const open = async (): Promise<OpenedStore> => {
    const o = await openStore(pg.url);
    opened.push(o);
    return o;
  };

  // Opened by the first subtest, concurrently, on the empty database.
  let a: OpenedStore;
  let b: OpenedStore;

  await t.test('two stores opening at once on an empty database migrate it exactly once', async (t) => {
    [a, b] = await Promise.all([open(), open()]);
    const expected = { settings: { ...DEFAULT_SETTINGS }, settingsVersion: 0, hosts: [] };
    t.same(a.snapshot, expected, 'the first store starts from the defaults');
    t.same(b.snapshot, expected, 'so does the second');
    const versions = await sql<{ version: number }>(pg.url, 'SELECT version FROM schema_migrations ORDER BY version');
    t.same(versions, MIGRATIONS.map((m) => ({ version: m.version })), 'each migration recorded once');
  });

  await t.test('migrating again is a no-op', async (t) => {
    const third = await open();
    t.same(third.snapshot.settings, DEFAULT_SETTINGS, 'a third store opens on the existing schema');
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    t.teardown(() => client.end());
    t.same(await migrate(client), { applied: [], schemaVersion: MIGRATIONS.at(-1)!.version }, 'nothing left to apply');
  });

  await t.test('ids are unique across servers and ascend in call order within each', async (t) => {
    const guids = (prefix: string): string[] => Array.from({ length: 300 }, (_, i) => `${prefix}-${i}`);
    const fromA = guids('ids-a').map((g) => a.store.registerHost(g, 'z1'));
    const fromB = guids('ids-b').map((g) => b.store.registerHost(g, 'z2'));
    const [hostsA, hostsB] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
    const ascending = (hosts: HostRecord[]): boolean => hosts.every((h, i) => i === 0 || h.id > (hosts[i - 1] as HostRecord).id);
    t.ok(ascending(hostsA), "A's ids ascend in the order A registered them");
    t.ok(ascending(hostsB), "B's ids ascend in the order B registered them");
    const ids = new Set([...hostsA, ...hostsB].map((h) => h.id));
    t.equal(ids.size, 600, '600 registrations, 600 distinct ids');
    t.same(
      hostsA.slice(0, 2).map(({ guid, zone }) => ({ guid, zone })),
      [
        { guid: 'ids-a-0', zone: 'z1' },
        { guid: 'ids-a-1', zone: 'z1' },
      ],
      'records carry guid and zone',
    );
  });

  await t.test('a known guid keeps its id and zone; the same new guid from two servers gets one id', async (t) => {
    const first = await a.store.registerHost('same-guid-known', 'zone-a');
    const again = await b.store.registerHost('same-guid-known', 'zone-b');
    t.same(again, first, 'the existing record, zone unchanged');
    const [fromA, fromB] = await Promise.all([
      a.store.registerHost('same-guid-racing', 'zone-a'),
      b.store.registerHost('same-guid-racing', 'zone-b'),
    ]);
    t.equal(fromA.id, fromB.id, 'both servers answer with the one id');
    const rows = await sql(pg.url, "SELECT id FROM hosts WHERE guid = 'same-guid-racing'");
    t.equal(rows.length, 1, 'one row');
  });

  await t.test('a storm of registrations is group-committed into a few statements', async (t) => {
    const before = a.store.statistics();
    const [{ count: hostsBefore }] = await sql<{ count: string }>(pg.url, 'SELECT count(*) FROM hosts');
    const from = b.recorder.mark();
    const storm = Array.from({ length: 2000 }, (_, i) => a.store.registerHost(`storm-${i}`, 'z1'));
    const hosts = await Promise.all(storm);
    const after = a.store.statistics();
    t.equal(after.registerCalls - before.registerCalls, 2000, '2000 calls');
    const batches = after.registerBatches - before.registerBatches;
    const statements = after.statements - before.statements;
    t.ok(batches <= 3, `served by ${batches} flushes`);
    t.ok(statements <= 6, `in ${statements} statements, not 2000`);
    const [{ count: hostsAfter }] = await sql<{ count: string }>(pg.url, 'SELECT count(*) FROM hosts');
    t.equal(Number(hostsAfter) - Number(hostsBefore), 2000, 'all 2000 committed');
    // Announcements are chunked under the 8000-byte NOTIFY limit; B hears about every one.
    const lastId = (hosts[hosts.length - 1] as HostRecord).id;
    await b.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === lastId, from);
    // (Filtered by guid: an announcement of the previous subtest may still be arriving.)
    const added = new Set(b.recorder.since(from).flatMap((c) => (c.kind === 'host-added' && c.host.guid.startsWith('storm-') ? [c.host.id] : [])));
    t.same([...added].sort((x, y) => x - y), hosts.map((h) => h.id).sort((x, y) => x - y), 'B received every one of the 2000');
  });

  await t.test('a refused settings change rejects with SettingsError and changes nothing', async (t) => {
    const [before] = await sql(pg.url, 'SELECT * FROM settings');
    let seen: unknown;
    await t.rejects(
      a.store.updateSettings({ [SETTING_ALGORITHM]: 'bogus' as never }, (merged) => {
        seen = merged;
        return 'indirect.agent.lb.algorithm: unknown algorithm "bogus"';
      }),
      new SettingsError('indirect.agent.lb.algorithm: unknown algorithm "bogus"'),
    );
    t.same(seen, { ...DEFAULT_SETTINGS, [SETTING_ALGORITHM]: 'bogus' }, 'validate saw the merged settings');
    t.same((await sql(pg.url, 'SELECT * FROM settings'))[0], before, 'row unchanged, version included');
    t.equal(a.store.status().available, true, 'a refusal is not an outage');
  });

  await t.test('the rebalance settings are stored and read back by another server', async (t) => {
    const patch = { 'indirect.agent.lb.rebalance': 'off', 'indirect.agent.lb.rebalance.threshold': 35, 'indirect.agent.lb.rebalance.grace': 5 } as const;
    const written = await a.store.updateSettings(patch, () => undefined);
    t.match(written.settings, patch);
    const reopened = await open();
    t.match(reopened.snapshot.settings, patch, 'a store opening later reads them');
    await a.store.updateSettings({ ...DEFAULT_SETTINGS_REBALANCE }, () => undefined);
  });

  await t.test('two servers changing different keys at once lose neither change', async (t) => {
    const ok = (): undefined => undefined;
    const [{ version: start }] = await sql<{ version: string }>(pg.url, 'SELECT version FROM settings');
    const rounds = 10;
    const fromA = Array.from({ length: rounds }, (_, i) => a.store.updateSettings({ [SETTING_CHECK_INTERVAL]: i + 1 }, ok));
    const fromB = Array.from({ length: rounds }, (_, i) => b.store.updateSettings({ [SETTING_HOST]: `m${i}a,m${i}b` }, ok));
    const [resultsA, resultsB] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
    const versions = [...resultsA, ...resultsB].map((r) => r.settingsVersion).sort((x, y) => x - y);
    t.same(versions, Array.from({ length: 2 * rounds }, (_, i) => Number(start) + i + 1), 'each change got its own version');
    // Each server's calls run on several pooled connections, so its last COMMIT is its
    // highest version, not necessarily its last call.
    const latest = (results: typeof resultsA) => results.reduce((x, y) => (y.settingsVersion > x.settingsVersion ? y : x));
    const [row] = await sql<{ host: string; check_interval: number; version: string }>(pg.url, 'SELECT * FROM settings');
    t.equal(row?.check_interval, latest(resultsA).settings[SETTING_CHECK_INTERVAL], "A's last committed interval survived");
    t.equal(row?.host, latest(resultsB).settings[SETTING_HOST], "B's last committed host list survived");
    // In commit order, every change kept the other server's key exactly as the commit just
    // before it left it: each merged into the latest row, which is what FOR UPDATE buys.
    const inOrder = [...resultsA.map((r) => ({ r, fromA: true })), ...resultsB.map((r) => ({ r, fromA: false }))].sort(
      (x, y) => x.r.settingsVersion - y.r.settingsVersion,
    );
    const otherKey = (fromA: boolean) => (fromA ? SETTING_HOST : SETTING_CHECK_INTERVAL);
    const mismatches = inOrder.filter(({ r, fromA }, i) => {
      const previous = inOrder[i - 1]?.r.settings;
      return previous !== undefined && previous[otherKey(fromA)] !== r.settings[otherKey(fromA)];
    });
    t.same(mismatches, [], 'every change kept the other key as the previous commit left it');
    t.equal(Number(row?.version), Number(start) + 2 * rounds, 'version counts every change');
  });

  await t.test('If-Match across servers: of two changes made against one version, exactly one commits', async (t) => {
    const ok = (): undefined => undefined;
    const [{ version }] = await sql<{ version: string }>(pg.url, 'SELECT version FROM settings');
    const read = Number(version);
    const results = await Promise.allSettled([
      a.store.updateSettings({ [SETTING_CHECK_INTERVAL]: 41 }, ok, read),
      b.store.updateSettings({ [SETTING_CHECK_INTERVAL]: 42 }, ok, read),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(won.length, 1, 'one commits');
    t.equal(lost.length, 1, 'the other is refused');
    t.ok(lost[0]?.reason instanceof SettingsConflictError, String(lost[0]?.reason));
    t.equal((lost[0]?.reason as Error).message, `the settings are at version ${read + 1}, not ${read} as If-Match expects: read them again (GET /api/settings) and retry`);
    const [row] = await sql<{ version: string }>(pg.url, 'SELECT version FROM settings');
    t.equal(Number(row?.version), read + 1, 'only one version was written');
    t.equal(a.store.status().available && b.store.status().available, true, 'a conflict is an answer, not an outage');
  });

  await t.test('B receives settings changes, added and removed hosts made through A; A skips its own', async (t) => {
    const ok = (): undefined => undefined;
    // Let announcements of earlier subtests drain: NOTIFY delivers in commit order, so once
    // A has heard of a host B just added, A has heard everything committed before it.
    const settleFrom = a.recorder.mark();
    const settle = await b.store.registerHost('bus-settle', 'zone-bus');
    await a.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === settle.id, settleFrom);
    const fromB = b.recorder.mark();
    const fromA = a.recorder.mark();
    const updated = await a.store.updateSettings({ [SETTING_ALGORITHM]: 'roundrobin', [SETTING_HOST]: 'M1,M2,M3' }, ok);
    const settingsChange = await b.recorder.waitFor((c) => c.kind === 'settings' && c.settingsVersion === updated.settingsVersion, fromB);
    t.same(settingsChange, { kind: 'settings', ...updated }, 'B got the committed settings and version');

    const host = await a.store.registerHost('bus-host', 'zone-bus');
    const added = await b.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === host.id, fromB);
    t.same(added, { kind: 'host-added', host }, 'B got the new host record');

    t.same(await a.store.removeHost(host.id), host, 'removeHost returns the removed record');
    const removed = await b.recorder.waitFor((c) => c.kind === 'host-removed' && c.id === host.id, fromB);
    t.same(removed, { kind: 'host-removed', id: host.id }, 'B got the removal');
    t.equal(await a.store.removeHost(host.id), undefined, 'removing it again finds nothing');

    // NOTIFY delivers in commit order: once A hears of B's later change, it would already
    // have heard of its own three if it did not skip them.
    const marker = await b.store.registerHost('bus-marker', 'zone-bus');
    await a.recorder.waitFor((c) => c.kind === 'host-added' && c.host.id === marker.id, fromA);
    t.same(a.recorder.since(fromA), [{ kind: 'host-added', host: marker }], 'A received only B’s change');
  });

  await t.test('a change made outside agentlb (psql) is announced to every server', async (t) => {
    const fromA = a.recorder.mark();
    const fromB = b.recorder.mark();
    const [row] = await sql<{ id: string }>(pg.url, "INSERT INTO hosts (guid, zone) VALUES ('by-psql', 'z9') RETURNING id");
    const isIt = (c: StoreChange): boolean => c.kind === 'host-added' && c.host.id === Number(row?.id);
    await Promise.all([a.recorder.waitFor(isIt, fromA), b.recorder.waitFor(isIt, fromB)]);
    t.pass('both stores delivered the host inserted by psql');
  });

  await t.test('the server registry lists servers up or down by heartbeat age', async (t) => {
    const startedAt = '2030-01-02T03:04:05.000Z';
    await a.store.heartbeat({ address: '10.0.0.1:8250', startedAt, agents: 5 });
    await b.store.heartbeat({ address: '10.0.0.2:8250', startedAt, agents: 7 });
    let servers = await a.store.listServers();
    t.same(
      servers.map(({ address, agents, up, startedAt }) => ({ address, agents, up, startedAt })),
      [
        { address: '10.0.0.1:8250', agents: 5, up: true, startedAt },
        { address: '10.0.0.2:8250', agents: 7, up: true, startedAt },
      ],
      'both up, with their agent counts',
    );
    // Age one heartbeat far past the 30 s threshold rather than waiting for it.
    await sql(pg.url, "UPDATE servers SET heartbeat_at = now() - interval '1 hour' WHERE address = '10.0.0.2:8250'");
    servers = await b.store.listServers();
    t.same(
      servers.map(({ address, up }) => ({ address, up })),
      [
        { address: '10.0.0.1:8250', up: true },
        { address: '10.0.0.2:8250', up: false },
      ],
      'a silent server is down',
    );
    await b.store.heartbeat({ address: '10.0.0.2:8250', startedAt, agents: 3 });
    servers = await b.store.listServers();
    t.same(
      servers.map(({ address, up, agents }) => ({ address, up, agents })),
      [
        { address: '10.0.0.1:8250', up: true, agents: 5 },
        { address: '10.0.0.2:8250', up: true, agents: 3 },
      ],
      'its next heartbeat brings it back up',
    );
  });

  await t.test('bad input is refused with an exact error and nothing sent', async (t) => {
    const before = a.store.statistics().statements;
    await t.rejects(a.store.registerHost('', 'z'), new PgStoreInputError('guid must be a non-empty string'));
    await t.rejects(a.store.registerHost('g\u0000', 'z'), new PgStoreInputError('guid must not contain a NUL character'));
    await t.rejects(a.store.registerHost('g', ''), new PgStoreInputError('zone must be a non-empty string'));
    const beat = { address: 'x:1', startedAt: '2030-01-01T00:00:00Z', agents: 1 };
    await t.rejects(a.store.heartbeat({ ...beat, agents: -1 }), new PgStoreInputError('agents must be a non-negative integer, got -1'));
    await t.rejects(a.store.heartbeat({ ...beat, startedAt: 'yesterday' }), new PgStoreInputError('startedAt must be an ISO-8601 time, got "yesterday"'));
    await t.rejects(a.store.heartbeat({ ...beat, address: '' }), new PgStoreInputError('address must be a non-empty string'));
    t.equal(await a.store.removeHost(0), undefined, 'an id that cannot exist is simply unknown');
    t.equal(a.store.statistics().statements, before, 'no statement was sent');
  });

  await t.test('undefined values in a patch do not blank settings', async (t) => {
    const current = await a.store.updateSettings({}, () => undefined);
    const next = await a.store.updateSettings({ [SETTING_HOST]: undefined }, () => undefined);
    t.same(next.settings, current.settings, 'unchanged');
    t.equal(next.settingsVersion, current.settingsVersion + 1, 'still a committed change');
  });

  await t.test('calls before open() and after close() reject with StoreUnavailableError', async (t) => {
    const store = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: pg.url });
    await t.rejects(store.registerHost('g', 'z'), new StoreUnavailableError('store is not open'));
    t.same(store.status().available, false, 'not available before open');
    await store.open();
    t.equal(store.status().available, true, 'available once open');
    await store.close();
    await t.rejects(store.listServers(), new StoreUnavailableError('store is closed'));
    await t.rejects(store.open(), new StoreUnavailableError('PgStore cannot open: it is closed'));
    await store.close(); // idempotent
  });

  await t.test('close() during open() leaves nothing running', async (t) => {
    const store = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: pg.url });
    const opening = store.open();
    await store.close();
    await t.rejects(opening, StoreUnavailableError);
    // A backend exits shortly after its client hangs up; nothing announces it.
    const gone = await pollUntil(async () => {
      const rows = await sql(pg.url, 'SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1', [`%/${store.instanceId}`]);
      return rows.length === 0;
    });
    t.ok(gone, 'no connection of that store is left');
  });

  await t.test('opening against a database that is not there fails fast with StoreUnavailableError', async (t) => {
    const missing = new URL(pg.url);
    missing.pathname = '/no_such_database';
    const store = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: missing.toString() });
    t.teardown(() => store.close());
    const err = await store.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, StoreUnavailableError);
    t.match((err as Error).message, /^PostgreSQL unavailable: database "no_such_database" does not exist \(SQLSTATE 3D000\)$/);
    t.match(store.status(), { available: false, lastError: /no_such_database/ }, 'status() says why');
  });
});
