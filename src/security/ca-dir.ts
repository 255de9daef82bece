/**
 * The files of a CA directory and the error its commands throw, shared by the CA itself
 * (ca.ts: init, issue) and its ledger (ca-ledger.ts: issued certificates, revocations).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { normalSerial } from './crl';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
/** One JSON line per certificate the CA signed: what `agentlb ca revoke --name` searches. */
export const ISSUED_FILE = 'issued.log';
/** The revocation list, PEM, signed by the CA. */
export const CRL_FILE = 'ca.crl';

export type CaErrorCode = 'ca_exists' | 'ca_missing' | 'ca_unreadable' | 'cert_exists' | 'bad_name' | 'unknown_certificate';

export class CaError extends Error {
  constructor(
    readonly code: CaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CaError';
  }
}

export interface IssuedEntry {
  /** normalSerial form. */
  serial: string;
  /** The certificate's CN: a guid for an agent, a host name for a server. */
  name: string;
  /** ISO-8601 end of validity. */
  notAfter: string;
}

/** Appends one issued certificate to DIR/issued.log (mode 0600), fsynced before it resolves. */
export async function recordIssued(dir: string, entry: IssuedEntry): Promise<void> {
  const handle = await open(path.join(dir, ISSUED_FILE), 'a', 0o600);
  try {
    await handle.appendFile(`${JSON.stringify({ serial: normalSerial(entry.serial) ?? entry.serial, name: entry.name, notAfter: entry.notAfter })}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
