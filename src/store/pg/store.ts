/**
 * The PostgreSQL store (cluster mode): settings, the host registry and the server registry
 * shared by every management server, with LISTEN/NOTIFY as the message bus between them.
 *
 * PostgreSQL is the truth: a call resolves only after COMMIT, and nothing is cached as done
 * before it. When the database cannot be reached, calls reject at once with
 * StoreUnavailableError (statement and connect timeouts bound the first failure), status()
 * says so, and a background loop reconnects with back-off and jitter; once back, the change
 * feed delivers a full snapshot (`resync`) before any further change.
 */
import { randomUUID } from 'node:crypto';
import { Client, Pool, type ClientConfig, type PoolClient } from 'pg';
import type { BackoffOptions } from '../../util/backoff';
import { silentLogger, type Logger } from '../../log';
import { Availability } from './availability';
import { ChangeFeed } from './change-feed';
import { describeError, isUnavailable, PgStoreInputError, toStoreError } from './errors';
import { GroupCommit } from './group-commit';
import { PgListener } from './listener';
import {
  readHeldBy,
  readHolder,
  readLiveCounts,
  readWhereabouts,
  replaceConnections,
  writeConnections,
} from './connections';
import { NOTIFY_CHANNEL } from './notify';
import {
  claimCertified,
  insertIssued,
  readCertifiedPage,
  readCertifiedById,
  readRevoked,
  readRevokedById,
  recordCertified,
  resetCertified,
} from './certificates';
import { answerCalls, askCalls, CALLS_CHANNEL, collectCalls, endLostCalls, forgetAskedCalls, giveUpCalls, sweepExpiredCalls, takeCalls } from './calls';
import {
  addRunCounts,
  endActiveRun,
  grantMoves,
  insertRun,
  readLatestRun,
  deleteDrain,
  deleteHost,
  forgetServer,
  insertHosts,
  markServerStopped,
  readDrains,
  readHostsById,
  readServers,
  readSettings,
  readSnapshot,
  upsertDrain,
  updateHostZone,
  upsertServer,
  writeSettings,
  type HostRequest,
  type Queryable,
} from './queries';
import { RecoveryLoop } from './recovery';
import { INSTANCE_SETTING, migrate, REBALANCE_BUDGET_LOCK } from './schema';
import {
  DEFAULT_SERVER_DOWN_AFTER_MS,
  SettingsConflictError,
  StoreUnavailableError,
  type AskedCall,
  type CallAnswer,
  type AskRequest,
  type CertificateRegistry,
  type CertifiedRecord,
  type IssuedCertificate,
  type CallCarrier,
  type CarriedCall,
  type ConnectionChange,
  type ConnectionRecorder,
  type ConnectionRegistry,
  type DrainRecord,
  type ForgetServerResult,
  type HostQuery,
  type HostWhereabouts,
  type DrainRegistry,
  type RebalanceRegistry,
  type RebalanceRunRecord,
  type HostRecord,
  type ServerHeartbeat,
  type ServerRecord,
  type ServerRegistry,
  type Store,
  type StoreChange,
  type StoreSnapshot,
  type StoreStatus,
} from '../types';
import { SettingsError, type Settings } from '../../settings/types';

export interface PgStoreOptions {
  /** `postgres://user:password@host:port/database` (from `--store` or AGENTLB_STORE). */
  connectionString: string;
  log?: Logger;
  /** Tags this process's changes so its own announcements are skipped. Default: random. */
  instanceId?: string;
  /** Pooled connections, besides the one LISTEN connection. Default 4. */
  poolSize?: number;
  /** Bound on opening a connection (or waiting for a pooled one). Default 3 000 ms. */
  connectTimeoutMs?: number;
  /** Bound on one statement, enforced by the server and, 1 s later, by the client. Default 5 000 ms. */
  statementTimeoutMs?: number;
  /** Bound on the schema migration, including the wait for another server's. Default 60 000 ms. */
  migrationTimeoutMs?: number;
  /** How often the LISTEN connection is probed. Default 5 000 ms. */
  healthCheckIntervalMs?: number;
  /** Reconnection back-off. Default: first retry within 100 ms, ceiling 5 000 ms. */
  reconnect?: BackoffOptions;
  /** A server whose heartbeat is older than this is listed as down. */
  serverDownAfterMs?: number;
  /** Most registrations per group-commit statement. Default 1 000. */
  maxBatch?: number;
  now?: () => Date;
}

