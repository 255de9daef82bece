import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LOCK_FILE } from '../../src/store/dir-lock';
import {
  FileStore,
  HOSTS_JOURNAL_FILE,
  HOSTS_SNAPSHOT_FILE,
  SETTINGS_FILE,
  StoreCorruptError,
  StoreStateError,
} from '../../src/store/file-store';
import {
  DEFAULT_SETTINGS,
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  SettingsError,
  type Settings,
} from '../../src/settings/types';

const accept = () => undefined;

async function openStore(t: Test, dataDir: string, opts: { compactAfterBytes?: number; onCompactionError?: (err: unknown) => void } = {}) {
  const store = new FileStore({ dataDir, ...opts });
  const snapshot = await store.open();
  t.teardown(() => store.close());
  return { store, snapshot };
}

/** A data directory holding `content` in `fileName` refuses to open with `<path>: <reason>`. */
async function expectCorrupt(t: Test, fileName: string, content: string, reason: string | RegExp) {
  const dataDir = t.testdir({ [fileName]: content });
  const file = path.join(dataDir, fileName);
  const err = await new FileStore({ dataDir }).open().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, StoreCorruptError);
  t.equal((err as StoreCorruptError).code, 'store_corrupt');
  const message = (err as Error).message;
  t.ok(message.startsWith(`${file}: `), 'names the file');
  if (typeof reason === 'string') t.equal(message.slice(file.length + 2), reason);
  else t.match(message.slice(file.length + 2), reason);
}

const journalOf = (dir: string) => readFile(path.join(dir, HOSTS_JOURNAL_FILE), 'utf8');
const journalLines = async (dir: string) => (await journalOf(dir)).split('\n').filter((line) => line !== '');

t.test('a fresh data directory: created 0700, default settings at version 0, no hosts', async (t) => {
  const dataDir = path.join(t.testdir(), 'nested', 'data');
  const { store, snapshot } = await openStore(t, dataDir);
  t.same(snapshot, { settings: DEFAULT_SETTINGS, settingsVersion: 0, hosts: [] });
  t.equal((await stat(dataDir)).mode & 0o777, 0o700);
  t.same(await readdir(dataDir), [HOSTS_JOURNAL_FILE, LOCK_FILE], 'only the (empty) journal and the lock; settings.json appears on the first change');
  t.same(store.stats, { hostCommits: 0, hostChanges: 0, compactions: 0, compactionFailures: 0, hostBytesWritten: 0, settingsWrites: 0 });
  const unsubscribe = store.subscribe(() => t.fail('the file store never emits'));
  t.type(unsubscribe, 'function');
  unsubscribe();
});

