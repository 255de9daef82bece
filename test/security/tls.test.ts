/**
 * Mutual TLS on the agent listener, against a real in-process server: who gets a welcome, who
 * gets `error unauthorized` (and exactly why), and what a client that does not speak TLS sees.
 */
import net from 'node:net';
import t from 'tap';
import { ConnectError, nextMessage } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION } from '../../src/protocol/messages';
import { nextEvent, startTestServer } from '../helpers/server';
import { closeError, connectTls, helloOver, listenerTls, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

const unauthorized = (message: string) => ({ type: 'error', code: 'unauthorized', message });

t.test('a valid client certificate whose CN is the guid is welcomed', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const sock = await connectTls(server.agentPort, pki, pki.agent);
  // helloOver says the newest version (2 since calls, issue 14): the welcome answers in it.
  t.match(await helloOver(sock, 'agent-1'), { type: 'welcome', version: PROTOCOL_VERSION, hostId: 1 });
  sock.destroy();
});

t.test('a URI or DNS SAN names the guid as well as the CN', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  for (const guid of ['agent-2', 'urn:agentlb:agent-2b', 'agent-2c']) {
    const sock = await connectTls(server.agentPort, pki, pki.agentWithSans);
    t.match(await helloOver(sock, guid), { type: 'welcome' }, guid);
    sock.destroy();
  }
});

t.test('a guid the certificate does not name is refused: no agent takes another host id', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const sock = await connectTls(server.agentPort, pki, pki.agent);
  t.same(await helloOver(sock, 'agent-2'), unauthorized('guid "agent-2" is not a name of the client certificate ("agent-1")'));
  t.equal(await closeError(sock), undefined, 'then closed cleanly');
  const withSans = await connectTls(server.agentPort, pki, pki.agentWithSans);
  t.same(
    await helloOver(withSans, 'agent-1'),
    unauthorized('guid "agent-1" is not a name of the client certificate ("agent-2", "urn:agentlb:agent-2b", "agent-2c")'),
  );
  withSans.destroy();
});

t.test('required client certificates: none, or one from another CA, is refused before any frame is read', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const failures: string[] = [];
  server.events.on('tlsFailed', (e) => failures.push(`${e.code}: ${e.message}`));
  const handshakes: string[] = [];
  server.events.on('handshake', (e) => handshakes.push(e.result));

  const none = await connectTls(server.agentPort, pki);
  t.same(await nextMessage(none, 5_000), unauthorized('this server requires a client certificate'), 'told at once, without a hello');
  const stranger = await connectTls(server.agentPort, pki, pki.stranger);
  t.same(await nextMessage(stranger, 5_000), unauthorized('client certificate not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)'));
  await Promise.all([closeError(none), closeError(stranger)]);
  t.same(failures, [
    'client_certificate: this server requires a client certificate',
    'client_certificate: client certificate not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
  ]);
  t.same(handshakes, [], 'no connection handler was started for them');
  t.equal(server.agentCount, 0);
});

t.test('with --tls-ca but not required: no certificate is admitted, an untrusted one is not', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false) } });
  const none = await connectTls(server.agentPort, pki);
  t.match(await helloOver(none, 'anyone'), { type: 'welcome' });
  const stranger = await connectTls(server.agentPort, pki, pki.stranger);
  t.same(await nextMessage(stranger, 5_000), unauthorized('client certificate not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)'));
  const bound = await connectTls(server.agentPort, pki, pki.agent);
  t.same(await helloOver(bound, 'anyone-else'), unauthorized('guid "anyone-else" is not a name of the client certificate ("agent-1")'));
  none.destroy();
});

t.test('server-only TLS: agents verify the server; a client trusting another CA refuses it', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false, false) } });
  const sock = await connectTls(server.agentPort, pki);
  t.match(await helloOver(sock, 'h1'), { type: 'welcome' });
  sock.destroy();
  const refused = await connectTls(server.agentPort, pki, undefined, { ca: pki.stranger.cert }).catch((error: unknown) => error);
  t.type(refused, ConnectError);
  t.match(refused, { code: 'connect_failed', cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } });
  const wrongName = await connectTls(server.agentPort, pki, undefined, { servername: 'elsewhere.example' }).catch((error: unknown) => error);
  t.match(wrongName, { code: 'connect_failed', cause: { code: 'ERR_TLS_CERT_ALTNAME_INVALID' } });
});

t.test('a plain-TCP client of a TLS listener is closed, and the TLS failure is reported', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const failed = nextEvent(server.events, 'tlsFailed');
  const socket = net.connect(server.agentPort, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(Buffer.from('00000010hello, not a TLS record', 'utf8'));
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(await failed, { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
});

t.test('a TLS handshake that never starts ends at the handshake timeout, and frees its slot', async (t) => {
  const server = await startTestServer(t, { connection: { handshakeTimeoutMs: 200 }, admission: { maxHandshakes: 1 }, security: { tls: listenerTls(pki, true) } });
  const failed = nextEvent(server.events, 'tlsFailed');
  const socket = net.connect(server.agentPort, '127.0.0.1');
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(await failed, { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
  const next = await connectTls(server.agentPort, pki, pki.agent);
  t.match(await helloOver(next, 'agent-1'), { type: 'welcome' }, 'the one handshake slot is free again');
  next.destroy();
});

t.test('a refusal at accept over TLS (agent limit) closes without a frame: nothing can be told yet', async (t) => {
  const server = await startTestServer(t, { admission: { maxConnections: 1 }, security: { tls: listenerTls(pki, true) } });
  const first = await connectTls(server.agentPort, pki, pki.agent);
  t.match(await helloOver(first, 'agent-1'), { type: 'welcome' });
  const limit = nextEvent(server.events, 'limitReached');
  const second = await connectTls(server.agentPort, pki, pki.agent).catch((error: unknown) => error);
  t.match(second, { code: 'connect_failed' }, 'the TLS handshake could not even start');
  t.match(await limit, { limit: 'max_connections', message: 'this server holds its maximum of 1 agents' });
  first.destroy();
});

t.test('closing the server closes connections still in their TLS handshake', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const socket = net.connect(server.agentPort, '127.0.0.1');
  await new Promise((resolve) => socket.on('connect', resolve));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  await server.close();
  await closed;
  t.equal(socket.destroyed, true, 'server.close() resolved only after the socket was closed');
});
