import t from 'tap';
import fc from 'fast-check';
import { cloudStackRoundRobin } from '../../native-bench/reference-cloudstack';
import { leftRotations, roundRobin } from '../../src/lb/roundrobin';
import { HostIndex, ZoneIndex } from '../../src/lb/zone-index';

const SERVERS = ['M1', 'M2', 'M3'];

/** Brute-force oracle: rotate by the host's index in the sorted id list, or by the count. */
function bruteForceList(servers: readonly string[], presentIds: Iterable<number>, hostId: number): string[] {
  const sorted = [...new Set(presentIds)].sort((a, b) => a - b);
  const found = sorted.indexOf(hostId);
  const position = found === -1 ? sorted.length : found;
  const shift = servers.length === 0 ? 0 : position % servers.length;
  return [...servers.slice(shift), ...servers.slice(0, shift)];
}

function zoneOf(ids: number[]): ZoneIndex {
  const zone = new ZoneIndex('z');
  for (const id of ids) zone.add(id);
  return zone;
}

t.test("the seed's example: M1,M2,M3 over hosts H1..H4", async (t) => {
  const planner = roundRobin.plan(SERVERS, zoneOf([1, 2, 3, 4]));
  t.same(planner.listFor(1), ['M1', 'M2', 'M3']);
  t.same(planner.listFor(2), ['M2', 'M3', 'M1']);
  t.same(planner.listFor(3), ['M3', 'M1', 'M2']);
  t.same(planner.listFor(4), ['M1', 'M2', 'M3']);
});

t.test('ids with gaps: positions, not id values, choose the rotation', async (t) => {
  const planner = roundRobin.plan(SERVERS, zoneOf([3, 7, 42, 1000]));
  t.same(planner.listFor(3), ['M1', 'M2', 'M3']);
  t.same(planner.listFor(7), ['M2', 'M3', 'M1']);
  t.same(planner.listFor(42), ['M3', 'M1', 'M2']);
  t.same(planner.listFor(1000), ['M1', 'M2', 'M3']);
});

t.test('an unknown or missing host id takes the next position, never an error', async (t) => {
  const zone = zoneOf([3, 7, 42, 1000]); // 4 hosts: next position 4 -> rotation 1
  const planner = roundRobin.plan(SERVERS, zone);
  t.same(planner.listFor(5), ['M2', 'M3', 'M1']);
  t.same(planner.listFor(undefined), ['M2', 'M3', 'M1']);
  t.same(roundRobin.plan(SERVERS, zoneOf([])).listFor(9), ['M1', 'M2', 'M3']);
});

t.test('after removals every later host is at its new position', async (t) => {
  const ids = [3, 7, 42, 1000, 1001, 1002, 2000];
  const zone = zoneOf(ids);
  const planner = roundRobin.plan(SERVERS, zone);
  zone.remove(7);
  zone.remove(1001);
  const present = ids.filter((id) => id !== 7 && id !== 1001);
  for (const id of [...ids, 5000]) {
    t.same(planner.listFor(id), bruteForceList(SERVERS, present, id), `host ${id}`);
  }
  t.same(planner.listFor(42), ['M2', 'M3', 'M1'], '42 moved from position 2 to 1');
});

t.test('out-of-order adds and adds after plan() are seen without re-planning', async (t) => {
  const hosts = new HostIndex();
  const planner = roundRobin.plan(SERVERS, hosts.zone('z'));
  for (const id of [50, 10, 30]) hosts.add(id, 'z');
  t.same(planner.listFor(10), ['M1', 'M2', 'M3']);
  t.same(planner.listFor(30), ['M2', 'M3', 'M1']);
  t.same(planner.listFor(50), ['M3', 'M1', 'M2']);
  hosts.add(20, 'z');
  t.same(planner.listFor(50), ['M1', 'M2', 'M3'], '50 is now at position 3');
  t.same(planner.listFor(20), ['M2', 'M3', 'M1']);
  t.equal(roundRobin.dependsOnHostSet, false);
});

