/**
 * The statements behind CertificateRegistry in PostgreSQL (schema version 9): which guid
 * holds which certificate, what was issued, what is revoked. Shared by the server (PgStore)
 * and by `agentlb ca revoke --store` (one connection of its own).
 */
import type { CertifiedRecord, IssuedCertificate } from '../types';
import type { Queryable } from './queries';

interface CertifiedRow {
  guid: string;
  serial: string | null;
  not_after: Date | null;
}

const CERTIFIED_OUT = 'guid, serial, not_after';

function toCertified(row: CertifiedRow): CertifiedRecord {
  return { guid: row.guid, serial: row.serial, notAfter: row.not_after === null ? null : row.not_after.toISOString() };
}

type HeldRecord = CertifiedRecord & { serial: string; notAfter: string };

/**
 * Takes the guid only if it holds no certificate (no row, or a reset one), in one statement:
 * a concurrent claim of the same guid waits on the row lock, then finds it held and returns
 * no row. True when this call won the guid.
 */
export async function claimCertified(db: Queryable, record: HeldRecord): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO certified_guids (guid, serial, not_after) VALUES ($1, $2, $3)
     ON CONFLICT (guid) DO UPDATE SET serial = EXCLUDED.serial, not_after = EXCLUDED.not_after, changed_at = now()
       WHERE certified_guids.serial IS NULL
     RETURNING id`,
    [record.guid, record.serial, record.notAfter],
  );
  return result.rowCount === 1;
}

/** The guid's newest certificate, whatever it held (a renewal, or one seen over TLS); unchanged rows are not rewritten. */
export async function recordCertified(db: Queryable, record: HeldRecord): Promise<void> {
  await db.query(
    `INSERT INTO certified_guids (guid, serial, not_after) VALUES ($1, $2, $3)
     ON CONFLICT (guid) DO UPDATE SET serial = EXCLUDED.serial, not_after = EXCLUDED.not_after, changed_at = now()
       WHERE certified_guids.serial IS DISTINCT FROM EXCLUDED.serial`,
    [record.guid, record.serial, record.notAfter],
  );
}

/** Operator reset: the row stays, without a certificate (so the change is announced by id). */
export async function resetCertified(db: Queryable, guid: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE certified_guids SET serial = NULL, not_after = NULL, changed_at = now() WHERE guid = $1 AND serial IS NOT NULL RETURNING id`,
    [guid],
  );
  return result.rowCount === 1;
}

/**
 * One page of the guids holding a certificate, along the primary key (keyset paging): a reader
 * of 100 000 of them takes them a page per turn of the event loop, never all in one.
 */
export async function readCertifiedPage(db: Queryable, after: number, limit: number): Promise<{ records: CertifiedRecord[]; next: number | undefined }> {
  const result = await db.query<CertifiedRow & { id: string }>(
    `SELECT id, ${CERTIFIED_OUT} FROM certified_guids WHERE id > $1 AND serial IS NOT NULL ORDER BY id LIMIT $2`,
    [after, limit],
  );
  const last = result.rows.at(-1);
  return { records: result.rows.map(toCertified), next: result.rows.length < limit || last === undefined ? undefined : Number(last.id) };
}

/** The rows of an announcement, reset ones included (serial null). */
export async function readCertifiedById(db: Queryable, ids: readonly number[]): Promise<CertifiedRecord[]> {
  const result = await db.query<CertifiedRow>(`SELECT ${CERTIFIED_OUT} FROM certified_guids WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]);
  return result.rows.map(toCertified);
}

export async function insertIssued(db: Queryable, entry: IssuedCertificate, issuedBy: string | null): Promise<void> {
  await db.query(
    `INSERT INTO issued_certificates (serial, guid, not_after, issued_by) VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO NOTHING`,
    [entry.serial, entry.name, entry.notAfter, issuedBy],
  );
}

/** What `ca revoke --name NAME` / `--serial S` targets among the certificates servers issued. */
export async function readIssued(db: Queryable, target: { name: string } | { serial: string }): Promise<IssuedCertificate[]> {
  const [column, value] = 'name' in target ? ['guid', target.name] : ['serial', target.serial];
  const result = await db.query<{ serial: string; guid: string; not_after: Date }>(
    `SELECT serial, guid, not_after FROM issued_certificates WHERE ${column} = $1 ORDER BY issued_at, serial`,
    [value],
  );
  return result.rows.map((row) => ({ serial: row.serial, name: row.guid, notAfter: row.not_after.toISOString() }));
}

/** Revokes each certificate once (ON CONFLICT DO NOTHING); returns the serials this call added. */
export async function insertRevocations(db: Queryable, entries: readonly IssuedCertificate[], reason: string | null): Promise<string[]> {
  if (entries.length === 0) return [];
  const result = await db.query<{ serial: string }>(
    `INSERT INTO revocations (serial, guid, reason)
     SELECT serial, guid, $3 FROM unnest($1::text[], $2::text[]) AS t (serial, guid)
     ON CONFLICT (serial) DO NOTHING
     RETURNING serial`,
    [entries.map((entry) => entry.serial), entries.map((entry) => entry.name), reason],
  );
  return result.rows.map((row) => row.serial);
}

export async function readRevoked(db: Queryable): Promise<string[]> {
  const result = await db.query<{ serial: string }>('SELECT serial FROM revocations');
  return result.rows.map((row) => row.serial);
}

export async function readRevokedById(db: Queryable, ids: readonly number[]): Promise<string[]> {
  const result = await db.query<{ serial: string }>('SELECT serial FROM revocations WHERE id = ANY($1::bigint[]) ORDER BY id', [ids]);
  return result.rows.map((row) => row.serial);
}
