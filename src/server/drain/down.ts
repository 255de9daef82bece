/**
 * Down servers go last too (cluster mode): every heartbeat interval, the server registry is
 * read and the servers it lists as down (three missed heartbeats) or stopped, that are
 * entries of `host`, become the `down` source
 * of the avoid list, so agents stop preferring (and probing) a dead server, and prefer it
 * again, through their preferred-host checks, once it beats again.
 *
 * Two guards keep a database outage from looking like a dead fleet: nothing is decided while
 * the store is unavailable, nor until it has been back for a whole down-after period (every
 * heartbeat stopped during the outage, so every record looks stale for a while); and this
 * server never counts itself down, whatever its record says.
 */
import type { ServerRegistry, ServerState, StoreStatus } from '../../store/types';

export const AVOID_SOURCE_DOWN = 'down';

export interface DownWatchOptions {
  registry: Pick<ServerRegistry, 'listServers'>;
  avoid: { setAvoided(source: string, addresses: Iterable<string>): Promise<number> };
  /**
   * The entries of the `host` setting: only those can be avoided. A server the registry lists
   * that agents are not told about (a retired one, another fleet's) is no one's entry, and
   * listing it as avoided would only mislead (`GET /api/plan`, `avoid_changed`).
   */
  hostEntries: () => readonly string[];
  /** The names this server may be listed under (its registry key, its entry of `host`). */
  selfNames: () => readonly (string | undefined)[];
  status: () => StoreStatus | undefined;
  intervalMs: number;
  /** A record older than this is down (the registry's rule); also the settling time after an outage. */
  downAfterMs: number;
  onError: (error: unknown) => void;
  now?: () => number;
}

export class DownWatch {
  /** The other servers of the registry by state, as last read (agentlb_peer_servers). */
  private peers: ReadonlyMap<ServerState, number> = new Map();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: DownWatchOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Reads the registry once and updates the `down` source; resolves when done. */
  async poll(): Promise<void> {
    if (!this.trustworthy()) return;
    let servers;
    try {
      servers = await this.options.registry.listServers();
    } catch {
      return; // the store's own status reports the outage; try again next interval
    }
    if (this.stopped || !this.trustworthy()) return;
    const self = new Set(this.options.selfNames().filter((name): name is string => name !== undefined));
    const entries = new Set(this.options.hostEntries());
    const peers = new Map<ServerState, number>();
    for (const server of servers) if (!self.has(server.address)) peers.set(server.state, (peers.get(server.state) ?? 0) + 1);
    this.peers = peers;
    const down = servers.filter((server) => !server.up && !self.has(server.address) && entries.has(server.address)).map((server) => server.address);
    await this.options.avoid.setAvoided(AVOID_SOURCE_DOWN, down);
  }

  /** Other servers in the registry by state, as last read while the registry was trustworthy. */
  peerStates(): ReadonlyMap<ServerState, number> {
    return this.peers;
  }

  /** Heartbeats are trustworthy only after the store has been up for a whole down-after period. */
  private trustworthy(): boolean {
    const status = this.options.status();
    if (status === undefined) return true;
    return status.available && this.now() - Date.parse(status.since) >= this.options.downAfterMs;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch(this.options.onError)
        .finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