t.test('fewer than 2 servers: the list is unchanged', async (t) => {
  const zone = zoneOf([1, 2, 3]);
  for (const servers of [[], ['M1']]) {
    const planner = roundRobin.plan(servers, zone);
    for (const id of [1, 2, 3, 99, undefined]) t.same(planner.listFor(id), servers);
    t.equal(planner.listFor(1), planner.listFor(2), 'one shared array');
  }
});

t.test('hosts sharing a rotation get the same frozen array instance', async (t) => {
  const planner = roundRobin.plan(SERVERS, zoneOf([1, 2, 3, 4, 5, 6, 7]));
  t.equal(planner.listFor(1), planner.listFor(4));
  t.equal(planner.listFor(4), planner.listFor(7));
  t.equal(planner.listFor(2), planner.listFor(5));
  t.not(planner.listFor(1), planner.listFor(2));
  t.ok(Object.isFrozen(planner.listFor(3)));
});

t.test('plan() copies the servers: a later change to the caller array has no effect', async (t) => {
  const servers = ['A', 'B'];
  const planner = roundRobin.plan(servers, zoneOf([1, 2]));
  servers[0] = 'changed';
  t.same(planner.listFor(1), ['A', 'B']);
  t.same(planner.listFor(2), ['B', 'A']);
});

t.test('leftRotations lists each left rotation once', async (t) => {
  t.same(leftRotations(['a', 'b', 'c']), [['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b']]);
  t.same(leftRotations(['a']), [['a']]);
  t.same(leftRotations([]), [[]]);
});

t.test('property: after random adds and removals, every list matches the oracles', async (t) => {
  const operation = fc.record({ remove: fc.boolean(), id: fc.integer({ min: 1, max: 300 }) });
  const servers = fc.uniqueArray(fc.constantFrom('M1', 'M2', 'M3', 'M4', 'M5'), { maxLength: 5 });
  fc.assert(
    fc.property(servers, fc.array(operation, { maxLength: 80 }), fc.integer({ min: 1, max: 300 }), (list, operations, probe) => {
      const zone = new ZoneIndex('z');
      const planner = roundRobin.plan(list, zone);
      const present = new Set<number>();
      for (const { remove, id } of operations) {
        if (remove) {
          zone.remove(id);
          present.delete(id);
        } else {
          zone.add(id);
          present.add(id);
        }
      }
      const ordered = [...present].sort((a, b) => a - b);
      for (const id of [...present, probe]) {
        const got = planner.listFor(id).join();
        if (got !== bruteForceList(list, present, id).join()) return false;
        if (got !== cloudStackRoundRobin(list, ordered, id).join()) return false;
      }
      return planner.listFor(undefined).join() === cloudStackRoundRobin(list, ordered, undefined).join();
    }),
    { numRuns: 300 },
  );
  t.pass('300 random histories agree with both oracles');
});

t.test('compare: equal in order', async (t) => {
  t.equal(roundRobin.isUpToDate(['M2', 'M3', 'M1'], ['M2', 'M3', 'M1']), true, 'same');
  t.equal(roundRobin.isUpToDate(['M1', 'M2', 'M3'], ['M2', 'M3', 'M1']), false, 'reordered');
  t.equal(roundRobin.isUpToDate(['M2', 'M3', 'M4'], ['M2', 'M3', 'M1']), false, 'different');
  t.equal(roundRobin.isUpToDate(['M2', 'M3'], ['M2', 'M3', 'M1']), false, 'shorter');
  t.equal(roundRobin.isUpToDate([], ['M1']), false, 'empty agent list');
  t.equal(roundRobin.isUpToDate([], []), true, 'both empty');
  t.equal(roundRobin.isUpToDate(['M1', 'M1'], ['M1', 'M2']), false, 'duplicates');
});
