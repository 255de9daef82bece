/** Fleet: planning, the up-to-date rule with the interval, the frame cache, version order. */
import t, { type Test } from 'tap';
import { ALGORITHMS, balanced } from '../../src/lb/index';
import { firstChoiceLoads, planLists } from '../../src/lb/plan-stats';
import type { Algorithm } from '../../src/lb/types';
import type { SliceClock } from '../../src/util/slices';
import { decodePayload } from '../../src/protocol/message-decoder';
import { Fleet, FleetSettingsError } from '../../src/server/fleet/fleet';
import type { AgentListState } from '../../src/server/fleet/fanout';
import { type HostRecord, type StoreSnapshot } from '../../src/store/types';
import { DEFAULT_SETTINGS, type Settings } from '../../src/settings/types';

const RR: Settings = { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 };

function host(id: number, zone = 'default'): HostRecord {
  return { id, guid: `g${id}`, zone, registeredAt: '2026-01-01T00:00:00.000Z' };
}

function fleet(settings: Settings = RR, hosts: HostRecord[] = [], settingsVersion = 1): Fleet {
  const made = Fleet.fromSnapshot({ settings, settingsVersion, hosts } satisfies StoreSnapshot);
  if (made instanceof FleetSettingsError) throw made;
  return made;
}

function state(hostId: number, hosts: readonly string[], extra: Partial<AgentListState> = {}): AgentListState {
  return { hostId, zone: 'default', algorithm: 'roundrobin', hosts, checkInterval: 0, ...extra };
}

t.test('unusable stored settings are refused with the reason', async (t) => {
  const made = Fleet.fromSnapshot({ settings: { ...RR, host: '' }, settingsVersion: 3, hosts: [] });
  t.type(made, FleetSettingsError);
  t.equal((made as FleetSettingsError).code, 'bad_stored_settings');
  t.equal((made as FleetSettingsError).message, 'host "" is refused: empty host list');
});

t.test('expectedFor follows roundrobin positions per zone; an unknown host takes the next one', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(5), host(7, 'z2')]);
  t.same(f.expectedFor(1, 'default'), ['M1', 'M2', 'M3']);
  t.same(f.expectedFor(5, 'default'), ['M3', 'M1', 'M2']);
  t.same(f.expectedFor(7, 'z2'), ['M1', 'M2', 'M3']);
  t.same(f.expectedFor(undefined, 'default'), ['M1', 'M2', 'M3'], 'position 3 = 0 mod 3');
  t.equal(f.expectedFor(1, 'default'), f.expectedFor(undefined, 'default'), 'positions 0 and 3 share one list instance');
});

t.test('listToSend: undefined only when list, algorithm and interval all match', async (t) => {
  const f = fleet(RR, [host(1), host(2)]);
  t.equal(f.listToSend(state(2, ['M2', 'M3', 'M1'])), undefined);
  t.same(f.listToSend(state(2, ['M1', 'M2', 'M3'])), ['M2', 'M3', 'M1'], 'wrong order');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { algorithm: 'static' })), ['M2', 'M3', 'M1'], 'wrong algorithm');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { checkInterval: 5 })), ['M2', 'M3', 'M1'], 'wrong interval');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { checkInterval: undefined })), ['M2', 'M3', 'M1'], 'no interval reported');
});

t.test('hostsFrame: one Buffer per list instance, carrying the settings version as seq', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(3), host(4)], 7);
  const first = f.hostsFrame(f.expectedFor(1, 'default'));
  t.equal(f.hostsFrame(f.expectedFor(4, 'default')).frame, first.frame, 'hosts 1 and 4 share the frame');
  t.not(f.hostsFrame(f.expectedFor(2, 'default')).frame, first.frame);
  t.same(decodePayload(first.frame.subarray(4)), { type: 'hosts', seq: 7, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 });
  t.equal(f.applySettings({ ...RR, 'indirect.agent.lb.check.interval': 9 }, 8), true);
  const after = f.hostsFrame(f.expectedFor(1, 'default'));
  t.not(after.frame, first.frame, 'a settings change never reuses an old frame');
  t.match(after, { seq: 8, checkInterval: 9 });
});

t.test('applySettings ignores versions that are not newer', async (t) => {
  const f = fleet(RR, [], 5);
  t.equal(f.applySettings({ ...RR, host: 'X' }, 5), false);
  t.equal(f.applySettings({ ...RR, host: 'X' }, 4), false);
  t.equal(f.settings.host, 'M1,M2,M3');
  t.equal(f.applySettings({ ...RR, host: 'X' }, 6), true);
  t.equal(f.settings.host, 'X');
  t.type(f.applySettings({ ...RR, host: '' }, 7), FleetSettingsError);
  t.equal(f.settingsVersion, 6, 'an unusable change is not installed');
});

