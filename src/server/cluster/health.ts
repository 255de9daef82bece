/**
 * The store's availability as operators see it: fields on GET /healthz and the
 * `agentlb_store_up` gauge. A server whose database is down still answers /healthz with 200:
 * it keeps serving its agents with the last known settings, so a probe must not restart it
 * or take it out of service; the `store` field tells monitoring what is wrong.
 */
import { Gauge, type Registry } from 'prom-client';
import type { StoreStatus } from '../../store/types';

export interface StoreHealth {
  store: 'available' | 'unavailable';
  /** ISO-8601 time of the last change between available and unavailable. */
  storeSince: string;
  /** Why the store is unavailable (only while it is). */
  storeError?: string;
}

/** undefined for a store that reports no status (the embedded one is always available). */
export function storeHealth(status: StoreStatus | undefined): StoreHealth | undefined {
  if (status === undefined) return undefined;
  const health: StoreHealth = { store: status.available ? 'available' : 'unavailable', storeSince: status.since };
  if (!status.available && status.lastError !== undefined) health.storeError = status.lastError;
  return health;
}

/** Registers `agentlb_store_up` (1 or 0, read at scrape time) on `registry`. */
export function registerStoreMetrics(registry: Registry, status: () => StoreStatus | undefined): void {
  new Gauge({
    name: 'agentlb_store_up',
    help: 'Whether the store (cluster mode: PostgreSQL) is reachable: 1 yes, 0 no. The embedded store is always 1.',
    registers: [registry],
    collect() {
      this.set(status()?.available === false ? 0 : 1);
    },
  });
}
