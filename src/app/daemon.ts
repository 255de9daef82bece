/**
 * The management server: store + fleet + agent listener + admin API + logging, wired
 * together. `startServer` is what `agentlb server` runs and what tests start in-process.
 */
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { createAdminServer, listenHttp, type Route } from '../admin/http';
import { reissueRoute } from '../admin/reissue-route';
import { healthRoute, type Health } from '../admin/health-route';
import { registerServerMetrics } from '../admin/metrics';
import { hostsRoutes } from '../admin/hosts-routes';
import { serversRoutes } from '../admin/servers-routes';
import { callsRoutes } from '../admin/calls-routes';
import { CallService } from '../server/calls/call-service';
import { settingsRoutes } from '../admin/settings-routes';
import { AdminTokenError, resolveAdminToken } from '../api/token';
import { logLinesDropped, type Logger } from '../log';
import { FileStore } from '../store/file-store';
import { octal, secureDataDir } from '../store/data-dir-mode';
import { embeddedFleetWarning } from '../server/fleet/embedded-warning';
import { securityPosture } from '../server/posture';
import { agentlbVersion } from '../util/version';
import { ownEntryKeys, ownHostEntry, selfNotInHostWarning } from '../server/fleet/self-address';
import {
  type ConnectionRegistry,
  type HostRecord,
  type Store,
  type StoreChange,
} from '../store/types';
import { SETTING_HOST, type Settings } from '../settings/types';
import { AgentRegistry } from '../server/fleet/agent-registry';
import { connectionRegistryFor, isConnectionRegistry, type FleetConnections } from '../server/cluster/connections';
import { HostDirectory } from '../server/fleet/host-directory';
import { BurstPool } from '../server/burst/pool';
import { joinFleet, registryAddress } from '../server/cluster/membership';
import { CallRouter, isCallCarrier } from '../server/calls/routed-calls';
import type { CallRequest } from '../server/calls/agent-calls';
import { FleetController } from '../server/fleet/controller';
import { DEFAULT_SLICE_SIZE, FanoutRunner } from '../server/fleet/fanout-runner';
import { EnrollerError } from '../security/enroller';
import type { ReloadOutcome } from '../admin/certificate-metrics';
import { SecuritySetup, type ReloadInput } from './security-setup';
import { RegistrationLimits } from '../security/registration-limits';
import { logLimitEvents } from '../server/limit-log';
import { openAgentPortWarning } from '../security/open-port-warning';
import { logServerEvents } from '../server/event-log';
import { ServerEvents } from '../server/events';
import { Fleet, FleetSettingsError } from '../server/fleet/fleet';
import { AgentListener } from '../server/net/listener';
import { DEFAULT_ZONE } from '../server/net/connection';
import { setUpDrain } from './drain-setup';
import { setUpRebalance, type RebalanceSetup } from './rebalance-setup';
import { serverOptions, type ServerOptionsInput } from './options';

export { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT, DEFAULT_DATA_DIR } from '../api/defaults';
export { serverOptions, type ServerOptions, type ServerOptionsInput } from './options';

export type ServerStartErrorCode = 'bad_ca_dir' | 'bad_stored_settings' | 'bad_admin_token' | 'listen_failed' | 'store_failed';

export class ServerStartError extends Error {
  constructor(
    readonly code: ServerStartErrorCode,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'ServerStartError';
  }
}

/** Host ids, of one zone or all, pulled one at a time (a fan-out holds only what is in flight). */
function* hostIdsOf(hosts: Iterable<HostRecord>, zone: string | undefined): Generator<number> {
  for (const host of hosts) if (zone === undefined || host.zone === zone) yield host.id;
}

export interface ServerHandle {
  readonly agentAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly events: ServerEvents;
  readonly controller: FleetController;
  readonly adminToken: string;
  /** The token file, when the token came from or went into one. */
  readonly adminTokenPath: string | undefined;
  /** Connected (handshake done) agents. */
  readonly agentCount: number;
  /** Where every host's connection is, fleet-wide (cluster mode) or this server's (embedded). */
  readonly connections: ConnectionRegistry;
  /** This server's key in the server and connection registries. */
  readonly registryAddress: string;
  /** Calls to this server's agents (what POST /api/hosts/ID/call and /api/calls use). */
  readonly calls: CallService;
  /**
   * Reads the TLS files, the CA directory, the CRL and the tokens again (SIGHUP) without
   * dropping agents; `read` gives the options as they are now. Each part that cannot be used
   * keeps the one in use and is logged as a warning saying why (outcome `failed`).
   */
  reload(read: () => Promise<ReloadInput>): Promise<ReloadOutcome>;
  /**
   * Stops accepting, sends `error shutting_down` to every agent, waits for them to close
   * (each at most closeGraceMs), stops the admin API and closes the store. Idempotent.
   */
  close(): Promise<void>;
}

