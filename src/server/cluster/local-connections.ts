/**
 * The connection registry of a server on the embedded store: the fleet is this one server,
 * so "which server holds host X" is "this one, if it holds it" and the truth is the agent
 * registry itself. Kept here per host, O(1) per change: when its connection was taken and
 * when the host was last seen, which no connection object outlives.
 */
import type { ConnectionRegistry, HostQuery, HostRecord, HostWhereabouts } from '../../store/types';
import type { AgentRegistry, ConnectionSink } from '../fleet/agent-registry';
import type { AgentConnection } from '../net/connection';

interface Seen {
  /**
   * Epoch milliseconds: while held, when the connection was taken; after, when it ended.
   * A number, formatted when a listing asks: two toISOString() per handshake cost ~2 us each
   * (profiled under the handshake bench), a listing of the fleet is rare.
   */
  atMs: number;
  held: boolean;
}

const isoOf = (ms: number): string => new Date(ms).toISOString();

export class LocalConnectionRegistry implements ConnectionRegistry, ConnectionSink {
  private address: string | undefined;
  private readonly seen = new Map<number, Seen>();

  constructor(
    /** A thunk: the agent registry is built with this as its sink. */
    private readonly agentRegistry: () => AgentRegistry,
    /** The registered hosts (the fleet's), in any order. */
    private readonly hosts: () => Iterable<HostRecord>,
    /** Epoch milliseconds. */
    private readonly now: () => number = Date.now,
  ) {}

  private get agents(): AgentRegistry {
    return this.agentRegistry();
  }

  /** This server's registry address, once it is known (after the listener is up). */
  start(address: string): void {
    this.address = address;
  }

  held(connection: AgentConnection): void {
    this.note(connection.hostId!, true);
  }

  released(connection: AgentConnection): void {
    this.note(connection.hostId!, false);
  }

  /** Updates the host's entry in place: one object per host, not one per connect and disconnect. */
  private note(hostId: number, held: boolean): void {
    const seen = this.seen.get(hostId);
    if (seen === undefined) {
      this.seen.set(hostId, { atMs: this.now(), held });
      return;
    }
    seen.atMs = this.now();
    seen.held = held;
  }

  holderOf(hostId: number): Promise<string | null> {
    return Promise.resolve(this.agents.byHost(hostId) === undefined ? null : this.self());
  }

  hostsHeldBy(server: string): Promise<number[]> {
    if (server !== this.address) return Promise.resolve([]);
    const ids: number[] = [];
    for (const connection of this.agents.all()) ids.push(connection.hostId!);
    return Promise.resolve(ids.sort((a, b) => a - b));
  }

  liveCounts(): Promise<Map<string, number>> {
    const size = this.agents.size;
    return Promise.resolve(size === 0 ? new Map() : new Map([[this.self(), size]]));
  }

  /** O(hosts) per call (sorted by id), whatever the filter: a listing, not a per-host path. */
  listHosts(query: HostQuery): Promise<HostWhereabouts[]> {
    const after = query.after ?? 0;
    const matching: HostRecord[] = [];
    for (const host of this.hosts()) {
      if (host.id <= after) continue;
      if (query.zone !== undefined && host.zone !== query.zone) continue;
      const connected = this.agents.byHost(host.id) !== undefined;
      if (query.connected !== undefined && connected !== query.connected) continue;
      if (query.server !== undefined && !(connected && query.server === this.address)) continue;
      matching.push(host);
    }
    matching.sort((a, b) => a.id - b.id);
    const page = query.limit === undefined ? matching : matching.slice(0, query.limit);
    return Promise.resolve(page.map((host) => this.whereabouts(host)));
  }

  private whereabouts(host: HostRecord): HostWhereabouts {
    const connection = this.agents.byHost(host.id);
    const seen = this.seen.get(host.id);
    const connected = connection !== undefined;
    return {
      ...host,
      connected,
      server: connected ? this.self() : null,
      connectedSince: connected && seen?.held === true ? isoOf(seen.atMs) : null,
      remoteAddress: connection?.remoteAddress ?? null,
      lastServer: seen === undefined ? null : this.self(),
      // While connected, this server vouches for it now.
      lastSeen: connected ? isoOf(this.now()) : seen === undefined ? null : isoOf(seen.atMs),
    };
  }

  private self(): string {
    return this.address ?? 'this server';
  }
}
