/**
 * Naming the case where the agent refused this server's certificate. The server only sees the
 * symptom: an alert from the agent's TLS stack (unknown CA, bad certificate, expired...) or,
 * from a Node agent, the connection closed mid-handshake ("socket hang up", ECONNRESET) right
 * after the server sent its certificate. Either is reported under one code with the likely
 * cause and fix, instead of "TLS refused: socket hang up"; the original code and text stay in
 * the event (`cause`, `detail`), so no information is lost.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export const AGENT_REFUSED_CERTIFICATE = 'agent_refused_certificate';

/** OpenSSL's codes for alerts a TLS client sends when it does not accept the server's certificate. */
const CERTIFICATE_ALERTS: ReadonlySet<string> = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/**
 * Whether a failed TLS handshake means the agent refused our certificate: one of the
 * certificate alerts, or a reset after this server had written its first flight (which holds
 * the certificate). A reset before the server wrote anything is a port probe or a client
 * that gave up: not a refusal of the certificate.
 */
export function agentRefusedCertificate(code: string | undefined, serverBytesWritten: number): boolean {
  if (code === undefined) return false;
  if (CERTIFICATE_ALERTS.has(code)) return true;
  return code === 'ECONNRESET' && serverBytesWritten > 0;
}

/** The log line's text for it, naming the peer. */
export function agentRefusedCertificateMessage(remote: string): string {
  return (
    `the agent at ${remote} refused this server's certificate (closed the TLS handshake after receiving it): ` +
    `check that the agent's tls.ca holds the CA that signed --tls-cert, and that the certificate names the address the agent connects to`
  );
}

/**
 * The plain TCP socket under a server-side TLSSocket. node:tls keeps it as `_parent` (stable
 * since Node 0.11, not documented): once the TLS socket is destroyed it no longer knows its
 * peer, while the raw socket cached its address at accept and counts the bytes really sent.
 */
export function rawSocketOf(socket: TLSSocket): Socket | undefined {
  const parent = (socket as unknown as { _parent?: unknown })._parent;
  return typeof parent === 'object' && parent !== null && 'bytesWritten' in parent ? (parent as Socket) : undefined;
}