t.test('registrations survive a reopen with the same ids, zones and times', async (t) => {
  const dataDir = t.testdir();
  const first = new FileStore({ dataDir });
  await first.open();
  const a = await first.registerHost('guid-a', 'default');
  const b = await first.registerHost('guid-b', 'zone-2');
  t.same([a.id, b.id], [1, 2]);
  t.match(a.registeredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  await first.close();

  const { store, snapshot } = await openStore(t, dataDir);
  t.same(snapshot.hosts, [a, b]);
  const commits = store.stats.hostCommits;
  t.same(await store.registerHost('guid-b', 'another-zone'), b, 'a known guid gets its record back, zone unchanged');
  t.equal(store.stats.hostCommits, commits, 'without a write');
});

t.test('ids are never reused after removals and restarts', async (t) => {
  const dataDir = t.testdir();
  const first = new FileStore({ dataDir });
  await first.open();
  for (const guid of ['a', 'b', 'c']) await first.registerHost(guid, 'default');
  t.match(await first.removeHost(3), { id: 3, guid: 'c' });
  t.equal(await first.removeHost(3), undefined, 'removing again: unknown');
  t.equal(await first.removeHost(99), undefined);
  const afterRemovals = first.stats.hostCommits;
  t.equal(afterRemovals, 4, 'removing an unknown id writes nothing');
  await first.close();

  const second = new FileStore({ dataDir });
  t.same((await second.open()).hosts.map((h) => h.id), [1, 2]);
  t.equal((await second.registerHost('c', 'default')).id, 4, 'the removed guid comes back with a new id');
  t.equal((await second.registerHost('d', 'default')).id, 5);
  await second.removeHost(5);
  await second.close();

  const { store } = await openStore(t, dataDir, { compactAfterBytes: 1 });
  t.equal((await store.registerHost('e', 'default')).id, 6);
  await store.removeHost(6);
  // Compaction runs after the commit has resolved its callers; close() waits for it.
  await store.close();
  t.ok(store.stats.compactions >= 1, 'compacted into a snapshot');
  const { store: reopened, snapshot } = await openStore(t, dataDir);
  t.same(snapshot.hosts.map((h) => h.id), [1, 2, 4]);
  t.equal((await reopened.registerHost('f', 'default')).id, 7, 'the snapshot keeps nextId past removed ids');
});

t.test('concurrent removals of one host share one write', async (t) => {
  const { store } = await openStore(t, t.testdir());
  const host = await store.registerHost('a', 'default');
  const [r1, r2] = await Promise.all([store.removeHost(host.id), store.removeHost(host.id)]);
  t.same([r1, r2], [host, host]);
  t.equal(store.stats.hostCommits, 2);
});

t.test('2 000 concurrent registrations: distinct ascending ids, one group commit', async (t) => {
  const dataDir = t.testdir();
  const { store } = await openStore(t, dataDir);
  const guids = Array.from({ length: 2000 }, (_, i) => `guid-${i}`);
  // The same guid twice in one burst (an agent reconnecting mid-storm) must get one record.
  const records = await Promise.all([...guids.map((guid) => store.registerHost(guid, 'default')), store.registerHost('guid-7', 'x')]);
  t.same(
    records.slice(0, 2000).map((r) => r.id),
    guids.map((_, i) => i + 1),
    'ids ascend in call order',
  );
  t.equal(records[2000], records[7], 'a repeated guid shares the pending registration');
  t.match(store.stats, { hostCommits: 1, hostChanges: 2000, compactions: 0, settingsWrites: 0 });
  t.equal((await journalLines(dataDir)).length, 1, 'one journal line');

  // Calls made while that write is in flight share the next one.
  const first = store.registerHost('late-0', 'default');
  await new Promise((resolve) => setImmediate(resolve));
  const rest = Array.from({ length: 500 }, (_, i) => store.registerHost(`late-${i + 1}`, 'default'));
  await Promise.all([first, ...rest]);
  t.equal(store.stats.hostCommits, 3);
  await store.close();
  const { snapshot } = await openStore(t, dataDir);
  t.equal(snapshot.hosts.length, 2501);
});

t.test('a torn last journal line is dropped and truncated away', async (t) => {
  for (const torn of ['{"ops":[{"op":"add","host":{"id":3,"gu', '{"ops":[{"op":"add","host":{"id":3,\0\0\0\0\0\n', '\0\0\0\0']) t.test(JSON.stringify(torn), async (t) => {
    const dataDir = t.testdir();
    const first = new FileStore({ dataDir });
    await first.open();
    await first.registerHost('a', 'default');
    await first.registerHost('b', 'default');
    await first.close();
    const committed = await journalOf(dataDir);
    await appendFile(path.join(dataDir, HOSTS_JOURNAL_FILE), torn);

    const { store, snapshot } = await openStore(t, dataDir);
    t.same(snapshot.hosts.map((h) => h.guid), ['a', 'b'], 'every complete record');
    t.equal(await journalOf(dataDir), committed, 'the torn bytes are gone');
    t.equal((await store.registerHost('c', 'default')).id, 3);
    await store.close();
    t.same((await openStore(t, dataDir)).snapshot.hosts.map((h) => h.guid), ['a', 'b', 'c'], 'and the next append is readable');
  });
});

t.test('a corrupt line before the last refuses to open, naming the file and line', async (t) => {
  const dataDir = t.testdir();
  const first = new FileStore({ dataDir });
  await first.open();
  await first.registerHost('a', 'default');
  await first.registerHost('b', 'default');
  await first.registerHost('c', 'default');
  await first.close();
  const journal = path.join(dataDir, HOSTS_JOURNAL_FILE);
  const lines = (await readFile(journal, 'utf8')).split('\n');
  lines[1] = lines[1]!.replace('"guid":"b"', '"guid":7');
  await writeFile(journal, lines.join('\n'));
  const badOp = JSON.stringify(JSON.parse(lines[1]!).ops[0]);
  t.match(badOp, /"guid":7/);
  await t.rejects(new FileStore({ dataDir }).open(), {
    name: 'StoreCorruptError',
    code: 'store_corrupt',
    message: `${journal}: line 2: bad op ${badOp}; refusing to open (committed data would be lost)`,
  });
});

t.test('journal lines that are not journal entries are named precisely', async (t) => {
  const cases: Array<[string, string]> = [
    ['not json\n{"ops":[]}\n', 'line 1: not valid JSON'],
    ['[1]\n{"ops":[]}\n', 'line 1: not a journal entry'],
    ['{"ops":[]}\n{"ops":{}}\n{"ops":[]}\n', 'line 2: not a journal entry'],
    ['{"ops":[{"op":"remove","id":0}]}\n{"ops":[]}\n', 'line 1: bad op {"op":"remove","id":0}'],
    ['{"ops":[{"op":"rename"}]}\n{"ops":[]}\n', 'line 1: bad op {"op":"rename"}'],
    ['{"ops":[7]}\n{"ops":[]}\n', 'line 1: bad op 7'],
    ['{"ops":[{"op":"add","host":null}]}\n{"ops":[]}\n', 'line 1: bad op {"op":"add","host":null}'],
  ];
  for (const [content, reason] of cases) t.test(reason, async (t) => {
    const dataDir = t.testdir({ [HOSTS_JOURNAL_FILE]: content });
    const journal = path.join(dataDir, HOSTS_JOURNAL_FILE);
    await t.rejects(new FileStore({ dataDir }).open(), {
      code: 'store_corrupt',
      message: `${journal}: ${reason}; refusing to open (committed data would be lost)`,
    });
    t.equal(await readFile(journal, 'utf8'), content, 'a refused journal is left untouched');
  });
});

t.test('the same guid under two ids refuses to open', async (t) => {
  const host = (id: number) => ({ id, guid: 'same', zone: 'default', registeredAt: '2024-01-01T00:00:00.000Z' });
  const dataDir = t.testdir({
    [HOSTS_JOURNAL_FILE]: `${JSON.stringify({ ops: [{ op: 'add', host: host(1) }, { op: 'add', host: host(2) }] })}\n`,
  });
  await t.rejects(new FileStore({ dataDir }).open(), {
    code: 'store_corrupt',
    message: `${path.join(dataDir, HOSTS_JOURNAL_FILE)}: guid same is registered twice (ids 1 and 2)`,
  });
});

t.test('a bad host snapshot refuses to open, naming the file', async (t) => {
  const host = { id: 2, guid: 'g', zone: 'default', registeredAt: '2024-01-01T00:00:00.000Z' };
  const cases: Array<[string, RegExp | string]> = [
    ['{', /^not valid JSON: /],
    ['{"format":2,"hosts":[]}', 'not a format 1 host snapshot'],
    ['{"format":1}', 'not a format 1 host snapshot'],
    ['{"format":1,"nextId":5,"hosts":[{"id":"1"}]}', 'hosts[0] is not a host record'],
    [JSON.stringify({ format: 1, nextId: 2, hosts: [host] }), 'nextId 2 is not above every host id'],
    [JSON.stringify({ format: 1, hosts: [host] }), 'nextId undefined is not above every host id'],
  ];
  for (const [content, reason] of cases) t.test(content, (t) => expectCorrupt(t, HOSTS_SNAPSHOT_FILE, content, reason));
});

t.test('compaction folds the journal into the snapshot and keeps the bytes written linear', async (t) => {
  const dataDir = t.testdir();
  const { store } = await openStore(t, dataDir, { compactAfterBytes: 2000 });
  // 100 group commits of 30 registrations, and a removal after each.
  for (let wave = 0; wave < 100; wave++) {
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.registerHost(`guid-${wave}-${i}`, 'default')));
    await store.removeHost(wave * 30 + 1);
  }
  await store.close();
  const snapshotBytes = (await stat(path.join(dataDir, HOSTS_SNAPSHOT_FILE))).size;
  const journalBytes = (await stat(path.join(dataDir, HOSTS_JOURNAL_FILE))).size;
  const { compactions, hostBytesWritten, hostCommits } = store.stats;
  t.equal(hostCommits, 200);
  t.ok(compactions >= 2 && compactions <= 10, `compacted ${compactions} times, as the journal caught up with the snapshot`);
  t.ok(journalBytes < Math.max(2000, snapshotBytes), 'the journal never outgrows the snapshot');
  // A whole-registry rewrite per commit would write ~100x the final size here.
  t.ok(hostBytesWritten < 5 * (snapshotBytes + journalBytes), `${hostBytesWritten} bytes written for ${snapshotBytes + journalBytes} bytes of state`);
  const { snapshot } = await openStore(t, dataDir);
  t.same(
    snapshot.hosts.map((h) => h.id),
    Array.from({ length: 3000 }, (_, i) => i + 1).filter((id) => id % 30 !== 1),
  );
});

