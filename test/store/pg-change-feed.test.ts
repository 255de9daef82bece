/**
 * The change feed's ordering rules, with an in-memory ChangeSource so that rare faults (one
 * read failing while the LISTEN connection stays up) can be made to happen on cue. The same
 * feed runs against PostgreSQL in pg-store.test.ts and pg-outage.test.ts.
 */
import t from 'tap';
import { ChangeFeed, type ChangeSource } from '../../src/store/pg/change-feed';
import { silentLogger } from '../../src/log';
import { type HostRecord, type StoreChange, type StoreSnapshot } from '../../src/store/types';
import { DEFAULT_SETTINGS } from '../../src/settings/types';

const host = (id: number): HostRecord => ({ id, guid: `g${id}`, zone: 'z', registeredAt: '2030-01-01T00:00:00.000Z' });

/** The database as the feed would read it, and a switch to make the next read fail. */
class MemorySource implements ChangeSource {
  readonly instanceId = 'me';
  settingsVersion = 0;
  hosts = new Map<number, HostRecord>();
  failNextRead = false;
  readFailures: unknown[] = [];
  private onReadFailed: (() => void) | undefined;
  /** Resolves at the next readFailed(). */
  readFailure = (): Promise<void> => new Promise((resolve) => (this.onReadFailed = resolve));
  private available = true;
  private waiting: (() => void)[] = [];

  /** While set, reads wait for it: a read in flight when something else happens. */
  holdReads: Promise<void> | undefined;
  private onReadStarted: (() => void) | undefined;
  /** Resolves when the next read begins. */
  readStarted = (): Promise<void> => new Promise((resolve) => (this.onReadStarted = resolve));

