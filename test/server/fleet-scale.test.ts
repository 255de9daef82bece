/**
 * What keeps the fleet live at 100 000 hosts, pinned at small sizes by structure and work
 * counts, never by timing (the figures are in BENCHMARKS.md, `npm run bench -- scale`):
 *
 * - a resync (replaceHosts) and any mix of adds and removals leave the same host index as a
 *   fresh build, and as a brute-force reference (positions = index in the zone's sorted ids);
 * - a resync costs O(n) index work once, a removal or an out-of-order add one block, not the
 *   zone (the resync used to remove hosts one at a time: O(n²), 84 s at 100 000 hosts);
 * - removing an early host sends each later agent exactly one frame, in one fan-out, and a
 *   batch of removals announced together costs one fan-out too;
 * - against a real PostgreSQL: a lost LISTEN connection's resync leaves the index a fresh build
 *   of the database would, and the snapshot read in pages holds every host once.
 */
import t from 'tap';
import fc from 'fast-check';
import { Client } from 'pg';
import { startPostgres } from '../../native-bench/postgres';
import { MAX_BLOCK } from '../../src/lb/zone-index';
import type { Hosts } from '../../src/protocol/messages';
import { AgentRegistry } from '../../src/server/fleet/agent-registry';
import { FleetController } from '../../src/server/fleet/controller';
import { ServerEvents } from '../../src/server/events';
import { Fleet, FleetSettingsError, RESYNC_SLICE } from '../../src/server/fleet/fleet';
import { FileStore } from '../../src/store/file-store';
import { PgStore } from '../../src/store/pg/store';
import { readAllHosts } from '../../src/store/pg/queries';
import { type HostRecord, type StoreSnapshot } from '../../src/store/types';
import { DEFAULT_SETTINGS } from '../../src/settings/types';
import { ChangeRecorder, sql, TEST_STORE_OPTIONS } from '../helpers/pg-store-fixtures';
import { api, startTestServer } from '../helpers/server';
import { connectAgents } from '../helpers/test-agent';

