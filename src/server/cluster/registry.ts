/**
 * Where a server finds the server registry: the store, when it is one (PostgreSQL, cluster
 * mode), else a registry of this process alone (the embedded store serves one server), so
 * `GET /api/servers` and `agentlb servers` answer the same way in both modes.
 */
import type { ForgetServerResult, ServerHeartbeat, ServerRecord, ServerRegistry, Store } from '../../store/types';

export function isServerRegistry(store: Store): store is Store & ServerRegistry {
  const candidate = store as Partial<ServerRegistry>;
  return typeof candidate.heartbeat === 'function' && typeof candidate.listServers === 'function' && typeof candidate.forgetServer === 'function';
}

/** One server's own record, in memory: up for as long as the process runs. */
export class LocalServerRegistry implements ServerRegistry {
  private record: ServerRecord | undefined;

  constructor(private readonly now: () => Date = () => new Date()) {}

  heartbeat(beat: ServerHeartbeat): Promise<void> {
    this.record = { ...beat, heartbeatAt: this.now().toISOString(), up: true, state: 'up', stoppedAt: null };
    return Promise.resolve();
  }

  listServers(): Promise<ServerRecord[]> {
    return Promise.resolve(this.record === undefined ? [] : [{ ...this.record }]);
  }

  markStopped(address: string): Promise<void> {
    if (this.record?.address === address) this.record = { ...this.record, up: false, state: 'stopped', stoppedAt: this.now().toISOString() };
    return Promise.resolve();
  }

  /** The one record is this running server's: up, so never forgotten. */
  forgetServer(address: string): Promise<ForgetServerResult> {
    const record = this.record;
    if (record === undefined || record.address !== address) return Promise.resolve({ kind: 'unknown' });
    if (record.up) return Promise.resolve({ kind: 'up', server: { ...record } });
    this.record = undefined;
    return Promise.resolve({ kind: 'forgotten', server: record });
  }
}

export function serverRegistryOf(store: Store): ServerRegistry {
  return isServerRegistry(store) ? store : new LocalServerRegistry();
}
