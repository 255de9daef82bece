/**
 * TLS meeting plain TCP, over real sockets: each end names the peer, the likely cause and the
 * fix instead of OpenSSL's text or a bare "closed", and keeps the original code alongside.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { toServerEntry, type ServerEntry } from '../../agent/server-pool';
import { HandshakeFailure, openSession, Session, type SessionOptions } from '../../agent/session';
import type { Hello } from '../../src/protocol/messages';
import { looksLikeTlsRecord } from '../../src/security/tls-mismatch';
import { nextEvent, startTestServer } from '../helpers/server';
import { listenerTls, makePki, type Pki } from './pki';

const PLAIN: SessionOptions = { connectTimeoutMs: 2_000, handshakeTimeoutMs: 2_000, defaultPingIntervalMs: 1_000, missedIntervals: 3 };
const HELLO: Hello = { type: 'hello', version: 1, guid: 'agent-1', hosts: [], algorithm: 'static', checkInterval: 0 };
const SET_TLS = 'set tls.ca (and tls.cert/tls.key if it requires client certificates) in agent.properties';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

async function failure(port: number, opts: SessionOptions): Promise<HandshakeFailure> {
  const result = await openSession(toServerEntry(`127.0.0.1:${port}`, 8250) as ServerEntry, HELLO, opts);
  if (result instanceof Session) {
    result.close();
    throw new Error('expected a handshake failure, got a session');
  }
  return result;
}

/** A logger whose lines are collected, parsed. */
function collectingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ base: undefined, timestamp: false }, sink), lines };
}

async function rawServer(t: Test, onSocket: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

t.test('a TLS agent dialling a plain server is told the server does not speak TLS, with the OpenSSL code', async (t) => {
  const server = await startTestServer(t, {});
  const f = await failure(server.agentPort, { ...PLAIN, tls: { ca: pki.ca } });
  t.equal(f.code, 'connect_failed');
  t.equal(
    f.message,
    `127.0.0.1:${server.agentPort} does not speak TLS (got a plain reply to the TLS handshake): ` +
      'remove tls.* from agent.properties or start the server with --tls-cert/--tls-key (ERR_SSL_WRONG_VERSION_NUMBER)',
  );
  t.match(f.cause, { code: 'connect_failed', cause: { code: 'ERR_SSL_WRONG_VERSION_NUMBER' } }, 'the original error is kept as the cause');
});

t.test('a plain agent dialling a TLS server is told it expects TLS; the server logs the plain client once, keeping the code', async (t) => {
  const { logger, lines } = collectingLogger();
  const server = await startTestServer(t, { logger, security: { tls: listenerTls(pki, true) } });
  const failed = nextEvent(server.events, 'tlsFailed');
  const f = await failure(server.agentPort, PLAIN);
  t.equal(f.code, 'closed');
  t.equal(
    f.message,
    `127.0.0.1:${server.agentPort} closed the connection before welcome without sending a byte, as a TLS server does to a plain client: if it expects TLS, ${SET_TLS}`,
  );
  const event = await failed;
  await failure(server.agentPort, PLAIN);
  const tlsLines = lines.filter((line) => line['event'] === 'tls_failed');
  t.same(tlsLines, [
    {
      level: 40,
      event: 'tls_failed',
      code: 'ERR_SSL_WRONG_VERSION_NUMBER',
      remote: event.remoteAddress,
      detail: event.message,
      msg: 'a client spoke plain TCP to the TLS listener',
    },
  ], 'one line for two plain clients (rate-limited), OpenSSL text kept in detail');
  t.match(event.message, /wrong version number/);
});

t.test('a plain agent answered with a TLS alert record is told the server expects TLS', async (t) => {
  // What an OpenSSL server may send a plain client before closing: a fatal protocol_version alert.
  const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);
  const closing = await rawServer(t, (socket) => socket.end(alert));
  const closed = await failure(closing, PLAIN);
  t.equal(closed.code, 'bad_reply');
  t.equal(closed.message, `127.0.0.1:${closing} expects TLS: ${SET_TLS} (frame length 352518912 exceeds the maximum of 65536)`);
  const split = await rawServer(t, (socket) => socket.end(alert.subarray(0, 1)));
  const f = await failure(split, PLAIN);
  t.equal(f.code, 'closed');
  t.equal(f.message, `127.0.0.1:${split} expects TLS: ${SET_TLS}`);
});

t.test('only alert or handshake records of TLS version 3.x look like TLS', async (t) => {
  t.equal(looksLikeTlsRecord(Buffer.from([0x16, 0x03, 0x01])), true);
  t.equal(looksLikeTlsRecord(Buffer.from([0x15])), true);
  t.equal(looksLikeTlsRecord(Buffer.from([0x15, 0x00])), false);
  t.equal(looksLikeTlsRecord(Buffer.from([0x00, 0x00, 0x00, 0x10])), false);
  t.equal(looksLikeTlsRecord(Buffer.alloc(0)), false);
});
