/**
 * The what-if planner: for the registered hosts, under the current or a proposed setting,
 * each server's first-choice load, its load once the named servers have failed (every host
 * on its first surviving entry, as an agent does), and how many agents would change first
 * server if the setting were applied now: computed with the server's own rule, so an agent
 * whose list is still up to date (shuffle: same set) counts as staying where it is.
 */
import { isUpToDate } from '../lb/index';
import { firstChoiceLoads, loadsAfterFailure, planLists, worstSingleFailure, type PlanLists } from '../lb/plan-stats';
import type { Algorithm } from '../lb/types';
import type { AvoidList } from '../lb/avoid';
import { type HostRecord } from '../store/types';
import { SETTING_ALGORITHM, SETTING_HOST, type Settings } from '../settings/types';
import type { PlanQuery } from './query';
import type { PlanReport, ServerLoad, ZonePlan } from '../api/plan';

/** What the planner reads from the running server. */
export interface PlanFleet {
  readonly settings: Readonly<Settings>;
  readonly algorithm: Algorithm;
  readonly avoided: AvoidList;
  hosts(): Iterable<HostRecord>;
  /** The current algorithm's list for the host (cached by the server), before the avoid list. */
  plannedFor(hostId: number, zone: string): readonly string[];
  /** What the host's agent holds, when it is connected. */
  held(hostId: number): { algorithm: string; hosts: readonly string[] } | undefined;
}

/** Plans one zone; the default runs here, a server may hand large zones to a worker. */
export type ZonePlanner = (algorithm: Algorithm, servers: readonly string[], ids: readonly number[], zone: string) => Promise<PlanLists>;

export const planHere: ZonePlanner = (algorithm, servers, ids, zone) => Promise.resolve(planLists(algorithm, servers, ids, zone));

function idsByZone(hosts: Iterable<HostRecord>): Map<string, number[]> {
  const zones = new Map<string, number[]>();
  for (const host of hosts) {
    const ids = zones.get(host.zone);
    if (ids === undefined) zones.set(host.zone, [host.id]);
    else ids.push(host.id);
  }
  return new Map([...zones].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Agents of the zone whose first server would change if `proposed` were pushed now. */
function firstServerChanges(fleet: PlanFleet, query: PlanQuery, zone: string, proposed: PlanLists): number {
  const { avoided } = fleet;
  let changes = 0;
  for (const [id, planned] of proposed) {
    // A host whose agent is away holds, as far as we know, what it was last planned.
    const held = fleet.held(id) ?? { algorithm: fleet.algorithm.name, hosts: avoided.apply(fleet.plannedFor(id, zone)) };
    const next = avoided.apply(planned);
    const upToDate = isUpToDate(query.algorithm, held.algorithm, held.hosts, next) && avoided.respectedBy(held.hosts);
    if (!upToDate && next[0] !== held.hosts[0]) changes++;
  }
  return changes;
}

function zonePlan(fleet: PlanFleet, query: PlanQuery, zone: string, ids: readonly number[], proposed: PlanLists): ZonePlan {
  const failed = new Set(query.failed);
  const first = firstChoiceLoads(proposed);
  const after = loadsAfterFailure(proposed, failed);
  let served = 0;
  for (const load of after.values()) served += load;
  return {
    zone,
    hosts: ids.length,
    firstServerChanges: firstServerChanges(fleet, query, zone, proposed),
    unserved: ids.length - served,
    servers: query.servers.map((server) => ({
      server,
      firstChoice: first.get(server) ?? 0,
      afterFailure: failed.has(server) ? 0 : (after.get(server) ?? 0),
      failed: failed.has(server),
    })),
    worstSingleFailure: worstSingleFailure(proposed, query.servers) ?? null,
  };
}

function sumServers(query: PlanQuery, zones: readonly ZonePlan[]): ServerLoad[] {
  return query.servers.map((server, index) => {
    const total: ServerLoad = { server, firstChoice: 0, afterFailure: 0, failed: query.failed.includes(server) };
    for (const zone of zones) {
      total.firstChoice += zone.servers[index]!.firstChoice;
      total.afterFailure += zone.servers[index]!.afterFailure;
    }
    return total;
  });
}

export async function planReport(fleet: PlanFleet, query: PlanQuery, planZone: ZonePlanner = planHere): Promise<PlanReport> {
  const zones: ZonePlan[] = [];
  for (const [zone, ids] of idsByZone(fleet.hosts())) {
    ids.sort((a, b) => a - b);
    // The current setting is already planned by the server: reuse it rather than re-plan.
    const proposed: PlanLists = query.isCurrent
      ? new Map(ids.map((id) => [id, fleet.plannedFor(id, zone)]))
      : await planZone(query.algorithm, query.servers, ids, zone);
    zones.push(zonePlan(fleet, query, zone, ids, proposed));
  }
  const sum = (pick: (zone: ZonePlan) => number): number => zones.reduce((total, zone) => total + pick(zone), 0);
  return {
    algorithm: query.algorithm.name,
    host: query.servers.join(','),
    fail: [...query.failed],
    current: { algorithm: fleet.settings[SETTING_ALGORITHM], host: fleet.settings[SETTING_HOST] },
    avoided: fleet.avoided.sorted(),
    hosts: sum((zone) => zone.hosts),
    firstServerChanges: sum((zone) => zone.firstServerChanges),
    unserved: sum((zone) => zone.unserved),
    servers: sumServers(query, zones),
    zones,
  };
}
