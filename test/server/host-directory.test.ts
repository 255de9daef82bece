/**
 * GET /api/hosts' source (src/server/fleet/host-directory.ts) at small sizes, by structure:
 * a listing of the whole fleet is streamed a registry chunk at a time (at most LISTING_CHUNK
 * views, each chunk read only once the one before was taken, never all views at once), in
 * ascending id order whatever order the hosts arrived in; while the database is unavailable
 * the same listing comes from memory, in the same chunks, with a turn of the loop between them.
 * The registry is the real embedded one (LocalConnectionRegistry) over a real Fleet.
 */
import t, { type Test } from 'tap';
import { AgentRegistry } from '../../src/server/fleet/agent-registry';
import { FleetController } from '../../src/server/fleet/controller';
import { HostDirectory, LISTING_CHUNK } from '../../src/server/fleet/host-directory';
import { ServerEvents } from '../../src/server/events';
import { Fleet, FleetSettingsError } from '../../src/server/fleet/fleet';
import { LocalConnectionRegistry } from '../../src/server/cluster/local-connections';
import type { HostView } from '../../src/api/hosts';
import { FileStore } from '../../src/store/file-store';
import { StoreUnavailableError, type HostQuery, type HostRecord } from '../../src/store/types';
import { DEFAULT_SETTINGS } from '../../src/settings/types';

const N = 2 * LISTING_CHUNK + 321;

function record(id: number): HostRecord {
  return { id, guid: `guid-${id}`, zone: id % 3 === 0 ? 'z3' : 'other', registeredAt: '2026-01-01T00:00:00.000Z' };
}

interface Setup {
  directory: HostDirectory;
  /** Registry reads so far. */
  reads: () => number;
  /** Makes every later registry read fail as an outage does. */
  breakStore: () => void;
}

async function setup(t: Test): Promise<Setup> {
  // Ids out of order, as a cluster's late registrations arrive: the listing sorts them.
  const ids = Array.from({ length: N }, (_, i) => i + 1).reverse();
  const fleet = Fleet.fromSnapshot({ settings: { ...DEFAULT_SETTINGS, host: 'M1,M2' }, settingsVersion: 1, hosts: ids.map(record) });
  if (fleet instanceof FleetSettingsError) throw fleet;
  const store = new FileStore({ dataDir: t.testdir() });
  await store.open();
  t.teardown(() => store.close());
  const agents = new AgentRegistry();
  const controller = new FleetController(store, fleet, agents, new ServerEvents());
  t.teardown(() => controller.close());
  const connections = new LocalConnectionRegistry(() => agents, () => fleet.hosts());
  connections.start('self.test:8250');
  let reads = 0;
  let broken = false;
  const listHosts = connections.listHosts.bind(connections);
  connections.listHosts = (query: HostQuery) => {
    reads += 1;
    return broken ? Promise.reject(new StoreUnavailableError('PostgreSQL unavailable: test')) : listHosts(query);
  };
  const directory = new HostDirectory({ controller, agents, connections, self: () => 'self.test:8250', shared: false });
  return { directory, reads: () => reads, breakStore: () => (broken = true) };
}

async function drain(pages: AsyncIterable<HostView[]>, each?: (page: HostView[]) => void): Promise<HostView[]> {
  const all: HostView[] = [];
  for await (const page of pages) {
    each?.(page);
    all.push(...page);
  }
  return all;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('the whole fleet is streamed from the registry a chunk at a time, each read only once the last chunk was taken', async (t) => {
  const { directory, reads } = await setup(t);
  const listing = await directory.list({});
  t.equal(listing.scope, 'fleet');
  t.equal(reads(), 1, 'one chunk read before the listing is returned');
  const sizes: number[] = [];
  const readsWhenTaken: number[] = [];
  const all = await drain(listing.pages, (page) => {
    sizes.push(page.length);
    readsWhenTaken.push(reads());
  });
  t.same(sizes, [LISTING_CHUNK, LISTING_CHUNK, 321]);
  t.same(readsWhenTaken, [1, 2, 3], 'chunk k taken when k reads were made: no read ahead');
  t.same(all.map((h) => h.id), range(1, N), 'every host once, by ascending id');
  t.match(all[0], { id: 1, guid: 'guid-1', connected: false, server: null, lastSent: null, acked: null });
});

t.test('filters and a page (limit, after) give what the whole listing filtered gives', async (t) => {
  const { directory } = await setup(t);
  const zone = await drain((await directory.list({ zone: 'z3' })).pages);
  t.same(zone.map((h) => h.id), range(1, N).filter((id) => id % 3 === 0));
  const page = await drain((await directory.list({ after: 500, limit: 1_500 })).pages);
  t.same(page.map((h) => h.id), range(501, 2_000));
});

t.test('with the database unavailable, the same listing from memory: chunks of at most LISTING_CHUNK, a turn of the loop between them', async (t) => {
  const { directory, breakStore } = await setup(t);
  breakStore();
  const listing = await directory.list({});
  t.equal(listing.scope, 'this-server');
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns += 1;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const turnsWhenTaken: number[] = [];
  const sizes: number[] = [];
  const all = await drain(listing.pages, (page) => {
    sizes.push(page.length);
    turnsWhenTaken.push(turns);
  });
  counting = false;
  t.same(sizes, [LISTING_CHUNK, LISTING_CHUNK, 321]);
  for (let i = 1; i < turnsWhenTaken.length; i++) t.ok(turnsWhenTaken[i]! > turnsWhenTaken[i - 1]!, `the loop turned before chunk ${i + 1}`);
  t.same(all.map((h) => h.id), range(1, N));
  const page = await drain((await directory.list({ after: 10, limit: 5, zone: 'z3' })).pages);
  t.same(page.map((h) => h.id), [12, 15, 18, 21, 24]);
});