t.test('a crash between writing the snapshot and emptying the journal loses and duplicates nothing', async (t) => {
  const dataDir = t.testdir();
  const first = new FileStore({ dataDir });
  await first.open();
  await first.registerHost('x', 'default');
  await first.removeHost(1);
  await first.registerHost('x', 'default');
  await first.registerHost('y', 'default');
  await first.close();
  const journalBefore = await journalOf(dataDir);

  const { store } = await openStore(t, dataDir, { compactAfterBytes: 1 });
  const z = await store.registerHost('z', 'default');
  await store.close();
  t.equal(store.stats.compactions, 1);
  const reopened = await openStore(t, dataDir);
  const compacted = reopened.snapshot;
  await reopened.store.close();
  t.same(compacted.hosts.map((h) => [h.id, h.guid]), [[2, 'x'], [3, 'y'], [4, 'z']]);

  // Put back the journal the compaction emptied: it is replayed over a snapshot that holds it.
  await writeFile(path.join(dataDir, HOSTS_JOURNAL_FILE), journalBefore + JSON.stringify({ ops: [{ op: 'add', host: z }] }) + '\n');
  const { store: replayed, snapshot } = await openStore(t, dataDir);
  t.same(snapshot, compacted, 'the same state');
  t.equal((await replayed.registerHost('w', 'default')).id, 5);
});

