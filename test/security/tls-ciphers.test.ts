/**
 * The agent listener's cipher suites: over TLS 1.2 only ECDHE key exchange with AEAD ciphers is
 * accepted (forward secrecy, no CBC); TLS 1.3 keeps its own suites. A real server, real clients
 * offering one suite each, so the server's choice is what decides.
 */
import tls from 'node:tls';
import t from 'tap';
import { startTestServer } from '../helpers/server';
import { listenerTls, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

/** The negotiated cipher, or the error code of a refused handshake. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca, servername: 'localhost', ...options });
    socket.once('secureConnect', () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.once('error', (error: Error & { code?: string }) => resolve(`refused ${error.code ?? error.message}`));
  });
}

t.test('TLS 1.2 without forward secrecy or without AEAD is refused; ECDHE with GCM or ChaCha20 is accepted', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false, false) } });
  const tls12 = { maxVersion: 'TLSv1.2' as const };
  for (const cipher of ['AES128-SHA', 'AES256-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384', 'DHE-RSA-AES128-GCM-SHA256']) {
    t.match(await handshake(server.agentPort, { ...tls12, ciphers: cipher }), /^refused /, `${cipher} refused`);
  }
  t.equal(await handshake(server.agentPort, { ...tls12, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }), 'TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
  t.equal(await handshake(server.agentPort, { ...tls12, ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }), 'TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
  t.equal(await handshake(server.agentPort, { ...tls12, ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' }), 'TLSv1.2 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
});

t.test('TLS 1.3 is unchanged: each of its three suites is accepted', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false, false) } });
  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    t.equal(await handshake(server.agentPort, { minVersion: 'TLSv1.3', ciphers: suite }), `TLSv1.3 ${suite}`);
  }
});

t.test('a TLS 1.1 client is refused', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false, false) } });
  t.match(await handshake(server.agentPort, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /^refused /);
});
