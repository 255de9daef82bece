/**
 * Telling operators that one end speaks TLS and the other does not. OpenSSL's own text for
 * this ("wrong version number:../deps/openssl/...") names neither the cause nor the fix, and a
 * plain agent refused by a TLS server sees only a close. These helpers recognise the symptoms;
 * the callers keep the original error code next to the hint, so no information is lost.
 */

/**
 * OpenSSL errors raised when the first bytes of a TLS peer are not a TLS record: what a TLS end
 * reads when the other end writes plain frames (a 4-byte length, so record type 0x00).
 */
const NOT_TLS_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_HTTPS_PROXY_REQUEST',
]);

/** True when `code` (a TLS error's) says the peer does not speak TLS at all. */
export function isPlainPeerError(code: string | undefined): boolean {
  return code !== undefined && NOT_TLS_CODES.has(code);
}

/** TLS record content types a server sends first to a client that is not TLS: alert, handshake. */
const TLS_ALERT = 0x15;
const TLS_HANDSHAKE = 0x16;
/** Every TLS record version starts with major version 3 (SSL 3.0 through TLS 1.3). */
const TLS_MAJOR_VERSION = 0x03;

/** True when `bytes` (the first bytes a peer sent) start like a TLS alert or handshake record. */
export function looksLikeTlsRecord(bytes: Buffer): boolean {
  if (bytes.length === 0) return false;
  const type = bytes[0];
  if (type !== TLS_ALERT && type !== TLS_HANDSHAKE) return false;
  return bytes.length < 2 || bytes[1] === TLS_MAJOR_VERSION;
}

/** The agent speaks TLS; `server` answered the TLS handshake with plain bytes. */
export function plainServerHint(server: string): string {
  return `${server} does not speak TLS (got a plain reply to the TLS handshake): remove tls.* from agent.properties or start the server with --tls-cert/--tls-key`;
}

const SET_TLS = 'set tls.ca (and tls.cert/tls.key if it requires client certificates) in agent.properties';

/** The agent speaks plain TCP; `server` answered with a TLS record. */
export function tlsServerHint(server: string): string {
  return `${server} expects TLS: ${SET_TLS}`;
}

/**
 * The agent speaks plain TCP; `server` closed without sending a byte. A TLS server does exactly
 * this to a plain client (protocol.md section 1.1: "an alert or a bare close"), while a plain
 * server always says why it refuses (`error server_busy` and the like), so TLS is the likely cause.
 */
export function silentCloseHint(server: string): string {
  return `${server} closed the connection before welcome without sending a byte, as a TLS server does to a plain client: if it expects TLS, ${SET_TLS}`;
}

/** The server's log line for a plain client on its TLS listener, instead of OpenSSL's text. */
export const PLAIN_CLIENT_ON_TLS_LISTENER = 'a client spoke plain TCP to the TLS listener';
