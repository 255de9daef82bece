/**
 * The rebalance in PostgreSQL (cluster mode), on real stores: one active run at a time, seen
 * by another server's board through NOTIFY, counts added by several servers ending it `done`;
 * and the fleet's shared budget: two servers asking at once are never granted more than the
 * rate in any sliding second (checked on the grants' own database timestamps).
 */
import t from 'tap';
import { StoreRebalanceBoard, isRebalanceRegistry } from '../../src/server/rebalance/board-store';
import type { RunRecord } from '../../src/server/rebalance/board';
import { FileStore } from '../../src/store/file-store';
import { startPostgres } from '../../native-bench/postgres';
import { openStore, sql } from '../helpers/pg-store-fixtures';

function boardShows(board: StoreRebalanceBoard, match: (run: RunRecord | undefined) => boolean): Promise<RunRecord | undefined> {
  if (match(board.current())) return Promise.resolve(board.current());
  return new Promise((resolve) => {
    const off = board.subscribe((run) => {
      if (!match(run)) return;
      off();
      resolve(run);
    });
  });
}

t.test('only a store that keeps runs makes a cluster board', async (t) => {
  t.equal(isRebalanceRegistry(new FileStore({ dataDir: t.testdir() })), false);
});

t.test('in PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const url = await pg.database();
  const a = await openStore(url);
  const b = await openStore(url);
  t.teardown(async () => {
    await a.store.close();
    await b.store.close();
  });

  await t.test('one run at a time, seen by the other server, done once the counts reach toMove', async (t) => {
    const boardA = new StoreRebalanceBoard(a.store, (error) => t.error(error));
    const boardB = new StoreRebalanceBoard(b.store, (error) => t.error(error));
    t.teardown(() => {
      boardA.close();
      boardB.close();
    });
    const run = await boardA.start({ source: 'manual', rate: 10, zone: null, toMove: 5 });
    t.match(run, { source: 'manual', rate: 10, zone: null, toMove: 5, moved: 0, notMoved: 0, endedAt: null, endReason: null });
    const seen = await boardShows(boardB, (r) => r?.id === run!.id);
    t.same(seen, run, 'B learns the run through NOTIFY');
    t.equal(await boardB.start({ source: 'auto', rate: 50, zone: null, toMove: 3 }), undefined, 'a second start while one is active is refused');
    await boardA.count(run!.id, 2, 0);
    await boardB.count(run!.id, 2, 1);
    const done = await boardShows(boardA, (r) => r?.endedAt !== null);
    t.match(done, { id: run!.id, moved: 4, notMoved: 1, endReason: 'done' }, 'counts from both servers; done at toMove');
    t.equal(await boardA.end('stopped'), undefined, 'nothing left to stop');
    const empty = await boardA.start({ source: 'auto', rate: 5, zone: 'z1', toMove: 0 });
    t.match(empty, { source: 'auto', zone: 'z1', toMove: 0, endReason: 'done' }, 'nothing to move: done at once');
    const auto = await boardB.start({ source: 'auto', rate: 5, zone: null, toMove: 9 });
    t.equal(await boardA.end('settled', 'manual'), undefined, 'ending only a manual run leaves the automatic one');
    t.match(await boardA.end('settled', 'auto'), { id: auto!.id, endReason: 'settled' });
  });

  await t.test('the shared budget: never more than the rate in any sliding second, whoever asks', async (t) => {
    const rate = 10;
    const asks = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).store.takeRebalanceMoves(3, rate));
    const granted = await Promise.all(asks);
    const total = granted.reduce((x, y) => x + y, 0);
    t.ok(total >= rate && total <= 2 * rate, `${total} granted to 40 asks of 3 made at once (the first second's ${rate}, maybe some of the next)`);
    t.ok(granted.every((n) => n >= 0 && n <= 3), 'never more than asked');
    const [{ peak }] = await sql<{ peak: number }>(
      url,
      `SELECT max(s)::int AS peak FROM (SELECT (SELECT sum(b.granted) FROM rebalance_grants b WHERE b.at > a.at - interval '1 second' AND b.at <= a.at) AS s FROM rebalance_grants a) w`,
    );
    t.ok(peak! <= rate, `at most ${rate} in any sliding second by the database clock (peak ${peak})`);
    t.equal(await a.store.takeRebalanceMoves(0, rate), 0, 'asking for none is none, and no statement');
  });
});
