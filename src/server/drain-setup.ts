/**
 * Wires graceful drain and the what-if planner into a server: the drain board (the store's,
 * when it keeps drains for the whole cluster; else this process's), the controller, and
 * their admin routes. The daemon calls setUpDrain once, after its agent listener is up.
 */
import type { AddressInfo } from 'node:net';
import { drainRoutes } from '../admin/drain-routes';
import type { Route } from '../admin/http';
import { planRoutes } from '../admin/plan-routes';
import type { PlanFleet } from '../admin/plan-report';
import { HostListError } from '../protocol/host-list';
import { serverList } from '../store/settings-validate';
import { SETTING_HOST } from '../store/types';
import type { AgentRegistry } from './agent-registry';
import type { FleetController } from './controller';
import { LocalDrainBoard, type DrainBoard } from './drain-board';
import { DrainController } from './drain-controller';
import { selfAddress } from './drain-self';
import type { ServerEvents } from './events';
import type { Fleet } from './fleet';
import type { AgentListener } from './listener';

export interface DrainSetupOptions {
  fleet: Fleet;
  controller: FleetController;
  agents: AgentRegistry;
  listener: AgentListener;
  events: ServerEvents;
  /** `--advertise`: this server's entry of `host`, when given. */
  advertise: string | undefined;
  listen: AddressInfo;
  /** `--drain-rate`: agents per second when a drain names none. */
  defaultRate: number;
  /** Default: this process's memory (embedded mode). */
  board?: DrainBoard;
}

export interface DrainSetup {
  readonly drain: DrainController;
  /** POST/GET /api/servers/drain, POST /api/servers/undrain, GET /api/plan. */
  readonly routes: Route[];
  close(): void;
}

/** The Fleet and the connected agents, as the planner reads them. */
export function planFleetOf(fleet: Fleet, agents: AgentRegistry): PlanFleet {
  return {
    get settings() {
      return fleet.settings;
    },
    get algorithm() {
      return fleet.algorithm;
    },
    get avoided() {
      return fleet.avoided;
    },
    hosts: () => fleet.hosts(),
    plannedFor: (hostId, zone) => fleet.plannedFor(hostId, zone),
    held: (hostId) => agents.byHost(hostId)?.listState,
  };
}

export function setUpDrain(options: DrainSetupOptions): DrainSetup {
  const { fleet, events } = options;
  const hostEntries = (): readonly string[] => {
    const entries = serverList(fleet.settings[SETTING_HOST]);
    return entries instanceof HostListError ? [] : entries;
  };
  const board = options.board ?? new LocalDrainBoard((error) => events.emit('listenerError', { event: 'drains', error }));
  const drain = new DrainController({
    board,
    avoid: options.controller,
    agents: options.agents,
    gate: options.listener,
    events,
    selfAddress: () => selfAddress(options.advertise, options.listen, hostEntries()),
    hostEntries,
    defaultRate: options.defaultRate,
  });
  return {
    drain,
    routes: [...drainRoutes(drain), ...planRoutes(planFleetOf(fleet, options.agents))],
    close() {
      drain.close();
      board.close();
    },
  };
}
