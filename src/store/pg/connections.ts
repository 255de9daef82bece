/**
 * The statements behind ConnectionRegistry and ConnectionRecorder in PostgreSQL (cluster
 * mode): which server holds each host's connection, in `host_connections` (schema version 3).
 *
 * Liveness is derived, never written per host: a recorded connection is live while it has
 * not ended AND its holder's `servers` row is the same process (instance), not stopped and
 * not older than the down-after threshold. LIVE below is that condition, for a query that
 * joins `host_connections c` to `servers s ON s.address = c.server AND s.instance = c.instance`
 * and passes the threshold in milliseconds as `$1`.
 */
import type { ConnectionChange, HostQuery, HostWhereabouts } from '../types';
import { isoText, type Queryable } from './queries';

const LIVE = `(c.disconnected_at IS NULL AND s.address IS NOT NULL AND s.stopped_at IS NULL
  AND s.heartbeat_at >= now() - make_interval(secs => $1::double precision / 1000))`;

const HOLDER_JOIN = 'JOIN servers s ON s.address = c.server AND s.instance = c.instance';

/**
 * One statement for a whole batch of one server's changes (at most one per host): taken
 * connections are upserted as this process's; ended ones are closed only if this process
 * still holds them, so a late "released" never clears the claim of a server the agent has
 * moved to meanwhile. Rows of hosts removed meanwhile are not written (reads join `hosts`
 * anyway).
 */
export async function writeConnections(db: Queryable, server: string, instance: string, changes: readonly ConnectionChange[]): Promise<void> {
  const held = changes.filter((change) => change.held);
  const released = changes.filter((change) => !change.held).map((change) => change.hostId);
  await db.query(
    `WITH ended AS (
       UPDATE host_connections c SET disconnected_at = now()
       WHERE c.host_id = ANY($5::bigint[]) AND c.server = $1 AND c.instance = $2 AND c.disconnected_at IS NULL
       RETURNING 1
     )
     INSERT INTO host_connections (host_id, server, instance, remote_address, connected_since, disconnected_at)
     SELECT t.host_id, $1, $2, t.remote, now(), NULL
     FROM unnest($3::bigint[], $4::text[]) AS t(host_id, remote)
     WHERE EXISTS (SELECT 1 FROM hosts h WHERE h.id = t.host_id)
     ON CONFLICT (host_id) DO UPDATE SET
       server = EXCLUDED.server, instance = EXCLUDED.instance, remote_address = EXCLUDED.remote_address,
       connected_since = EXCLUDED.connected_since, disconnected_at = NULL`,
    [server, instance, held.map((change) => change.hostId), held.map((change) => (change.held ? change.remoteAddress : '')), released],
  );
}

/**
 * After an outage, this process's writes may have been lost: one statement sets its rows to
 * exactly `held` (ends the others it still has open, upserts these).
 */
export async function replaceConnections(
  db: Queryable,
  server: string,
  instance: string,
  held: readonly { hostId: number; remoteAddress: string }[],
): Promise<void> {
  const ids = held.map((entry) => entry.hostId);
  await db.query(
    `WITH ended AS (
       UPDATE host_connections c SET disconnected_at = now()
       WHERE c.server = $1 AND c.instance = $2 AND c.disconnected_at IS NULL AND NOT (c.host_id = ANY($3::bigint[]))
       RETURNING 1
     )
     INSERT INTO host_connections (host_id, server, instance, remote_address, connected_since, disconnected_at)
     SELECT t.host_id, $1, $2, t.remote, now(), NULL
     FROM unnest($3::bigint[], $4::text[]) AS t(host_id, remote)
     WHERE EXISTS (SELECT 1 FROM hosts h WHERE h.id = t.host_id)
     ON CONFLICT (host_id) DO UPDATE SET
       server = EXCLUDED.server, instance = EXCLUDED.instance, remote_address = EXCLUDED.remote_address,
       connected_since = CASE WHEN host_connections.server = EXCLUDED.server AND host_connections.instance = EXCLUDED.instance
                                   AND host_connections.disconnected_at IS NULL
                              THEN host_connections.connected_since ELSE EXCLUDED.connected_since END,
       disconnected_at = NULL`,
    [server, instance, ids, held.map((entry) => entry.remoteAddress)],
  );
}