  private async read<T>(value: T): Promise<T> {
    this.onReadStarted?.();
    await this.holdReads;
    if (this.failNextRead) {
      this.failNextRead = false;
      return Promise.reject(new Error('read failed'));
    }
    return Promise.resolve(value);
  }
  readSettings() {
    return this.read({ settings: { ...DEFAULT_SETTINGS }, settingsVersion: this.settingsVersion });
  }
  readHostsById(ids: readonly number[]) {
    return this.read(ids.flatMap((id) => (this.hosts.has(id) ? [this.hosts.get(id) as HostRecord] : [])));
  }
  readCertifiedById(ids: readonly number[]) {
    return this.read(ids.map((id) => ({ guid: `g${id}`, serial: `${id.toString(16)}`, notAfter: '2030-01-01T00:00:00.000Z' })));
  }
  readRevokedById(ids: readonly number[]) {
    return this.read(ids.map((id) => id.toString(16)));
  }
  readSnapshot(): Promise<StoreSnapshot> {
    return this.read({ settings: { ...DEFAULT_SETTINGS }, settingsVersion: this.settingsVersion, hosts: [...this.hosts.values()] });
  }
  whenAvailable(): Promise<void> {
    return this.available ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
  readFailed(err: unknown): void {
    this.readFailures.push(err);
    this.available = false;
    this.onReadFailed?.();
  }
  recover(): void {
    this.available = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

const added = (from: string | null, ...ids: number[]): string => JSON.stringify({ from, kind: 'host-added', ids });
const settingsAt = (from: string | null, version: number): string => JSON.stringify({ from, kind: 'settings', version });

async function openFeed(source: MemorySource): Promise<{ feed: ChangeFeed; changes: StoreChange[] }> {
  const feed = new ChangeFeed(source, silentLogger());
  await feed.initialSnapshot();
  const changes: StoreChange[] = [];
  feed.subscribe((c) => changes.push(c));
  return { feed, changes };
}

t.test('notifications queued before the initial snapshot are skipped: it holds them', async (t) => {
  const source = new MemorySource();
  source.hosts.set(1, host(1));
  const feed = new ChangeFeed(source, silentLogger());
  feed.notification(added('other', 1));
  t.same((await feed.initialSnapshot()).hosts, [host(1)]);
  const changes: StoreChange[] = [];
  feed.subscribe((c) => changes.push(c));
  await feed.settled();
  t.same(changes, [], 'no duplicate host-added');
});

t.test('changes with no subscriber wait for the first one, in order', async (t) => {
  const source = new MemorySource();
  const feed = new ChangeFeed(source, silentLogger());
  await feed.initialSnapshot();
  source.hosts.set(1, host(1));
  source.hosts.set(2, host(2));
  feed.notification(added('other', 1));
  feed.notification(JSON.stringify({ from: 'other', kind: 'host-removed', ids: [7] }));
  feed.notification(added('other', 2));
  await feed.settled();
  const changes: StoreChange[] = [];
  feed.subscribe((c) => changes.push(c));
  t.same(
    changes,
    [
      { kind: 'host-added', host: host(1) },
      { kind: 'host-removed', id: 7 },
      { kind: 'host-added', host: host(2) },
    ],
    'delivered synchronously by subscribe(), in arrival order',
  );
});

t.test('own announcements are skipped; settings only when newer', async (t) => {
  const source = new MemorySource();
  const { feed, changes } = await openFeed(source);
  source.hosts.set(1, host(1));
  feed.notification(added('me', 1));
  source.settingsVersion = 3;
  feed.notification(settingsAt('other', 2));
  feed.notification(settingsAt('other', 3)); // the row read for the first one already says 3
  await feed.settled();
  feed.noteSettingsVersion(5); // committed by this process
  source.settingsVersion = 5;
  await feed.settled();
  feed.notification(settingsAt('other', 4));
  await feed.settled();
  t.same(changes, [{ kind: 'settings', settings: DEFAULT_SETTINGS, settingsVersion: 3 }], 'one delivery, at version 3');
});

t.test('a failed read turns into a resync once the store is back, before later changes', async (t) => {
  const source = new MemorySource();
  const { feed, changes } = await openFeed(source);
  source.hosts.set(1, host(1));
  source.failNextRead = true;
  const failed = source.readFailure();
  feed.notification(added('other', 1));
  source.hosts.set(2, host(2));
  feed.notification(added('other', 2)); // skipped once the read fails: the resync will hold it
  await failed;
  t.same(source.readFailures, [new Error('read failed')], 'the store was told');
  t.same(changes, [], 'nothing delivered while the store is down');
  source.hosts.set(3, host(3));
  source.recover();
  await feed.settled();
  feed.notification(added('other', 3));
  await feed.settled();
  t.same(
    changes,
    [
      { kind: 'resync', snapshot: { settings: DEFAULT_SETTINGS, settingsVersion: 0, hosts: [host(1), host(2), host(3)] } },
      { kind: 'host-added', host: host(3) },
    ],
    'resync first; the change after it is still delivered',
  );
});

t.test('a loss learnt while a read is in flight: the resync comes first, and the read is dropped', async (t) => {
  const source = new MemorySource();
  const { feed, changes } = await openFeed(source);
  source.hosts.set(1, host(1));
  let release = (): void => undefined;
  source.holdReads = new Promise((resolve) => (release = resolve));
  const reading = source.readStarted();
  feed.notification(added('other', 1));
  await reading;
  feed.requireResync('LISTEN connection lost');
  source.holdReads = undefined;
  release();
  await feed.settled(); // the read, then the resync queued behind it
  t.same(
    changes,
    [{ kind: 'resync', snapshot: { settings: DEFAULT_SETTINGS, settingsVersion: 0, hosts: [host(1)] } }],
    'the change is in the snapshot, not delivered before it',
  );
});

t.test('an announcement this code does not know causes a resync', async (t) => {
  const source = new MemorySource();
  const { feed, changes } = await openFeed(source);
  feed.notification('{"from":"newer","kind":"server-joined"}');
  await feed.settled();
  await feed.settled(); // the resync task is queued by the first
  t.same(changes.map((c) => c.kind), ['resync']);
});

t.test('a subscriber that throws does not stop the others', async (t) => {
  const source = new MemorySource();
  const feed = new ChangeFeed(source, silentLogger());
  await feed.initialSnapshot();
  const seen: StoreChange[] = [];
  feed.subscribe(() => {
    throw new Error('subscriber bug');
  });
  const unsubscribe = feed.subscribe((c) => seen.push(c));
  feed.notification(JSON.stringify({ from: null, kind: 'host-removed', ids: [4] }));
  await feed.settled();
  t.same(seen, [{ kind: 'host-removed', id: 4 }]);
  unsubscribe();
  feed.notification(JSON.stringify({ from: null, kind: 'host-removed', ids: [5] }));
  await feed.settled();
  t.equal(seen.length, 1, 'nothing after unsubscribe');
});

t.test('after close() nothing is delivered and the initial snapshot fails', async (t) => {
  const source = new MemorySource();
  const { feed, changes } = await openFeed(source);
  feed.close();
  feed.notification(JSON.stringify({ from: null, kind: 'host-removed', ids: [4] }));
  await feed.settled();
  t.same(changes, []);
  await t.rejects(feed.initialSnapshot(), new Error('change feed closed'));
});
