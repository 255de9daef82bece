import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { DataDirLock, DataDirLockedError, LOCK_FILE } from '../../src/store/dir-lock';
import { FileStore } from '../../src/store/file-store';

/** A pid that surely ran on this machine and has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

t.test('a second store on the same directory refuses to open, naming the holder', async (t) => {
  const dataDir = t.testdir();
  const first = new FileStore({ dataDir });
  await first.open();
  const second = new FileStore({ dataDir });
  const lockPath = path.join(dataDir, LOCK_FILE);
  await t.rejects(second.open(), {
    name: 'DataDirLockedError',
    code: 'data_dir_locked',
    holderPid: process.pid,
    message:
      `data directory is in use by process ${process.pid} (lock file ${lockPath}); ` +
      'run one server per data directory, or remove the file if that process is not an agentlb server',
  });
  await t.rejects(second.registerHost('a', 'default'), { code: 'store_closed' }, 'the refused store stays closed');
  await first.close();
  const third = new FileStore({ dataDir });
  await third.open();
  t.pass('close released the lock');
  await third.close();
});

t.test('servers starting at the same moment: exactly one takes the lock, every time', async (t) => {
  for (let round = 0; round < 20; round++) {
    const dataDir = t.testdir();
    const results = await Promise.allSettled([DataDirLock.acquire(dataDir), DataDirLock.acquire(dataDir), DataDirLock.acquire(dataDir)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof DataDirLockedError);
    if (won.length !== 1 || refused.length !== 2) {
      t.fail(`round ${round}: ${won.length} took the lock, ${refused.length} were refused`);
      return;
    }
    await (won[0] as PromiseFulfilledResult<DataDirLock>).value.release();
    t.same(await readdir(dataDir), [], 'no lock and no temp file left behind');
  }
});

t.test('a lock left by a killed process is taken over', async (t) => {
  const dataDir = t.testdir({ [LOCK_FILE]: JSON.stringify({ pid: deadPid(), host: hostname(), since: 'then' }) });
  const lock = await DataDirLock.acquire(dataDir);
  t.match(JSON.parse(await readFile(path.join(dataDir, LOCK_FILE), 'utf8')), { pid: process.pid, host: hostname() });
  await lock.release();
});

t.test('an unreadable lock (crash between create and write) is taken over', async (t) => {
  const dataDir = t.testdir({ [LOCK_FILE]: '' });
  const lock = await DataDirLock.acquire(dataDir);
  await lock.release();
  await lock.release();
  t.pass('release is idempotent');
});

t.test("a lock written on another machine is never judged stale", async (t) => {
  const dataDir = t.testdir();
  await writeFile(path.join(dataDir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', since: 'then' }));
  const err = await DataDirLock.acquire(dataDir).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DataDirLockedError);
});

t.test('other errors creating the lock are passed through', async (t) => {
  const dataDir = path.join(t.testdir(), 'missing');
  await t.rejects(DataDirLock.acquire(dataDir), { code: 'ENOENT' });
});
