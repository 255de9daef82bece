/**
 * Where a server finds the connection registry (which server holds each host): the store,
 * when it is one (PostgreSQL, cluster mode: written through a ConnectionLedger, read by
 * every server), else this process's own connections (LocalConnectionRegistry), so the host
 * view, the remove guard, call routing and rebalancing ask the same interface in both modes.
 */
import { StoreUnavailableError, type ConnectionRecorder, type ConnectionRegistry, type HostRecord, type Store } from '../../store/types';
import type { ConnectionSink } from '../fleet/agent-registry';
import { ConnectionLedger } from './connection-ledger';
import { LocalConnectionRegistry } from './local-connections';
import type { AgentRegistry } from '../fleet/agent-registry';

export function isConnectionRegistry(store: Store): store is Store & ConnectionRegistry & ConnectionRecorder {
  const candidate = store as Partial<ConnectionRegistry & ConnectionRecorder>;
  return typeof candidate.holderOf === 'function' && typeof candidate.recordConnections === 'function';
}

export interface FleetConnections {
  /** Read: which server holds host X, hosts held by S, live counts, the host listing. */
  readonly registry: ConnectionRegistry;
  /** Write: the agent registry tells it of every connection held and released. */
  readonly sink: ConnectionSink;
  /** Records under this server's registry address from now on (changes before it wait). */
  start(address: string): void;
  /** Writes what is waiting (best effort) and stops. */
  close(): Promise<void>;
}

/**
 * @param agents this server's agent registry (a thunk: the registry is built with the sink
 *   this returns)
 * @param hosts the registered hosts (the fleet's), for the embedded listing
 * @param onError a write that failed for another reason than the store being down
 */
export function connectionRegistryFor(
  store: Store,
  agents: () => AgentRegistry,
  hosts: () => Iterable<HostRecord>,
  onError: (error: unknown) => void,
): FleetConnections {
  if (isConnectionRegistry(store)) {
    const ledger = new ConnectionLedger(store, () => agents().all(), {
      // An outage is reported by the store's own status; only other failures are news.
      onError: (error) => {
        if (!(error instanceof StoreUnavailableError)) onError(error);
      },
    });
    return { registry: store, sink: ledger, start: (address) => ledger.start(address), close: () => ledger.close() };
  }
  const local = new LocalConnectionRegistry(agents, hosts);
  return { registry: local, sink: local, start: (address) => local.start(address), close: () => Promise.resolve() };
}
