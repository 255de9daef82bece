/**
 * Every statement PgStore sends, with the mapping from rows to store values. Each function
 * takes the connection to use, so the store decides pooling, counting and transactions.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import {
  type DrainRecord,
  type RebalanceRunRecord,
  type ForgetServerResult,
  type HostRecord,
  type ServerHeartbeat,
  type ServerRecord,
  type StoreSnapshot,
} from '../types';
import {
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  SETTING_REBALANCE,
  SETTING_REBALANCE_GRACE,
  SETTING_REBALANCE_THRESHOLD,
  type RebalanceMode,
  type Settings,
} from '../../settings/types';
import type { AlgorithmName } from '../../protocol/algorithms';

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
  rebalance: string;
  rebalance_threshold: number;
  rebalance_grace: number;
  /** bigint arrives as a string. */
  version: string;
}

interface HostRow {
  id: string;
  guid: string;
  zone: string;
  /** ISO-8601 text, made by PostgreSQL (isoText). */
  registered_at: string;
}

const SETTINGS_COLUMNS = 'host, algorithm, check_interval, rebalance, rebalance_threshold, rebalance_grace, version';
/**
 * A timestamptz as the ISO-8601 text Date.toISOString() gives (UTC, milliseconds, both
 * truncating the microseconds). Made by PostgreSQL, not by parsing each row into a Date on the
 * loop and formatting it again: that pair was a fifth of a 10 000-row page's conversion, and
 * the Date objects garbage for the major GC, at 100 000 hosts.
 */
export function isoText(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** The columns of a host as stored (RETURNING inside a statement). */
const HOST_COLUMNS = 'id, guid, zone, registered_at';
/** The columns of a host as read out (toHost): registered_at as ISO text. */
const HOST_OUT = `id, guid, zone, ${isoText('registered_at')} AS registered_at`;

function toSettings(row: SettingsRow): VersionedSettings {
  return {
    settings: {
      [SETTING_HOST]: row.host,
      // Only validated values are ever written (updateSettings validates before UPDATE).
      [SETTING_ALGORITHM]: row.algorithm as AlgorithmName,
      [SETTING_CHECK_INTERVAL]: row.check_interval,
      [SETTING_REBALANCE]: row.rebalance as RebalanceMode,
      [SETTING_REBALANCE_THRESHOLD]: row.rebalance_threshold,
      [SETTING_REBALANCE_GRACE]: row.rebalance_grace,
    },
    settingsVersion: Number(row.version),
  };
}

function toHost(row: HostRow): HostRecord {
  return { id: Number(row.id), guid: row.guid, zone: row.zone, registeredAt: row.registered_at };
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
    `UPDATE settings SET host = $1, algorithm = $2, check_interval = $3,
       rebalance = $4, rebalance_threshold = $5, rebalance_grace = $6, version = version + 1
     WHERE id = 1 RETURNING ${SETTINGS_COLUMNS}`,
    [
      settings[SETTING_HOST],
      settings[SETTING_ALGORITHM],
      settings[SETTING_CHECK_INTERVAL],
      settings[SETTING_REBALANCE],
      settings[SETTING_REBALANCE_THRESHOLD],
      settings[SETTING_REBALANCE_GRACE],
    ],
  );
  return onlySettingsRow(result);
}

/** All hosts, ascending by id. */
/**
 * Rows per page of readAllHosts. One statement for 100 000 hosts made one synchronous
 * conversion of every row on the event loop (~100 ms and more on a busy machine); a page is
 * converted while the next is on its way, and the loop turns between them.
 */
export const HOST_PAGE_ROWS = 10_000;

/** Every host, ascending by id, read a page at a time (keyset paging: each page is an index range scan). */
export async function readAllHosts(db: Queryable, pageRows = HOST_PAGE_ROWS): Promise<HostRecord[]> {
  const hosts: HostRecord[] = [];
  let after = 0;
  for (;;) {
    const result = await db.query<HostRow>(`SELECT ${HOST_OUT} FROM hosts WHERE id > $1 ORDER BY id LIMIT $2`, [after, pageRows]);
    for (const row of result.rows) hosts.push(toHost(row));
    if (result.rows.length < pageRows) return hosts;
    after = hosts[hosts.length - 1]!.id;
  }
}

/** The hosts among `ids` that still exist, ascending by id. */
export async function readHostsById(db: Queryable, ids: readonly number[]): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(`SELECT ${HOST_OUT} FROM hosts WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]);
  return result.rows.map(toHost);
}

/** The hosts among `guids` that exist, in no particular order. */
export async function readHostsByGuid(db: Queryable, guids: readonly string[]): Promise<HostRecord[]> {
  const result = await db.query<HostRow>(`SELECT ${HOST_OUT} FROM hosts WHERE guid = ANY($1::text[])`, [guids]);
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
     SELECT ${HOST_OUT} FROM inserted
     UNION ALL
     SELECT ${HOST_OUT} FROM hosts WHERE guid = ANY($1::text[])`,
    [requests.map((r) => r.guid), requests.map((r) => r.zone)],
  );
  return result.rows.map(toHost);
}