const RR = { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin' as const, 'indirect.agent.lb.check.interval': 0 };
const ZONES = ['a', 'b', 'c'];

function record(id: number, zone: string): HostRecord {
  return { id, guid: `guid-${id}`, zone, registeredAt: '2026-01-01T00:00:00.000Z' };
}

function fleetOf(hosts: readonly HostRecord[]): Fleet {
  const snapshot: StoreSnapshot = { settings: { ...DEFAULT_SETTINGS, ...RR }, settingsVersion: 1, hosts: [...hosts] };
  const fleet = Fleet.fromSnapshot(snapshot);
  if (fleet instanceof FleetSettingsError) throw fleet;
  return fleet;
}

/** The brute-force reference: a host's position is its index among its zone's ids, sorted. */
function referencePositions(zoneOfId: ReadonlyMap<number, string>): Map<number, number> {
  const byZone = new Map<string, number[]>();
  for (const [id, zone] of zoneOfId) byZone.set(zone, [...(byZone.get(zone) ?? []), id]);
  const positions = new Map<number, number>();
  for (const ids of byZone.values()) ids.sort((x, y) => x - y).forEach((id, position) => positions.set(id, position));
  return positions;
}

/** The first host whose position in `fleet` differs from the reference, or undefined. */
function firstMismatch(fleet: Fleet, zoneOfId: ReadonlyMap<number, string>): string | undefined {
  if (fleet.hostCount !== zoneOfId.size) return `${fleet.hostCount} hosts, expected ${zoneOfId.size}`;
  const reference = referencePositions(zoneOfId);
  for (const [id, zone] of zoneOfId) {
    const position = fleet.positionOf(id, zone);
    if (position !== reference.get(id)) return `host ${id} of ${zone} at ${position}, expected ${reference.get(id)}`;
    if (fleet.host(id)?.zone !== zone) return `host ${id} recorded in ${fleet.host(id)?.zone}, expected ${zone}`;
  }
  for (const zone of ZONES) {
    const absent = fleet.positionOf(-1, zone);
    const size = [...zoneOfId.values()].filter((z) => z === zone).length;
    if (absent !== size) return `an absent host of ${zone} at ${absent}, expected the zone's size ${size}`;
  }
  return undefined;
}

const hostArb = fc.record({ id: fc.integer({ min: 1, max: 3_000 }), zone: fc.constantFrom(...ZONES) });
const hostsArb = fc.uniqueArray(hostArb, { selector: (host) => host.id, maxLength: 400 });

t.test('property: adds, removals and a resync leave the index of a fresh build', async (t) => {
  const operation = fc.record({ remove: fc.boolean(), host: hostArb });
  fc.assert(
    fc.property(hostsArb, fc.array(operation, { maxLength: 300 }), hostsArb, (initial, operations, resynced) => {
      const fleet = fleetOf(initial.map((h) => record(h.id, h.zone)));
      const zoneOfId = new Map(initial.map((h) => [h.id, h.zone]));
      for (const { remove, host } of operations) {
        if (remove) {
          fleet.removeHost(host.id);
          zoneOfId.delete(host.id);
        } else {
          fleet.addHost(record(host.id, host.zone));
          zoneOfId.set(host.id, host.zone);
        }
      }
      const afterChanges = firstMismatch(fleet, zoneOfId);
      if (afterChanges !== undefined) throw new Error(`after adds and removals: ${afterChanges}`);
      const snapshot = resynced.map((h) => record(h.id, h.zone));
      fleet.replaceHosts(snapshot);
      const expected = new Map(resynced.map((h) => [h.id, h.zone]));
      const afterResync = firstMismatch(fleet, expected);
      if (afterResync !== undefined) throw new Error(`after the resync: ${afterResync}`);
      const fresh = fleetOf(snapshot);
      for (const { id, zone } of resynced) if (fresh.positionOf(id, zone) !== fleet.positionOf(id, zone)) throw new Error(`host ${id}: resync and fresh build differ`);
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass('200 random histories agree with the reference and with a fresh build');
});

t.test('property: a resync planned in slices (difference or rebuild built aside) leaves the index of a fresh build', async (t) => {
  await fc.assert(
    fc.asyncProperty(hostsArb, hostsArb, fc.integer({ min: 1, max: 50 }), async (initial, resynced, slice) => {
      const fleet = fleetOf(initial.map((h) => record(h.id, h.zone)));
      const snapshot = resynced.map((h) => record(h.id, h.zone));
      const gone = fleet.applyResync(await fleet.planResync(snapshot, slice));
      const expected = new Map(resynced.map((h) => [h.id, h.zone]));
      const mismatch = firstMismatch(fleet, expected);
      if (mismatch !== undefined) throw new Error(mismatch);
      const expectedGone = initial.map((h) => h.id).filter((id) => !expected.has(id));
      if ([...gone].sort((a, b) => a - b).join() !== expectedGone.sort((a, b) => a - b).join()) throw new Error(`gone ${gone.join()}, expected ${expectedGone.join()}`);
      for (const h of snapshot) if (fleet.hostByGuid(h.guid)?.id !== h.id) throw new Error(`guid ${h.guid} not found`);
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass('150 sliced resyncs agree with the reference');
});

t.test('property: a resync that differs a little (applied as a difference) leaves the index of a fresh build', async (t) => {
  const edit = fc.record({ kind: fc.constantFrom('remove', 'add', 'move'), pick: fc.nat(), host: hostArb });
  fc.assert(
    fc.property(fc.uniqueArray(hostArb, { selector: (host) => host.id, minLength: 64, maxLength: 400 }), fc.array(edit, { maxLength: 3 }), (initial, edits) => {
      const fleet = fleetOf(initial.map((h) => record(h.id, h.zone)));
      const expected = new Map(initial.map((h) => [h.id, h.zone]));
      for (const { kind, pick, host } of edits) {
        const ids = [...expected.keys()];
        const target = ids[pick % ids.length]!;
        if (kind === 'remove') expected.delete(target);
        else if (kind === 'move') expected.set(target, ZONES[(ZONES.indexOf(expected.get(target)!) + 1) % ZONES.length]!);
        else expected.set(host.id, host.zone);
      }
      const before = fleet.indexWork;
      fleet.replaceHosts([...expected].map(([id, zone]) => record(id, zone)));
      const mismatch = firstMismatch(fleet, expected);
      if (mismatch !== undefined) throw new Error(mismatch);
      if (edits.length === 0 && fleet.indexWork !== before) throw new Error('an unchanged snapshot did index work');
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('300 near-identical resyncs agree with the reference');
});

/** A small deterministic generator, so a large case is reproducible from its seed. */
function numbers(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

t.test('property: zones of several blocks (splits, emptied blocks) match the reference', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
      const next = numbers(seed);
      const fleet = fleetOf([]);
      const zoneOfId = new Map<number, string>();
      // Enough hosts in one zone for several MAX_BLOCK blocks, in random id order.
      for (let i = 0; i < 6 * MAX_BLOCK; i++) {
        const id = 1 + Math.floor(next() * 20_000);
        const zone = next() < 0.8 ? 'a' : 'b';
        if (next() < 0.25 && zoneOfId.size > 0) {
          fleet.removeHost(id);
          zoneOfId.delete(id);
        } else {
          fleet.addHost(record(id, zone));
          zoneOfId.set(id, zone);
        }
      }
      // Empty a run of ids entirely: whole blocks vanish.
      for (let id = 5_000; id < 9_000; id++) {
        fleet.removeHost(id);
        zoneOfId.delete(id);
      }
      const mismatch = firstMismatch(fleet, zoneOfId);
      if (mismatch !== undefined) throw new Error(mismatch);
      return true;
    }),
    { numRuns: 8 },
  );
  t.pass('8 seeds of ~6 000 random changes agree with the reference');
});

t.test('work counts: a resync is O(n) once; a removal or a late id costs a block, not the zone', async (t) => {
  const n = 40_000;
  const hosts = Array.from({ length: n }, (_, i) => record(2 * (i + 1), 'a'));
  const fleet = fleetOf(hosts);
  let before = fleet.indexWork;
  fleet.replaceHosts(hosts.filter((h) => h.id % 10 !== 0));
  const resync = fleet.indexWork - before;
  t.ok(resync <= n, `a resync of ${n} hosts did ${resync} steps of index work (at most one per host)`);

  before = fleet.indexWork;
  const kept = hosts.filter((h) => h.id % 10 !== 0);
  fleet.replaceHosts(kept);
  t.equal(fleet.indexWork - before, 0, 'a resync to the same hosts does no index work');
  const edited = [...kept.filter((h) => h.id % 2_000 !== 2), ...Array.from({ length: 20 }, (_, i) => record(2 * n + 2 * (i + 1), 'a'))];
  fleet.replaceHosts(edited);
  const nearWork = fleet.indexWork - before;
  t.ok(nearWork <= 40 * (2 * MAX_BLOCK + n / (MAX_BLOCK / 2)), `a resync with 20 removed and 20 added hosts did ${nearWork} steps: per change, not per host`);
  t.equal(fleet.hostCount, edited.length);

  before = fleet.indexWork;
  fleet.removeHost(4);
  const removal = fleet.indexWork - before;
  t.ok(removal <= 2 * MAX_BLOCK + n / (MAX_BLOCK / 2), `removing the first host did ${removal} steps, where re-numbering the zone is ${n}`);

  before = fleet.indexWork;
  const late = 1_000;
  for (let i = 0; i < late; i++) fleet.addHost(record(2 * i + 1, 'a'));
  const perLateAdd = (fleet.indexWork - before) / late;
  t.ok(perLateAdd <= 2 * MAX_BLOCK + (n + late) / (MAX_BLOCK / 2), `${late} ids arriving late at the front did ${perLateAdd} steps each`);
  t.same([1, 3, 5, 6, 7].map((id) => fleet.positionOf(id, 'a')), [0, 1, 2, 3, 4], 'hosts 2 and 4 gone, 1, 3, 5, 7 arrived late: 1, 3, 5, 6, 7 lead the zone');
});

t.test('a resync compares in slices; changes that arrive meanwhile are applied after it, in order', async (t) => {
  const n = 3 * RESYNC_SLICE;
  const hosts = Array.from({ length: n }, (_, i) => record(i + 1, ZONES[i % 3]!));
  const fleet = fleetOf(hosts);
  const store = new FileStore({ dataDir: t.testdir() });
  await store.open();
  t.teardown(() => store.close());
  const controller = new FleetController(store, fleet, new AgentRegistry(), new ServerEvents());
  t.teardown(() => controller.close());
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns += 1;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  const applied = new Promise<void>((resolve) => {
    const apply = fleet.applyResync.bind(fleet);
    fleet.applyResync = (plan) => {
      counting = false;
      const gone = apply(plan);
      resolve();
      return gone;
    };
  });
  // The snapshot drops host 5; then, while the resync compares, host 7 is removed elsewhere and host n+1 added.
  const snapshot = hosts.filter((h) => h.id !== 5);
  controller.onStoreChange({ kind: 'resync', snapshot: { settings: { ...DEFAULT_SETTINGS, ...RR }, settingsVersion: 2, hosts: snapshot } });
  controller.onStoreChange({ kind: 'host-removed', id: 7 });
  controller.onStoreChange({ kind: 'host-added', host: record(n + 1, 'a') });
  t.ok(fleet.host(7) !== undefined && fleet.host(n + 1) === undefined, 'held back while the resync compares');
  await applied;
  // The held-back changes are applied right after, in the same chain of microtasks.
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(turns >= 3, `the loop turned ${turns} times while ${n} hosts were compared ${RESYNC_SLICE} at a time`);
  const expected = new Map(snapshot.filter((h) => h.id !== 7).map((h) => [h.id, h.zone]));
  expected.set(n + 1, 'a');
  t.equal(firstMismatch(fleet, expected), undefined, 'the resync, then the removal and the addition that followed it');
});

t.test('removing an early host: one fan-out, exactly one frame to each agent after it', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: RR });
  const held = await connectAgents(server.agentPort, Array.from({ length: 40 }, (_, i) => `early-${i}`));
  t.teardown(() => Promise.all(held.map(({ agent }) => agent.close())));
  const removedEvents: number[] = [];
  server.events.on('hostRemoved', (event) => removedEvents.push(event.agentsUpdated));
  const sent = new Map<number, number>();
  server.events.on('hostsSent', (event) => sent.set(event.hostId, (sent.get(event.hostId) ?? 0) + 1));

  const answer = await api(server, 'DELETE', '/api/hosts/2?force=true');
  t.equal(answer.status, 200);
  t.match(answer.body, { removed: { id: 2 }, agentsUpdated: 38 });
  t.same(removedEvents, [38], 'one removal reported once, with the agents of the one fan-out');
  const left = held.filter(({ welcome }) => welcome.hostId !== 2);
  for (const { agent, welcome } of left) {
    const frames = (await agent.roundTrip()).filter((m): m is Hosts => m.type === 'hosts');
    t.equal(frames.length, welcome.hostId < 2 ? 0 : 1, `host ${welcome.hostId}: ${welcome.hostId < 2 ? 'no frame' : 'one frame'}`);
    // Host 3 is at position 1 now (M2 first), host 4 at position 2, and so on.
    if (welcome.hostId > 2) t.equal(frames[0]!.hosts[0], RR.host.split(',')[(welcome.hostId - 2) % 3], `host ${welcome.hostId} rotated by its new position`);
  }
  t.same([...sent.values()].filter((count) => count !== 1), [], 'no agent was sent two frames');
  t.equal(sent.size, 38);
});

t.test('a batch of removals announced together costs one fan-out', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: RR });
  const held = await connectAgents(server.agentPort, Array.from({ length: 30 }, (_, i) => `batch-${i}`));
  const sent = new Map<number, number>();
  server.events.on('hostsSent', (event) => sent.set(event.hostId, (sent.get(event.hostId) ?? 0) + 1));
  // Five hosts removed elsewhere, delivered in one turn as the change feed delivers one
  // announcement's ids (src/store/pg/change-feed.ts).
  const gone = [1, 2, 3, 4, 5];
  for (const id of gone) server.controller.onStoreChange({ kind: 'host-removed', id });
  const left = held.filter(({ welcome }) => !gone.includes(welcome.hostId));
  for (const { agent, welcome } of left) {
    const frames = (await agent.roundTrip()).filter((m): m is Hosts => m.type === 'hosts');
    // Positions shift by 5: a multiple of 3 plus 2, so every host after them gets a new list.
    t.equal(frames.length, 1, `host ${welcome.hostId}: one frame for five removals`);
  }
  t.equal(sent.size, left.length);
  for (const { agent } of held) await agent.close();
});

/** readAllHosts on a connection of its own, with pages of `pageRows`. */
async function readAllHostsWith(url: string, pageRows: number): Promise<HostRecord[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await readAllHosts(client, pageRows);
  } finally {
    await client.end();
  }
}