export async function readHolder(db: Queryable, downAfterMs: number, hostId: number): Promise<string | null> {
  const result = await db.query<{ server: string }>(
    `SELECT c.server FROM host_connections c ${HOLDER_JOIN} WHERE c.host_id = $2 AND ${LIVE}`,
    [downAfterMs, hostId],
  );
  return result.rows[0]?.server ?? null;
}

export async function readHeldBy(db: Queryable, downAfterMs: number, server: string): Promise<number[]> {
  const result = await db.query<{ host_id: string }>(
    `SELECT c.host_id FROM host_connections c ${HOLDER_JOIN} JOIN hosts h ON h.id = c.host_id
     WHERE c.server = $2 AND ${LIVE} ORDER BY c.host_id`,
    [downAfterMs, server],
  );
  return result.rows.map((row) => Number(row.host_id));
}

export async function readLiveCounts(db: Queryable, downAfterMs: number): Promise<Map<string, number>> {
  const result = await db.query<{ server: string; live: string }>(
    `SELECT c.server, count(*) AS live FROM host_connections c ${HOLDER_JOIN} JOIN hosts h ON h.id = c.host_id
     WHERE ${LIVE} GROUP BY c.server ORDER BY c.server`,
    [downAfterMs],
  );
  return new Map(result.rows.map((row) => [row.server, Number(row.live)]));
}

interface WhereaboutsRow {
  id: string;
  guid: string;
  zone: string;
  /** The three times as ISO-8601 text, made by PostgreSQL (isoText): no Date per row. */
  registered_at: string;
  last_server: string | null;
  remote_address: string | null;
  connected_since: string | null;
  live: boolean;
  last_seen: string | null;
}

/**
 * Hosts with their connection, ascending by id, filtered and paged in the database (keyset
 * paging on the primary key: a page costs its own size, not the fleet's).
 */
export async function readWhereabouts(db: Queryable, downAfterMs: number, query: HostQuery): Promise<HostWhereabouts[]> {
  const result = await db.query<WhereaboutsRow>(
    `SELECT w.id, w.guid, w.zone, ${isoText('w.registered_at')} AS registered_at, w.last_server, w.remote_address,
            ${isoText('w.connected_since')} AS connected_since, w.live, ${isoText('w.last_seen')} AS last_seen
     FROM (
       SELECT h.id, h.guid, h.zone, h.registered_at, c.server AS last_server, c.remote_address, c.connected_since,
              COALESCE(${LIVE}, false) AS live,
              CASE WHEN c.host_id IS NULL THEN NULL
                   WHEN c.disconnected_at IS NOT NULL THEN c.disconnected_at
                   WHEN s.address IS NULL THEN c.connected_since
                   ELSE GREATEST(COALESCE(s.stopped_at, s.heartbeat_at), c.connected_since) END AS last_seen
       FROM hosts h
       LEFT JOIN host_connections c ON c.host_id = h.id
       LEFT JOIN servers s ON s.address = c.server AND s.instance = c.instance
       WHERE h.id > $2 AND ($3::text IS NULL OR h.zone = $3)
     ) w
     WHERE ($4::boolean IS NULL OR w.live = $4) AND ($5::text IS NULL OR (w.live AND w.last_server = $5))
     ORDER BY w.id
     LIMIT $6`,
    [downAfterMs, query.after ?? 0, query.zone ?? null, query.connected ?? null, query.server ?? null, query.limit ?? null],
  );
  return result.rows.map((row) => ({
    id: Number(row.id),
    guid: row.guid,
    zone: row.zone,
    registeredAt: row.registered_at,
    connected: row.live,
    server: row.live ? row.last_server : null,
    connectedSince: row.live ? row.connected_since : null,
    remoteAddress: row.live ? row.remote_address : null,
    lastServer: row.last_server,
    lastSeen: row.last_seen,
  }));
}