/** Removes a host and its connection record (host_connections has no foreign key: see schema.ts). */
export async function deleteHost(db: Queryable, id: number): Promise<HostRecord | undefined> {
  const result = await db.query<HostRow>(
    `WITH gone AS (DELETE FROM hosts WHERE id = $1 RETURNING ${HOST_COLUMNS}),
          connection AS (DELETE FROM host_connections WHERE host_id IN (SELECT id FROM gone))
     SELECT ${HOST_OUT} FROM gone`,
    [id],
  );
  const row = result.rows[0];
  return row ? toHost(row) : undefined;
}

/** Moves a host to `zone` (announced as `host-moved` by the schema's trigger when it changes). */
export async function updateHostZone(db: Queryable, id: number, zone: string): Promise<HostRecord | undefined> {
  const result = await db.query<HostRow>(
    `UPDATE hosts SET zone = $2 WHERE id = $1 AND zone IS DISTINCT FROM $2 RETURNING ${HOST_OUT}`,
    [id, zone],
  );
  const row = result.rows[0];
  if (row) return toHost(row);
  // Already in that zone (or unknown): no write, no announcement.
  return (await readHostsById(db, [id]))[0];
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

/**
 * The registry's own clock stamps the heartbeat, so servers' clock skew does not matter. A
 * beat clears `stopped_at` (the server runs again). The first beat of a new process
 * (`instance`) under an address ends the connections its predecessor left open (killed, or
 * stopped while the database was down), as of its last sign of life: once per restart, not
 * per beat (a beat of the same instance matches nothing there).
 */
export async function upsertServer(db: Queryable, beat: ServerHeartbeat, instance: string): Promise<void> {
  await db.query(
    `WITH previous AS (
       SELECT address, instance, COALESCE(stopped_at, heartbeat_at) AS last_seen FROM servers
       WHERE address = $1 AND instance <> $4
     ), ended AS (
       UPDATE host_connections c SET disconnected_at = GREATEST(p.last_seen, c.connected_since)
       FROM previous p
       WHERE c.server = p.address AND c.instance = p.instance AND c.disconnected_at IS NULL
       RETURNING 1
     )
     INSERT INTO servers (address, started_at, heartbeat_at, agents, instance, stopped_at) VALUES ($1, $2, now(), $3, $4, NULL)
     ON CONFLICT (address) DO UPDATE
       SET started_at = EXCLUDED.started_at, heartbeat_at = now(), agents = EXCLUDED.agents,
           instance = EXCLUDED.instance, stopped_at = NULL`,
    [beat.address, beat.startedAt, beat.agents, instance],
  );
}

/** A clean stop of this process: listed `stopped` at once (a later beat of the same process never comes). */
export async function markServerStopped(db: Queryable, address: string, instance: string): Promise<void> {
  await db.query('UPDATE servers SET stopped_at = now() WHERE address = $1 AND instance = $2', [address, instance]);
}

interface ServerRow {
  address: string;
  started_at: Date;
  heartbeat_at: Date;
  agents: number;
  stopped_at: Date | null;
  up: boolean;
}

const SERVER_COLUMNS = `address, started_at, heartbeat_at, agents, stopped_at,
  (stopped_at IS NULL AND heartbeat_at >= now() - make_interval(secs => $1::double precision / 1000)) AS up`;

function toServer(row: ServerRow): ServerRecord {
  return {
    address: row.address,
    startedAt: row.started_at.toISOString(),
    heartbeatAt: row.heartbeat_at.toISOString(),
    agents: row.agents,
    up: row.up,
    state: row.up ? 'up' : row.stopped_at !== null ? 'stopped' : 'down',
    stoppedAt: row.stopped_at === null ? null : row.stopped_at.toISOString(),
  };
}

/** Every server, by address; `up` when not stopped and its heartbeat is at most `downAfterMs` old. */
export async function readServers(db: Queryable, downAfterMs: number): Promise<ServerRecord[]> {
  const result = await db.query<ServerRow>(`SELECT ${SERVER_COLUMNS} FROM servers ORDER BY address`, [downAfterMs]);
  return result.rows.map(toServer);
}

/**
 * Removes a server that is down or stopped, in one transaction (`db` must be a dedicated
 * connection): the row is locked first, so a beat racing the forget either lands before
 * (and the server is up: refused) or recreates the row after (the server is back).
 */
export async function forgetServer(db: Queryable, downAfterMs: number, address: string): Promise<ForgetServerResult> {
  await db.query('BEGIN');
  try {
    const found = await db.query<ServerRow>(`SELECT ${SERVER_COLUMNS} FROM servers WHERE address = $2 FOR UPDATE`, [downAfterMs, address]);
    const row = found.rows[0];
    let result: ForgetServerResult;
    if (row === undefined) result = { kind: 'unknown' };
    else if (row.up) result = { kind: 'up', server: toServer(row) };
    else {
      // Its open rows end as of its last sign of life, so they keep a truthful lastSeen.
      await db.query(
        `UPDATE host_connections SET disconnected_at = GREATEST($2::timestamptz, connected_since)
         WHERE server = $1 AND disconnected_at IS NULL`,
        [address, row.stopped_at ?? row.heartbeat_at],
      );
      await db.query('DELETE FROM servers WHERE address = $1', [address]);
      result = { kind: 'forgotten', server: toServer(row) };
    }
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
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

interface RunRow {
  id: string;
  source: 'manual' | 'auto';
  rate: number;
  zone: string | null;
  started_at: Date;
  ended_at: Date | null;
  end_reason: 'done' | 'stopped' | 'settled' | null;
  to_move: number;
  moved: number;
  not_moved: number;
}

const RUN_COLUMNS = 'id, source, rate, zone, started_at, ended_at, end_reason, to_move, moved, not_moved';

function toRun(row: RunRow): RebalanceRunRecord {
  return {
    id: Number(row.id),
    source: row.source,
    rate: row.rate,
    zone: row.zone,
    startedAt: row.started_at.toISOString(),
    endedAt: row.ended_at === null ? null : row.ended_at.toISOString(),
    endReason: row.end_reason,
    toMove: row.to_move,
    moved: row.moved,
    notMoved: row.not_moved,
  };
}

/** A new run, unless one is active (the partial unique index refuses a second): then undefined. */
export async function insertRun(db: Queryable, run: { source: string; rate: number; zone: string | null; toMove: number }): Promise<RebalanceRunRecord | undefined> {
  // Nothing to move: the run is recorded, and done at once.
  const result = await db.query<RunRow>(
    `INSERT INTO rebalance_runs (source, rate, zone, to_move, ended_at, end_reason)
     VALUES ($1, $2, $3, $4, CASE WHEN $4::int = 0 THEN now() END, CASE WHEN $4::int = 0 THEN 'done' END)
     ON CONFLICT ((true)) WHERE ended_at IS NULL DO NOTHING
     RETURNING ${RUN_COLUMNS}`,
    [run.source, run.rate, run.zone, run.toMove],
  );
  return result.rows[0] === undefined ? undefined : toRun(result.rows[0]);
}

export async function endActiveRun(db: Queryable, reason: string, source: string | undefined): Promise<RebalanceRunRecord | undefined> {
  const result = await db.query<RunRow>(
    `UPDATE rebalance_runs SET ended_at = now(), end_reason = $1
     WHERE ended_at IS NULL AND ($2::text IS NULL OR source = $2) RETURNING ${RUN_COLUMNS}`,
    [reason, source ?? null],
  );
  return result.rows[0] === undefined ? undefined : toRun(result.rows[0]);
}

/** Adds outcomes; the run ends (done) in the same statement once they reach to_move. */
export async function addRunCounts(db: Queryable, id: number, moved: number, notMoved: number): Promise<void> {
  await db.query(
    `UPDATE rebalance_runs SET moved = moved + $2, not_moved = not_moved + $3,
       end_reason = CASE WHEN ended_at IS NULL AND moved + $2 + not_moved + $3 >= to_move THEN 'done' ELSE end_reason END,
       ended_at = CASE WHEN ended_at IS NULL AND moved + $2 + not_moved + $3 >= to_move THEN now() ELSE ended_at END
     WHERE id = $1`,
    [id, moved, notMoved],
  );
}

export async function readLatestRun(db: Queryable): Promise<RebalanceRunRecord | undefined> {
  const result = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM rebalance_runs ORDER BY id DESC LIMIT 1`);
  return result.rows[0] === undefined ? undefined : toRun(result.rows[0]);
}

/**
 * Grants up to `want` moves: what `rate` leaves after the grants of the last second. Call it
 * in a transaction that holds the budget's advisory lock (the statement's snapshot is taken
 * after the lock, so two servers never both see the same room). Old grants are pruned.
 */
export async function grantMoves(db: Queryable, want: number, rate: number): Promise<number> {
  const result = await db.query<{ granted: number }>(
    `WITH pruned AS (DELETE FROM rebalance_grants WHERE at < clock_timestamp() - interval '10 seconds'),
     used AS (SELECT COALESCE(sum(granted), 0)::int AS n FROM rebalance_grants WHERE at > clock_timestamp() - interval '1 second'),
     ins AS (INSERT INTO rebalance_grants (granted) SELECT LEAST($1::int, $2::int - n) FROM used WHERE $2::int - n > 0 RETURNING granted)
     SELECT COALESCE((SELECT granted FROM ins), 0)::int AS granted`,
    [want, rate],
  );
  return result.rows[0]?.granted ?? 0;
}
