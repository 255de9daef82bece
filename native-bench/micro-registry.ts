/**
 * `npm run bench:micro`, registry part (issue 12): what a resync and a removal cost the event
 * loop at 100 000 and 1 000 000 hosts, on a Fleet alone (no sockets, no database). For each:
 * the total time and the longest the loop went without a turn (a setImmediate ticker runs
 * beside it), and the index work (slots and counters touched). Nothing here asserts on time.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { balancedPlanner } from '../src/lb/balanced';
import { Fleet, FleetSettingsError } from '../src/server/fleet/fleet';
import { type HostRecord } from '../src/store/types';
import { DEFAULT_SETTINGS } from '../src/settings/types';

export interface RegistryRow {
  hosts: number;
  operation: string;
  totalMs: number;
  /** Longest stretch without a turn of the loop while it ran, ms. */
  longestStallMs: number;
  indexWork: number;
}

const REGISTERED_AT = '2026-01-01T00:00:00.000Z';
const ZONES = ['z1', 'z2', 'z3', 'z4'];

function records(count: number, from = 1): HostRecord[] {
  return Array.from({ length: count }, (_, i) => ({ id: from + i, guid: `g-${from + i}`, zone: ZONES[(from + i) % ZONES.length]!, registeredAt: REGISTERED_AT }));
}

function fleetOf(hosts: readonly HostRecord[], algorithm: 'roundrobin' | 'balanced' = 'roundrobin'): Fleet {
  const fleet = Fleet.fromSnapshot({ settings: { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': algorithm }, settingsVersion: 1, hosts: [...hosts] });
  if (fleet instanceof FleetSettingsError) throw fleet;
  return fleet;
}

/** Runs `work` with a ticker beside it; returns the total and the longest gap between ticks. */
async function measured(work: () => unknown): Promise<{ totalMs: number; longestStallMs: number }> {
  let last = performance.now();
  let longest = 0;
  let running = true;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  await nextTurn();
  const start = performance.now();
  last = start;
  await work();
  const end = performance.now();
  running = false;
  longest = Math.max(longest, end - last);
  return { totalMs: end - start, longestStallMs: longest };
}

async function row(hosts: number, operation: string, fleet: Fleet, work: () => unknown): Promise<RegistryRow> {
  const before = fleet.indexWork;
  const { totalMs, longestStallMs } = await measured(work);
  return { hosts, operation, totalMs, longestStallMs, indexWork: fleet.indexWork - before };
}

export async function benchRegistry(sizes: readonly number[] = [100_000, 1_000_000]): Promise<RegistryRow[]> {
  const rows: RegistryRow[] = [];
  for (const n of sizes) {
    const hosts = records(n);
    const fleet = fleetOf(hosts);
    // The usual resync: nothing changed while notifications were lost.
    rows.push(await row(n, 'resync, nothing changed (sliced compare)', fleet, async () => fleet.applyResync(await fleet.planResync(hosts))));
    // 0.5% changed: early hosts removed, as many added.
    const changed = [...hosts.slice(n / 200), ...records(n / 200, n + 1)];
    rows.push(await row(n, 'resync, 0.5% changed (sliced compare, difference applied)', fleet, async () => fleet.applyResync(await fleet.planResync(changed))));
    // Everything different: the one-pass rebuild.
    const other = records(n, 2 * n + 1);
    rows.push(await row(n, 'resync, all changed (rebuild built aside in slices, swapped in)', fleet, async () => fleet.applyResync(await fleet.planResync(other))));
    const first = other[0]!.id;
    rows.push(await row(n, 'removal of the first host', fleet, () => fleet.removeHost(first)));
    rows.push(await row(n, '1 000 late ids at the front of a zone', fleet, () => {
      for (let i = 0; i < 1_000; i++) fleet.addHost({ id: i + 1, guid: `late-${i}`, zone: ZONES[0]!, registeredAt: REGISTERED_AT });
    }));
  }
  return rows;
}

/**
 * `balanced` re-planning one zone of n hosts over 3 servers: in one piece (what every host-set
 * re-send, settings change and first handshake did before) against the Fleet's sliced re-plan
 * (refreshPlans after a removal) and sliced start-up plan (planZones), in the same process.
 */
export async function benchBalanced(sizes: readonly number[] = [100_000, 1_000_000]): Promise<RegistryRow[]> {
  const rows: RegistryRow[] = [];
  for (const n of sizes) {
    const hosts = Array.from({ length: n }, (_, i): HostRecord => ({ id: i + 1, guid: `g-${i + 1}`, zone: 'z1', registeredAt: REGISTERED_AT }));
    const ids = hosts.map((host) => host.id);
    const fleet = fleetOf(hosts, 'balanced');
    rows.push(await row(n, 'balanced: plan of the zone in one piece (before)', fleet, () => balancedPlanner(fleet.servers, ids)));
    rows.push(await row(n, 'balanced: start-up plan in slices (planZones)', fleet, () => fleet.planZones()));
    fleet.removeHost(2);
    rows.push(await row(n, 'balanced: re-plan after a removal, in slices (refreshPlans)', fleet, () => fleet.refreshPlans()));
  }
  return rows;
}
