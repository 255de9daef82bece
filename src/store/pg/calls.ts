/**
 * The statements behind CallCarrier in PostgreSQL (schema versions 7, 8 and 10, table `calls`):
 * calls asked of the server holding the agent, taken by it at most once and only within their
 * timeout, answered back; rows past their expiry swept in bounded batches. Wake-ups
 * go on NOTIFY on CALLS_CHANNEL, `{"to": address, "kind": "asked" | "answered"}`, sent in the
 * statement that made the change (delivered on commit); a payload names no call, so a
 * receiver reads its rows, and a wake-up lost with the LISTEN connection is made up for by
 * reading again after reconnecting.
 */
import type { AskedCall, AskRequest, CallAnswer, CarriedCall } from '../types';
import type { Queryable } from './queries';

export const CALLS_CHANNEL = 'agentlb_calls';

/** The holder of call `k` is still the live process it was asked of. */
const HOLDER_LIVE = `EXISTS (SELECT 1 FROM servers s WHERE s.address = k.holder AND s.instance = k.holder_instance
  AND s.stopped_at IS NULL AND s.heartbeat_at >= now() - make_interval(secs => $1::double precision / 1000))`;

function wake(toSql: string, kind: 'asked' | 'answered'): string {
  return `pg_notify('${CALLS_CHANNEL}', json_build_object('to', ${toSql}, 'kind', '${kind}')::text)`;
}

/**
 * One statement for a batch: a row per host whose live connection another server holds,
 * asked of that server's process, and one wake-up per holder.
 */
export async function askCalls(
  db: Queryable,
  downAfterMs: number,
  asker: string,
  hostIds: readonly number[],
  request: AskRequest,
): Promise<AskedCall[]> {
  const result = await db.query<{ id: string; host_id: string; holder: string }>(
    `WITH asked AS (
       INSERT INTO calls (host_id, holder, holder_instance, asker, method, params, timeout_ms, caller, expires_at)
       SELECT c.host_id, c.server, c.instance, $2, $4, $5::jsonb, $6, $7, now() + make_interval(secs => $8::double precision / 1000)
       FROM host_connections c
       JOIN servers s ON s.address = c.server AND s.instance = c.instance
       JOIN hosts h ON h.id = c.host_id
       WHERE c.host_id = ANY($3::bigint[]) AND c.server <> $2 AND c.disconnected_at IS NULL AND s.stopped_at IS NULL
         AND s.heartbeat_at >= now() - make_interval(secs => $1::double precision / 1000)
       RETURNING id, host_id, holder
     ), woken AS (
       SELECT ${wake('holder', 'asked')} FROM (SELECT DISTINCT holder FROM asked) d
     )
     SELECT id, host_id, holder FROM asked WHERE (SELECT count(*) FROM woken) >= 0 ORDER BY id`,
    [downAfterMs, asker, hostIds, request.method, request.params === undefined ? null : JSON.stringify(request.params), request.timeoutMs, request.caller, request.keepMs],
  );
  return result.rows.map((row) => ({ id: Number(row.id), hostId: Number(row.host_id), holder: row.holder }));
}

/**
 * Marks taken, once and for all, the calls asked of this process; a given-up call is never
 * taken, nor one whose timeout passed (its asker may have reported it timed out without
 * reaching the database, during an outage). Each comes with what is left of its timeout, by
 * the database's clock (the one that stamped asked_at), so the holder's answer is due when
 * the asker expects it.
 */
export async function takeCalls(db: Queryable, holder: string, instance: string): Promise<CarriedCall[]> {
  const result = await db.query<{ id: string; host_id: string; asker: string; caller: string | null; method: string; params: unknown; left_ms: number }>(
    `UPDATE calls SET taken_at = now()
     WHERE holder = $1 AND holder_instance = $2 AND taken_at IS NULL AND done_at IS NULL
       AND asked_at + make_interval(secs => timeout_ms::double precision / 1000) > now()
     RETURNING id, host_id, asker, caller, method, params,
       GREATEST(1, timeout_ms - floor(extract(epoch FROM now() - asked_at) * 1000))::integer AS left_ms`,
    [holder, instance],
  );
  return result.rows
    .map((row) => ({ id: Number(row.id), hostId: Number(row.host_id), asker: row.asker, caller: row.caller, method: row.method, params: row.params ?? undefined, timeoutMs: row.left_ms }))
    .sort((a, b) => a.id - b.id);
}

/**
 * Writes the lines of a batch of calls, one statement and one wake-up per asker for all of
 * them (one per line was a statement, a commit and a NOTIFY per host of a fan-out on the
 * holder, and a read per wake-up on the asker). A call given up meanwhile keeps its end: its
 * row is gone, or done, and is not written.
 */
export async function answerCalls(db: Queryable, answers: readonly CallAnswer[]): Promise<void> {
  await db.query(
    `WITH given AS (
       SELECT (a->>0)::bigint AS id, a->1 AS line FROM jsonb_array_elements($1::jsonb) a
     ), done AS (
       UPDATE calls k SET line = g.line, done_at = now() FROM given g WHERE k.id = g.id AND k.done_at IS NULL RETURNING k.asker
     )
     SELECT ${wake('asker', 'answered')} FROM (SELECT DISTINCT asker FROM done) d`,
    [JSON.stringify(answers.map((answer) => [answer.id, answer.line]))],
  );
}

/**
 * The lines answered for `asker`, deleting their rows: along index calls_answered (schema
 * version 10), so a read costs what it returns, not what is open. Rows of calls the asker no
 * longer waits for (answered just as it gave up) are read too, and dropped by it.
 */
export async function collectCalls(db: Queryable, asker: string): Promise<Map<number, unknown>> {
  const result = await db.query<{ id: string; line: unknown }>('DELETE FROM calls WHERE asker = $1 AND done_at IS NOT NULL RETURNING id, line', [asker]);
  return new Map(result.rows.map((row) => [Number(row.id), row.line]));
}

/** Deletes those of `ids` still open whose holder process is gone or stopped: never run after this. */
export async function endLostCalls(db: Queryable, downAfterMs: number, ids: readonly number[]): Promise<number[]> {
  const result = await db.query<{ id: string }>(
    `DELETE FROM calls k WHERE k.id = ANY($2::bigint[]) AND k.done_at IS NULL AND NOT ${HOLDER_LIVE} RETURNING k.id`,
    [downAfterMs, ids],
  );
  return result.rows.map((row) => Number(row.id));
}

/** Deletes those of `ids` still open (the asker gave up): not taken, never run; taken, its answer is dropped. */
export async function giveUpCalls(db: Queryable, ids: readonly number[]): Promise<number[]> {
  const result = await db.query<{ id: string }>('DELETE FROM calls WHERE id = ANY($1::bigint[]) AND done_at IS NULL RETURNING id', [ids]);
  return result.rows.map((row) => Number(row.id));
}

/**
 * Deletes at most `limit` rows past their expiry, oldest first (index calls_expiry; rows
 * another server is sweeping at the same moment are skipped, not waited for).
 */
export async function sweepExpiredCalls(db: Queryable, limit: number): Promise<number> {
  const result = await db.query(
    `DELETE FROM calls WHERE id IN (
       SELECT id FROM calls WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
     )`,
    [limit],
  );
  return result.rowCount ?? 0;
}

/** A starting server's leftovers: calls a previous process at its address asked (their callers are gone). */
export async function forgetAskedCalls(db: Queryable, asker: string): Promise<void> {
  await db.query('DELETE FROM calls WHERE asker = $1', [asker]);
}
