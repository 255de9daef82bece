/**
 * Wires graceful drain and the what-if planner into a server: the drain board (the store's,
 * when it keeps drains for the whole cluster; else this process's), the controller, the
 * down-server watch, and their admin routes (the logic is in src/server/drain/, src/planner/). The daemon calls setUpDrain once, after its agent listener is up.
 */
import type { AddressInfo } from 'node:net';
import { drainRoutes } from '../admin/drain-routes';
import type { Route } from '../admin/http';
import { planRoutes } from '../admin/plan-routes';
import type { PlanFleet } from '../planner/report';
import { HostListError } from '../protocol/host-list';
import { serverList } from '../settings/validate';
import { type ServerState, type Store } from '../store/types';
import { SETTING_HOST } from '../settings/types';
import type { AgentRegistry } from '../server/fleet/agent-registry';
import { registryAddress } from '../server/cluster/membership';
import { isServerRegistry } from '../server/cluster/registry';
import type { FleetController } from '../server/fleet/controller';
import { LocalDrainBoard } from '../server/drain/board';
import { isDrainRegistry, StoreDrainBoard } from '../server/drain/board-store';
import { DrainController } from '../server/drain/controller';
import { DownWatch } from '../server/drain/down';
import { handoverLists } from '../server/drain/handover-list';
import { selfAddress } from '../server/drain/self';
import type { ServerEvents } from '../server/events';
import type { Fleet } from '../server/fleet/fleet';
import type { AgentListener } from '../server/net/listener';

export interface DrainSetupOptions {
  /** A store that keeps drains (PostgreSQL) shares them with the cluster; else they stay here. */
  store: Store;
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
  /** How often the server registry is read for down servers (the heartbeat interval). */
  heartbeatIntervalMs: number;
}

export interface DrainSetup {
  readonly drain: DrainController;
  /** The other servers of the registry by state, as the down watch last read them (cluster mode). */
  peerStates(): ReadonlyMap<ServerState, number> | undefined;
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
  const onError = (error: unknown): void => events.emit('listenerError', { event: 'drains', error });
  const board = isDrainRegistry(options.store) ? new StoreDrainBoard(options.store, onError) : new LocalDrainBoard(onError);
  const drain = new DrainController({
    board,
    avoid: options.controller,
    agents: options.agents,
    gate: options.listener,
    events,
    selfAddress: () => selfAddress(options.advertise, options.listen, hostEntries()),
    hostEntries,
    handoverList: handoverLists(fleet),
    defaultRate: options.defaultRate,
  });
  const { store } = options;
  // Only a shared registry (cluster mode) knows of other servers' heartbeats.
  const downWatch = isServerRegistry(store)
    ? new DownWatch({
        registry: store,
        avoid: options.controller,
        hostEntries,
        selfNames: () => [registryAddress(options.advertise, options.listen), selfAddress(options.advertise, options.listen, hostEntries())],
        status: () => store.status?.(),
        intervalMs: options.heartbeatIntervalMs,
        downAfterMs: 3 * options.heartbeatIntervalMs,
        onError,
      })
    : undefined;
  downWatch?.start();
  return {
    drain,
    peerStates: () => downWatch?.peerStates(),
    routes: [...drainRoutes(drain), ...planRoutes(planFleetOf(fleet, options.agents))],
    close() {
      downWatch?.stop();
      drain.close();
      board.close();
    },
  };
}
