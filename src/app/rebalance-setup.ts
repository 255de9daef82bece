/**
 * Wires the rebalance into a server: the run board (the store's when it keeps runs for the
 * whole cluster, else this process's), the move budget (shared in PostgreSQL, else this
 * server's pacer), the controller, and its admin routes. The daemon calls setUpRebalance once,
 * after the drain is set up (a drain holds every rebalance back).
 */
import type { AddressInfo } from 'node:net';
import type { Route } from '../admin/http';
import { rebalanceRoutes } from '../admin/rebalance-routes';
import { HostListError } from '../protocol/host-list';
import { serverList } from '../settings/validate';
import { type ConnectionRegistry, type Store } from '../store/types';
import {
  SETTING_HOST,
  SETTING_REBALANCE,
  SETTING_REBALANCE_GRACE,
  SETTING_REBALANCE_THRESHOLD,
} from '../settings/types';
import type { AgentRegistry } from '../server/fleet/agent-registry';
import { selfAddress } from '../server/drain/self';
import type { ServerEvents } from '../server/events';
import type { Fleet } from '../server/fleet/fleet';
import { LocalRebalanceBoard, type RebalanceBoard } from '../server/rebalance/board';
import { isRebalanceRegistry, StoreRebalanceBoard } from '../server/rebalance/board-store';
import { isSharedMoveBudget, LocalMoveBudget, StoreMoveBudget, type MoveBudget } from '../server/rebalance/budget';
import { DEFAULT_MOVE_DEADLINE_MS, RebalanceController, type RebalancePlan } from '../server/rebalance/controller';

export interface RebalanceSetupOptions {
  store: Store;
  fleet: Fleet;
  agents: AgentRegistry;
  connections: ConnectionRegistry;
  events: ServerEvents;
  advertise: string | undefined;
  listen: AddressInfo;
  /** Moves per second when a request names none: the drain rate. */
  defaultRate: number;
  /** The survey (and trigger) interval, and the unit of the store's settling time. */
  heartbeatIntervalMs: number;
  /** A drain is in progress somewhere in the fleet. */
  draining: () => boolean;
  moveDeadlineMs?: number;
}

export interface RebalanceSetup {
  readonly controller: RebalanceController;
  /** POST, GET and DELETE /api/rebalance. */
  readonly routes: Route[];
  close(): void;
}

/** The Fleet as a rebalance reads it. */
export function rebalancePlanOf(fleet: Fleet): RebalancePlan {
  return {
    get servers() {
      return fleet.servers;
    },
    zoneOf: (hostId) => fleet.host(hostId)?.zone,
    firstUsable: (hostId, zone) => fleet.expectedFor(hostId, zone)[0],
    avoided: (server) => fleet.avoided.has(server),
    listFor: (hostId, zone) => fleet.expectedFor(hostId, zone),
    recheckFrame: (hosts) => fleet.recheckFrame(hosts),
  };
}

export function setUpRebalance(options: RebalanceSetupOptions): RebalanceSetup {
  const { fleet, events, store } = options;
  const onError = (error: unknown): void => events.emit('listenerError', { event: 'rebalance', error });
  const board: RebalanceBoard = isRebalanceRegistry(store) ? new StoreRebalanceBoard(store, onError) : new LocalRebalanceBoard(onError);
  const budget = (rate: number): MoveBudget => (isSharedMoveBudget(store) ? new StoreMoveBudget(store, rate) : new LocalMoveBudget(rate));
  const hostEntries = (): readonly string[] => {
    const entries = serverList(fleet.settings[SETTING_HOST]);
    return entries instanceof HostListError ? [] : entries;
  };
  const startedAt = Date.now();
  const controller = new RebalanceController({
    board,
    budget,
    plan: rebalancePlanOf(fleet),
    registry: options.connections,
    agents: options.agents,
    selfAddress: () => selfAddress(options.advertise, options.listen, hostEntries()),
    triggerSettings: () => ({
      mode: fleet.settings[SETTING_REBALANCE],
      thresholdPercent: fleet.settings[SETTING_REBALANCE_THRESHOLD],
      graceMs: fleet.settings[SETTING_REBALANCE_GRACE] * 1_000,
    }),
    gates: () => {
      const status = store.status?.();
      return {
        storeAvailable: status?.available ?? true,
        // The embedded store is available from the start.
        storeAvailableSince: status === undefined ? startedAt - 1e12 : Date.parse(status.since),
        heartbeatMs: options.heartbeatIntervalMs,
        draining: options.draining(),
      };
    },
    events,
    defaultRate: options.defaultRate,
    evaluateMs: options.heartbeatIntervalMs,
    moveDeadlineMs: options.moveDeadlineMs ?? DEFAULT_MOVE_DEADLINE_MS,
  });
  controller.start();
  return {
    controller,
    routes: rebalanceRoutes(controller),
    close() {
      controller.close();
      board.close();
    },
  };
}
