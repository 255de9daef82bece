/**
 * The daemon's options, one group per owner (as ws gives each component its own limits):
 * `listen` and `connection` and `admission` go to the agent listener (which hands
 * `connection` to every connection as its limits), `admin` to the admin API, `pool` to the
 * burst pool, `drain` to drain and rebalance, `cluster` to the server registry, `registration`
 * to the new-host limits, `security` to the TLS, token and enrolment setup. The services every
 * part shares (logger, store, events, metrics registry, data dir) stay at the top.
 *
 * Each group has its defaults beside its owner; `serverOptions` lays what was given over them,
 * group by group. The CLI (`agentlb server`) shows and parses against the same defaults,
 * re-exported here so that it reaches the server only through the composition root.
 */
import type { Registry } from 'prom-client';
import { DEFAULT_MAX_BODY_BYTES, type Route } from '../admin/http';
import { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT, DEFAULT_DATA_DIR } from '../api/defaults';
import { DEFAULT_DRAIN_RATE } from '../api/drain';
import type { Logger } from '../log';
import { defaultAdmissionLimits, type AdmissionLimits } from '../security/admission';
import { DEFAULT_ENROL_CERT_DAYS } from '../security/enroller';
import { DEFAULT_MAX_HOSTS, DEFAULT_NEW_HOST_RATE, type RegistrationLimitOptions } from '../security/registration-limits';
import type { ListenerTls, ServerTlsFiles } from '../security/tls-files';
import { DEFAULT_POOL_OPTIONS, type PoolOptions } from '../server/burst/pool';
import type { ServerEvents } from '../server/events';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../server/net/connection';
import { DEFAULT_LISTEN_OPTIONS, type ListenOptions } from '../server/net/listener';
import { DEFAULT_SERVER_HEARTBEAT_MS, type Store } from '../store/types';
import { withDefaults, type Given } from '../util/with-defaults';

export { DEFAULT_CONNECTION_LIMITS } from '../server/net/connection';
export { DEFAULT_LISTEN_OPTIONS } from '../server/net/listener';
export { DEFAULT_ADMISSION_LIMITS, defaultAdmissionLimits } from '../security/admission';
export { DEFAULT_POOL_OPTIONS, POOL_MODES, type PoolMode } from '../server/burst/pool';
export type { AdmissionLimits, ConnectionLimits, ListenOptions, PoolOptions };

/** The admin HTTP API. */
export interface AdminOptions {
  host: string;
  port: number;
  /** The bearer token; undefined: DATA_DIR/admin.token (generated on first start). */
  token: string | undefined;
  maxBodyBytes: number;
  /** More admin routes. */
  extraRoutes: readonly Route[];
}

export const DEFAULT_ADMIN_OPTIONS: Readonly<AdminOptions> = Object.freeze({
  host: DEFAULT_ADMIN_HOST,
  port: DEFAULT_ADMIN_PORT,
  token: undefined,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  extraRoutes: [],
});

/** TLS to agents, the agent token and enrolment (src/app/security-setup.ts). */
export interface SecurityOptions {
  /** Speak TLS to agents (certificate, key, optional client CA); undefined: plain TCP. */
  tls: ListenerTls | undefined;
  /** The files `tls` was read from: a reload (ServerHandle.reload) reads them again. */
  tlsFiles: ServerTlsFiles | undefined;
  /** When set, agents must present it as hello.token. */
  agentToken: string | undefined;
  /** Enrol agents with the CA in this directory (needs `tls`); undefined: hello.csr is ignored. */
  caDir: string | undefined;
  /** Lifetime of the certificates signed for agents, in days. */
  certDays: number;
  /** The same in milliseconds, overriding certDays (tests: a renewal due in seconds). */
  certLifetimeMs: number | undefined;
}

export const DEFAULT_SECURITY_OPTIONS: Readonly<SecurityOptions> = Object.freeze({
  tls: undefined,
  tlsFiles: undefined,
  agentToken: undefined,
  caDir: undefined,
  certDays: DEFAULT_ENROL_CERT_DAYS,
  certLifetimeMs: undefined,
});

