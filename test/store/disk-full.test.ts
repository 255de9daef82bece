/**
 * A full disk is an error that names itself (audit: PUT /api/settings answered `500 internal
 * error`, /healthz stayed ok while every registration was refused, and compaction was retried
 * on every group commit). A REAL full disk: a 512 KiB tmpfs mounted for this test (needs
 * root or CAP_SYS_ADMIN; skipped, saying so, where mounting is not allowed), filled by a file.
 * The compaction back-off runs on an injected clock and the test waits on store.settled(), so
 * what is counted does not depend on how busy the machine is.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { FileStore } from '../../src/store/file-store';
import { api, startTestServer, type TestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

const PAGE = 4096;

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim();
  }
}

/** Fills the file system with `file`, then frees `leavePages` pages of it. */
function fill(file: string, leavePages: number): void {
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(PAGE, 0x66);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  ftruncateSync(fd, Math.max(0, Math.floor(size / PAGE) * PAGE - leavePages * PAGE));
  closeSync(fd);
}

async function register(server: TestServer, guid: string) {
  const agent = await TestAgent.connect(server.agentPort);
  agent.sendHello({ guid });
  const reply = await agent.next();
  await agent.close();
  return reply;
}

t.test('ENOSPC: 507, server_busy naming it, /healthz degraded, compaction backs off', async (t) => {
  // Not under t.testdir(): tap removes that before teardown runs, while it is still mounted.
  const mount = await mkdtemp(path.join(tmpdir(), 'agentlb-full-'));
  const refused = tryMount(mount);
  if (refused !== undefined) {
    t.plan(0, `skipped: cannot mount a small tmpfs here (${refused}); the full-disk test needs root or CAP_SYS_ADMIN`);
    return;
  }
  let mounted = true;
  const umount = (): void => {
    if (mounted) execFileSync('umount', ['-l', mount]);
    mounted = false;
  };
  t.teardown(async () => {
    umount();
    await rm(mount, { recursive: true, force: true });
  });
  const dataDir = path.join(mount, 'data');
  let clock = 0;
  const retries: number[] = [];
  const store = new FileStore({ dataDir, compactAfterBytes: 1, now: () => clock, onCompactionError: (_error, retryInMs) => retries.push(retryInMs) });
  const server = await startTestServer(t, { dataDir, store });
  t.match(await register(server, 'before'), { type: 'welcome' });
  await store.settled(); // the compaction after the commit
  t.equal(store.stats.compactions, 1, 'compacted: the journal is empty again');

  // One free page: journal appends fit in it, a new snapshot does not.
  const filler = path.join(mount, 'filler');
  fill(filler, 1);
  for (let i = 0; i < 8; i++) t.match(await register(server, `h${i}`), { type: 'welcome' }, `h${i} registered`);
  await store.settled();
  t.equal(store.stats.compactionFailures, 1, 'one failed compaction, not one per commit');
  t.same(retries, [1_000]);
  const health = await api(server, 'GET', '/healthz', { token: null });
  t.equal(health.status, 200, 'still serving its agents');
  t.match(health.body, {
    status: 'ok',
    store: 'degraded',
    storeSince: String,
    storeError: "the data directory's file system is full (ENOSPC: no space left on device): cannot write hosts.json",
  });

  clock += 1_000;
  t.match(await register(server, 'after-backoff'), { type: 'welcome' });
  await store.settled();
  t.equal(store.stats.compactionFailures, 2, 'retried once the back-off passed');
  t.same(retries, [1_000, 2_000], 'and the back-off doubled');

  const put = await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' } });
  t.same([put.status, put.body], [
    507,
    { error: "the data directory's file system is full (ENOSPC: no space left on device): cannot write settings.json; nothing was changed" },
  ]);
  t.notMatch((await api(server, 'GET', '/api/settings')).body, { host: 'M1,M2' }, 'unchanged');

  let busy;
  for (let i = 0; i < 200 && busy === undefined; i++) {
    const reply = await register(server, `fill-${i}-${'x'.repeat(100)}`);
    if (reply.type === 'error') busy = reply;
  }
  t.same(busy, {
    type: 'error',
    code: 'server_busy',
    message: "cannot register the host: the data directory's file system is full (ENOSPC: no space left on device): cannot write hosts.log",
  });

  await unlink(filler);
  clock += 10_000;
  t.match(await register(server, 'space-again'), { type: 'welcome' });
  await store.settled();
  t.equal(store.stats.compactions, 2, 'the compaction succeeded');
  t.equal((await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' } })).status, 200);
  const healthy = await api(server, 'GET', '/healthz', { token: null });
  t.notOk(Object.hasOwn(healthy.body as object, 'store'), 'no longer degraded');
  t.match(healthy.body, { status: 'ok' });
  await server.close();
});