/** Rounds of insert-then-read for a batch whose guids other servers are inserting at once. */
const MAX_REGISTER_ROUNDS = 3;

export interface PgStoreStatistics {
  /** Statements sent to PostgreSQL by calls and the change feed (not the LISTEN connection). */
  statements: number;
  /** registerHost calls, and the group-commit flushes that served them. */
  registerCalls: number;
  registerBatches: number;
}

type Lifecycle = 'new' | 'opening' | 'open' | 'closed';

export class PgStore
  implements Store, ServerRegistry, DrainRegistry, ConnectionRegistry, ConnectionRecorder, RebalanceRegistry, CallCarrier, CertificateRegistry
{
  readonly instanceId: string;
  private readonly log: Logger;
  private readonly pool: Pool;
  private readonly clientConfig: ClientConfig;
  private readonly migrationTimeoutMs: number;
  private readonly serverDownAfterMs: number;
  private readonly availability: Availability;
  private readonly listener: PgListener;
  private readonly callListeners: { listener: PgListener; stop(): void }[] = [];
  private readonly feed: ChangeFeed;
  private readonly recovery: RecoveryLoop;
  private readonly registrations: GroupCommit<HostRequest, HostRecord>;
  private lifecycle: Lifecycle = 'new';
  private statements = 0;
  /** Every pooled statement goes through here, so statistics() counts round trips. */
  private readonly db: Queryable = {
    query: (text, values) => {
      this.statements += 1;
      return this.pool.query(text, values);
    },
  };

  constructor(options: PgStoreOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.log = options.log ?? silentLogger();
    this.migrationTimeoutMs = options.migrationTimeoutMs ?? 60_000;
    this.serverDownAfterMs = options.serverDownAfterMs ?? DEFAULT_SERVER_DOWN_AFTER_MS;
    const statementTimeoutMs = options.statementTimeoutMs ?? 5_000;
    this.clientConfig = {
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 3_000,
      statement_timeout: statementTimeoutMs,
      // The client-side bound catches a peer that stopped answering altogether.
      query_timeout: statementTimeoutMs + 1_000,
      keepAlive: true,
      // Named per instance, so an operator can tell the servers apart in pg_stat_activity.
      application_name: `agentlb/${this.instanceId}`,
    };
    this.pool = new Pool({
      ...this.clientConfig,
      max: options.poolSize ?? 4,
      // Tag the session before the pool hands it out: the change triggers read this tag.
      onConnect: async (client) => {
        await client.query('SELECT set_config($1, $2, false)', [INSTANCE_SETTING, this.instanceId]);
      },
    });
    // An idle pooled connection that dies (e.g. PostgreSQL restarting) is dropped by the
    // pool; the next call or the LISTEN connection reports the outage.
    this.pool.on('error', (err) => this.log.debug({ err: describeError(err) }, 'idle PostgreSQL connection closed'));
    this.availability = new Availability(options.now ?? (() => new Date()), 'store not open');
    this.listener = new PgListener(
      { ...this.clientConfig, application_name: `agentlb-listen/${this.instanceId}` },
      NOTIFY_CHANNEL,
      { healthCheckIntervalMs: options.healthCheckIntervalMs ?? 5_000 },
      {
        notification: (payload) => this.feed.notification(payload),
        lost: (err) => this.listenerLost(err),
      },
    );
    this.feed = new ChangeFeed(
      {
        instanceId: this.instanceId,
        readSettings: () => readSettings(this.db),
        readHostsById: (ids) => readHostsById(this.db, ids),
        readCertifiedById: (ids) => readCertifiedById(this.db, ids),
        readRevokedById: (ids) => readRevokedById(this.db, ids),
        readSnapshot: () => this.withClient((client) => readSnapshot(client)),
        whenAvailable: () => this.availability.whenAvailable(),
        readFailed: (err) => this.markDown(describeError(err)),
      },
      this.log,
    );
    this.recovery = new RecoveryLoop(
      () => this.recover(),
      (err, nextDelayMs) => {
        this.availability.down(describeError(err));
        this.log.debug({ err: describeError(err), nextDelayMs }, 'PostgreSQL still unavailable');
      },
      { baseMs: 100, capMs: 5_000, minMs: 50, ...options.reconnect },
    );
    this.registrations = new GroupCommit((batch) => this.flushRegistrations(batch), options.maxBatch ?? 1_000);
  }

  async open(): Promise<StoreSnapshot> {
    if (this.lifecycle !== 'new') throw new StoreUnavailableError(`PgStore cannot open: it is ${this.lifecycle}`);
    this.lifecycle = 'opening';
    try {
      await this.migrateSchema();
      // LISTEN before reading: a change committed after the snapshot is then announced.
      await this.listener.connect();
      const snapshot = await this.feed.initialSnapshot();
      if (this.lifecycle !== 'opening') throw new StoreUnavailableError('store is closed');
      // Lost meanwhile, the recovery loop (which only runs once open) would never restore it.
      if (!this.listener.connected) throw new StoreUnavailableError('LISTEN connection lost while opening');
      this.lifecycle = 'open';
      this.availability.up();
      return snapshot;
    } catch (err) {
      await this.listener.disconnect();
      this.availability.down(describeError(err));
      if (this.lifecycle === 'opening') this.lifecycle = 'new'; // the caller may try again
      throw toStoreError(err);
    }
  }

  async updateSettings(
    patch: Partial<Settings>,
    validate: (merged: Settings) => string | undefined,
    expectedVersion?: number,
  ): Promise<{ settings: Settings; settingsVersion: number }> {
    return this.call(() =>
      this.withClient(async (client) => {
        await client.query('BEGIN');
        try {
          // FOR UPDATE serialises concurrent changes across servers: the second one merges
          // into what the first committed, so changes to different keys are both kept.
          const current = await readSettings(client, { forUpdate: true });
          // Under the row lock: a change committed by another server is seen here.
          if (expectedVersion !== undefined && expectedVersion !== current.settingsVersion) {
            throw new SettingsConflictError(expectedVersion, current.settingsVersion);
          }
          const merged: Settings = { ...current.settings, ...definedEntries(patch) };
          const problem = validate(merged);
          if (problem !== undefined) throw new SettingsError(problem);
          const next = await writeSettings(client, merged);
          await client.query('COMMIT');
          this.feed.noteSettingsVersion(next.settingsVersion);
          return next;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    );
  }

  registerHost(guid: string, zone: string): Promise<HostRecord> {
    const refused = checkText('guid', guid) ?? checkText('zone', zone);
    if (refused) return Promise.reject(refused);
    return this.call(() => this.registrations.submit({ guid, zone }));
  }

  removeHost(id: number): Promise<HostRecord | undefined> {
    if (!Number.isSafeInteger(id) || id < 1) return Promise.resolve(undefined);
    return this.call(() => deleteHost(this.db, id));
  }

  moveHost(id: number, zone: string): Promise<HostRecord | undefined> {
    if (!Number.isSafeInteger(id) || id < 1) return Promise.resolve(undefined);
    const refused = checkText('zone', zone);
    if (refused) return Promise.reject(refused);
    return this.call(() => updateHostZone(this.db, id, zone));
  }

  /** Batches come from the server's ConnectionLedger (one per turn of the event loop). */
  recordConnections(server: string, changes: readonly ConnectionChange[]): Promise<void> {
    const refused = checkText('server', server);
    if (refused) return Promise.reject(refused);
    if (changes.length === 0) return Promise.resolve();
    return this.call(() => writeConnections(this.db, server, this.instanceId, changes));
  }

  /** Sets this process's recorded connections to exactly `held` (after writes were lost). */
  replaceConnections(server: string, held: readonly { hostId: number; remoteAddress: string }[]): Promise<void> {
    const refused = checkText('server', server);
    if (refused) return Promise.reject(refused);
    return this.call(() => replaceConnections(this.db, server, this.instanceId, held));
  }

  ask(asker: string, hostIds: readonly number[], request: AskRequest): Promise<AskedCall[]> {
    if (hostIds.length === 0) return Promise.resolve([]);
    return this.call(() => askCalls(this.db, this.serverDownAfterMs, asker, hostIds, request));
  }

  take(holder: string): Promise<CarriedCall[]> {
    return this.call(() => takeCalls(this.db, holder, this.instanceId));
  }

  answer(answers: readonly CallAnswer[]): Promise<void> {
    if (answers.length === 0) return Promise.resolve();
    return this.call(() => answerCalls(this.db, answers));
  }

  collect(asker: string): Promise<Map<number, unknown>> {
    return this.call(() => collectCalls(this.db, asker));
  }

  endLost(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.call(() => endLostCalls(this.db, this.serverDownAfterMs, ids));
  }

  giveUp(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.call(() => giveUpCalls(this.db, ids));
  }

  /**
   * A LISTEN connection of its own for call wake-ups (the change feed's resyncs on loss do
   * not concern calls): on loss it reconnects after a second and wakes both sides, which read
   * their rows again, so no wake-up lost meanwhile leaves a call waiting.
   */
  async listen(address: string, wake: (kind: 'asked' | 'answered') => void): Promise<void> {
    let retry: NodeJS.Timeout | undefined;
    const reconnect = (): void => {
      retry = setTimeout(() => {
        retry = undefined;
        if (this.lifecycle === 'closed') return;
        listener.connect().then(() => {
          wake('asked');
          wake('answered');
        }, reconnect);
      }, 1_000);
      retry.unref();
    };
    const listener = new PgListener(
      { ...this.clientConfig, application_name: `agentlb-calls/${this.instanceId}` },
      CALLS_CHANNEL,
      { healthCheckIntervalMs: 5_000 },
      {
        notification: (payload) => {
          let notice: { to?: unknown; kind?: unknown };
          try {
            notice = JSON.parse(payload) as { to?: unknown; kind?: unknown };
          } catch {
            return;
          }
          if (notice.to === address && (notice.kind === 'asked' || notice.kind === 'answered')) wake(notice.kind);
        },
        lost: () => reconnect(),
      },
    );
    this.callListeners.push({ listener, stop: () => clearTimeout(retry) });
    await listener.connect();
  }

  sweepExpired(limit: number): Promise<number> {
    return this.call(() => sweepExpiredCalls(this.db, limit));
  }

  forgetAsked(asker: string): Promise<void> {
    return this.call(() => forgetAskedCalls(this.db, asker));
  }

  async closeCalls(): Promise<void> {
    const listeners = this.callListeners.splice(0);
    for (const entry of listeners) entry.stop();
    await Promise.all(listeners.map((entry) => entry.listener.close()));
  }

  holderOf(hostId: number): Promise<string | null> {
    if (!Number.isSafeInteger(hostId) || hostId < 1) return Promise.resolve(null);
    return this.call(() => readHolder(this.db, this.serverDownAfterMs, hostId));
  }

  hostsHeldBy(server: string): Promise<number[]> {
    return this.call(() => readHeldBy(this.db, this.serverDownAfterMs, server));
  }

  liveCounts(): Promise<Map<string, number>> {
    return this.call(() => readLiveCounts(this.db, this.serverDownAfterMs));
  }

  listHosts(query: HostQuery): Promise<HostWhereabouts[]> {
    return this.call(() => readWhereabouts(this.db, this.serverDownAfterMs, query));
  }

  subscribe(listener: (change: StoreChange) => void): () => void {
    return this.feed.subscribe(listener);
  }

  heartbeat(beat: ServerHeartbeat): Promise<void> {
    const refused = checkText('address', beat.address) ?? checkHeartbeat(beat);
    if (refused) return Promise.reject(refused);
    // Canonical form: Date.parse accepts formats PostgreSQL might read differently.
    const startedAt = new Date(beat.startedAt).toISOString();
    return this.call(() => upsertServer(this.db, { ...beat, startedAt }, this.instanceId));
  }

  listServers(): Promise<ServerRecord[]> {
    return this.call(() => readServers(this.db, this.serverDownAfterMs));
  }

  markStopped(address: string): Promise<void> {
    const refused = checkText('address', address);
    if (refused) return Promise.reject(refused);
    return this.call(() => markServerStopped(this.db, address, this.instanceId));
  }

  forgetServer(address: string): Promise<ForgetServerResult> {
    const refused = checkText('address', address);
    if (refused) return Promise.reject(refused);
    return this.call(() => this.withClient((client) => forgetServer(client, this.serverDownAfterMs, address)));
  }

  setDrain(address: string, rate: number, timeout?: number): Promise<DrainRecord> {
    const refused = checkText('address', address) ?? checkRate(rate) ?? checkTimeout(timeout);
    if (refused) return Promise.reject(refused);
    return this.call(() => upsertDrain(this.db, address, rate, timeout));
  }

  clearDrain(address: string): Promise<DrainRecord | undefined> {
    const refused = checkText('address', address);
    if (refused) return Promise.reject(refused);
    return this.call(() => deleteDrain(this.db, address));
  }

  listDrains(): Promise<DrainRecord[]> {
    return this.call(() => readDrains(this.db));
  }

  startRun(run: { source: 'manual' | 'auto'; rate: number; zone: string | null; toMove: number }): Promise<RebalanceRunRecord | undefined> {
    const refused = checkRate(run.rate) ?? (run.zone === null ? undefined : checkText('zone', run.zone));
    if (refused) return Promise.reject(refused);
    return this.call(() => insertRun(this.db, run));
  }

  endRun(reason: 'done' | 'stopped' | 'settled', source?: 'manual' | 'auto'): Promise<RebalanceRunRecord | undefined> {
    return this.call(() => endActiveRun(this.db, reason, source));
  }

  countRun(id: number, moved: number, notMoved: number): Promise<void> {
    return this.call(() => addRunCounts(this.db, id, moved, notMoved));
  }

  latestRun(): Promise<RebalanceRunRecord | undefined> {
    return this.call(() => readLatestRun(this.db));
  }

  takeRebalanceMoves(want: number, rate: number): Promise<number> {
    if (want <= 0) return Promise.resolve(0);
    return this.call(() =>
      this.withClient(async (client) => {
        await client.query('BEGIN');
        try {
          await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...REBALANCE_BUDGET_LOCK]);
          const granted = await grantMoves(client, want, rate);
          await client.query('COMMIT');
          return granted;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    );
  }

  claimCertificate(record: CertifiedRecord & { serial: string; notAfter: string }): Promise<boolean> {
    const refused = checkText('guid', record.guid);
    if (refused) return Promise.reject(refused);
    return this.call(() => claimCertified(this.db, record));
  }

  recordCertificate(record: CertifiedRecord & { serial: string; notAfter: string }): Promise<void> {
    const refused = checkText('guid', record.guid);
    if (refused) return Promise.reject(refused);
    return this.call(() => recordCertified(this.db, record));
  }

  resetCertificate(guid: string): Promise<boolean> {
    const refused = checkText('guid', guid);
    if (refused) return Promise.reject(refused);
    return this.call(() => resetCertified(this.db, guid));
  }

  listCertified(after: number, limit: number): Promise<{ records: CertifiedRecord[]; next: number | undefined }> {
    return this.call(() => readCertifiedPage(this.db, after, limit));
  }

  recordIssued(entry: IssuedCertificate, issuedBy: string): Promise<void> {
    const refused = checkText('name', entry.name);
    if (refused) return Promise.reject(refused);
    return this.call(() => insertIssued(this.db, entry, issuedBy));
  }

  listRevoked(): Promise<string[]> {
    return this.call(() => readRevoked(this.db));
  }

  status(): StoreStatus {
    return this.availability.status();
  }

  statistics(): PgStoreStatistics {
    const { batches, calls } = this.registrations.counts;
    return { statements: this.statements, registerCalls: calls, registerBatches: batches };
  }

  async close(): Promise<void> {
    if (this.lifecycle === 'closed') return;
    this.lifecycle = 'closed';
    const closed = new StoreUnavailableError('store is closed');
    this.recovery.stop();
    this.feed.close();
    this.availability.close(closed);
    this.registrations.rejectWaiting(closed);
    await this.closeCalls();
    await this.listener.close();
    await this.pool.end();
  }

  /** Run a call: fail fast while unavailable; map an outage to StoreUnavailableError. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    this.assertUsable();
    try {
      return await operation();
    } catch (err) {
      // A StoreUnavailableError here came from our own gate: the outage is already known.
      if (isUnavailable(err) && !(err instanceof StoreUnavailableError)) this.markDown(describeError(err));
      throw toStoreError(err);
    }
  }

  private assertUsable(): void {
    if (this.lifecycle !== 'open') throw new StoreUnavailableError(this.lifecycle === 'closed' ? 'store is closed' : 'store is not open');
    if (!this.availability.isAvailable) {
      const { since, lastError } = this.availability.status();
      throw new StoreUnavailableError(`PostgreSQL unavailable since ${since}: ${lastError ?? 'unknown error'}`);
    }
  }

  /** A pooled connection for a transaction; destroyed rather than reused after an outage. */
  private async withClient<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    let broken = false;
    try {
      return await work({
        query: (text, values) => {
          this.statements += 1;
          return client.query(text, values);
        },
      });
    } catch (err) {
      broken = isUnavailable(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async flushRegistrations(batch: readonly HostRequest[]): Promise<HostRecord[]> {
    this.assertUsable(); // the store may have gone down while this batch waited
    const firstZone = new Map<string, string>();
    for (const { guid, zone } of batch) if (!firstZone.has(guid)) firstZone.set(guid, zone);
    const found = new Map<string, HostRecord>();
    let missing: HostRequest[] = [...firstZone].map(([guid, zone]) => ({ guid, zone }));
    for (let round = 0; missing.length > 0; round += 1) {
      if (round === MAX_REGISTER_ROUNDS) {
        throw new Error(`could not register ${missing.length} hosts: inserted and removed concurrently ${round} times`);
      }
      for (const host of await insertHosts(this.db, missing)) found.set(host.guid, host);
      missing = missing.filter((r) => !found.has(r.guid));
    }
    // Every guid of the batch is in `found` here (the loop only ends when none is missing).
    return batch.map((r) => found.get(r.guid) as HostRecord);
  }

  private async migrateSchema(): Promise<void> {
    const client = new Client({
      ...this.clientConfig,
      statement_timeout: this.migrationTimeoutMs,
      query_timeout: this.migrationTimeoutMs + 1_000,
      application_name: `agentlb-migrate/${this.instanceId}`,
    });
    // A connection error after connect() would otherwise be an unhandled 'error' event.
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { applied, schemaVersion } = await migrate(client);
      if (applied.length > 0) this.log.info({ event: 'schema_migrated', applied, schemaVersion }, 'PostgreSQL schema migrated');
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private listenerLost(err: Error): void {
    // Notifications may be lost from now until LISTEN is back: resync before anything else.
    this.feed.requireResync('LISTEN connection lost');
    this.markDown(`LISTEN connection lost: ${describeError(err)}`);
  }

  private markDown(reason: string): void {
    if (this.lifecycle !== 'open') return;
    if (this.availability.down(reason)) this.log.warn({ event: 'store_unavailable', reason }, 'PostgreSQL unavailable; reconnecting in the background');
    this.recovery.start();
  }

  private async recover(): Promise<void> {
    if (!this.listener.connected) await this.listener.connect();
    await this.db.query('SELECT 1');
    if (!this.listener.connected) throw new Error('LISTEN connection lost again during recovery');
    if (this.availability.up()) this.log.info({ event: 'store_available' }, 'PostgreSQL available again');
  }
}

/** `patch` without keys whose value is undefined, so they cannot blank a setting. */
function definedEntries(patch: Partial<Settings>): Partial<Settings> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<Settings>;
}

/** PostgreSQL text cannot hold NUL; refuse it per call so it cannot fail a whole batch. */
function checkText(field: string, value: string): PgStoreInputError | undefined {
  if (typeof value !== 'string' || value.length === 0) return new PgStoreInputError(`${field} must be a non-empty string`);
  if (value.includes('\u0000')) return new PgStoreInputError(`${field} must not contain a NUL character`);
  return undefined;
}

function checkRate(rate: number): PgStoreInputError | undefined {
  return Number.isSafeInteger(rate) && rate > 0 && rate <= 2_147_483_647 ? undefined : new PgStoreInputError(`rate must be a positive integer, got ${rate}`);
}

/** A deadline the column holds: 1 ms .. 2^31-1 ms. */
function checkTimeout(timeout: number | undefined): PgStoreInputError | undefined {
  if (timeout === undefined) return undefined;
  const ms = Math.round(timeout * 1000);
  return Number.isFinite(timeout) && ms >= 1 && ms <= 2_147_483_647 ? undefined : new PgStoreInputError(`timeout must be a positive number of seconds, got ${timeout}`);
}

function checkHeartbeat(beat: ServerHeartbeat): PgStoreInputError | undefined {
  if (!Number.isSafeInteger(beat.agents) || beat.agents < 0) return new PgStoreInputError(`agents must be a non-negative integer, got ${beat.agents}`);
  if (typeof beat.startedAt !== 'string' || Number.isNaN(Date.parse(beat.startedAt))) {
    return new PgStoreInputError(`startedAt must be an ISO-8601 time, got ${JSON.stringify(beat.startedAt)}`);
  }
  return undefined;
}
