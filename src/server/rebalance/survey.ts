/**
 * Who is where, against the plan: for every server of `host`, the agents it holds (from the
 * connection registry, cluster-wide), how many of them it is planned for (each connected
 * agent's first usable entry: its planned list with draining and down servers put last),
 * and how many it holds that belong elsewhere (misplaced).
 *
 * O(n) once per survey, in slices (the loop is given back every SLICE hosts), never per host:
 * a survey of 100 000 connected hosts stalls no turn of the loop for more than a few ms.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ConnectionRegistry } from '../../store/types';
import type { ServerLoad } from './trigger';

/** The part of the Fleet a survey reads. */
export interface PlanView {
  /** The `host` setting's entries, as written. */
  readonly servers: readonly string[];
  /** A registered host's zone; undefined when unknown (removed meanwhile). */
  zoneOf(hostId: number): string | undefined;
  /** The host's first usable entry: the first of its list with the avoided servers last. */
  firstUsable(hostId: number, zone: string): string | undefined;
  /** Whether the server is avoided (draining or down). */
  avoided(server: string): boolean;
}

export interface Survey {
  /** Per server of `host`: live and planned. */
  loads: Map<string, ServerLoad>;
  /** Misplaced agents per holding server (of `zone`, when given). */
  misplaced: Map<string, number>;
  /** Sum of `misplaced`. */
  toMove: number;
}

const SLICE = 4_096;

export async function survey(plan: PlanView, registry: Pick<ConnectionRegistry, 'hostsHeldBy'>, zone: string | null = null): Promise<Survey> {
  const loads = new Map<string, ServerLoad>(plan.servers.map((server) => [server, { live: 0, planned: 0 }]));
  const misplaced = new Map<string, number>();
  let toMove = 0;
  let sinceTurn = 0;
  for (const server of plan.servers) {
    const held = await registry.hostsHeldBy(server);
    loads.get(server)!.live = held.length;
    let wrong = 0;
    for (const hostId of held) {
      if (++sinceTurn === SLICE) {
        sinceTurn = 0;
        await nextTurn();
      }
      const hostZone = plan.zoneOf(hostId);
      if (hostZone === undefined) continue;
      const first = plan.firstUsable(hostId, hostZone);
      if (first === undefined) continue;
      const load = loads.get(first);
      if (load !== undefined) load.planned++;
      if (first !== server && !plan.avoided(first) && (zone === null || zone === hostZone)) wrong++;
    }
    misplaced.set(server, wrong);
    toMove += wrong;
  }
  return { loads, misplaced, toMove };
}
