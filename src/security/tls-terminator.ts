/**
 * TLS for the agent listener. The listener keeps accepting plain TCP sockets (so its limits
 * apply before any TLS work is spent) and hands the admitted ones to a tls.Server that never
 * listens itself: `server.emit('connection', socket)` is node:tls's documented way to inject
 * a connection. The same connection handler then gets the TLSSocket.
 *
 * Client certificates are requested when a CA is configured. They are checked here, not by
 * OpenSSL's rejectUnauthorized: that would cut an untrusted agent off with a bare close; this
 * way it is told `error unauthorized` and why, before any of its frames is read.
 */
import type net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { certificateSerial, presentedCertificate, untrustedCertificate } from './identity';
import type { ListenerTls } from './tls-files';

export interface TlsTerminatorHandlers {
  /** The TLS handshake succeeded (the certificate may still be refused: refuseCertificate). */
  secure(socket: TLSSocket): void;
  /** The TLS handshake failed or timed out; the socket has been destroyed. */
  failed(error: Error & { code?: string }, socket: TLSSocket): void;
}

/**
 * TLS 1.3 keeps OpenSSL's three suites (all AEAD with forward secrecy); TLS 1.2 is limited to
 * ECDHE key exchange with AEAD ciphers. Node's default list also admits DHE, CBC-SHA2 and,
 * through `HIGH`, static-RSA suites such as AES128-SHA with no forward secrecy (an audit
 * counted 21 suites offered over TLS 1.2).
 */
export const AGENT_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The secure-context part of the options: what a reload replaces (tls.Server.setSecureContext). */
export function secureContextOptions(config: ListenerTls): tls.SecureContextOptions {
  return {
    cert: config.cert,
    key: config.key,
    ...(config.ca === undefined ? {} : { ca: config.ca }),
    minVersion: 'TLSv1.2',
    ciphers: AGENT_TLS_CIPHERS,
    honorCipherOrder: true,
  };
}

export function createTlsTerminator(config: ListenerTls, handshakeTimeoutMs: number, handlers: TlsTerminatorHandlers): tls.Server {
  const server = tls.createServer(
    {
      ...secureContextOptions(config),
      // Decided once: whether client certificates are asked for is not a reloadable choice.
      ...(config.ca === undefined ? {} : { requestCert: true }),
      rejectUnauthorized: false,
      handshakeTimeout: handshakeTimeoutMs,
    },
    (socket) => handlers.secure(socket),
  );
  server.on('tlsClientError', (error, socket) => {
    // node:tls leaves the socket open after some of these (a handshake timeout among them).
    socket.destroy();
    handlers.failed(error, socket);
  });
  return server;
}

/** Why a TLS agent is refused for its certificate (before its hello), or undefined. */
export function refuseCertificate(socket: TLSSocket, config: ListenerTls): string | undefined {
  if (config.ca === undefined) return undefined;
  if (presentedCertificate(socket) === undefined) return config.requireClientCert ? 'this server requires a client certificate' : undefined;
  return untrustedCertificate(socket) ?? revokedCertificate(socket, config.isRevoked);
}

/** The refusal of a revoked certificate (protocol.md 1.1), the same at accept, at hello and for a connected agent. */
export const CERTIFICATE_REVOKED = 'certificate revoked';

/** CERTIFICATE_REVOKED when the peer's certificate is revoked, else undefined. */
export function revokedCertificate(socket: net.Socket, isRevoked: ((serial: string) => boolean) | undefined): string | undefined {
  if (isRevoked === undefined) return undefined;
  const serial = certificateSerial(socket);
  return serial !== undefined && isRevoked(serial) ? CERTIFICATE_REVOKED : undefined;
}
