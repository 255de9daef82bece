/**
 * The PostgreSQL schema, as an ordered list of versioned migrations the server applies itself.
 *
 * Every server runs `migrate` at start. Migrations run in ONE transaction under a
 * transaction-scoped advisory lock, so three servers starting together apply each migration
 * exactly once: the others wait on the lock, then find nothing left to do. DDL is
 * transactional in PostgreSQL, so a failed migration leaves no half-built schema.
 *
 * Rules for adding a migration: append (never edit a published one), and keep it
 * compatible with the previous release, because during a rolling upgrade old servers keep
 * running against the new schema.
 */
import type { ClientBase } from 'pg';
import {
  DEFAULT_SETTINGS,
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  SETTING_REBALANCE,
  SETTING_REBALANCE_GRACE,
  SETTING_REBALANCE_THRESHOLD,
} from '../../settings/types';
import { NOTIFY_CHANNEL, NOTIFY_IDS_PER_MESSAGE } from './notify';

/**
 * The advisory lock (two-int form) held while migrating: 8250 is CloudStack's agent port,
 * 1 names "schema migrations" within it. Any other agentlb lock must use another second key.
 */
const MIGRATION_LOCK = [8250, 1] as const;

/** The session setting through which the change triggers learn which server wrote. */
export const INSTANCE_SETTING = 'agentlb.instance';

export interface Migration {
  version: number;
  name: string;
  apply(client: ClientBase): Promise<void>;
}

/**
 * Version 1: settings (one row), hosts, servers, and the triggers that announce every
 * committed change on NOTIFY_CHANNEL.
 *
 * The announcements are triggers, not statements issued by PgStore, so that a change is
 * announced in the same transaction whatever wrote it (including an operator with psql):
 * NOTIFY is delivered on COMMIT and never for a rolled-back change. Payloads carry ids only,
 * chunked to stay far below PostgreSQL's 8000-byte payload limit; receivers read the rows.
 * `from` is the writer's INSTANCE_SETTING (NULL for anyone else), so a server can skip its
 * own changes.
 */
const V1_DDL = `
CREATE TABLE settings (
  id smallint PRIMARY KEY CHECK (id = 1),
  host text NOT NULL,
  algorithm text NOT NULL,
  check_interval integer NOT NULL CHECK (check_interval >= 0),
  version bigint NOT NULL
);

CREATE TABLE hosts (
  -- An identity never hands out a value twice, even after deletes or rolled-back inserts:
  -- ids are unique across all servers and never reused.
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  guid text NOT NULL UNIQUE,
  zone text NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
  address text PRIMARY KEY,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  agents integer NOT NULL CHECK (agents >= 0)
);

CREATE FUNCTION agentlb_announce_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
    'from', current_setting('${INSTANCE_SETTING}', true),
    'kind', 'settings',
    'version', NEW.version)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER settings_announce AFTER UPDATE ON settings
  FOR EACH ROW EXECUTE FUNCTION agentlb_announce_settings();

CREATE FUNCTION agentlb_announce_hosts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  chunk bigint[];
BEGIN
  FOR chunk IN
    SELECT array_agg(id ORDER BY id)
    FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / ${NOTIFY_IDS_PER_MESSAGE} AS n FROM changed) numbered
    GROUP BY n ORDER BY n
  LOOP
    PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
      'from', current_setting('${INSTANCE_SETTING}', true),
      'kind', CASE TG_OP WHEN 'INSERT' THEN 'host-added' ELSE 'host-removed' END,
      'ids', chunk)::text);
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER hosts_announce_added AFTER INSERT ON hosts
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_hosts();
CREATE TRIGGER hosts_announce_removed AFTER DELETE ON hosts
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_hosts();
`;

/**
 * Version 2: drains (`agentlb servers drain`), shared so every server sends a draining
 * server last, announced like the other tables. A server of version 1 takes the unknown
 * `drains` announcement as a reason to resync, which is harmless.
 */
const V2_DDL = `
CREATE TABLE drains (
  address text PRIMARY KEY,
  rate integer NOT NULL CHECK (rate > 0),
  since timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION agentlb_announce_drains() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
    'from', current_setting('${INSTANCE_SETTING}', true),
    'kind', 'drains')::text);
  RETURN NULL;
END $$;

CREATE TRIGGER drains_announce AFTER INSERT OR UPDATE OR DELETE ON drains
  FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_drains();
`;

