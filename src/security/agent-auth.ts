/**
 * Whether an agent's hello may enrol: the shared token (when the server requires one) and,
 * over TLS with a client certificate, the guid bound to that certificate; a guid that holds a
 * certificate (the certificate book) is refused without it, even when certificates are not
 * required (roll-out mode). Returns the reason for `error unauthorized`, or undefined to admit.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { secretsEqual } from './secrets';
import { LIMITS } from '../protocol/limits';
import type { Hello } from '../protocol/messages';
import type { CertificateBook } from './certificate-book';
import { normalSerial } from './crl';
import { certificateNames, presentedCertificate, untrustedCertificate } from './identity';
import { revokedCertificate } from './tls-terminator';

export type AgentAuthorizer = (hello: Hello, socket: Socket) => string | undefined;

export interface AgentAuthOptions {
  /** When set, hello.token must equal it (compared in constant time); read at each hello, so a reload takes effect at once. */
  token: string | undefined | (() => string | undefined);
  /** Guids that hold a certificate; undefined when client certificates are not requested. */
  book?: CertificateBook | undefined;
  /** Revoked serials (asked again at hello: a revocation may land between TLS and hello). */
  isRevoked?: ((serial: string) => boolean) | undefined;
}

export function agentAuthorizer(options: AgentAuthOptions): AgentAuthorizer {
  const token = typeof options.token === 'function' ? options.token : () => options.token as string | undefined;
  return (hello, socket) => refuseToken(token(), hello.token) ?? revokedCertificate(socket, options.isRevoked) ?? refuseIdentity(hello.guid, socket, options.book);
}

/** Why a hello's enrolment token is refused; undefined when none is required or it matches. */
export function refuseToken(required: string | undefined, presented: string | undefined): string | undefined {
  if (required === undefined) return undefined;
  if (presented === undefined) return 'this server requires an enrolment token';
  return secretsEqual(presented, required) ? undefined : 'wrong enrolment token';
}

/**
 * Over TLS, a client certificate that was presented must be trusted and must name the guid.
 * No certificate at all only gets this far when the server does not require one.
 */
export function refuseIdentity(guid: string, socket: Socket, book?: CertificateBook): string | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = presentedCertificate(socket);
  if (cert === undefined) {
    if (book?.entry(guid) === undefined) return undefined;
    return clampText(
      `guid ${quoteShort(guid)} holds a certificate: connect with it (tls.cert and tls.key), or have an operator run \`agentlb hosts reissue\` for it`,
    );
  }
  const untrusted = untrustedCertificate(socket);
  if (untrusted !== undefined) return untrusted;
  const names = certificateNames(cert);
  if (names.includes(guid)) {
    // Remembered from now on: without this certificate the guid is refused (fire and forget:
    // the handshake does not wait for the disk; a lost line is written again next time).
    book?.record({ guid, serial: normalSerial(cert.serialNumber) ?? cert.serialNumber.toLowerCase(), notAfter: new Date(cert.valid_to).toISOString() }).catch(() => undefined);
    return undefined;
  }
  const shown = names.slice(0, 4).map(quoteShort);
  return clampText(`guid ${quoteShort(guid)} is not a name of the client certificate (${shown.join(', ') || 'it names none'})`);
}

function quoteShort(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

/** error.message holds at most LIMITS.textBytes UTF-8 bytes (protocol.md section 8). */
function clampText(text: string): string {
  let out = text;
  while (Buffer.byteLength(out, 'utf8') > LIMITS.textBytes) out = out.slice(0, -16);
  return out;
}
