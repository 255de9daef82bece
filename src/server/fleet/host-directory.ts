/**
 * The hosts as an operator asks about them through any server: GET /api/hosts (where each
 * host is connected, fleet-wide, plus what this server sent the agents it holds) and the
 * remove guard (a host connected to ANY server of the fleet is refused without force).
 *
 * The fleet-wide part comes from the ConnectionRegistry (PostgreSQL in cluster mode, this
 * process otherwise); what only this server knows (the list it last sent, the ack) is added
 * for the hosts it holds. A connection this server took in the last moments may not be
 * recorded yet; its own agent registry wins for the hosts it holds.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { HostView, HostViewScope, UpdateScope } from '../../api/hosts';
import { StoreUnavailableError, type ConnectionRegistry, type HostQuery, type HostRecord, type HostWhereabouts } from '../../store/types';
import type { AgentRegistry } from './agent-registry';
import type { AgentConnection } from '../net/connection';
import type { FleetController } from './controller';

/**
 * Hosts per registry read when a listing asks for every host: bounds one query's result and
 * the work of turning it into values on the loop. Measured at 100 000 hosts on PostgreSQL
 * (load 18 on 2 cores): pages of 5 000 held the loop up to 205 ms, pages of 1 000 at most
 * 38 ms (4.2 s for the whole fleet).
 */
export const LISTING_CHUNK = 1_000;

export interface HostListing {
  /**
   * The hosts by ascending id, a chunk (at most LISTING_CHUNK) at a time, each read from the
   * registry only when the one before was taken: a listing of the whole fleet is streamed,
   * never held whole. The first chunk is read before the listing is returned (it decides
   * `scope`); a later one can fail (the database lost mid-listing) with StoreUnavailableError.
   */
  pages: AsyncIterable<HostView[]>;
  /** `this-server`: the database was unavailable; other servers' connections are unknown. */
  scope: HostViewScope;
}

export type RemoveResult =
  | { kind: 'removed'; host: HostRecord; agentsUpdated: number; scope: UpdateScope }
  | { kind: 'unknown' }
  | { kind: 'connected'; host: HostRecord; server: string };

export interface HostDirectoryOptions {
  controller: FleetController;
  agents: AgentRegistry;
  connections: ConnectionRegistry;
  /** This server's registry address. */
  self: () => string;
  /** Whether other servers share the registry (cluster mode): removal counts are then this server's only. */
  shared: boolean;
}

export class HostDirectory {
  constructor(private readonly options: HostDirectoryOptions) {}

  /** Hosts by ascending id, filtered and paged as `query` says; every host without limit. */
  async list(query: HostQuery): Promise<HostListing> {
    const chunks = this.fromRegistry(query);
    let first: IteratorResult<HostView[]>;
    try {
      first = await chunks.next();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // Reads answer from memory while the database is down (README, Cluster mode).
      return { pages: this.fromMemory(query), scope: 'this-server' };
    }
    return { pages: startingWith(first, chunks), scope: 'fleet' };
  }

  /**
   * Removes a host. Refused (`connected`, naming the server) while the host is connected to
   * any server, unless `force`: the removal is then committed, and the holding server, told
   * by the store's host-removed announcement, closes the connection (reason `removed`).
   */
  async remove(id: number, force: boolean): Promise<RemoveResult> {
    const { controller, agents, connections } = this.options;
    const host = controller.host(id);
    if (host === undefined) {
      // Unknown here. While the database is down that cannot be told from another server's
      // registration not yet announced to this one: asking the registry answers an outage
      // with StoreUnavailableError (503), never a 404 that may be wrong.
      await connections.holderOf(id);
      return { kind: 'unknown' };
    }
    if (agents.byHost(id) === undefined && !force) {
      const server = await connections.holderOf(id);
      // This server's own record may lag its agent registry by one flush: the registry wins.
      if (server !== null && server !== this.options.self()) return { kind: 'connected', host, server };
    }
    const result = await controller.removeHost(id, force);
    switch (result.kind) {
      case 'unknown':
        return result;
      case 'connected':
        return { kind: 'connected', host: result.host, server: this.options.self() };
      case 'removed':
        return { ...result, scope: this.options.shared ? 'server' : 'fleet' };
    }
  }