t.test('addHost reports a shift only when existing positions moved', async (t) => {
  const f = fleet(RR, [host(2), host(4)]);
  t.same(f.addHost(host(6)), { added: true, shifted: false }, 'appended: nobody moved');
  t.same(f.addHost(host(6)), { added: false, shifted: false }, 'known: no-op');
  t.same(f.addHost(host(3)), { added: true, shifted: true }, 'inserted before 4 and 6 (cluster mode)');
  t.same(f.expectedFor(4, 'default'), ['M3', 'M1', 'M2'], 'host 4 moved to position 2');
  t.same(f.addHost(host(3, 'z2')), { added: true, shifted: false }, 'a zone move re-registers it');
  t.equal(f.host(3)?.zone, 'z2');
  t.same(f.expectedFor(4, 'default'), ['M2', 'M3', 'M1'], 'host 4 back at position 1');
});

t.test('removeHost and replaceHosts', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(3)]);
  t.equal(f.removeHost(9), undefined);
  t.same(f.removeHost(1), host(1));
  t.same(f.expectedFor(3, 'default'), ['M2', 'M3', 'M1']);
  f.replaceHosts([host(3), host(10)]);
  t.same([...f.hosts()].map((h) => h.id), [3, 10]);
  t.equal(f.hostCount, 2);
  t.same(f.expectedFor(10, 'default'), ['M2', 'M3', 'M1']);
});

/** The real algorithm `name`, wrapped to count its plans (in one piece or in slices). */
function counting(name: 'balanced' | 'roundrobin'): { algorithms: Map<string, Algorithm>; plans: () => number } {
  const real = ALGORITHMS.get(name)!;
  let plans = 0;
  const sliced = real.planInSlices;
  const wrapped: Algorithm = {
    ...real,
    plan(servers, zone) {
      plans++;
      return real.plan(servers, zone);
    },
    ...(sliced === undefined
      ? {}
      : {
          planInSlices(servers: readonly string[], ids: readonly number[], clock: SliceClock) {
            plans++;
            return sliced(servers, ids, clock);
          },
        }),
  };
  return { algorithms: new Map([...ALGORITHMS, [name, wrapped]]), plans: () => plans };
}

const BALANCED: Settings = { ...RR, host: 'M1,M2,M3,M4', 'indirect.agent.lb.algorithm': 'balanced' };

function countedFleet(settings: Settings, algorithms: Map<string, Algorithm>): Fleet {
  const made = Fleet.fromSnapshot({ settings, settingsVersion: 1, hosts: [] }, algorithms);
  if (made instanceof FleetSettingsError) throw made;
  return made;
}

/** Each server's first-choice count is ⌊n/m⌋ or ⌈n/m⌉. */
function firstChoicesEven(t: Test, f: Fleet, ids: readonly number[]): void {
  const loads = [...firstChoiceLoads(new Map(ids.map((id) => [id, f.expectedFor(id, 'default')]))).values()];
  const m = f.servers.length;
  t.ok(loads.every((load) => load === Math.floor(ids.length / m) || load === Math.ceil(ids.length / m)), `first choices even: ${loads.join('/')}`);
}

t.test('balanced: a registration burst plans the zone once, then once at refreshPlans, to the exact plan', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const f = countedFleet(BALANCED, algorithms);
  const ids = Array.from({ length: 2_000 }, (_, i) => i + 1);
  const notShifting = ids.filter((id) => {
    const { added, shifted } = f.addHost(host(id));
    f.expectedFor(id, 'default'); // what its handshake asks
    return !added || !shifted;
  });
  t.same(notShifting, [], 'every new host shifts its zone (others may expect other lists)');
  t.equal(plans(), 1, 'only the first handshake planned (a zone of one); the rest were served from it');
  t.equal(f.expectedFor(1_999, 'default'), f.expectedFor(1_999, 'default'), 'a host the stale plan lacks gets a stable fallback');
  t.same(f.staleZones(), ['default'], 'the zone is stale');
  t.equal(f.refreshPlans('z2'), undefined, 'a zone never planned has nothing to refresh');
  await f.refreshPlans('default');
  t.equal(f.refreshPlans('default'), undefined, 're-planned once: nothing stale left');
  t.equal(plans(), 2);
  const exact = planLists(balanced, f.servers, ids);
  t.ok(ids.every((id) => f.expectedFor(id, 'default') === f.plannedFor(id, 'default')), 'served = planned once refreshed');
  t.ok(ids.every((id) => f.expectedFor(id, 'default').join() === exact.get(id)!.join()), "every host holds balanced's plan for the final set");
  firstChoicesEven(t, f, ids);
  t.equal(plans(), 2, 'answering it all planned nothing more');
});

