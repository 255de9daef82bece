/**
 * The admin API assembled: every route (settings, hosts, certificates, calls, health, servers,
 * metrics, drain and plan, rebalance, and the caller's extra ones) over the server's parts,
 * served over HTTP on the admin address. Admin routes see the server only through the
 * backends given here (src/admin/ imports server types only).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { callsRoutes } from '../admin/calls-routes';
import { healthRoute, type Health } from '../admin/health-route';
import { hostsRoutes } from '../admin/hosts-routes';
import { createAdminServer, listenHttp, type Route } from '../admin/http';
import { reissueRoute } from '../admin/reissue-route';
import { serversRoutes } from '../admin/servers-routes';
import { settingsRoutes } from '../admin/settings-routes';
import type { Logger } from '../log';
import type { CallService } from '../server/calls/call-service';
import type { Membership } from '../server/cluster/membership';
import type { AgentRegistry } from '../server/fleet/agent-registry';
import type { FleetController } from '../server/fleet/controller';
import type { Fleet } from '../server/fleet/fleet';
import { HostDirectory } from '../server/fleet/host-directory';
import type { SecurityPosture } from '../server/posture';
import { FileStore } from '../store/file-store';
import type { ConnectionRegistry, Store } from '../store/types';
import { agentlbVersion } from '../util/version';
import type { DrainSetup } from './drain-setup';
import type { AdminOptions } from './options';
import type { RebalanceSetup } from './rebalance-setup';
import type { SecuritySetup } from './security-setup';
import { listenOrFail } from './start-error';

export interface AdminApiParts {
  options: AdminOptions;
  logger: Logger;
  /** Read at each request: a reload may change it. */
  token(): string;
  store: Store;
  fleet: Fleet;
  controller: FleetController;
  agents: AgentRegistry;
  connections: ConnectionRegistry;
  /** This server's registry address. */
  ownAddress: string;
  /** Whether other servers share the connection registry (cluster mode). */
  sharedConnections: boolean;
  book: SecuritySetup['book'];
  calls: CallService;
  membership: Membership;
  drain: DrainSetup;
  rebalance: RebalanceSetup;
  posture: SecurityPosture;
  /** GET /metrics, when the server has a metrics registry. */
  metricsRoutes: readonly Route[];
  /** /healthz answers 503 once the server is stopping. */
  shuttingDown(): boolean;
}

export interface AdminApi {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Listens on the admin address (a `listen_failed` ServerStartError when it cannot). */
export async function startAdminApi(parts: AdminApiParts): Promise<AdminApi> {
  const { options } = parts;
  const server = createAdminServer({
    get token() {
      return parts.token();
    },
    maxBodyBytes: options.maxBodyBytes,
    logger: parts.logger,
    routes: adminRoutes(parts),
  });
  const address = await listenOrFail(() => listenHttp(server, options.host, options.port), 'admin', options.host, options.port);
  return { address, close: () => closeHttp(server) };
}

function adminRoutes(parts: AdminApiParts): Route[] {
  const { fleet, controller, agents, book, calls, membership, rebalance, store, logger } = parts;
  const hostDirectory = new HostDirectory({
    controller,
    agents,
    connections: parts.connections,
    self: () => parts.ownAddress,
    shared: parts.sharedConnections,
  });
  /** Agents planned per server address (GET /api/servers' `planned`). */
  const planned = (address: string): number | null => rebalance.controller.plannedLoads()?.get(address)?.planned ?? null;
  return [
    ...settingsRoutes(controller),
    ...hostsRoutes(hostDirectory),
    reissueRoute({
      async reissue(id) {
        if (book === undefined) return { kind: 'no_certificates' };
        const host = fleet.host(id);
        if (host === undefined) return { kind: 'unknown' };
        const held = await book.reset(host.guid);
        logger.info({ event: 'certificate_reissue', hostId: id, guid: host.guid, held }, `host ${id} (${host.guid}) may enrol again with the token`);
        return { kind: 'reset', guid: host.guid, held };
      },
    }),
    ...callsRoutes({
      validate: (request) => calls.validate(request),
      call: (hostId, request, caller) => calls.call(hostId, request, caller),
      callBatches: (targets, request, caller, fanout) => calls.callBatches(targets, request, caller, fanout),
      hostIds: (zone) => calls.hostIds(zone),
      hasHost: (id) => fleet.host(id) !== undefined,
    }),
    healthRoute(() => ({
      status: parts.shuttingDown() ? 'shutting_down' : 'ok',
      version: agentlbVersion(),
      ...parts.posture,
      agents: agents.size,
      hosts: fleet.hostCount,
      settingsVersion: fleet.settingsVersion,
      ...membership.health(),
      ...diskHealth(store),
    })),
    ...serversRoutes(membership.registry, planned),
    ...parts.metricsRoutes,
    ...parts.drain.routes,
    ...rebalance.routes,
    ...parts.options.extraRoutes,
  ];
}

/** `degraded` while the embedded store's writes fail (a full disk), with the cause; else nothing. */
function diskHealth(store: Store): Pick<Health, 'store' | 'storeSince' | 'storeError'> {
  const failure = store instanceof FileStore ? store.writeFailure() : undefined;
  return failure === undefined ? {} : { store: 'degraded', storeSince: failure.since, storeError: failure.error };
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