  /** Read in chunks (a page of `limit`, or every host), so no single result is large. */
  private async *fromRegistry(query: HostQuery): AsyncGenerator<HostView[]> {
    const { connections } = this.options;
    let after = query.after;
    let listed = 0;
    for (;;) {
      const want = query.limit === undefined ? LISTING_CHUNK : Math.min(LISTING_CHUNK, query.limit - listed);
      const page = await connections.listHosts({ ...query, limit: want, ...(after === undefined ? {} : { after }) });
      const views = this.merge(page, query);
      listed += views.length;
      if (views.length > 0) yield views;
      if (page.length < want || (query.limit !== undefined && listed >= query.limit)) return;
      after = page[page.length - 1]!.id;
    }
  }

  /** Adds this server's own knowledge; a host it holds is connected here whatever the record says. */
  private merge(page: readonly HostWhereabouts[], query: HostQuery): HostView[] {
    const self = this.options.self();
    const views: HostView[] = [];
    for (const where of page) {
      const connection = this.options.agents.byHost(where.id);
      const view = connection === undefined ? withoutLocal(where) : withLocal(where, connection, self);
      // The override may take a host out of a connection filter it matched in the record.
      if (query.connected !== undefined && view.connected !== query.connected) continue;
      if (query.server !== undefined && view.server !== query.server) continue;
      views.push(view);
    }
    return views;
  }

  /**
   * From this server's memory, by ascending id: the ids are sorted once per listing as
   * numbers (a Float64Array: ~10 ms at 100 000 hosts, where sorting the records took ~60),
   * then turned into views a chunk per turn of the loop.
   */
  private async *fromMemory(query: HostQuery): AsyncGenerator<HostView[]> {
    const { controller, agents } = this.options;
    const self = this.options.self();
    const ids = sortedIdsAfter(controller.allHosts(), query.after ?? 0);
    let listed = 0;
    for (let start = 0; start < ids.length; start += LISTING_CHUNK) {
      if (start > 0) await nextTurn();
      const views: HostView[] = [];
      const end = Math.min(ids.length, start + LISTING_CHUNK);
      for (let i = start; i < end && (query.limit === undefined || listed < query.limit); i++) {
        const host = controller.host(ids[i]!);
        // Removed since the sort: it is not listed.
        if (host === undefined) continue;
        if (query.zone !== undefined && host.zone !== query.zone) continue;
        const connection = agents.byHost(host.id);
        const where: HostWhereabouts = {
          ...host,
          connected: false,
          server: null,
          connectedSince: null,
          remoteAddress: null,
          lastServer: null,
          lastSeen: null,
        };
        const view = connection === undefined ? withoutLocal(where) : withLocal(where, connection, self);
        if (query.connected !== undefined && view.connected !== query.connected) continue;
        if (query.server !== undefined && view.server !== query.server) continue;
        views.push(view);
        listed += 1;
      }
      if (views.length > 0) yield views;
      if (query.limit !== undefined && listed >= query.limit) return;
    }
  }
}

/** The ids above `after` of `hosts`, ascending. */
function sortedIdsAfter(hosts: Iterable<HostRecord>, after: number): Float64Array {
  const ids: number[] = [];
  for (const host of hosts) if (host.id > after) ids.push(host.id);
  return Float64Array.from(ids).sort();
}

/** `first` (already read from `rest`), then the rest. */
async function* startingWith<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    if (first.done === true) return;
    yield first.value;
    for (;;) {
      const next = await rest.next();
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    // A client gone mid-listing: the registry reads stop here.
    await rest.return?.(undefined);
  }
}

function withoutLocal(where: HostWhereabouts): HostView {
  return { ...where, lastSent: null, acked: null };
}

function withLocal(where: HostWhereabouts, connection: AgentConnection, self: string): HostView {
  const sent = connection.lastSent;
  const recorded = where.connected && where.server === self;
  return {
    ...where,
    connected: true,
    server: self,
    remoteAddress: connection.remoteAddress,
    connectedSince: recorded ? where.connectedSince : null,
    lastServer: self,
    lastSeen: recorded ? where.lastSeen : new Date().toISOString(),
    lastSent:
      sent === undefined
        ? null
        : { seq: sent.seq, hosts: sent.hosts, algorithm: sent.algorithm, checkInterval: sent.checkInterval, at: new Date(sent.atMs).toISOString() },
    acked: connection.acked ?? null,
  };
}
