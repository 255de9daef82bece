/**
 * Every statement PgStore sends, with the mapping from rows to store values. Each function
 * takes the connection to use, so the store decides pooling, counting and transactions.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import {
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  type DrainRecord,
  type HostRecord,
  type ServerHeartbeat,
  type ServerRecord,
  type Settings,
  type StoreSnapshot,
} from './types';
import type { AlgorithmName } from '../lb/types';

export interface Queryable {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

export interface VersionedSettings {
  settings: Settings;
  settingsVersion: number;
}

export interface HostRequest {
  guid: string;
  zone: string;
}

interface SettingsRow {
  host: string;
  algorithm: string;
  check_interval: number;
  /** bigint arrives as a string. */
  version: string;
}

interface HostRow {
  id: string;
  guid: string;
  zone: string;
  registered_at: Date;
}

const SETTINGS_COLUMNS = 'host, algorithm, check_interval, version';
const HOST_COLUMNS = 'id, guid, zone, registered_at';

function toSettings(row: SettingsRow): VersionedSettings {
  return {
    settings: {
      [SETTING_HOST]: row.host,
      // Only validated values are ever written (updateSettings validates before UPDATE).
      [SETTING_ALGORITHM]: row.algorithm as AlgorithmName,
      [SETTING_CHECK_INTERVAL]: row.check_interval,
    },
    settingsVersion: Number(row.version),
  };
}

function toHost(row: HostRow): HostRecord {
  return { id: Number(row.id), guid: row.guid, zone: row.zone, registeredAt: row.registered_at.toISOString() };
}

function onlySettingsRow(result: QueryResult<SettingsRow>): VersionedSettings {
  const row = result.rows[0];
  // The row is created by migration 1 and never deleted by agentlb.
  if (!row) throw new Error('the settings row is missing: the schema was altered outside agentlb');
  return toSettings(row);
}

export async function readSettings(db: Queryable, options: { forUpdate?: boolean } = {}): Promise<VersionedSettings> {
  const lock = options.forUpdate ? ' FOR UPDATE' : '';
  return onlySettingsRow(await db.query<SettingsRow>(`SELECT ${SETTINGS_COLUMNS} FROM settings WHERE id = 1${lock}`));
}

export async function writeSettings(db: Queryable, settings: Settings): Promise<VersionedSettings> {
  const result = await db.query<SettingsRow>(
    `UPDATE settings SET host = $1, algorithm = $2, check_interval = $3, version = version + 1
     WHERE id = 1 RETURNING ${SETTINGS_COLUMNS}`,
    [settings[SETTING_HOST], settings[SETTING_ALGORITHM], settings[SETTING_CHECK_INTERVAL]],
  );
  return onlySettingsRow(result);
}

/** All hosts, ascending by id. */
export async function readAllHosts(db: Queryable): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts ORDER BY id`);
  return result.rows.map(toHost);
}

/** The hosts among `ids` that still exist, ascending by id. */
export async function readHostsById(db: Queryable, ids: readonly number[]): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]);
  return result.rows.map(toHost);
}

/** The hosts among `guids` that exist, in no particular order. */
export async function readHostsByGuid(db: Queryable, guids: readonly string[]): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE guid = ANY($1::text[])`, [guids]);
  return result.rows.map(toHost);
}

/**
 * Register a batch of distinct guids in ONE statement: insert those not yet known, in the
 * batch's order (so ids ascend in call order), and return the new rows together with the
 * ones that already existed. Filtering known guids before the insert keeps reconnecting
 * agents from burning identity values. A guid inserted by another server after this
 * statement's snapshot is neither inserted (ON CONFLICT) nor seen: the caller reads those
 * with readHostsByGuid.
 */
export async function insertHosts(db: Queryable, requests: readonly HostRequest[]): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(
    `WITH wanted AS (
       SELECT guid, zone, ord FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(guid, zone, ord)
     ), inserted AS (
       INSERT INTO hosts (guid, zone)
       SELECT guid, zone FROM wanted
       WHERE NOT EXISTS (SELECT 1 FROM hosts known WHERE known.guid = wanted.guid)
       ORDER BY ord
       ON CONFLICT (guid) DO NOTHING
       RETURNING ${HOST_COLUMNS}
     )
     SELECT ${HOST_COLUMNS} FROM inserted
     UNION ALL
     SELECT ${HOST_COLUMNS} FROM hosts WHERE guid = ANY($1::text[])`,
    [requests.map((r) => r.guid), requests.map((r) => r.zone)],
  );
  return result.rows.map(toHost);
}

