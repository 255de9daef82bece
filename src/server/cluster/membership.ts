/**
 * What a server does as a member of a fleet, beside serving agents: it records itself in the
 * server registry (heartbeat), offers that registry to GET /api/servers, and reports the store's
 * availability on /healthz and in metrics. With the embedded store the "fleet" is this one
 * server, and the same calls answer for it alone.
 */
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log';
import type { ServerRegistry, Store } from '../../store/types';
import { HeartbeatLoop } from './heartbeat';
import { registerStoreMetrics, storeHealth, type StoreHealth } from './health';
import { serverRegistryOf } from './registry';
import { formatAddress } from '../../util/address';

export interface MembershipOptions {
  store: Store;
  /** The registry key: `--advertise`, else see registryAddress(). */
  address: string;
  agents: () => number;
  heartbeatIntervalMs: number;
  logger: Logger;
  /** Where to register `agentlb_store_up`; undefined: no metrics. */
  metricsRegistry: Registry | undefined;
  now?: () => Date;
}

export interface Membership {
  /** The server registry this server is listed in (what GET /api/servers reads). */
  readonly registry: ServerRegistry;
  /** Fields for GET /healthz; undefined for a store without a status (embedded). */
  health(): StoreHealth | undefined;
  /**
   * A clean stop: no more heartbeats, and the record is marked `stopped` at once (so other
   * servers stop sending agents here and read its hosts as disconnected without waiting
   * three heartbeats). Never rejects: a database that is down leaves the record to turn
   * down by itself. Idempotent.
   */
  leave(): Promise<void>;
  /** Stops the heartbeat (without leave(), the record turns down after three missed beats). */
  close(): Promise<void>;
}

/**
 * The name this server is listed under: the advertised address when given, else the listen
 * address, with the machine's host name in place of a wildcard (0.0.0.0 or ::) that would
 * name every server alike.
 */
export function registryAddress(advertise: string | undefined, listen: AddressInfo): string {
  if (advertise !== undefined) return advertise;
  const wildcard = listen.address === '0.0.0.0' || listen.address === '::';
  return formatAddress(wildcard ? os.hostname() : listen.address, listen.port);
}

export async function joinFleet(options: MembershipOptions): Promise<Membership> {
  const { store, logger } = options;
  const registry = serverRegistryOf(store);
  const status = (): ReturnType<NonNullable<Store['status']>> | undefined => store.status?.();
  if (options.metricsRegistry !== undefined) registerStoreMetrics(options.metricsRegistry, status);
  const heartbeat = new HeartbeatLoop({
    registry,
    address: options.address,
    startedAt: (options.now ?? (() => new Date()))().toISOString(),
    agents: options.agents,
    intervalMs: options.heartbeatIntervalMs,
    logger,
  });
  await heartbeat.start();
  logger.info(
    { event: 'server_registered', address: options.address, heartbeatIntervalMs: options.heartbeatIntervalMs },
    `listed in the server registry as ${options.address}`,
  );
  let leaving: Promise<void> | undefined;
  return {
    registry,
    health: () => storeHealth(status()),
    leave() {
      leaving ??= (async () => {
        await heartbeat.stop(); // a beat after the mark would clear it
        try {
          await registry.markStopped(options.address);
          logger.info({ event: 'marked_stopped', address: options.address }, `listed as stopped in the server registry`);
        } catch (error) {
          logger.warn({ event: 'heartbeat_failed', address: options.address, err: error }, `could not mark this server stopped: ${(error as Error).message}`);
        }
      })();
      return leaving;
    },
    close: () => heartbeat.stop(),
  };
}
