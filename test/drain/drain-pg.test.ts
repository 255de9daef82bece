/**
 * Drains in PostgreSQL (cluster mode): PgStore's DrainRegistry, the `drains` announcement
 * reaching another store, and StoreDrainBoard learning every drain, its own writes and
 * another server's, also when it starts after the drain began. And down servers: the server
 * registry's down records sent last, with the guards that keep an outage from faking them.
 */
import t from 'tap';
import { StoreDrainBoard, isDrainRegistry } from '../../src/server/drain/board-store';
import { DownWatch } from '../../src/server/drain/down';
import { parseAnnouncement } from '../../src/store/pg/notify';
import { FileStore } from '../../src/store/file-store';
import type { DrainRecord, ServerRecord, StoreStatus } from '../../src/store/types';
import { CROSS_SERVER_MS, startMember } from '../cluster/cluster-helpers';
import { openStore, sql } from '../helpers/pg-store-fixtures';
import { startPostgres } from '../../native-bench/postgres';
import { api } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

/** Resolves with the first list `board` reports that `match` accepts. */
function boardReports(board: StoreDrainBoard, match: (drains: readonly DrainRecord[]) => boolean): Promise<readonly DrainRecord[]> {
  if (match(board.current())) return Promise.resolve(board.current());
  return new Promise((resolve) => {
    const off = board.subscribe((drains) => {
      if (!match(drains)) return;
      off();
      resolve(drains);
    });
  });
}

t.test('the drains announcement parses', async (t) => {
  t.same(parseAnnouncement('{"from":"i-1","kind":"drains"}'), { from: 'i-1', kind: 'drains' });
  t.same(parseAnnouncement('{"kind":"drains"}'), { from: null, kind: 'drains' });
});

t.test('only a store that keeps drains makes a cluster board', async (t) => {
  t.equal(isDrainRegistry(new FileStore({ dataDir: t.testdir() })), false);
});