export async function deleteHost(db: Queryable, id: number): Promise<HostRecord | undefined> {
  const result = await db.query<HostRow>(`DELETE FROM hosts WHERE id = $1 RETURNING ${HOST_COLUMNS}`, [id]);
  const row = result.rows[0];
  return row ? toHost(row) : undefined;
}

/**
 * Settings and hosts as of one instant: a REPEATABLE READ transaction gives both reads the
 * same snapshot. `db` must be a dedicated connection.
 */
export async function readSnapshot(db: Queryable): Promise<StoreSnapshot> {
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const { settings, settingsVersion } = await readSettings(db);
    const hosts = await readAllHosts(db);
    await db.query('COMMIT');
    return { settings, settingsVersion, hosts };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The registry's own clock stamps the heartbeat, so servers' clock skew does not matter. */
export async function upsertServer(db: Queryable, beat: ServerHeartbeat): Promise<void> {
  await db.query(
    `INSERT INTO servers (address, started_at, heartbeat_at, agents) VALUES ($1, $2, now(), $3)
     ON CONFLICT (address) DO UPDATE
       SET started_at = EXCLUDED.started_at, heartbeat_at = now(), agents = EXCLUDED.agents`,
    [beat.address, beat.startedAt, beat.agents],
  );
}

interface ServerRow {
  address: string;
  started_at: Date;
  heartbeat_at: Date;
  agents: number;
  up: boolean;
}

/** Every server, by address; `up` when its heartbeat is at most `downAfterMs` old. */
export async function readServers(db: Queryable, downAfterMs: number): Promise<ServerRecord[]> {
  const result = await db.query<ServerRow>(
    `SELECT address, started_at, heartbeat_at, agents,
            heartbeat_at >= now() - make_interval(secs => $1::double precision / 1000) AS up
     FROM servers ORDER BY address`,
    [downAfterMs],
  );
  return result.rows.map((row) => ({
    address: row.address,
    startedAt: row.started_at.toISOString(),
    heartbeatAt: row.heartbeat_at.toISOString(),
    agents: row.agents,
    up: row.up,
  }));
}

interface DrainRow {
  address: string;
  rate: number;
  since: Date;
  timeout_ms: number | null;
}

const DRAIN_COLUMNS = 'address, rate, since, timeout_ms';

function toDrain(row: DrainRow): DrainRecord {
  const record: DrainRecord = { address: row.address, rate: row.rate, since: row.since.toISOString() };
  if (row.timeout_ms !== null) record.timeout = row.timeout_ms / 1000;
  return record;
}

/** Begins a drain, or sets the rate of a running one (its start time is kept). */
export async function upsertDrain(db: Queryable, address: string, rate: number, timeout?: number): Promise<DrainRecord> {
  // No timeout given: a running drain keeps its deadline (COALESCE), a new one has none.
  const result = await db.query<DrainRow>(
    `INSERT INTO drains (address, rate, timeout_ms) VALUES ($1, $2, $3)
     ON CONFLICT (address) DO UPDATE SET rate = EXCLUDED.rate, timeout_ms = COALESCE(EXCLUDED.timeout_ms, drains.timeout_ms)
     RETURNING ${DRAIN_COLUMNS}`,
    [address, rate, timeout === undefined ? null : Math.round(timeout * 1000)],
  );
  return toDrain(result.rows[0]!);
}

export async function deleteDrain(db: Queryable, address: string): Promise<DrainRecord | undefined> {
  const result = await db.query<DrainRow>(`DELETE FROM drains WHERE address = $1 RETURNING ${DRAIN_COLUMNS}`, [address]);
  return result.rows[0] === undefined ? undefined : toDrain(result.rows[0]);
}

export async function readDrains(db: Queryable): Promise<DrainRecord[]> {
  const result = await db.query<DrainRow>(`SELECT ${DRAIN_COLUMNS} FROM drains ORDER BY address`);
  return result.rows.map(toDrain);
}