t.test('a failed compaction is reported, loses nothing, and is retried', async (t) => {
  const dataDir = t.testdir();
  const errors: unknown[] = [];
  const opts = { compactAfterBytes: 1, onCompactionError: (err: unknown) => errors.push(err) };
  const { store } = await openStore(t, dataDir, opts);
  await mkdir(path.join(dataDir, HOSTS_SNAPSHOT_FILE, 'blocker'), { recursive: true });
  const a = await store.registerHost('a', 'default');
  t.equal(a.id, 1, 'the registration is committed anyway');
  await store.close();
  t.match(errors, [{ code: 'EISDIR' }]);
  t.equal(store.stats.compactions, 0);
  t.same(await journalLines(dataDir), [JSON.stringify({ ops: [{ op: 'add', host: a }] })], 'the journal still holds it');

  await rm(path.join(dataDir, HOSTS_SNAPSHOT_FILE), { recursive: true });
  const { store: second } = await openStore(t, dataDir, opts);
  await second.registerHost('b', 'default');
  await second.close();
  t.equal(second.stats.compactions, 1, 'retried on the next commit');
  t.equal(errors.length, 1);
  t.same((await openStore(t, dataDir)).snapshot.hosts.map((h) => h.guid), ['a', 'b']);
});

t.test('a failed append rejects its batch, burns its ids, and the next append cuts its leftovers', async (t) => {
  const dataDir = t.testdir();
  const journal = path.join(dataDir, HOSTS_JOURNAL_FILE);
  const { store } = await openStore(t, dataDir);
  await store.registerHost('a', 'default');
  const committed = await journalOf(dataDir);
  // /dev/full accepts open() and fails write() with ENOSPC: a real full disk, mid-append.
  await rename(journal, `${journal}.saved`);
  await symlink('/dev/full', journal);
  await t.rejects(store.registerHost('b', 'default'), { code: 'ENOSPC' });
  await rm(journal);
  await rename(`${journal}.saved`, journal);
  // What a write that failed half-way leaves behind.
  await appendFile(journal, '{"ops":[{"op":"add","host":{"id":2,"guid":"b"');
  const c = await store.registerHost('c', 'default');
  t.equal(c.id, 3, 'the failed registration\'s id is not handed out again');
  t.equal(await journalOf(dataDir), committed + JSON.stringify({ ops: [{ op: 'add', host: c }] }) + '\n', 'leftovers cut');
  const b = await store.registerHost('b', 'default');
  t.equal(b.id, 4, 'the failed guid can register again');

  // A journal that cannot even be opened rejects the same way.
  await rename(journal, `${journal}.saved`);
  await mkdir(journal);
  await t.rejects(store.registerHost('d', 'default'), { code: 'EISDIR' });
  await rm(journal, { recursive: true });
  await rename(`${journal}.saved`, journal);
  await store.close();
  t.same((await openStore(t, dataDir)).snapshot.hosts.map((h) => [h.id, h.guid]), [
    [1, 'a'],
    [3, 'c'],
    [4, 'b'],
  ]);
});