t.test('balanced: removals leave no slot behind once re-planned; plannedFor is exact without a fan-out', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const ids = Array.from({ length: 401 }, (_, i) => i + 1);
  const made = Fleet.fromSnapshot({ settings: BALANCED, settingsVersion: 1, hosts: ids.map((id) => host(id)) }, algorithms);
  if (made instanceof FleetSettingsError) throw made;
  const f = made;
  f.expectedFor(1, 'default');
  t.equal(plans(), 1);
  const removed = ids.filter((id) => id % 5 === 0);
  for (const id of removed) t.same(f.removeHost(id), host(id));
  const left = ids.filter((id) => id % 5 !== 0);
  t.equal(plans(), 1, 'removals only mark the zone stale');
  const exact = planLists(balanced, f.servers, left);
  t.ok(left.every((id) => f.plannedFor(id, 'default').join() === exact.get(id)!.join()), 'plannedFor re-planned from the hosts left');
  t.equal(plans(), 2, 'once');
  t.equal(f.refreshPlans(), undefined, 'plannedFor already refreshed it');
  firstChoicesEven(t, f, left);
});

t.test('balanced: a zone move re-plans the zone left; a settings change replaces every planner', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const f = countedFleet(BALANCED, algorithms);
  for (let id = 1; id <= 8; id++) f.addHost(host(id));
  f.expectedFor(1, 'default');
  f.addHost(host(9));
  t.same(f.addHost(host(9, 'z2')), { added: true, shifted: true }, 'host 9 moves to z2');
  t.same(f.staleZones(), ['default'], 'the zone it left is stale (its re-send re-plans it)');
  await f.refreshPlans();
  t.same(f.expectedFor(8, 'default'), planLists(balanced, f.servers, [1, 2, 3, 4, 5, 6, 7, 8]).get(8));
  t.equal(plans(), 2);
  f.addHost(host(10));
  t.equal(f.applySettings({ ...BALANCED, host: 'M1,M2,M3' }, 2), true);
  t.equal(f.refreshPlans(), undefined, 'new settings: nothing stale, everything re-planned');
  t.same(f.expectedFor(10, 'default'), planLists(balanced, f.servers, [1, 2, 3, 4, 5, 6, 7, 8, 10]).get(10));
  t.equal(plans(), 3);
});

t.test('roundrobin: appends stay O(1), never re-plan and never leave a zone stale', async (t) => {
  const { algorithms, plans } = counting('roundrobin');
  const f = countedFleet(RR, algorithms);
  const shifting = Array.from({ length: 2_000 }, (_, i) => i + 1).filter((id) => {
    const { shifted } = f.addHost(host(id));
    f.expectedFor(id, 'default');
    return shifted;
  });
  t.same(shifting, [], 'appended in id order: nobody else moved');
  f.removeHost(7);
  t.equal(f.refreshPlans('default'), undefined);
  t.equal(plans(), 1);
  t.same(f.expectedFor(8, 'default'), ['M1', 'M2', 'M3'], 'positions are read live: host 8 moved to position 6');
});

/** `count` hosts from id 1, in a balanced fleet whose plans pause every 500 units of work. */
function slicedFleet(count: number, algorithms: Map<string, Algorithm> = new Map(ALGORITHMS)): { f: Fleet; ids: number[] } {
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  const made = Fleet.fromSnapshot({ settings: BALANCED, settingsVersion: 1, hosts: ids.map((id) => host(id)) }, algorithms, 500);
  if (made instanceof FleetSettingsError) throw made;
  return { f: made, ids };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function listsOf(f: Fleet, ids: readonly number[]): string[] {
  return ids.map((id) => f.expectedFor(id, 'default').join());
}

function exactLists(servers: readonly string[], ids: readonly number[]): string[] {
  const exact = planLists(balanced, servers, ids);
  return ids.map((id) => exact.get(id)!.join());
}

t.test('balanced: start-up plans every zone in slices; the first handshake plans nothing', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const { f, ids } = slicedFleet(600, algorithms);
  const planning = f.planZones();
  await nextTurn();
  t.equal(plans(), 1, 'one sliced plan under way');
  await planning;
  t.same(listsOf(f, ids), exactLists(f.servers, ids), 'every host has the exact plan');
  t.equal(plans(), 1, 'served without planning again');
  t.equal(f.refreshPlans(), undefined, 'nothing stale');
});

