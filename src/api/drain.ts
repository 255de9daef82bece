/**
 * The admin API's drain calls as both ends see them (POST/GET /api/servers/drain, POST
 * /api/servers/undrain): limits and defaults the server applies and the CLI checks first, and
 * the answers the server builds (src/server/drain/) and the CLI prints.
 */

/** Agents handed over per second when a drain names no rate (`--drain-rate`). */
export const DEFAULT_DRAIN_RATE = 50;
export const MAX_DRAIN_RATE = 100_000;
/** Longest drain deadline (`--timeout`), seconds: a week. */
export const MAX_DRAIN_TIMEOUT_SECONDS = 604_800;

export type DrainErrorCode = 'no_self_address' | 'not_in_host';

/** A drain request that cannot be applied; the route answers 400 with `message`. */
export class DrainError extends Error {
  constructor(
    readonly code: DrainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DrainError';
  }
}

/** Where a drain is kept: this server only (embedded store), or the cluster (PostgreSQL). */
export type DrainScope = 'server' | 'cluster';

/** A drain as the API shows it (the store's DrainRecord). */
export interface DrainEntry {
  /** The server's address exactly as written in the `host` setting. */
  address: string;
  /** Most agents it hands over per second. */
  rate: number;
  /** ISO-8601 time the drain began. */
  since: string;
  /** Seconds after `since` when the rest are handed over at once; absent: no deadline. */
  timeout?: number;
}

export interface DrainOutcome extends DrainEntry {
  /** Whether the address is this server's own. */
  self: boolean;
  scope: DrainScope;
}

export interface UndrainOutcome {
  address: string;
  wasDraining: boolean;
  self: boolean;
  scope: DrainScope;
}

export interface DrainStatus {
  scope: DrainScope;
  /** This server's entry of `host`, or null when it cannot tell (use --advertise). */
  self: string | null;
  /** Every drain this server knows of; `timedOut` once past its deadline (`since` + `timeout`). */
  draining: (DrainEntry & { self: boolean; timedOut: boolean })[];
  /** This server's own hand-over; `deadline` (ISO-8601) when the drain has a timeout. */
  handover: { active: boolean; rate: number | null; agents: number; handedOver: number; deadline: string | null; timedOut: boolean };
}