export async function startServer(input: ServerOptionsInput): Promise<ServerHandle> {
  const options = serverOptions(input);
  const { logger } = options;
  const store =
    options.store ??
    new FileStore({
      dataDir: options.dataDir,
      onCompactionError: (error, retryInMs) =>
        logger.error({ event: 'compaction_failed', err: error, retryInMs }, `host journal compaction failed (retried in ${retryInMs / 1000} s at the earliest)`),
    });
  const cleanups: (() => Promise<void> | void)[] = [];
  const unwind = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  };
  try {
    let snapshot;
    try {
      snapshot = await store.open();
    } catch (error) {
      throw new ServerStartError('store_failed', `cannot open the store: ${(error as Error).message}`, { cause: error });
    }
    cleanups.push(() => store.close());
    const fleet = Fleet.fromSnapshot(snapshot);
    if (fleet instanceof FleetSettingsError) {
      throw new ServerStartError('bad_stored_settings', `the stored settings are unusable: ${fleet.message}`);
    }
    const token = await resolveAdminToken(options.admin.token, options.dataDir);
    if (token instanceof AdminTokenError) throw new ServerStartError('bad_admin_token', token.message);
    // In cluster mode with an explicit token the data dir is not used: leave it alone.
    if (store instanceof FileStore || token.path !== undefined) await warnTightened(options.dataDir, logger);

    // The book, revocations, enroller, tokens and TLS material, and what reloads them.
    let security: SecuritySetup;
    try {
      security = await SecuritySetup.open({
        tls: options.security.tls,
        tlsFiles: options.security.tlsFiles,
        caDir: options.security.caDir,
        dataDir: options.dataDir,
        agentToken: options.security.agentToken,
        adminToken: token.token,
        adminTokenFromFile: token.source !== 'explicit',
        certLifetimeMs: options.security.certLifetimeMs ?? options.security.certDays * 86_400_000,
        logger,
        metricsRegistry: options.metricsRegistry,
      });
    } catch (error) {
      if (error instanceof EnrollerError) throw new ServerStartError('bad_ca_dir', error.message, { cause: error });
      throw error;
    }
    cleanups.push(() => security.close());
    const { book, enroller } = security;
    const events = options.events ?? new ServerEvents();
    cleanups.push(logServerEvents(events, logger));
    cleanups.push(logLimitEvents(events, logger));
    // Where each host's connection is (cluster-wide in cluster mode): fed by the agent registry.
    let agents: AgentRegistry;
    const connections: FleetConnections = connectionRegistryFor(store, () => agents, () => fleet.hosts(), (error) =>
      events.emit('listenerError', { event: 'connections', error }),
    );
    agents = new AgentRegistry(connections.sink);
    cleanups.push(() => connections.close());
    const pool = BurstPool.create(options.pool);
    if (pool !== undefined) cleanups.push(() => pool.close());
    const fanout = new FanoutRunner(fleet, { sliceSize: DEFAULT_SLICE_SIZE, pool });
    const controller = new FleetController(store, fleet, agents, events, fanout);
    cleanups.push(() => controller.close());
    cleanups.push(store.subscribe((change: StoreChange) => controller.onStoreChange(change)));

    const registrations = new RegistrationLimits(
      { ...options.registration, limitLoopback: options.admission.rateLimitLoopback },
      () => fleet.hostCount,
    );
    const listener = new AgentListener({ listen: options.listen, connection: options.connection, admission: options.admission, tls: security.listenerTls }, events, {
      authorize: security.authorize,
      ...(enroller === undefined ? {} : { enrol: (hello, socket) => enroller.enrol(hello, socket) }),
      // A known guid skips the new-host limits but still goes through the controller, which
      // moves it when its hello names another zone (synchronous when it does not).
      register: (guid, zone, remoteAddress) =>
        fleet.hostByGuid(guid) !== undefined
          ? controller.registerHost(guid, zone)
          : registrations.admit(remoteAddress, async () => controller.registerHost(guid, zone)),
      attach: (connection) => agents.attach(connection),
      detach: (connection) => agents.detach(connection),
      listToSend: (state) => fleet.listToSend(state),
      hostsFrame: (hosts) => fleet.hostsFrame(hosts),
    });
    const posture = securityPosture({ tls: options.security.tls, agentToken: options.security.agentToken, embeddedStore: store instanceof FileStore });
    const agentAddress = await listenOrFail(() => listener.listen(), 'agent', options.listen.host, options.listen.port);
    security.attach(listener);
    // Before any agent is served (no I/O turn since the listen callback): a server nobody
    // configured hands out its own address, never a placeholder that strands agents.
    const ownEntry = ownHostEntry(options.listen.advertise, agentAddress);
    controller.useDefaultHost(ownEntry);
    // Drain (and the what-if planner): lists put draining servers last; a draining server admits nobody.
    const drain = setUpDrain({
      store,
      fleet,
      controller,
      agents,
      listener,
      events,
      advertise: options.listen.advertise,
      listen: agentAddress,
      defaultRate: options.drain.rate,
      heartbeatIntervalMs: options.cluster.heartbeatIntervalMs,
    });
    cleanups.push(() => drain.close());
    // Rebalance: misplaced agents back to their plan, paced across the fleet; a drain holds it back.
    const rebalance: RebalanceSetup = setUpRebalance({
      store,
      fleet,
      agents,
      connections: connections.registry,
      events,
      advertise: options.listen.advertise,
      listen: agentAddress,
      defaultRate: options.drain.rate,
      heartbeatIntervalMs: options.cluster.heartbeatIntervalMs,
      draining: () => drain.drain.anyDraining,
    });
    cleanups.push(() => rebalance.close());
    cleanups.push(() => listener.close('shutting_down', 'this server is shutting down'));

    // Calls (protocol 2): to this server's agents; `server` in each line is this server's address.
    // Cluster mode: calls for agents held by other servers are carried through the store.
    const carrier = isCallCarrier(store) ? store : undefined;
    let runsHere: CallService | undefined;
    const router =
      carrier === undefined
        ? undefined
        : new CallRouter({
            carrier,
            address: registryAddress(options.listen.advertise, agentAddress),
            runHere: (call) => runsHere!.callHere(call.hostId, { method: call.method, params: call.params as CallRequest['params'], timeoutMs: call.timeoutMs }, { address: call.caller ?? call.asker, via: call.asker }),
            onError: (error) => logger.warn({ err: (error as Error).message }, 'routed call: store error'),
          });
    const calls = new CallService({
      host: (id) => fleet.host(id),
      hostIds: (zone) => hostIdsOf(fleet.hosts(), zone),
      connection: (hostId) => agents.byHost(hostId),
      holderOf: (hostId) => connections.registry.holderOf(hostId),
      ...(router === undefined ? {} : { router }),
      events,
      serverName: registryAddress(options.listen.advertise, agentAddress),
      maxFrame: options.connection.maxFrame,
    });
    runsHere = calls;

    const metricsRoutes: Route[] = [];
    if (options.metricsRegistry !== undefined) {
      const metrics = registerServerMetrics(options.metricsRegistry, {
        events,
        server: () => options.listen.advertise ?? `${agentAddress.address}:${agentAddress.port}`,
        connectedByZone: () => controller.connectedByZone(),
        settingsVersion: () => fleet.settingsVersion,
        registeredHosts: () => controller.registeredHosts,
        pool: () => pool?.stats(),
        logLinesDropped: () => logLinesDropped(logger),
        plannedLoads: () => rebalance.controller.plannedLoads(),
        rebalancePending: () => rebalance.controller.pending,
        callsInFlight: () => calls.inFlight,
        defaultZone: DEFAULT_ZONE,
        selfDraining: () => drain.drain.selfDraining,
        peerStates: () => drain.peerStates(),
      });
      cleanups.push(() => metrics.close());
      metricsRoutes.push(metrics.route);
    }

    const ownAddress = registryAddress(options.listen.advertise, agentAddress);
    connections.start(ownAddress);
    // The server registry (heartbeat, GET /api/servers) and the store's health.
    const membership = await joinFleet({
      store,
      address: ownAddress,
      agents: () => agents.size,
      heartbeatIntervalMs: options.cluster.heartbeatIntervalMs,
      logger,
      metricsRegistry: options.metricsRegistry,
    });
    /** Agents planned per server address (GET /api/servers' `planned`). */
    const planned = (address: string): number | null => rebalance.controller.plannedLoads()?.get(address)?.planned ?? null;
    cleanups.push(() => membership.close());
    if (router !== undefined) {
      await router.start();
      cleanups.push(() => router.close());
    }
    const hostDirectory = new HostDirectory({
      controller,
      agents,
      connections: connections.registry,
      self: () => ownAddress,
      shared: isConnectionRegistry(store),
    });

    let shuttingDown = false;
    const admin = createAdminServer({
      // Read at each request: a reload may change it.
      get token() {
        return security.adminToken;
      },
      maxBodyBytes: options.admin.maxBodyBytes,
      logger,
      routes: [
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
          callMany: (targets, request, caller, fanout) => calls.callMany(targets, request, caller, fanout),
          hostIds: (zone) => calls.hostIds(zone),
          hasHost: (id) => fleet.host(id) !== undefined,
        }),
        healthRoute(() => ({
          status: shuttingDown ? 'shutting_down' : 'ok',
          version: agentlbVersion(),
          ...posture,
          agents: agents.size,
          hosts: fleet.hostCount,
          settingsVersion: fleet.settingsVersion,
          ...membership.health(),
          ...diskHealth(store),
        })),
        ...serversRoutes(membership.registry, planned),
        ...metricsRoutes,
        ...drain.routes,
        ...rebalance.routes,
        ...options.admin.extraRoutes,
      ],
    });
    const adminAddress = await listenOrFail(() => listenHttp(admin, options.admin.host, options.admin.port), 'admin', options.admin.host, options.admin.port);
    cleanups.push(() => closeHttp(admin));

    logger.info(
      {
        event: 'started',
        version: agentlbVersion(),
        ...posture,
        agentHost: agentAddress.address,
        agentPort: agentAddress.port,
        adminHost: adminAddress.address,
        adminPort: adminAddress.port,
        dataDir: options.dataDir,
        settings: fleet.settings,
        settingsVersion: fleet.settingsVersion,
        hosts: fleet.hostCount,
        adminToken: token.source === 'explicit' ? 'given' : token.path,
      },
      token.source === 'generated' ? `server started; admin token generated into ${token.path}` : 'server started',
    );
    const openPort = openAgentPortWarning({ address: agentAddress.address, tls: options.security.tls !== undefined, token: options.security.agentToken !== undefined });
    if (openPort !== undefined) logger.warn({ event: 'open_agent_port', agentHost: agentAddress.address }, openPort);
    const ownKeys = ownEntryKeys(options.listen.advertise, agentAddress);
    const warnIfNotSelf = (settings: Settings): void => {
      const warning = selfNotInHostWarning(settings, ownKeys, ownEntry);
      if (warning !== undefined) logger.warn({ event: 'self_not_in_host', host: settings[SETTING_HOST], self: ownEntry }, warning);
    };
    warnIfNotSelf(fleet.settings);
    cleanups.push(events.on('settingsChanged', (e) => warnIfNotSelf(e.settings)));
    if (store instanceof FileStore) {
      const warnIfFleet = (settings: Settings): void => {
        const warning = embeddedFleetWarning(settings);
        if (warning !== undefined) logger.warn({ event: 'embedded_fleet' }, warning);
      };
      warnIfFleet(fleet.settings);
      cleanups.push(events.on('settingsChanged', (e) => warnIfFleet(e.settings)));
    }

    let closing: Promise<void> | undefined;
    return {
      agentAddress,
      adminAddress,
      events,
      controller,
      get adminToken() {
        return security.adminToken;
      },
      adminTokenPath: token.path,
      reload: (read) => security.reload(read),
      calls,
      get agentCount() {
        return agents.size;
      },
      connections: connections.registry,
      registryAddress: ownAddress,
      close() {
        closing ??= (async () => {
          shuttingDown = true; // /healthz answers 503 while agents are let go
          logger.info({ event: 'stopping', agents: agents.size }, 'server stopping');
          // Listed `stopped` at once, while the agents are let go.
          await Promise.all([membership.leave(), listener.close('shutting_down', 'this server is shutting down')]);
          await unwind();
          logger.info({ event: 'stopped' }, 'server stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/** `degraded` while the embedded store's writes fail (a full disk), with the cause; else nothing. */
function diskHealth(store: Store): Pick<Health, 'store' | 'storeSince' | 'storeError'> {
  const failure = store instanceof FileStore ? store.writeFailure() : undefined;
  return failure === undefined ? {} : { store: 'degraded', storeSince: failure.since, storeError: failure.error };
}

/** The data dir 0700 and its files 0600; each loosening found is a warning naming it. */
async function warnTightened(dataDir: string, logger: Logger): Promise<void> {
  let tightened;
  try {
    tightened = await secureDataDir(dataDir);
  } catch (error) {
    throw new ServerStartError('store_failed', `cannot restrict the data directory ${dataDir} to its owner: ${(error as Error).message}`, { cause: error });
  }
  for (const { path, was, now } of tightened) {
    logger.warn({ event: 'permissions_tightened', path, was: octal(was), now: octal(now) }, `${path} was mode ${octal(was)}, readable by others; changed to ${octal(now)}`);
  }
}

async function listenOrFail(listen: () => Promise<AddressInfo>, what: string, host: string, port: number): Promise<AddressInfo> {
  try {
    return await listen();
  } catch (error) {
    throw new ServerStartError('listen_failed', `cannot listen for ${what} connections on ${host}:${port}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
