/**
 * Settings (their types: src/settings/types.ts) and the host registry, behind one interface
 * with two implementations:
 * the embedded data directory (file-store.ts) and PostgreSQL (pg/store.ts, cluster mode).
 */
import type { Settings } from '../settings/types';

export interface HostRecord {
  /** Unique, never reused; ascending in registration order within one store. */
  id: number;
  guid: string;
  zone: string;
  /** ISO-8601 time of first registration. */
  registeredAt: string;
}

export interface StoreSnapshot {
  settings: Settings;
  /** Incremented on every committed settings change; sent as `seq` in `hosts` frames. */
  settingsVersion: number;
  hosts: HostRecord[];
}

/** A change committed by another server (cluster mode); the file store never emits. */
export type StoreChange =
  | { kind: 'settings'; settings: Settings; settingsVersion: number }
  | { kind: 'host-added'; host: HostRecord }
  | { kind: 'host-removed'; id: number }
  /** A known host registered again with another zone (its record as now committed). */
  | { kind: 'host-moved'; host: HostRecord }
  /** Notifications may have been missed: replace all state with this snapshot. */
  | { kind: 'resync'; snapshot: StoreSnapshot }
  /** The drains changed (DrainRegistry): read them again with listDrains(). */
  | { kind: 'drains' }
  /** The rebalance run changed (RebalanceRegistry): read it again with latestRun(). */
  | { kind: 'rebalance' }
  /** Guids' certificate records changed (CertificateRegistry), as now committed. */
  | { kind: 'certified'; records: CertifiedRecord[] }
  /** Certificates revoked (CertificateRegistry): their serials. */
  | { kind: 'revoked'; serials: string[] };

export interface Store {
  /** Open (creating or migrating as needed) and return the committed state. */
  open(): Promise<StoreSnapshot>;
  /**
   * Merge `patch` into the committed settings as one atomic step (a transaction in
   * PostgreSQL, so two servers changing different keys lose neither change), run `validate`
   * on the merged result, and commit it as the next version. When `validate` returns an error
   * message nothing is written and the promise rejects with a SettingsError carrying it.
   * Resolves once durable. With `expectedVersion` (an admin's If-Match), the change commits
   * only if the committed version is still that one, checked inside the same atomic step;
   * otherwise nothing is written and it rejects with a SettingsConflictError.
   */
  updateSettings(
    patch: Partial<Settings>,
    validate: (merged: Settings) => string | undefined,
    expectedVersion?: number,
  ): Promise<{ settings: Settings; settingsVersion: number }>;
  /**
   * Register `guid` in `zone`, or return the existing record if the guid is known (its zone
   * is not changed). Resolves once durable. Many concurrent calls may be group-committed.
   */
  registerHost(guid: string, zone: string): Promise<HostRecord>;
  /**
   * Move a known host to `zone` (its agent said hello with another zone); resolves to the
   * updated record, or undefined if the id is unknown. Resolves once durable.
   */
  moveHost(id: number, zone: string): Promise<HostRecord | undefined>;
  /** Remove a host by id; resolves to the removed record, or undefined if unknown. */
  removeHost(id: number): Promise<HostRecord | undefined>;
  /** Subscribe to changes made elsewhere; returns an unsubscribe function. */
  subscribe(listener: (change: StoreChange) => void): () => void;
  close(): Promise<void>;
  /**
   * Whether the backing database is reachable, for /healthz and metrics. Optional: the file
   * store is always available once open.
   */
  status?(): StoreStatus;
}

export interface StoreStatus {
  available: boolean;
  /** ISO-8601 time of the last change of `available`. */
  since: string;
  /** Why the store is (or last was) unavailable. */
  lastError?: string;
}

/** How often a management server records itself in the server registry. */
export const DEFAULT_SERVER_HEARTBEAT_MS = 10_000;
/** A server whose last heartbeat is older than this is listed as down (three missed beats). */
export const DEFAULT_SERVER_DOWN_AFTER_MS = 3 * DEFAULT_SERVER_HEARTBEAT_MS;

export interface ServerHeartbeat {
  /** The address agents use for this server (`host` setting entry); the registry key. */
  address: string;
  /** ISO-8601 time the server process started. */
  startedAt: string;
  /** Agents connected to this server now. */
  agents: number;
}

/** `stopped`: stopped cleanly (SIGTERM); `down`: silent for the down-after threshold. */
export type ServerState = 'up' | 'down' | 'stopped';

