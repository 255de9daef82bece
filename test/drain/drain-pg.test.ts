/**
 * Drains in PostgreSQL (cluster mode): PgStore's DrainRegistry, the `drains` announcement
 * reaching another store, and StoreDrainBoard learning every drain, its own writes and
 * another server's, also when it starts after the drain began.
 */
import t from 'tap';
import { StoreDrainBoard, isDrainRegistry } from '../../src/server/drain-board-store';
import { parseAnnouncement } from '../../src/store/pg-notify';
import { FileStore } from '../../src/store/file-store';
import type { DrainRecord } from '../../src/store/types';
import { openStore } from '../helpers/pg-store-fixtures';
import { startPostgres } from '../helpers/postgres';

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

t.test('drains in PostgreSQL', async (t) => {
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
});
