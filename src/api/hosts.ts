/**
 * The admin API's host calls as both ends see them (GET /api/hosts, DELETE /api/hosts/ID):
 * the server builds these values, the CLI reads them.
 */

/** A registered host (the store's HostRecord, as the API shows it). */
export interface HostEntry {
  id: number;
  guid: string;
  zone: string;
  /** ISO-8601 time of first registration. */
  registeredAt: string;
}

/** The largest page of GET /api/hosts (`limit`): a bigger one is what paging is for avoiding. */
export const MAX_PAGE = 10_000;

/** The last `hosts` frame sent on a connection this server holds. */
export interface LastSent {
  seq: number;
  hosts: readonly string[];
  algorithm: string;
  checkInterval: number;
  /** ISO-8601 time it was sent. */
  at: string;
}

/**
 * One host of GET /api/hosts: where it is connected (fleet-wide: the store's
 * HostWhereabouts, which this repeats field for field, as api/ does not import store/), and
 * what the server asked sent it.
 */
export interface HostView extends HostEntry {
  /** Connected to a live server of the fleet. */
  connected: boolean;
  /** The holding server's registry address while connected, else null. */
  server: string | null;
  /** ISO-8601 time the current connection was taken; null when not connected. */
  connectedSince: string | null;
  /** The remote address the holding server sees; null when not connected. */
  remoteAddress: string | null;
  /** The server of its latest connection (the current one while connected); null if it never connected. */
  lastServer: string | null;
  /** ISO-8601 time it was last known connected (see HostWhereabouts.lastSeen); null if never. */
  lastSeen: string | null;
  /** The last list sent on its current connection, when this server holds it; else null. */
  lastSent: LastSent | null;
  /** Whether that frame was acked ok; null while unacked, when none was sent, or held elsewhere. */
  acked: boolean | null;
}

/**
 * GET /api/hosts answers with this header when the connections of other servers are not
 * known (cluster mode with the database unavailable): the hosts and this server's own
 * connections come from memory, every other host reads `connected: false`.
 */
export const HOST_VIEW_HEADER = 'x-agentlb-host-view';
export type HostViewScope = 'fleet' | 'this-server';

/** Whose agents `agentsUpdated` counts: the whole fleet (one server), or this server's only. */
export type UpdateScope = 'fleet' | 'server';

/** 200 of DELETE /api/hosts/ID. */
export interface RemovedHost {
  removed: HostEntry;
  /** Agents sent a new list because the removal moved their position. */
  agentsUpdated: number;
  /** `server`: counts this server's agents; every other server re-sends to its own. */
  scope: UpdateScope;
}

/** 409 of DELETE /api/hosts/ID: the host is connected (to `server`). */
export interface HostConnectedError {
  error: string;
  hostId: number;
  guid: string;
  server: string;
}