t.test('updateSettings merges, validates, persists as the next version', async (t) => {
  const dataDir = t.testdir();
  const { store } = await openStore(t, dataDir);
  const seen: Settings[] = [];
  const result = await store.updateSettings({ [SETTING_HOST]: 'M1,M2,M3', [SETTING_ALGORITHM]: 'roundrobin' }, (merged) => {
    seen.push(merged);
    return undefined;
  });
  const expected = { ...DEFAULT_SETTINGS, [SETTING_HOST]: 'M1,M2,M3', [SETTING_ALGORITHM]: 'roundrobin', [SETTING_CHECK_INTERVAL]: 0 };
  t.same(result, { settings: expected, settingsVersion: 1 });
  t.same(seen, [expected], 'validate sees the merged settings');
  t.same(JSON.parse(await readFile(path.join(dataDir, SETTINGS_FILE), 'utf8')), { version: 1, settings: expected });

  // Concurrent changes of different keys are serialised: neither is lost.
  const [r2, r3] = await Promise.all([
    store.updateSettings({ [SETTING_CHECK_INTERVAL]: 30 }, accept),
    store.updateSettings({ [SETTING_ALGORITHM]: 'shuffle', [SETTING_HOST]: undefined }, accept),
  ]);
  t.equal(r2.settingsVersion, 2);
  t.same(r3, { settings: { ...DEFAULT_SETTINGS, [SETTING_HOST]: 'M1,M2,M3', [SETTING_ALGORITHM]: 'shuffle', [SETTING_CHECK_INTERVAL]: 30 }, settingsVersion: 3 });
  await store.updateSettings({ stray: 'never stored' } as Partial<Settings>, accept);
  t.equal(store.stats.settingsWrites, 4);
  await store.close();
  t.same((await openStore(t, dataDir)).snapshot, { settings: r3.settings, settingsVersion: 4, hosts: [] }, 'survives a reopen');
});

t.test('a refused settings change writes nothing and changes nothing', async (t) => {
  const dataDir = t.testdir();
  const { store } = await openStore(t, dataDir);
  await store.updateSettings({ [SETTING_HOST]: 'M1' }, accept);
  const before = await readFile(path.join(dataDir, SETTINGS_FILE));
  await t.rejects(
    store.updateSettings({ [SETTING_HOST]: '' }, (merged) => (merged[SETTING_HOST] === '' ? 'host: must not be empty' : undefined)),
    new SettingsError('host: must not be empty'),
  );
  t.same(await readFile(path.join(dataDir, SETTINGS_FILE)), before, 'settings.json untouched');
  t.equal(store.stats.settingsWrites, 1);
  const next = await store.updateSettings({ [SETTING_CHECK_INTERVAL]: 5 }, accept);
  t.same(next, { settings: { ...DEFAULT_SETTINGS, [SETTING_HOST]: 'M1', [SETTING_CHECK_INTERVAL]: 5 }, settingsVersion: 2 }, 'the refused change left no trace');
});

t.test('a failed settings write rejects and keeps the committed settings', async (t) => {
  const dataDir = t.testdir();
  const { store } = await openStore(t, dataDir);
  await mkdir(path.join(dataDir, SETTINGS_FILE, 'blocker'), { recursive: true });
  await t.rejects(store.updateSettings({ [SETTING_HOST]: 'M9' }, accept), { code: 'EISDIR' });
  await rm(path.join(dataDir, SETTINGS_FILE), { recursive: true });
  t.same(await store.updateSettings({}, accept), { settings: DEFAULT_SETTINGS, settingsVersion: 1 });
});

