import t from 'tap';
import { balanced, balancedPlanner, balancedPlannerFromOrders } from '../../src/lb/balanced';
import { planBalancedOrders } from '../../src/lb/balanced-plan';
import { ZoneIndex } from '../../src/lb/zone-index';

const SERVERS = ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250'];

function zoneOf(ids: readonly number[]): ZoneIndex {
  const zone = new ZoneIndex('z');
  for (const id of ids) zone.add(id);
  return zone;
}

t.test('the algorithm: name, re-planned on host-set changes, order matters', async (t) => {
  t.equal(balanced.name, 'balanced');
  t.equal(balanced.dependsOnHostSet, true);
  t.ok(balanced.isUpToDate(['a', 'b', 'c'], ['a', 'b', 'c']), 'same order');
  t.notOk(balanced.isUpToDate(['b', 'a', 'c'], ['a', 'b', 'c']), 'reordered');
  t.notOk(balanced.isUpToDate(['a', 'b'], ['a', 'b', 'c']), 'different');
  t.ok(balanced.isUpToDate([], []), 'both empty');
  t.notOk(balanced.isUpToDate([], ['a']), 'empty against a list');
});

t.test('pinned plan: 6 hosts over 3 servers (mixed-version clusters must agree)', async (t) => {
  const planner = balanced.plan(SERVERS, zoneOf([1, 2, 3, 4, 5, 6]));
  const [m1, m2, m3] = SERVERS as [string, string, string];
  // Each server first for 2 hosts, and each pair of hosts sharing a first server split
  // between the other two: any one failure leaves exactly 3 hosts on each survivor.
  t.same(planner.listFor(1), [m2, m1, m3]);
  t.same(planner.listFor(2), [m3, m1, m2]);
  t.same(planner.listFor(3), [m1, m3, m2]);
  t.same(planner.listFor(4), [m2, m3, m1]);
  t.same(planner.listFor(5), [m1, m2, m3]);
  t.same(planner.listFor(6), [m3, m2, m1]);
});

t.test('lists are frozen and interned: hosts with the same order share one array', async (t) => {
  const ids = Array.from({ length: 600 }, (_, i) => i * 2 + 1);
  const planner = balanced.plan(SERVERS, zoneOf(ids));
  const byOrder = new Map<string, readonly string[]>();
  const problems: string[] = [];
  for (const id of ids) {
    const list = planner.listFor(id);
    if (!Object.isFrozen(list)) problems.push(`host ${id}: not frozen`);
    const known = byOrder.get(list.join());
    if (known === undefined) byOrder.set(list.join(), list);
    else if (known !== list) problems.push(`host ${id}: equal list, different instance`);
  }
  t.same(problems, [], 'every list frozen and shared');
  t.equal(byOrder.size, 6, 'all 3! orders in use, one instance each');
  t.equal(planner.listFor(9_999), byOrder.get(planner.listFor(9_999).join()), 'a fallback list is interned too');
});

t.test('a host registered after plan() gets its rendezvous order, the same on every server', async (t) => {
  const zone = zoneOf([1, 2, 3]);
  const planner = balanced.plan(SERVERS, zone);
  zone.add(4);
  const late = planner.listFor(4);
  t.same([...late].sort(), [...SERVERS].sort(), 'a permutation of the servers');
  t.same(balanced.plan(SERVERS, zoneOf([10, 20])).listFor(4), late, 'another zone state, same fallback');
  t.same(balancedPlanner([...SERVERS].reverse(), []).listFor(4), late, 'configured order does not matter');
  // Re-planned (the server does this since dependsOnHostSet), host 4 counts towards balance.
  const replanned = balanced.plan(SERVERS, zone);
  const firstLoads = new Map<string, number>();
  for (const id of [1, 2, 3, 4]) firstLoads.set(replanned.listFor(id)[0]!, (firstLoads.get(replanned.listFor(id)[0]!) ?? 0) + 1);
  t.same([...firstLoads.values()].sort(), [1, 1, 2], 're-planned: 4 hosts over 3 servers');
});

t.test('no host id yet: the list as configured', async (t) => {
  const planner = balanced.plan(SERVERS, zoneOf([1, 2]));
  t.same(planner.listFor(undefined), SERVERS);
  t.ok(Object.isFrozen(planner.listFor(undefined)));
  t.equal(planner.listFor(undefined), planner.listFor(undefined), 'one instance');
});

t.test('fewer than 2 servers: the list unchanged, for every host', async (t) => {
  for (const servers of [['only:8250'], []]) {
    const planner = balanced.plan(servers, zoneOf([1, 2, 3]));
    for (const id of [1, 2, 3, 99, undefined]) t.same(planner.listFor(id), servers, `${servers.length} servers, host ${id}`);
    t.equal(planner.listFor(1), planner.listFor(2), 'one shared instance');
    t.same([...planBalancedOrders(servers, [1, 2, 3])], servers.length === 1 ? [0, 0, 0] : [], 'orders');
  }
});

t.test('an empty zone plans nothing and answers every host by fallback', async (t) => {
  const planner = balanced.plan(SERVERS, zoneOf([]));
  t.same([...planner.listFor(1)].sort(), [...SERVERS].sort());
});

t.test('more than 13 servers: string keys intern just the same', async (t) => {
  const servers = Array.from({ length: 15 }, (_, i) => `m${i}`);
  const ids = Array.from({ length: 60 }, (_, i) => i + 1);
  const first = balanced.plan(servers, zoneOf(ids));
  const second = balanced.plan(servers, zoneOf(ids));
  const firsts = new Map<string, number>();
  for (const id of ids) {
    t.same(first.listFor(id), second.listFor(id), `host ${id}`);
    firsts.set(first.listFor(id)[0]!, (firsts.get(first.listFor(id)[0]!) ?? 0) + 1);
  }
  t.same([...new Set(firsts.values())].sort(), [4], '60 hosts over 15 servers: 4 each');
  t.equal(first.listFor(1_000), first.listFor(1_000), 'fallback interned');
});

t.test('100 000 hosts plan in one pass and answer from the map', async (t) => {
  // Not a timing assertion (see native-bench/plan-table.ts for the time): this pins that a
  // large zone plans correctly, with every host answered and the loads exact.
  const servers = ['a:1', 'b:1', 'c:1', 'd:1', 'e:1'];
  const ids = Array.from({ length: 100_000 }, (_, i) => i + 1);
  const planner = balancedPlanner(servers, ids);
  const loads = new Map<string, number>();
  for (const id of ids) loads.set(planner.listFor(id)[0]!, (loads.get(planner.listFor(id)[0]!) ?? 0) + 1);
  t.same([...loads.values()], [20_000, 20_000, 20_000, 20_000, 20_000]);
});

t.test('orders computed elsewhere (a worker thread) build the same planner', async (t) => {
  const ids = [3, 9, 27, 81, 243];
  const orders = planBalancedOrders(SERVERS, ids);
  t.equal(orders.length, ids.length * SERVERS.length, 'one row of server indices per host');
  const fromOrders = balancedPlannerFromOrders(SERVERS, ids, orders);
  const direct = balancedPlanner(SERVERS, ids);
  for (const id of [...ids, 4, undefined]) t.same(fromOrders.listFor(id), direct.listFor(id), `host ${id}`);
});
