/**
 * Enrolment and renewal on the server (`agentlb server --ca-dir DIR`): signs the PKCS#10
 * request an agent sends in `hello.csr` with the CA in DIR, under trust on first enrolment
 * (protocol.md 1.1):
 *
 * - renewal: the agent presents a trusted certificate naming its guid (the authorizer checked
 *   the chain and the name before this runs): signed;
 * - enrolment: the guid holds no certificate (never had one, or an operator reset it) and the
 *   server requires an enrolment token (which the authorizer checked): signed;
 * - anything else is refused, so the token alone never takes over an enrolled guid.
 *
 * The request's CN must be the guid and its signature must verify. Signing runs on the thread
 * pool (x509-async.ts), never on the event loop; the certificate is recorded in the book, durably,
 * before it is returned.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import type { Hello } from '../protocol/messages';
import { CA_CERT_FILE, CA_KEY_FILE } from './ca';
import type { CertificateBook } from './certificate-book';
import type { IssuedEntry } from './ca-dir';
import { normalSerial } from './crl';
import { presentedCertificate } from './identity';
import { CERTIFICATE_REVOKED, revokedCertificate } from './tls-terminator';
import { checkCsr, CsrError, signAgentCertificate, type SignedCertificate, type SigningCa } from './x509-async';

export const DEFAULT_ENROL_CERT_DAYS = 90;

export type EnrolResult = { certificate: string } | { refusal: string };

export interface EnrollerOptions {
  book: CertificateBook;
  /** Lifetime of the certificates signed, in milliseconds. */
  certLifetimeMs: number;
  /** Whether the server requires an enrolment token (read at each request: a reload changes it). */
  tokenRequired: () => boolean;
  /** Whether a serial is revoked: a revoked certificate is no proof for a renewal. */
  isRevoked?: (serial: string) => boolean;
  /** Puts each certificate in the CA's ledger (what `ca revoke --name` searches) before it is returned. */
  recordIssued?: (entry: IssuedEntry) => Promise<void>;
  /** Told of each certificate signed (logs, metrics). */
  issued?: (guid: string, certificate: SignedCertificate, renewal: boolean) => void;
  now?: () => Date;
}

export class EnrollerError extends Error {
  readonly code = 'bad_ca_dir';
  constructor(message: string) {
    super(message);
    this.name = 'EnrollerError';
  }
}

/** The CA in `dir` (ca.crt and ca.key, as `agentlb ca init` writes them), checked to belong together. */
export async function loadSigningCa(dir: string): Promise<SigningCa & { certPem: string }> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(path.join(dir, CA_CERT_FILE), 'utf8'), readFile(path.join(dir, CA_KEY_FILE), 'utf8')]);
  } catch (error) {
    throw new EnrollerError(`cannot read the CA in ${dir} (${CA_CERT_FILE}, ${CA_KEY_FILE}): ${(error as Error).message}; create one with \`agentlb ca init ${dir}\``);
  }
  let cert: forge.pki.Certificate;
  let key: forge.pki.rsa.PrivateKey;
  try {
    cert = forge.pki.certificateFromPem(certPem);
    key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  } catch (error) {
    throw new EnrollerError(`the CA in ${dir} is not a PEM certificate and RSA key: ${(error as Error).message}`);
  }
  const publicKey = cert.publicKey as forge.pki.rsa.PublicKey;
  if (publicKey.n.compareTo(key.n) !== 0) throw new EnrollerError(`${path.join(dir, CA_KEY_FILE)} is not the key of ${path.join(dir, CA_CERT_FILE)}`);
  return { cert, keyPem, certPem };
}

export class Enroller {
  /** Guids whose enrolment is being signed: a second request for one is refused meanwhile. */
  private readonly pending = new Set<string>();

  constructor(
    private ca: SigningCa,
    private readonly options: EnrollerOptions,
  ) {}

  /** Replaces the CA (SIGHUP reload); requests already being signed finish with the old one. */
  setCa(ca: SigningCa): void {
    this.ca = ca;
  }

  async enrol(hello: Hello, socket: Socket): Promise<EnrolResult> {
    const guid = hello.guid;
    const renewal = socket instanceof TLSSocket && socket.authorized && presentedCertificate(socket) !== undefined;
    // The authorizer refused it already; asked again because a revocation can land meanwhile.
    if (renewal && revokedCertificate(socket, this.options.isRevoked) !== undefined) return { refusal: CERTIFICATE_REVOKED };
    if (!renewal) {
      if (!(socket instanceof TLSSocket)) return { refusal: 'enrolment needs TLS' };
      if (this.options.book.entry(guid) !== undefined || this.pending.has(guid)) {
        return { refusal: alreadyEnrolled(guid) };
      }
      if (!this.options.tokenRequired()) return { refusal: 'this server enrols agents only with an enrolment token, and none is configured (--agent-token)' };
    }
    let csr;
    try {
      csr = await checkCsr(hello.csr!);
    } catch (error) {
      if (error instanceof CsrError) return { refusal: error.message };
      throw error;
    }
    if (csr.commonName !== guid) {
      return { refusal: `hello.csr names ${JSON.stringify(csr.commonName.slice(0, 64))}, not the guid ${JSON.stringify(guid.slice(0, 64))}` };
    }
    if (!renewal) {
      if (this.options.book.entry(guid) !== undefined || this.pending.has(guid)) return { refusal: alreadyEnrolled(guid) };
      this.pending.add(guid);
    }
    try {
      const signed = await signAgentCertificate(this.ca, guid, csr.publicKey, this.options.certLifetimeMs, this.options.now?.());
      const notAfter = signed.notAfter.toISOString();
      // The ledger first: a certificate recorded there but never handed out is harmless.
      // Normal form (no leading zero nibble), as certificateSerial reads it back off a socket.
      const serial = normalSerial(signed.serial) ?? signed.serial;
      await this.options.recordIssued?.({ serial, name: guid, notAfter });
      const entry = { guid, serial, notAfter };
      if (renewal) await this.options.book.record(entry);
      // Another server of the cluster may have enrolled the guid meanwhile: the book decides.
      else if (!(await this.options.book.claim(entry))) return { refusal: alreadyEnrolled(guid) };
      this.options.issued?.(guid, signed, renewal);
      return { certificate: signed.pem };
    } finally {
      this.pending.delete(guid);
    }
  }
}

function alreadyEnrolled(guid: string): string {
  return `guid ${JSON.stringify(guid.slice(0, 64))} is already enrolled: renew with its current certificate, or have an operator run \`agentlb hosts reissue\` for it`;
}
