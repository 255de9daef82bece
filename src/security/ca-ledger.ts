/**
 * What the CA in a directory issued and revoked, beside ca.crt and ca.key:
 *
 *   issued.log   one JSON line per certificate signed ({"serial","name","notAfter"}), appended
 *                by `agentlb ca issue` and by a server enrolling agents with --ca-dir
 *   ca.crl       the revocation list, PEM, signed by the CA: the one record of revocations
 *
 * `agentlb ca revoke DIR --name GUID | --serial S` (revokeInCaDir) finds the serials in
 * issued.log (and, in cluster mode, in the store's ledger, passed in as `alsoIssued`), adds
 * them to ca.crl and writes it again atomically. A torn last line of issued.log (a crash
 * mid-append) is skipped.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../util/atomic-file';
import { CA_CERT_FILE, CA_KEY_FILE, CaError, CRL_FILE, ISSUED_FILE, type IssuedEntry } from './ca-dir';
import { buildCrl, normalSerial, parseCrl, type Crl, type RevokedEntry } from './crl';

export async function readIssued(dir: string): Promise<IssuedEntry[]> {
  const bytes = await readFileIfExists(path.join(dir, ISSUED_FILE));
  if (bytes === undefined) return [];
  const entries: IssuedEntry[] = [];
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line === '') continue;
    try {
      const { serial, name, notAfter } = JSON.parse(line) as Record<string, unknown>;
      const normal = typeof serial === 'string' ? normalSerial(serial) : undefined;
      if (normal !== undefined && typeof name === 'string' && typeof notAfter === 'string') entries.push({ serial: normal, name, notAfter });
    } catch {
      // torn by a crash mid-append: that certificate was never handed out
    }
  }
  return entries;
}

/** DIR/ca.crl verified with DIR/ca.crt; an empty list when there is none yet. */
export async function readCaDirCrl(dir: string): Promise<Crl> {
  const [pem, caPem] = await Promise.all([readFileIfExists(path.join(dir, CRL_FILE)), readFile(path.join(dir, CA_CERT_FILE))]);
  if (pem === undefined) return { entries: [], number: 0n, thisUpdate: new Date(0) };
  return parseCrl(pem.toString('utf8'), caPem);
}

export type RevokeTarget = { name: string } | { serial: string };

export interface RevokeResult {
  /** Serials added to the list by this call. */
  revoked: IssuedEntry[];
  /** Serials of the target that the list already held. */
  already: IssuedEntry[];
  crlFile: string;
}

export interface RevokeOptions {
  /** Certificates issued elsewhere (the cluster store's ledger), searched as well as issued.log. */
  alsoIssued?: readonly IssuedEntry[];
  now?: Date;
}

/**
 * Revokes the target's certificates: `--serial` one certificate the CA issued, `--name` every
 * one issued for that name. Throws CaError naming the value when the CA issued none.
 */
export async function revokeInCaDir(dir: string, target: RevokeTarget, options: RevokeOptions = {}): Promise<RevokeResult> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(path.join(dir, CA_CERT_FILE), 'utf8'), readFile(path.join(dir, CA_KEY_FILE), 'utf8')]);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CaError(missing ? 'ca_missing' : 'ca_unreadable', `cannot read the CA in ${dir}: ${(error as Error).message}${missing ? ` (run \`agentlb ca init ${dir}\` first)` : ''}`);
  }
  const issued = [...(await readIssued(dir)), ...(options.alsoIssued ?? [])];
  let targets: IssuedEntry[];
  if ('serial' in target) {
    const serial = normalSerial(target.serial);
    const found = serial === undefined ? undefined : issued.find((entry) => entry.serial === serial);
    if (found === undefined) throw new CaError('unknown_certificate', `the CA in ${dir} issued no certificate with serial ${JSON.stringify(target.serial)}`);
    targets = [found];
  } else {
    targets = uniqueBySerial(issued.filter((entry) => entry.name === target.name));
    if (targets.length === 0) throw new CaError('unknown_certificate', `the CA in ${dir} issued no certificate for ${JSON.stringify(target.name)}`);
  }
  let current: Crl;
  try {
    current = await readCaDirCrl(dir);
  } catch (error) {
    throw new CaError('ca_unreadable', `${path.join(dir, CRL_FILE)} is unusable, refusing to replace it: ${(error as Error).message}`);
  }
  const listed = new Set(current.entries.map((entry) => entry.serial));
  const revoked = targets.filter((entry) => !listed.has(entry.serial));
  const already = targets.filter((entry) => listed.has(entry.serial));
  const crlFile = path.join(dir, CRL_FILE);
  if (revoked.length > 0) {
    const now = options.now ?? new Date();
    const entries: RevokedEntry[] = [...current.entries, ...revoked.map((entry) => ({ serial: entry.serial, revokedAt: now }))];
    await writeFileAtomic(crlFile, await buildCrl({ certPem, keyPem }, entries, current.number + 1n, now), { mode: 0o644 });
  }
  return { revoked, already, crlFile };
}

function uniqueBySerial(entries: IssuedEntry[]): IssuedEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry.serial) && seen.add(entry.serial) !== undefined);
}
