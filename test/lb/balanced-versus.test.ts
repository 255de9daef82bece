/**
 * The figures balanced-properties.test.ts pins for `balanced`, pinned for `roundrobin` and
 * `shuffle`, so the difference is on record: roundrobin balances first choices but herds
 * failover onto one survivor and reshuffles the fleet when one early host goes; shuffle
 * balances nothing. shuffle is random: its facts below fail only with negligible probability
 * (each bound is stated with its odds).
 */
import t from 'tap';
import { balanced } from '../../src/lb/balanced';
import { equalInOrder } from '../../src/lb/compare';
import { churn, firstChoiceLoads, planLists, worstSingleFailure } from '../../src/lb/plan-stats';
import { roundRobin } from '../../src/lb/roundrobin';
import { shuffle } from '../../src/lb/shuffle';
import { expect, fleetArb, holds } from './balanced-fleet';

const RUNS = 30;

t.test('roundrobin: deterministic, first choices balanced — like balanced', async (t) => {
  holds(
    t,
    fleetArb(),
    (fleet) => {
      for (const [zone, ids] of fleet.zones) {
        const one = planLists(roundRobin, fleet.servers, ids);
        const two = planLists(roundRobin, fleet.servers, ids);
        for (const [id, list] of one) expect(equalInOrder(list, two.get(id)!), `${zone}: host ${id} differs`);
        const n = ids.length;
        const m = fleet.servers.length;
        for (const load of firstChoiceLoads(one).values()) {
          expect(load === Math.floor(n / m) || load === Math.ceil(n / m), `${zone}: first for ${load} of ${n}`);
        }
      }
    },
    RUNS,
  );
});

t.test('roundrobin herds failover: a dead server hands all its hosts to the next one', async (t) => {
  holds(
    t,
    fleetArb({ maxZones: 1 }),
    (fleet) => {
      const [ids] = [...fleet.zones.values()] as [number[]];
      const { servers } = fleet;
      const n = ids.length;
      const m = servers.length;
      const lists = planLists(roundRobin, servers, ids);
      const loads = firstChoiceLoads(lists);
      // Server i's hosts all fail over to server i+1, which ends with both loads.
      let herded = 0;
      for (let i = 0; i < m; i++) herded = Math.max(herded, loads.get(servers[i]!)! + loads.get(servers[(i + 1) % m]!)!);
      const worst = worstSingleFailure(lists, servers)!;
      expect(worst.maxLoad === herded, `worst ${worst.maxLoad}, want ${herded}`);
      if (n % m === 0) {
        const ratio = (2 * (m - 1)) / m;
        expect(Math.abs(worst.ratioToFair - ratio) < 1e-9, `ratio ${worst.ratioToFair}, want 2(m−1)/m = ${ratio}`);
      }
      // Beyond m² hosts (m ≥ 3) that breaks balanced's guarantee of n/(m−1) + 1.
      if (m >= 3 && n >= m * m) expect(worst.maxLoad > n / (m - 1) + 1, `worst ${worst.maxLoad} within balanced's bound`);
    },
    RUNS,
  );
});

t.test('roundrobin churns: removing the lowest id changes every other host; a new server moves most', async (t) => {
  holds(
    t,
    fleetArb({ maxZones: 1, maxServers: 8 }),
    (fleet) => {
      const [ids] = [...fleet.zones.values()] as [number[]];
      const { servers } = fleet;
      const n = ids.length;
      const m = servers.length;
      const before = planLists(roundRobin, servers, ids);
      const removed = churn(before, planLists(roundRobin, servers, ids.slice(1)));
      expect(removed.firstChanged === n - 1, `removing the first host: ${removed.firstChanged} of ${n - 1} changed`);
      // Host at position p keeps its first server only when p mod m = p mod (m+1).
      const moved = churn(before, planLists(roundRobin, [...servers, 'added.example'], ids)).firstChanged;
      const atMostKept = m * Math.ceil(n / (m * (m + 1)));
      expect(moved >= n - atMostKept, `adding a server moved ${moved} of ${n}`);
    },
    RUNS,
  );
});

/** A fleet big enough that shuffle's random figures are far from balanced's with certainty. */
const SERVERS = ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250', '10.0.0.4:8250', '10.0.0.5:8250'];
const IDS = Array.from({ length: 2_000 }, (_, i) => i + 1);

t.test('shuffle: not deterministic, first choices and failover unbalanced, most lists change', async (t) => {
  const n = IDS.length;
  const m = SERVERS.length;
  const lists = planLists(shuffle, SERVERS, IDS);
  const again = planLists(shuffle, SERVERS, IDS);
  // Equal only if 2 000 independent draws of 1 in 120 all repeat.
  t.ok([...lists].some(([id, list]) => list.join() !== again.get(id)!.join()), 'two plans differ');
  // Loads are multinomial(2 000, 1/5): all exactly 400 has probability about 5·10⁻⁷.
  const loads = [...firstChoiceLoads(lists).values()];
  t.ok(Math.max(...loads) > Math.ceil(n / m), `max first-choice load ${Math.max(...loads)} above ⌈n/m⌉`);
  // Worse than balanced's n/(m−1) + 1 unless every failure happens to spread perfectly.
  const worst = worstSingleFailure(lists, SERVERS)!;
  t.ok(worst.maxLoad > n / (m - 1) + 1, `worst failure puts ${worst.maxLoad} on one survivor`);
  // Each host keeps its first two entries with probability 1/20: expected 1 900 of 1 999 change.
  const removed = churn(lists, planLists(shuffle, SERVERS, IDS.slice(1)));
  t.ok(removed.firstTwoChanged > n / 2, `removing one host changed ${removed.firstTwoChanged} lists`);
  const added = churn(lists, planLists(shuffle, [...SERVERS, 'added.example'], IDS));
  t.ok(added.firstChanged > n / 2, `adding a server moved ${added.firstChanged} primaries`);
});

t.test('1 000 hosts, 5 servers: the three side by side (the BENCHMARKS.md table)', async (t) => {
  const ids = IDS.slice(0, 1_000);
  const figures = (algorithm: typeof balanced) => {
    const lists = planLists(algorithm, SERVERS, ids);
    return {
      maxFirst: Math.max(...firstChoiceLoads(lists).values()),
      worst: worstSingleFailure(lists, SERVERS)!.maxLoad,
      removedFirst: churn(lists, planLists(algorithm, SERVERS, ids.slice(1))),
    };
  };
  const b = figures(balanced);
  const r = figures(roundRobin);
  t.equal(b.maxFirst, 200, 'balanced: 200 each');
  t.equal(r.maxFirst, 200, 'roundrobin: 200 each');
  t.equal(b.worst, 250, 'balanced: any failure leaves exactly 250 = 1 000/4 on every survivor');
  t.equal(r.worst, 400, 'roundrobin: 400 = 1.6 × fair share on the next server');
  t.equal(r.removedFirst.firstChanged, 999, 'roundrobin: removing host 1 moves everyone');
  t.ok(b.removedFirst.firstChanged <= 4, `balanced: removing host 1 moved ${b.removedFirst.firstChanged} (≤ m−1)`);
  t.ok(b.removedFirst.firstTwoChanged <= 19, `balanced: ${b.removedFirst.firstTwoChanged} first two (≤ (m−1)+m(m−2))`);
});