t.test('PostgreSQL: a lost LISTEN connection resyncs to the index of a fresh build', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const other = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: pg.url });
  const store = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: pg.url });
  t.teardown(async () => {
    await store.close();
    await other.close();
  });
  await other.open();
  const fleet = Fleet.fromSnapshot(await store.open());
  if (fleet instanceof FleetSettingsError) throw fleet;
  const controller = new FleetController(store, fleet, new AgentRegistry(), new ServerEvents());
  t.teardown(() => controller.close());
  store.subscribe((change) => controller.onStoreChange(change));
  const recorder = new ChangeRecorder(store);

  // Hosts registered by the other server, over three zones.
  const guids = Array.from({ length: 600 }, (_, i) => `pg-${i}`);
  await Promise.all(guids.map((guid, i) => other.registerHost(guid, ZONES[i % 3]!)));
  await recorder.waitFor(() => fleet.hostCount === guids.length);
  // The resync's own index work, apart from changes delivered after it.
  const resyncWork: { hosts: number; changes: number; steps: number }[] = [];
  const applyResync = fleet.applyResync.bind(fleet);
  fleet.applyResync = (plan) => {
    const before = fleet.indexWork;
    const gone = applyResync(plan);
    const changes = plan.kind === 'diff' ? plan.vanished.length + plan.changed.length : plan.hosts.length;
    resyncWork.push({ hosts: fleet.hostCount, changes, steps: fleet.indexWork - before });
    return gone;
  };
  const mark = recorder.mark();
  const killed = await sql(pg.url, 'SELECT pg_terminate_backend(pid, 5000) AS exited FROM pg_stat_activity WHERE application_name = $1', [
    `agentlb-listen/${store.instanceId}`,
  ]);
  t.same(killed, [{ exited: true }], 'the LISTEN connection was terminated');
  // Committed while notifications may be lost: early hosts removed, more registered.
  const early = await sql<{ id: string }>(pg.url, 'SELECT id FROM hosts ORDER BY id LIMIT 50');
  for (const { id } of early) await other.removeHost(Number(id));
  await Promise.all(Array.from({ length: 200 }, (_, i) => other.registerHost(`pg-late-${i}`, ZONES[i % 3]!)));
  await recorder.waitFor((change) => change.kind === 'resync', mark);
  // Announcements after the resync may still be arriving: wait until the database's rows are all here.
  const rows = await sql<{ id: string; zone: string }>(pg.url, 'SELECT id, zone FROM hosts ORDER BY id');
  const expected = new Map(rows.map((row) => [Number(row.id), row.zone]));
  // The controller hears each change before the recorder: once one leaves the count right, it is.
  await recorder.waitFor(() => fleet.hostCount === expected.size, mark);
  t.equal(firstMismatch(fleet, expected), undefined, 'every position equals the brute-force reference of the database');
  const paged = await readAllHostsWith(pg.url, 7);
  t.same(paged.map((host) => [host.id, host.zone]), rows.map((row) => [Number(row.id), row.zone]), 'every host read back in pages of 7, in id order, none twice');
  const fresh = fleetOf(rows.map((row) => record(Number(row.id), row.zone)));
  t.same(
    rows.map((row) => fleet.positionOf(Number(row.id), row.zone)),
    rows.map((row) => fresh.positionOf(Number(row.id), row.zone)),
    'and equals a fresh build from the database',
  );
  t.equal(resyncWork.length, 1, 'one resync');
  const [{ hosts, changes, steps }] = resyncWork as [{ hosts: number; changes: number; steps: number }];
  // Either one build (a step per host) or the difference (a block per change, a zone here).
  const perChange = Math.min(2 * MAX_BLOCK + hosts / (MAX_BLOCK / 2), hosts) + 2;
  t.ok(steps <= Math.max(hosts, changes * perChange), `the resync did ${steps} steps of index work for ${hosts} hosts and ${changes} changes: never a removal of every host`);
});