/**
 * Version 3: a drain's deadline (`servers drain --timeout`), in whole milliseconds; NULL: none.
 * A server of version 2 ignores the column (its drains then simply have no deadline).
 */
const V3_DDL = `ALTER TABLE drains ADD COLUMN timeout_ms integer CHECK (timeout_ms > 0);`;

/**
 * Version 4: which server holds each host's connection (the cluster-wide host view, the
 * remove guard, per-server live counts), and the server lifecycle.
 *
 * `host_connections` has one row per host that ever connected: its latest connection, by
 * which server (`server`, the registry address) and which process of it (`instance`, the
 * PgStore's instance id). Whether it is live is DERIVED when read, never written per host:
 * live = not ended (`disconnected_at` NULL) and the holder's `servers` row is that same
 * instance, not stopped and not down. So a server killed with -9 needs no one to rewrite its
 * rows: they read as disconnected once it is listed down. Rows are written in batches (a
 * group commit per turn of the event loop, not a statement per handshake). No foreign key:
 * a row may outlive its host for a moment (a removal racing a connect), and every read joins
 * `hosts`, so such a row is never shown; host removal deletes its row.
 *
 * `servers.instance` ties rows to one process; `servers.stopped_at` is set by a clean stop
 * (SIGTERM) so the server is listed `stopped` at once instead of `up` for three heartbeats.
 * Old servers (version 3) keep writing `servers` without these columns: both have defaults.
 * Changes to hosts.zone (a host moved to another zone) are announced as `host-moved`; a
 * version-3 server takes that unknown kind as a reason to resync, which is harmless.
 */
const V4_DDL = `
CREATE TABLE host_connections (
  host_id bigint PRIMARY KEY,
  server text NOT NULL,
  instance text NOT NULL,
  remote_address text,
  connected_since timestamptz NOT NULL,
  disconnected_at timestamptz
);
-- "hosts held by server S" and the live count per server read only the open rows.
CREATE INDEX host_connections_open ON host_connections (server) WHERE disconnected_at IS NULL;

ALTER TABLE servers ADD COLUMN instance text NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN stopped_at timestamptz;

CREATE FUNCTION agentlb_announce_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  chunk bigint[];
BEGIN
  FOR chunk IN
    SELECT array_agg(id ORDER BY id)
    FROM (SELECT n.id, (row_number() OVER (ORDER BY n.id) - 1) / ${NOTIFY_IDS_PER_MESSAGE} AS k
          FROM moved_new n JOIN moved_old o ON o.id = n.id WHERE o.zone IS DISTINCT FROM n.zone) numbered
    GROUP BY k ORDER BY k
  LOOP
    PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
      'from', current_setting('${INSTANCE_SETTING}', true),
      'kind', 'host-moved',
      'ids', chunk)::text);
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER hosts_announce_moved AFTER UPDATE ON hosts
  REFERENCING OLD TABLE AS moved_old NEW TABLE AS moved_new FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_moved();
`;

/**
 * Version 5: the rebalance settings (README "Rebalance"), with their defaults, so a row
 * written by a version-4 server (which does not know them) keeps valid values.
 */
const V5_DDL = `
ALTER TABLE settings
  ADD COLUMN rebalance text NOT NULL DEFAULT '${DEFAULT_SETTINGS[SETTING_REBALANCE]}',
  ADD COLUMN rebalance_threshold integer NOT NULL DEFAULT ${DEFAULT_SETTINGS[SETTING_REBALANCE_THRESHOLD]},
  ADD COLUMN rebalance_grace integer NOT NULL DEFAULT ${DEFAULT_SETTINGS[SETTING_REBALANCE_GRACE]};
`;

/**
 * Version 6: the rebalance (README "Rebalance"): runs, at most one active (a partial unique
 * index), announced as `rebalance` on every change (start, counts, end); and the grants of
 * the fleet's shared budget of moves, a sliding window read under an advisory lock.
 */