t.test('balanced: a sliced re-plan serves the stale planner until the new one is swapped in whole', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const { f, ids } = slicedFleet(600, algorithms);
  await f.planZones();
  const before = listsOf(f, ids);
  const added = Array.from({ length: 50 }, (_, i) => 601 + i);
  for (const id of added) f.addHost(host(id));
  const all = [...ids, ...added];
  const refreshing = f.refreshPlans('default');
  t.ok(refreshing, 'the zone is stale: a re-plan starts');
  for (let turn = 0; turn < 3; turn++) {
    await nextTurn();
    t.same(listsOf(f, ids), before, `turn ${turn}: the old plan is served, unmixed`);
  }
  const again = f.refreshPlans('default');
  t.ok(again, 'still stale meanwhile');
  await Promise.all([refreshing, again]);
  t.equal(plans(), 2, 'the second ask joined the re-plan under way');
  t.same(listsOf(f, all), exactLists(f.servers, all), 'then the exact plan of the whole zone, for every host');
  t.same(f.staleZones(), []);
});

t.test('balanced: a change during a sliced re-plan leaves the zone stale, and the next refresh is exact', async (t) => {
  const { f, ids } = slicedFleet(600);
  await f.planZones();
  f.removeHost(3);
  const planned = ids.filter((id) => id !== 3);
  const refreshing = f.refreshPlans('default');
  await nextTurn();
  f.addHost(host(700));
  f.removeHost(10);
  await refreshing;
  t.same(listsOf(f, planned), exactLists(f.servers, planned), 'the plan swapped in is the exact plan of the hosts at the call');
  t.same(f.staleZones(), ['default'], 'the changes made meanwhile leave it stale');
  await f.refreshPlans();
  const now = [...planned.filter((id) => id !== 10), 700];
  t.same(listsOf(f, now), exactLists(f.servers, now), 'the next refresh plans them');
  t.same(f.staleZones(), []);
});

t.test('balanced: new settings are planned aside while the old ones serve, then installed whole', async (t) => {
  const { algorithms, plans } = counting('balanced');
  const { f, ids } = slicedFleet(600, algorithms);
  await f.planZones();
  const before = listsOf(f, ids);
  const next: Settings = { ...BALANCED, host: 'M1,M2,M3' };
  t.equal(f.prepareSettings({ ...BALANCED, 'indirect.agent.lb.check.interval': 30 }), undefined, 'the same servers and algorithm: nothing to plan');
  t.equal(f.prepareSettings({ ...BALANCED, 'indirect.agent.lb.algorithm': 'roundrobin' }), undefined, 'roundrobin plans in O(1) per host');
  const preparing = f.prepareSettings(next);
  if (preparing === undefined) throw new Error('expected a preparation');
  await nextTurn();
  t.same(listsOf(f, ids), before, 'meanwhile the current settings serve');
  f.addHost(host(601));
  const prepared = await preparing;
  t.equal(f.settingsVersion, 1, 'preparing installs nothing');
  t.equal(f.applySettings(next, 2, prepared), true);
  t.equal(plans(), 2, 'installed with the planner made aside');
  t.same(listsOf(f, ids), exactLists(f.servers, ids), 'the new plan of the hosts it was prepared for');
  t.same(f.staleZones(), ['default'], 'a host added meanwhile leaves the zone stale');
  await f.refreshPlans();
  const all = [...ids, 601];
  t.same(listsOf(f, all), exactLists(['M1', 'M2', 'M3'], all));
  t.equal(f.applySettings({ ...next, host: 'M1,M2' }, 3, prepared), true, 'planners prepared for other servers are not used');
  t.same(f.expectedFor(1, 'default').length, 2);
});

t.test('balanced: a resync that rebuilds the index keeps the planners serving, stale, until re-planned', async (t) => {
  const { f, ids } = slicedFleet(600);
  await f.planZones();
  const before = listsOf(f, ids);
  const kept = ids.filter((id) => id % 2 === 0);
  f.replaceHosts(kept.map((id) => host(id)));
  t.same(listsOf(f, kept), before.filter((_, i) => ids[i]! % 2 === 0), 'the last plan keeps serving');
  t.same(f.staleZones(), ['default']);
  await f.refreshPlans();
  t.same(listsOf(f, kept), exactLists(f.servers, kept));
});