t.test('in PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());

  await t.test('set, re-rate (start time kept), list, clear; bad input refused', async (t) => {
    const { store } = await openStore(await pg.database());
    t.teardown(() => store.close());
    t.equal(isDrainRegistry(store), true);
    const first = await store.setDrain('m2.example:8250', 50);
    t.match(first, { address: 'm2.example:8250', rate: 50, since: /^\d{4}-\d\d-\d\dT.*Z$/ });
    const rerated = await store.setDrain('m2.example:8250', 5);
    t.same(rerated, { ...first, rate: 5 }, 'a new rate keeps the start time');
    await store.setDrain('m1.example:8250', 9);
    t.same((await store.listDrains()).map((d) => d.address), ['m1.example:8250', 'm2.example:8250'], 'ordered by address');
    t.same(await store.clearDrain('m2.example:8250'), rerated);
    t.equal(await store.clearDrain('m2.example:8250'), undefined, 'not draining any more');
    const timed = await store.setDrain('m3.example:8250', 5, 90.5);
    t.match(timed, { address: 'm3.example:8250', rate: 5, timeout: 90.5 });
    t.same(await store.setDrain('m3.example:8250', 7), { ...timed, rate: 7 }, 'no timeout given: the deadline is kept');
    t.same(await store.setDrain('m3.example:8250', 7, 2), { ...timed, rate: 7, timeout: 2 }, 'a new timeout replaces it');
    t.equal('timeout' in first, false, 'a drain without a timeout has none');
    await t.rejects(store.setDrain('m3', 5, 0), { message: 'timeout must be a positive number of seconds, got 0' });
    await t.rejects(store.setDrain('m3', 0), { message: 'rate must be a positive integer, got 0' });
    await t.rejects(store.setDrain('', 5), { message: 'address must be a non-empty string' });
  });

  await t.test('a board learns drains set by another server, and those set before it started', async (t) => {
    const url = await pg.database();
    const a = await openStore(url);
    const b = await openStore(url);
    t.teardown(async () => {
      await a.store.close();
      await b.store.close();
    });
    await a.store.setDrain('M3', 7);
    const errors: unknown[] = [];
    const boardB = new StoreDrainBoard(b.store, (error) => errors.push(error));
    t.teardown(() => boardB.close());
    t.same((await boardReports(boardB, (d) => d.length === 1)).map((d) => [d.address, d.rate]), [['M3', 7]], 'read when the board starts');

    const announced = b.recorder.mark();
    await a.store.setDrain('M1', 20);
    t.same(await b.recorder.waitFor((c) => c.kind === 'drains', announced), { kind: 'drains' }, 'another server hears of it');
    t.same((await boardReports(boardB, (d) => d.length === 2)).map((d) => d.address), ['M1', 'M3']);

    const boardA = new StoreDrainBoard(a.store, (error) => errors.push(error));
    t.teardown(() => boardA.close());
    await boardReports(boardA, (d) => d.length === 2);
    const ended = await boardA.clear('M3');
    t.match(ended, { address: 'M3', rate: 7 });
    t.same(boardA.current().map((d) => d.address), ['M1'], 'a board knows its own write when the call resolves');
    t.same((await boardReports(boardB, (d) => d.length === 1)).map((d) => d.address), ['M1'], 'and the other board soon after');
    t.same(errors, []);
    t.equal(boardA.scope, 'cluster');
  });

  await t.test('a server the registry lists as down is sent last; forgotten, it is first again', async (t) => {
    const url = await pg.database();
    const member = await startMember(t, url);
    await api(member, 'PUT', '/api/settings', { body: { host: 'M9,M2', 'indirect.agent.lb.algorithm': 'roundrobin' } });
    const agent = await TestAgent.connect(member.agentPort);
    const { hosts } = await agent.handshake({ guid: 'h1' });
    agent.ack(hosts!);
    // M9 beat once, an hour ago: three heartbeats missed many times over.
    await sql(url, "INSERT INTO servers (address, started_at, heartbeat_at, agents) VALUES ('M9', now() - interval '2 hours', now() - interval '1 hour', 0)");
    // Seen by the member's down watch through PostgreSQL (a margin for a loaded machine).
    t.same(await agent.next(CROSS_SERVER_MS), { type: 'hosts', seq: 1, hosts: ['M2', 'M9'], algorithm: 'roundrobin', checkInterval: 0 });
    await sql(url, "DELETE FROM servers WHERE address = 'M9'");
    t.same(await agent.next(CROSS_SERVER_MS), { type: 'hosts', seq: 1, hosts: ['M9', 'M2'], algorithm: 'roundrobin', checkInterval: 0 });
    await agent.close();
  });
});

t.test('the down watch trusts heartbeats only when they can be trusted, and never counts itself', async (t) => {
  const records = (...down: string[]): ServerRecord[] =>
    ['M1', 'M2', 'M3'].map((address) => ({ address, startedAt: '', heartbeatAt: '', agents: 0, up: !down.includes(address), state: down.includes(address) ? 'down' : 'up', stoppedAt: null }));
  let listed = records('M1', 'M3');
  let status: StoreStatus | undefined = { available: true, since: new Date(0).toISOString() };
  let now = 10_000;
  const avoided: string[][] = [];
  const watch = new DownWatch({
    registry: { listServers: () => Promise.resolve(listed) },
    hostEntries: () => ['M1', 'M2', 'M3'],
    avoid: { setAvoided: (_source, addresses) => Promise.resolve(avoided.push([...addresses])) },
    selfNames: () => ['M3', undefined],
    status: () => status,
    intervalMs: 100,
    downAfterMs: 300,
    onError: (error) => t.fail(String(error)),
    now: () => now,
  });
  await watch.poll();
  t.same(avoided.pop(), ['M1'], 'M1 is down; M3 is this server, whatever its record says');
  status = { available: false, since: new Date(now).toISOString() };
  listed = records('M1', 'M2');
  await watch.poll();
  t.same(avoided, [], 'nothing decided while the store is unavailable');
  status = { available: true, since: new Date(now).toISOString() };
  now += 299;
  await watch.poll();
  t.same(avoided, [], 'nor until it has been back for a whole down-after period (heartbeats stopped meanwhile)');
  now += 1;
  await watch.poll();
  t.same(avoided.pop(), ['M1', 'M2']);
  status = undefined;
  listed = records();
  await watch.poll();
  t.same(avoided.pop(), [], 'a store without a status is always trusted');
  watch.stop();
});
