import t from 'tap';
import { existsSync } from 'node:fs';
import { startPostgres } from '../../native-bench/postgres';
import { sql } from '../helpers/pg-store-fixtures';

const query = (url: string, text: string): Promise<unknown[]> => sql(url, text);

t.test('a throwaway database keeps its data across restart() and refuses connections while down', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  await query(pg.url, 'CREATE TABLE kept (n integer); INSERT INTO kept VALUES (42)');
  let refusedWhileDown: unknown;
  await pg.restart(async () => {
    refusedWhileDown = await query(pg.url, 'SELECT 1').then(
      () => undefined,
      (err: unknown) => err,
    );
  });
  t.type(refusedWhileDown, Error, 'a connection during the outage fails');
  t.same(await query(pg.url, 'SELECT n FROM kept'), [{ n: 42 }], 'data survives the restart');
});

t.test('stop() removes the cluster directory', { skip: process.env.AGENTLB_TEST_PG_URL ? 'external server' : false }, async (t) => {
  const pg = await startPostgres();
  const port = new URL(pg.url).port;
  const rows = (await query(pg.url, "SELECT current_setting('data_directory') AS dir")) as { dir: string }[];
  const dataDir = rows[0]?.dir ?? '';
  t.ok(existsSync(dataDir), 'the data directory exists while running');
  await pg.stop();
  t.notOk(existsSync(dataDir), 'the data directory is gone after stop()');
  const after = await query(`postgres://agentlb@127.0.0.1:${port}/postgres`, 'SELECT 1').then(
    () => 'connected',
    () => 'refused',
  );
  t.equal(after, 'refused', 'the server no longer listens');
});