export interface ServerRecord extends ServerHeartbeat {
  /** ISO-8601 time of the last heartbeat (the registry's clock, not the server's). */
  heartbeatAt: string;
  /** state === 'up': not stopped, and the last heartbeat no older than the down-after threshold. */
  up: boolean;
  state: ServerState;
  /** ISO-8601 time of its clean stop, while stopped; else null. */
  stoppedAt: string | null;
}

export type ForgetServerResult = { kind: 'forgotten'; server: ServerRecord } | { kind: 'unknown' } | { kind: 'up'; server: ServerRecord };

/** The management-server registry (`agentlb servers`, `GET /api/servers`). */
export interface ServerRegistry {
  /** Insert or refresh this server's record (no longer stopped); resolves once durable. */
  heartbeat(beat: ServerHeartbeat): Promise<void>;
  /** Every recorded server, ordered by address, with its state derived from heartbeat age. */
  listServers(): Promise<ServerRecord[]>;
  /** This server (`address`) stopped cleanly: listed `stopped` at once, holding no host. */
  markStopped(address: string): Promise<void>;
  /** Removes a down or stopped server's record (`up`: refused, nothing changed). */
  forgetServer(address: string): Promise<ForgetServerResult>;
}

/** A management server told to drain (`agentlb servers drain`, `POST /api/servers/drain`). */
export interface DrainRecord {
  /** The server's address exactly as written in the `host` setting (the avoid list's key). */
  address: string;
  /** Most agents it hands over per second. */
  rate: number;
  /** ISO-8601 time the drain began (a new rate keeps it). */
  since: string;
  /**
   * Seconds after `since` when the agents not handed over yet are all handed over at once and
   * the drain is reported timed out (`servers drain --timeout`); absent: no deadline.
   */
  timeout?: number;
}

/**
 * The drains of the whole fleet, for a store shared by several servers (cluster mode), so
 * every server sends a draining server last. Changes made by other servers arrive through
 * `subscribe` as a `drains` StoreChange. Optional: with the embedded store each server keeps
 * its own drains in memory.
 */
export interface DrainRegistry {
  /**
   * Begins a drain, or changes its rate; resolves to the record once durable. `timeout`
   * (seconds) sets the deadline; undefined keeps the one it has (none for a new drain).
   */
  setDrain(address: string, rate: number, timeout?: number): Promise<DrainRecord>;
  /** Ends a drain; resolves to the ended record, or undefined when `address` was not draining. */
  clearDrain(address: string): Promise<DrainRecord | undefined>;
  /** Every drain, ordered by address. */
  listDrains(): Promise<DrainRecord[]>;
}

/**
 * Where each host's connection is, for the whole fleet: the registry model of the
 * cluster-wide host view (`GET /api/hosts`), the remove guard, call routing and rebalancing.
 *
 * Cluster mode (PgStore): each server records the connections it takes and loses in the
 * `host_connections` table, group-committed (one statement per turn of the event loop, not
 * one per handshake), and whether a recorded connection is live is derived from its holder's
 * server record when read: a server that stopped, or died and is listed down, holds nothing,
 * without anyone rewriting its rows. Embedded store (LocalConnectionRegistry): this process's
 * own connections, in memory. A connection taken in the last moments may not be recorded yet
 * (at most one flush, normally milliseconds).
 */
export interface ConnectionRegistry {
  /** The registry address of the live server holding host `hostId`'s connection, or null. */
  holderOf(hostId: number): Promise<string | null>;
  /** The ids of the hosts whose live connection `server` holds, ascending. */
  hostsHeldBy(server: string): Promise<number[]>;
  /** Live connections per server address (servers holding none are absent). */
  liveCounts(): Promise<Map<string, number>>;
  /** Registered hosts with where they are connected, ascending by id, filtered and paged. */
  listHosts(query: HostQuery): Promise<HostWhereabouts[]>;
}

/** The writing half: what a server tells the registry about its own connections. */
export interface ConnectionRecorder {
  /**
   * Records a batch of this server's (`server`, its registry address) connection changes in
   * one step; at most one change per host. Resolves once durable.
   */
  recordConnections(server: string, changes: readonly ConnectionChange[]): Promise<void>;
  /**
   * Sets this server's record to exactly `held` (its connections now), in one step: after
   * writes were lost to an outage. Resolves once durable.
   */
  replaceConnections(server: string, held: readonly { hostId: number; remoteAddress: string }[]): Promise<void>;
}

export type ConnectionChange =
  | { hostId: number; held: true; remoteAddress: string }
  | { hostId: number; held: false };