const V6_DDL = `
CREATE TABLE rebalance_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source text NOT NULL CHECK (source IN ('manual', 'auto')),
  rate integer NOT NULL CHECK (rate > 0),
  zone text,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  end_reason text,
  to_move integer NOT NULL CHECK (to_move >= 0),
  moved integer NOT NULL DEFAULT 0,
  not_moved integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX rebalance_runs_one_active ON rebalance_runs ((true)) WHERE ended_at IS NULL;

CREATE TABLE rebalance_grants (
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  granted integer NOT NULL CHECK (granted > 0)
);

CREATE FUNCTION agentlb_announce_rebalance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
    'from', current_setting('${INSTANCE_SETTING}', true),
    'kind', 'rebalance')::text);
  RETURN NULL;
END $$;

CREATE TRIGGER rebalance_announce AFTER INSERT OR UPDATE ON rebalance_runs
  FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_rebalance();
`;

/**
 * Version 7: calls carried between servers (README "Calls"): a call asked of a server that
 * does not hold the agent is a row here, asked of the holder's process (address and
 * instance, so a restarted holder never takes its predecessor's calls); the holder takes it
 * once (`taken_at`, at most once), writes its line (`line`, `done_at`) and the asker reads
 * and deletes it. Wake-ups go on NOTIFY (channel agentlb_calls), named to one address.
 */
const V7_DDL = `
CREATE TABLE calls (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  host_id bigint NOT NULL,
  holder text NOT NULL,
  holder_instance text NOT NULL,
  asker text NOT NULL,
  method text NOT NULL,
  params jsonb,
  timeout_ms integer NOT NULL CHECK (timeout_ms > 0),
  asked_at timestamptz NOT NULL DEFAULT now(),
  taken_at timestamptz,
  done_at timestamptz,
  line jsonb
);
-- The holder takes what is asked of it and not yet taken.
CREATE INDEX calls_waiting ON calls (holder, holder_instance) WHERE taken_at IS NULL AND done_at IS NULL;
`;

/**
 * Version 8: what the calls of version 7 lacked. `caller`: the address of the client that
 * asked the asking server (the holder's `call` log line names it, not the asking server).
 * `expires_at`: past it the asker has reported the call and nobody will read its row, so any
 * server's age sweep deletes it (rows a dead asker left, done or not), in bounded batches along
 * the index. A version-7 server (same release line) writes neither: its rows expire an hour
 * and a minute after they were asked (the longest timeout the API allows, plus a margin), and
 * name no caller.
 */
const V8_DDL = `
ALTER TABLE calls ADD COLUMN caller text,
  ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '61 minutes';
UPDATE calls SET expires_at = asked_at + make_interval(secs => timeout_ms::double precision / 1000) + interval '1 minute';
CREATE INDEX calls_expiry ON calls (expires_at);
`;

/**
 * Version 9: certificates in cluster mode (README "Security"), so every server agrees at once.
 *
 * - `certified_guids`: the certificate each guid holds (trust on first enrolment). An
 *   enrolment claims a guid with INSERT ... ON CONFLICT that takes the row only when it holds
 *   no certificate, so of two servers enrolling one guid at once exactly one wins. An operator
 *   reset (`agentlb hosts reissue`) keeps the row with `serial` NULL (not a DELETE), so the
 *   change is announced by id like any other and read as "holds none".
 * - `issued_certificates`: every certificate a server signed (`ca revoke --name` finds them
 *   there, whichever server's CA directory signed them).
 * - `revocations`: revoked serials (`agentlb ca revoke --store`); every server refuses them
 *   and drops agents connected with them.
 *
 * Changes of `certified_guids` and `revocations` are announced as `certified` / `revoked`
 * with row ids, chunked like the hosts'; receivers read the rows. A version-8 server takes the
 * unknown kinds as a reason to resync, which is harmless.
 */
