/**
 * PEM files named on the server's command line or in agent.properties, read and checked at
 * start (a key that does not match its certificate is refused then, naming the files, not
 * discovered at the first connection).
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { readFileIfExists } from '../util/atomic-file';
import { parseCrl, type Crl } from './crl';

export class TlsFilesError extends Error {
  readonly code = 'bad_tls_files';
  constructor(message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

/** What the agent listener needs to speak TLS. */
export interface ListenerTls {
  cert: Buffer;
  key: Buffer;
  /** Client certificates are requested and must chain to this CA; undefined: not requested. */
  ca: Buffer | undefined;
  /** Refuse agents that present no (trusted) client certificate. Needs `ca`. */
  requireClientCert: boolean;
  /** The revocation list read with them (verified with `ca`); undefined: none. */
  crl?: Crl | undefined;
  /** Whether a client certificate's serial is revoked (the server's RevocationList). */
  isRevoked?: ((serial: string) => boolean) | undefined;
}

export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string | undefined;
  requireClientCert: boolean;
  /** A PEM CRL signed by the CA in caFile; undefined: none. */
  crlFile?: string | undefined;
  /** crlFile may be missing (the CA directory's ca.crl before the first revocation). */
  crlOptional?: boolean | undefined;
}

export async function loadServerTls(files: ServerTlsFiles): Promise<ListenerTls> {
  if (files.requireClientCert && files.caFile === undefined) {
    throw new TlsFilesError('requiring client certificates needs the CA that issues them (--tls-ca)');
  }
  const [cert, key, ca, crlPem] = await Promise.all([
    read(files.certFile),
    read(files.keyFile),
    files.caFile === undefined ? undefined : read(files.caFile),
    files.crlFile === undefined ? undefined : files.crlOptional === true ? readFileIfExists(files.crlFile) : read(files.crlFile),
  ]);
  checkContext({ cert, key, ca }, [files.certFile, files.keyFile, files.caFile]);
  let crl: Crl | undefined;
  if (crlPem !== undefined) {
    if (ca === undefined) throw new TlsFilesError(`a revocation list (${files.crlFile}) needs the CA that signed it (--tls-ca)`);
    try {
      crl = parseCrl(crlPem.toString('utf8'), ca);
    } catch (error) {
      throw new TlsFilesError(`unusable revocation list ${files.crlFile}: ${(error as Error).message}`);
    }
  }
  return { cert, key, ca, requireClientCert: files.requireClientCert, crl };
}

export interface AgentTlsFiles {
  /** The CA the servers' certificates must chain to. */
  caFile: string;
  /** The agent's own certificate and key, for servers that require one. */
  certFile: string | undefined;
  keyFile: string | undefined;
}

/** tls.connect options for the agent: verifies the server; presents a certificate if given. */
export async function loadAgentTls(files: AgentTlsFiles): Promise<ConnectionOptions> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TlsFilesError('an agent certificate needs both its certificate and its key file');
  }
  const [ca, cert, key] = await Promise.all([
    read(files.caFile),
    files.certFile === undefined ? undefined : read(files.certFile),
    files.keyFile === undefined ? undefined : read(files.keyFile),
  ]);
  checkContext({ ca, cert, key }, [files.caFile, files.certFile, files.keyFile]);
  return { ca, ...(cert === undefined ? {} : { cert, key }), rejectUnauthorized: true };
}

async function read(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new TlsFilesError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** OpenSSL parses everything here: bad PEM, a key of another certificate. */
function checkContext(options: { cert?: Buffer | undefined; key?: Buffer | undefined; ca?: Buffer | undefined }, files: (string | undefined)[]): void {
  try {
    createSecureContext(options);
  } catch (error) {
    const named = files.filter((file) => file !== undefined).join(', ');
    throw new TlsFilesError(`unusable TLS files (${named}): ${(error as Error).message}`);
  }
}