/** A page of GET /api/hosts. Every field optional: no filter, every host. */
export interface HostQuery {
  /** Only hosts whose live connection this server (registry address) holds. */
  server?: string;
  zone?: string;
  connected?: boolean;
  /** Only hosts with a larger id (keyset paging). */
  after?: number;
  /** At most this many hosts. */
  limit?: number;
}

/** A registered host and its connection, as the fleet sees it. */
export interface HostWhereabouts extends HostRecord {
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
  /**
   * ISO-8601 time it was last known connected: while connected, the holder's last heartbeat
   * (or the connect, if later); after a clean disconnect, its time; after its server stopped
   * or died, that server's stop or last heartbeat. Null if it never connected.
   */
  lastSeen: string | null;
}

/** A rebalance run as stored (src/server/rebalance/board.ts uses the same shape). */
export interface RebalanceRunRecord {
  id: number;
  source: 'manual' | 'auto';
  rate: number;
  zone: string | null;
  startedAt: string;
  endedAt: string | null;
  endReason: 'done' | 'stopped' | 'settled' | null;
  toMove: number;
  moved: number;
  notMoved: number;
}

/**
 * The rebalance of the whole fleet (cluster mode): one run at a time, seen by every server
 * (announced as `rebalance`), with the counts every server adds to, and the fleet's shared
 * budget of moves per second. Optional: with the embedded store the server keeps its run in
 * memory and paces itself.
 */
export interface RebalanceRegistry {
  /** Starts a run unless one is active (then undefined); a run with nothing to move is done at once. */
  startRun(run: { source: 'manual' | 'auto'; rate: number; zone: string | null; toMove: number }): Promise<RebalanceRunRecord | undefined>;
  /** Ends the active run (of `source`, when given); the ended run, or undefined. */
  endRun(reason: 'done' | 'stopped' | 'settled', source?: 'manual' | 'auto'): Promise<RebalanceRunRecord | undefined>;
  /** Adds outcomes to run `id`; ends it (done) once they reach its toMove. */
  countRun(id: number, moved: number, notMoved: number): Promise<void>;
  /** The latest run, active or not. */
  latestRun(): Promise<RebalanceRunRecord | undefined>;
  /** Grants up to `want` moves so the fleet moves at most `rate` in any sliding second. */
  takeRebalanceMoves(want: number, rate: number): Promise<number>;
}


/** If-Match lost: the settings were changed since the version the caller read (HTTP 412). */
export class SettingsConflictError extends Error {
  readonly code = 'settings_conflict';
  constructor(
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super(`the settings are at version ${currentVersion}, not ${expectedVersion} as If-Match expects: read them again (GET /api/settings) and retry`);
    this.name = 'SettingsConflictError';
  }
}