const V9_DDL = `
CREATE TABLE certified_guids (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  guid text NOT NULL UNIQUE,
  serial text,
  not_after timestamptz,
  changed_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((serial IS NULL) = (not_after IS NULL))
);

CREATE TABLE issued_certificates (
  serial text PRIMARY KEY,
  guid text NOT NULL,
  not_after timestamptz NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  issued_by text
);
CREATE INDEX issued_certificates_guid ON issued_certificates (guid);

CREATE TABLE revocations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial text NOT NULL UNIQUE,
  guid text,
  revoked_at timestamptz NOT NULL DEFAULT now(),
  reason text
);

CREATE FUNCTION agentlb_announce_certificates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  chunk bigint[];
BEGIN
  FOR chunk IN
    SELECT array_agg(id ORDER BY id)
    FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / ${NOTIFY_IDS_PER_MESSAGE} AS k FROM changed) numbered
    GROUP BY k ORDER BY k
  LOOP
    PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object(
      'from', current_setting('${INSTANCE_SETTING}', true),
      'kind', TG_ARGV[0],
      'ids', chunk)::text);
  END LOOP;
  RETURN NULL;
END $$;

-- A trigger with transition tables takes one event: INSERT and UPDATE are two triggers.
CREATE TRIGGER certified_announce_inserted AFTER INSERT ON certified_guids
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_certificates('certified');
CREATE TRIGGER certified_announce_updated AFTER UPDATE ON certified_guids
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_certificates('certified');
CREATE TRIGGER revocations_announce AFTER INSERT ON revocations
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION agentlb_announce_certificates('revoked');
`;

/**
 * Version 10: the asker reads the lines answered for it by its address (calls_answered), so
 * a read after a wake-up costs the rows it returns; naming every open call in each read made
 * each of a fan-out's wake-ups O(calls in flight). (Version 9 is the security schema.)
 */
const V10_DDL = `
CREATE INDEX calls_answered ON calls (asker) WHERE done_at IS NOT NULL;
`;

/** The advisory lock (two-int form) held while granting rebalance moves. */
export const REBALANCE_BUDGET_LOCK = [8250, 2] as const;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'settings, hosts, servers and change announcements',
    async apply(client) {
      await client.query(V1_DDL);
      // The defaults live in one place (types.ts), so the seed row is written from them.
      await client.query(
        'INSERT INTO settings (id, host, algorithm, check_interval, version) VALUES (1, $1, $2, $3, 0)',
        [DEFAULT_SETTINGS[SETTING_HOST], DEFAULT_SETTINGS[SETTING_ALGORITHM], DEFAULT_SETTINGS[SETTING_CHECK_INTERVAL]],
      );
    },
  },
  {
    version: 2,
    name: 'drains and their announcements',
    async apply(client) {
      await client.query(V2_DDL);
    },
  },
  {
    version: 3,
    name: 'drain deadlines',
    async apply(client) {
      await client.query(V3_DDL);
    },
  },
  {
    version: 4,
    name: 'host connections, server instance and stop, zone moves',
    async apply(client) {
      await client.query(V4_DDL);
    },
  },
  {
    version: 5,
    name: 'rebalance settings',
    async apply(client) {
      await client.query(V5_DDL);
    },
  },
  {
    version: 6,
    name: 'rebalance runs and the shared move budget',
    async apply(client) {
      await client.query(V6_DDL);
    },
  },
  {
    version: 7,
    name: 'calls carried between servers',
    async apply(client) {
      await client.query(V7_DDL);
    },
  },
  {
    version: 8,
    name: 'calls: the caller, and an expiry for the age sweep',
    async apply(client) {
      await client.query(V8_DDL);
    },
  },
  {
    version: 9,
    name: 'certificates: certified guids, issued certificates, revocations',
    async apply(client) {
      await client.query(V9_DDL);
    },
  },
  {
    version: 10,
    name: 'calls: answered lines found by their asker',
    async apply(client) {
      await client.query(V10_DDL);
    },
  },
];

export interface MigrationResult {
  /** Versions applied by this call (empty when the schema was already current). */
  applied: number[];
  /** The highest version recorded in the database after this call. */
  schemaVersion: number;
}

/**
 * Bring the schema up to date. `client` must be a dedicated connection (not inside a
 * transaction); it is left outside any transaction. A database at a version newer than this
 * code knows is left as it is: migrations are compatible with the previous release.
 */
export async function migrate(client: ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  await client.query('BEGIN');
  try {
    // The lock comes first: two servers racing on CREATE TABLE IF NOT EXISTS can still
    // collide on the catalog's unique indexes.
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const doneVersions = new Set(done.rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (doneVersions.has(migration.version)) continue;
      await migration.apply(client);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
      doneVersions.add(migration.version);
    }
    await client.query('COMMIT');
    return { applied, schemaVersion: Math.max(0, ...doneVersions) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