t.test('a bad settings.json refuses to open, naming the file', async (t) => {
  const cases: Array<[string, string | RegExp]> = [
    ['{"version": 1, "settings": {', /^not valid JSON: /],
    ['null', 'expected {"version": N, "settings": {...}}'],
    ['{"version": 1}', 'expected {"version": N, "settings": {...}}'],
    ['{"version": 1, "settings": null}', 'expected {"version": N, "settings": {...}}'],
    ['{"version": -1, "settings": {}}', 'version -1 is not a non-negative integer'],
    ['{"settings": {}}', 'version undefined is not a non-negative integer'],
    ['{"version": 2, "settings": {"indirect.agent.lb.check.interval": "60"}}', 'indirect.agent.lb.check.interval "60" is not a number'],
    ['{"version": 2, "settings": {"host": 5}}', 'host 5 is not a string'],
  ];
  for (const [content, reason] of cases) t.test(content, (t) => expectCorrupt(t, SETTINGS_FILE, content, reason));
  t.test('keys missing from an older file take their defaults', async (t) => {
    const older = t.testdir({ [SETTINGS_FILE]: '{"version": 7, "settings": {"host": "M1"}}' });
    const { snapshot } = await openStore(t, older);
    t.same(snapshot.settings, { ...DEFAULT_SETTINGS, [SETTING_HOST]: 'M1' });
    t.equal(snapshot.settingsVersion, 7);
  });
});

t.test('unreadable data files reject with the system error', async (t) => {
  const settingsDir = t.testdir({ [SETTINGS_FILE]: { inside: 'x' } });
  await t.rejects(new FileStore({ dataDir: settingsDir }).open(), { code: 'EISDIR' });
  const journalDir = t.testdir({ [HOSTS_JOURNAL_FILE]: { inside: 'x' } });
  await t.rejects(new FileStore({ dataDir: journalDir }).open(), { code: 'EISDIR' });
});

t.test('open cleans temp files left by a writer killed mid-write', async (t) => {
  const dataDir = t.testdir({ [`.${SETTINGS_FILE}.999999999.0123456789ab.tmp`]: '{"torn' });
  await openStore(t, dataDir);
  t.same(await readdir(dataDir), [HOSTS_JOURNAL_FILE, LOCK_FILE]);
});

t.test('lifecycle: calls before open and after close are refused; close waits for writes', async (t) => {
  const dataDir = t.testdir();
  const store = new FileStore({ dataDir });
  const notOpen = { name: 'StoreStateError', code: 'store_not_open', message: 'the store is not open yet' };
  await t.rejects(store.registerHost('a', 'default'), notOpen);
  await t.rejects(store.removeHost(1), notOpen);
  await t.rejects(store.updateSettings({}, accept), notOpen);
  await store.open();
  await t.rejects(store.open(), { code: 'store_already_opened', message: 'FileStore.open() may be called once' });

  const registration = store.registerHost('a', 'default');
  const settings = store.updateSettings({ [SETTING_CHECK_INTERVAL]: 9 }, accept);
  let registered = false;
  registration.then(() => (registered = true), accept);
  const closing = store.close();
  const closed = { name: 'StoreStateError', code: 'store_closed', message: 'the store is closed' };
  await t.rejects(store.registerHost('b', 'default'), closed, 'refused as soon as close() is called');
  await closing;
  t.ok(registered, 'close() resolved after the in-flight registration committed');
  await t.resolves(settings);
  await store.close();
  await t.rejects(store.updateSettings({}, accept), closed);
  await t.rejects(store.removeHost(1), closed);
  t.ok(new StoreStateError('store_closed', 'x') instanceof Error);

  const { snapshot } = await openStore(t, dataDir);
  t.same(snapshot.hosts.map((h) => h.guid), ['a']);
  t.equal(snapshot.settings[SETTING_CHECK_INTERVAL], 9);
  t.notOk(existsSync(path.join(dataDir, HOSTS_SNAPSHOT_FILE)));
});
