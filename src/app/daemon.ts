/**
 * The management server's lifecycle: `startServer` builds the parts in order (store and
 * fleet, security, agent registry and connections, burst pool, controller, listener, drain,
 * rebalance, calls, metrics, server registry, admin API), each adding its own close to the
 * cleanups as soon as it exists, and returns the handle that reloads and stops it. This is
 * the one place that wires; the setups beside it (store-setup, security-setup, drain-setup,
 * rebalance-setup, calls-setup, admin-setup, start-log) each build one part. `startServer` is
 * what `agentlb server` runs and what tests start in-process.
 */
import type { AddressInfo } from 'node:net';
import type { Route } from '../admin/http';
import { registerServerMetrics } from '../admin/metrics';
import { logLinesDropped } from '../log';
import { FileStore } from '../store/file-store';
import { securityPosture } from '../server/posture';
import { ownHostEntry } from '../server/fleet/self-address';
import type { ConnectionRegistry, StoreChange } from '../store/types';
import { AgentRegistry } from '../server/fleet/agent-registry';
import { connectionRegistryFor, isConnectionRegistry, type FleetConnections } from '../server/cluster/connections';
import { BurstPool } from '../server/burst/pool';
import { joinFleet, registryAddress } from '../server/cluster/membership';
import type { CallService } from '../server/calls/call-service';
import { FleetController } from '../server/fleet/controller';
import { DEFAULT_SLICE_SIZE, FanoutRunner } from '../server/fleet/fanout-runner';
import { EnrollerError } from '../security/enroller';
import type { ReloadOutcome } from '../admin/certificate-metrics';
import { SecuritySetup, type ReloadInput } from './security-setup';
import { isCertificateRegistry } from '../security/store-certificate-book';
import { RegistrationLimits } from '../security/registration-limits';
import { logLimitEvents } from '../server/limit-log';
import { logServerEvents } from '../server/event-log';
import { ServerEvents } from '../server/events';
import { AgentListener } from '../server/net/listener';
import { DEFAULT_ZONE } from '../server/net/connection';
import { setUpDrain } from './drain-setup';
import { setUpRebalance, type RebalanceSetup } from './rebalance-setup';
import { serverOptions, type ServerOptionsInput } from './options';
import { Cleanups } from './cleanups';
import { listenOrFail, ServerStartError } from './start-error';
import { openStore } from './store-setup';
import { setUpCalls } from './calls-setup';
import { startAdminApi } from './admin-setup';
import { logStarted, watchSettingsWarnings } from './start-log';

export { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT, DEFAULT_DATA_DIR } from '../api/defaults';
export { serverOptions, type ServerOptions, type ServerOptionsInput } from './options';
export { ServerStartError, type ServerStartErrorCode } from './start-error';

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
  const cleanups = new Cleanups();
  try {
    const { store, fleet, token } = await openStore({ store: options.store, dataDir: options.dataDir, adminToken: options.admin.token, logger }, cleanups);

    const events = options.events ?? new ServerEvents();
    cleanups.add(logServerEvents(events, logger));
    cleanups.add(logLimitEvents(events, logger));
    // Where each host's connection is (cluster-wide in cluster mode): fed by the agent registry.
    let agents: AgentRegistry;
    const connections: FleetConnections = connectionRegistryFor(store, () => agents, () => fleet.hosts(), (error) =>
      events.emit('listenerError', { event: 'connections', error }),
    );
    agents = new AgentRegistry(connections.sink);
    cleanups.add(() => connections.close());
    const pool = BurstPool.create(options.pool);
    if (pool !== undefined) cleanups.add(() => pool.close());
    const fanout = new FanoutRunner(fleet, { sliceSize: DEFAULT_SLICE_SIZE, pool });
    const controller = new FleetController(store, fleet, agents, events, fanout);
    cleanups.add(() => controller.close());
    cleanups.add(store.subscribe((change: StoreChange) => controller.onStoreChange(change)));

    // The book, revocations, enroller, tokens and TLS material, and what reloads them. After
    // the controller's subscription: the store hands the changes it held back to the first subscriber.
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
        shared: isCertificateRegistry(store) ? store : undefined,
      });
    } catch (error) {
      if (error instanceof EnrollerError) throw new ServerStartError('bad_ca_dir', error.message, { cause: error });
      throw error;
    }
    cleanups.add(() => security.close());
    const { book, enroller } = security;

    const registrations = new RegistrationLimits(
      { ...options.registration, limitLoopback: options.admission.rateLimitLoopback },
      () => fleet.hostCount,
    );
    const listener = new AgentListener({ listen: options.listen, connection: options.connection, admission: options.admission, tls: security.listenerTls }, events, {
      authorize: security.authorize,
      ...(enroller === undefined ? {} : { enrol: (hello, socket) => enroller.enrol(hello, socket) }),
      // A known guid skips the new-host limits but still goes through the controller, which
      // moves it when its hello names another zone (synchronous when it does not).
      register: (guid, zone, remoteAddress) => {
        const known = fleet.hostByGuid(guid);
        return known !== undefined ? controller.registerHost(guid, zone, known) : registrations.admit(remoteAddress, async () => controller.registerHost(guid, zone));
      },
      attach: (connection) => agents.attach(connection),
      detach: (connection) => agents.detach(connection),
      listToSend: (state) => fleet.listToSend(state),
      hostsFrame: (hosts) => fleet.hostsFrame(hosts),
    });
    const posture = securityPosture({ tls: options.security.tls, agentToken: options.security.agentToken, embeddedStore: store instanceof FileStore });
    const agentAddress = await listenOrFail(() => listener.listen(), 'agent', options.listen.host, options.listen.port);
    security.attach(listener, registryAddress(options.listen.advertise, agentAddress));
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
    cleanups.add(() => drain.close());
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
    cleanups.add(() => rebalance.close());
    cleanups.add(() => listener.close('shutting_down', 'this server is shutting down'));

    // Calls (protocol 2): to this server's agents; in cluster mode through the store to others'.
    const ownAddress = registryAddress(options.listen.advertise, agentAddress);
    const { calls, router } = setUpCalls({ store, fleet, agents, connections, events, address: ownAddress, maxFrame: options.connection.maxFrame, logger });

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
      cleanups.add(() => metrics.close());
      metricsRoutes.push(metrics.route);
    }

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
    cleanups.add(() => membership.close());
    if (router !== undefined) {
      await router.start();
      cleanups.add(() => router.close());
    }

    let shuttingDown = false;
    const admin = await startAdminApi({
      options: options.admin,
      logger,
      token: () => security.adminToken,
      store,
      fleet,
      controller,
      agents,
      connections: connections.registry,
      ownAddress,
      sharedConnections: isConnectionRegistry(store),
      book,
      calls,
      membership,
      drain,
      rebalance,
      posture,
      metricsRoutes,
      shuttingDown: () => shuttingDown,
    });
    cleanups.add(() => admin.close());
    const adminAddress = admin.address;

    logStarted({
      logger,
      posture,
      agentAddress,
      adminAddress,
      dataDir: options.dataDir,
      fleet,
      token,
      tls: options.security.tls !== undefined,
      agentToken: options.security.agentToken !== undefined,
    });
    for (const off of watchSettingsWarnings({ logger, events, fleet, advertise: options.listen.advertise, agentAddress, ownEntry, embedded: store instanceof FileStore })) {
      cleanups.add(off);
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
          await cleanups.run();
          logger.info({ event: 'stopped' }, 'server stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    await cleanups.run();
    throw error;
  }
}