/** The store cannot be reached (cluster mode: PostgreSQL down); callers answer 503. */
export class StoreUnavailableError extends Error {
  readonly code = 'store_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A write the data directory's file system had no room for (ENOSPC, or EDQUOT: the user's
 * quota). Nothing committed is lost, and nothing was changed by the failed write; callers
 * answer 507 (settings) or `server_busy` (registrations). `code` is the system's own.
 */
export class StoreFullError extends Error {
  constructor(
    readonly code: 'ENOSPC' | 'EDQUOT',
    /** The file that could not be written. */
    readonly file: string,
    options: { cause: unknown },
  ) {
    super(`the data directory's file system is full (${code}: ${code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded'}): cannot write ${file}`, options);
    this.name = 'StoreFullError';
  }
}

/** `error` as a StoreFullError when it is a full disk or quota; else `error` itself. */
export function asStoreFull(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? new StoreFullError(code, file, { cause: error }) : error;
}

/** A call asked of another server (README "Calls", cluster routing), as the holder takes it. */
export interface CarriedCall {
  id: number;
  hostId: number;
  /** The server that asked. */
  asker: string;
  /** The address of the client that asked the asker (null: a row from a version-7 server). */
  caller: string | null;
  method: string;
  /** undefined: the call carries no params. */
  params: unknown;
  /** What is left of the call's timeout when it was taken (the trip through the store used the rest). */
  timeoutMs: number;
}

/** A call to be asked of the holders of its hosts. */
export interface AskRequest {
  method: string;
  params: unknown;
  timeoutMs: number;
  /** The address of the client that asked (the holder logs it). */
  caller: string;
  /** How long after asking the row may be swept (the asker has reported the call by then). */
  keepMs: number;
}

/** A carried call's line, as its holder writes it back. */
export interface CallAnswer {
  id: number;
  line: unknown;
}

/** A call written to the holder of its host: its id, the host and the holder's address. */
export interface AskedCall {
  id: number;
  hostId: number;
  holder: string;
}

/**
 * Calls carried between the servers of a cluster through the store (PostgreSQL): the asker
 * writes them, the holder takes each at most once and writes its line back.
 */
export interface CallCarrier {
  /**
   * Asks the live holders of `hostIds` (other servers than `asker`) to run the call: one
   * statement for the batch, a wake-up per holder. Hosts with no live holder elsewhere are
   * absent from the answer.
   */
  ask(asker: string, hostIds: readonly number[], request: AskRequest): Promise<AskedCall[]>;
  /**
   * The calls asked of this process (`holder`, this instance), each returned once, ever; a call
   * whose timeout passed before it was taken is never returned (its asker reports it timed out).
   */
  take(holder: string): Promise<CarriedCall[]>;
  /**
   * Writes the lines of `answers` for their askers and wakes each asker once: one statement
   * for the batch; a call given up meanwhile keeps its end.
   */
  answer(answers: readonly CallAnswer[]): Promise<void>;
  /** The lines answered for `asker` (any of its calls), deleting their rows. */
  collect(asker: string): Promise<Map<number, unknown>>;
  /**
   * Ends those of `ids` still open whose holder is no longer live (that process is gone or
   * stopped): never run after this, an answer from it is dropped; returns their ids.
   */
  endLost(ids: readonly number[]): Promise<number[]>;
  /** Ends those of `ids` still open (deadline passed, caller gone); returns the ids it ended. */
  giveUp(ids: readonly number[]): Promise<number[]>;
  /**
   * Deletes at most `limit` rows past their expiry (left by askers that died, or that could
   * not give them up): oldest first, along an index; returns how many.
   */
  sweepExpired(limit: number): Promise<number>;
  /** Deletes the calls `asker` asked (a previous process at this address, gone with its callers). */
  forgetAsked(asker: string): Promise<void>;
  /** Wake-ups for `address`: calls asked of it, or answered for it; also after a reconnect. */
  listen(address: string, wake: (kind: 'asked' | 'answered') => void): Promise<void>;
  closeCalls(): Promise<void>;
}

/** The certificate a guid holds (trust on first enrolment), as the cluster store keeps it. */
export interface CertifiedRecord {
  guid: string;
  /** Hex serial (normal form) of its newest certificate; null once an operator reset it. */
  serial: string | null;
  /** ISO-8601 end of that certificate's validity; null when reset. */
  notAfter: string | null;
}

/** A certificate a CA signed, as recorded for `agentlb ca revoke --name` to find. */
export interface IssuedCertificate {
  /** Hex serial, normal form (lower case, no leading zeros). */
  serial: string;
  /** Its CN: a guid for an agent. */
  name: string;
  /** ISO-8601 end of validity. */
  notAfter: string;
}

/**
 * The certificates of the whole fleet (cluster mode, PostgreSQL): which guid holds which
 * certificate (trust on first enrolment holds cluster-wide: `claimCertificate` lets one
 * server win a guid), what was issued, and what is revoked. Changes made elsewhere arrive
 * through `subscribe` as `certified` and `revoked` StoreChanges; after a `resync` read them
 * again whole. Optional: the embedded store keeps none of this (the data dir's
 * certificates.log and the CA dir's files do).
 */
export interface CertificateRegistry {
  /** Records `record` for its guid only if the guid holds none (never had, or reset); true when this call won it. */
  claimCertificate(record: CertifiedRecord & { serial: string; notAfter: string }): Promise<boolean>;
  /** Records the guid's newest certificate (seen over TLS, or renewed), whatever it held. */
  recordCertificate(record: CertifiedRecord & { serial: string; notAfter: string }): Promise<void>;
  /** Operator reset: the guid may enrol with the token again; false when it held none. */
  resetCertificate(guid: string): Promise<boolean>;
  /**
   * The guids holding a certificate now, a page at a time from `after` (0: the start); `next`
   * is where the next page starts, undefined after the last one.
   */
  listCertified(after: number, limit: number): Promise<{ records: CertifiedRecord[]; next: number | undefined }>;
  /** One signed certificate, by `issuedBy` (a server's address). */
  recordIssued(entry: IssuedCertificate, issuedBy: string): Promise<void>;
  /** Every serial revoked. */
  listRevoked(): Promise<string[]>;
}