/** Limits on registering new hosts; loopback is exempt unless `admission.rateLimitLoopback`. */
export type RegistrationOptions = Pick<RegistrationLimitOptions, 'maxHosts' | 'newHostRate'>;

export const DEFAULT_REGISTRATION_OPTIONS: Readonly<RegistrationOptions> = Object.freeze({ maxHosts: DEFAULT_MAX_HOSTS, newHostRate: DEFAULT_NEW_HOST_RATE });

export interface DrainOptions {
  /** Agents a draining server hands over per second when the drain names no rate (`--drain-rate`); a rebalance's default too. */
  rate: number;
}

export const DEFAULT_DRAIN_OPTIONS: Readonly<DrainOptions> = Object.freeze({ rate: DEFAULT_DRAIN_RATE });

export interface ClusterOptions {
  /** How often this server records itself in the server registry (server/cluster/membership.ts). */
  heartbeatIntervalMs: number;
}

export const DEFAULT_CLUSTER_OPTIONS: Readonly<ClusterOptions> = Object.freeze({ heartbeatIntervalMs: DEFAULT_SERVER_HEARTBEAT_MS });

export interface ServerOptions {
  logger: Logger;
  /** Settings, host registry (embedded store) and admin.token. */
  dataDir: string;
  /** Default: the embedded file store in dataDir. */
  store: Store | undefined;
  /** Subscribe before start to see every event (metrics); default: a new emitter. */
  events: ServerEvents | undefined;
  /** Serve GET /metrics from this prom-client registry (one per server; no global one). */
  metricsRegistry: Registry | undefined;
  /** The agent listener. */
  listen: ListenOptions;
  /** Each agent connection's limits. */
  connection: ConnectionLimits;
  /** Which accepted sockets are kept (before a byte is read). */
  admission: AdmissionLimits;
  registration: RegistrationOptions;
  security: SecurityOptions;
  admin: AdminOptions;
  /** The worker pool for bursts (settings changes that reach many agents). */
  pool: PoolOptions;
  drain: DrainOptions;
  cluster: ClusterOptions;
}

/** What a caller gives: the logger, and of each group only what differs from its defaults. */
export interface ServerOptionsInput {
  logger: Logger;
  dataDir?: string | undefined;
  store?: Store | undefined;
  events?: ServerEvents | undefined;
  metricsRegistry?: Registry | undefined;
  listen?: Given<ListenOptions>;
  connection?: Given<ConnectionLimits>;
  admission?: Given<AdmissionLimits>;
  registration?: Given<RegistrationOptions>;
  security?: Given<SecurityOptions>;
  admin?: Given<AdminOptions>;
  pool?: Given<PoolOptions>;
  drain?: Given<DrainOptions>;
  cluster?: Given<ClusterOptions>;
}

export function serverOptions(input: ServerOptionsInput): ServerOptions {
  return {
    logger: input.logger,
    dataDir: input.dataDir ?? DEFAULT_DATA_DIR,
    store: input.store,
    events: input.events,
    metricsRegistry: input.metricsRegistry,
    listen: withDefaults(DEFAULT_LISTEN_OPTIONS, input.listen),
    connection: withDefaults(DEFAULT_CONNECTION_LIMITS, input.connection),
    admission: withDefaults(defaultAdmissionLimits(), input.admission),
    registration: withDefaults(DEFAULT_REGISTRATION_OPTIONS, input.registration),
    security: withDefaults(DEFAULT_SECURITY_OPTIONS, input.security),
    admin: withDefaults(DEFAULT_ADMIN_OPTIONS, input.admin),
    pool: withDefaults(DEFAULT_POOL_OPTIONS, input.pool),
    drain: withDefaults(DEFAULT_DRAIN_OPTIONS, input.drain),
    cluster: withDefaults(DEFAULT_CLUSTER_OPTIONS, input.cluster),
  };
}
