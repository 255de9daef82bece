import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { resolve } from 'node:path';
import * as tls from 'node:tls';
import t, { Test } from 'tap';
import { encodeMessage } from '../../src/protocol/encoder';
import {
  ConnectError,
  connectFramed,
  FramedSocket,
  nextMessage,
  NextMessageError,
} from '../../src/protocol/framed-socket';
import { MessageReader } from '../../src/protocol/message-decoder';
import { AgentMessage, ProtocolError, ServerMessage } from '../../src/protocol/messages';

const cert = readFileSync(resolve(__dirname, 'fixtures/test-cert.pem'));
const key = readFileSync(resolve(__dirname, 'fixtures/test-key.pem'));

const welcome: ServerMessage = { type: 'welcome', version: 1, hostId: 5, server: 'm1', pingInterval: 1000 };
const hosts: ServerMessage = { type: 'hosts', seq: 2, hosts: ['m1', 'm2'], algorithm: 'static', checkInterval: 0 };
const hello: AgentMessage = { type: 'hello', version: 1, guid: 'g1', hosts: [], algorithm: '' };

/** A loopback server; each accepted socket is handed to `onSocket`. Closed at the test's end. */
async function listen(t: Test, onSocket: (s: net.Socket) => void, server: net.Server = net.createServer()): Promise<number> {
  const sockets = new Set<net.Socket>();
  const isTls = server instanceof tls.Server;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {}); // resets and failed TLS handshakes are part of some tests
    if (!isTls) onSocket(s);
  });
  server.on('secureConnection', (s: tls.TLSSocket) => onSocket(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** Reads the agent messages a server socket receives. */
function agentMessages(s: net.Socket): AgentMessage[] {
  const reader = new MessageReader({ accept: 'agent' });
  const got: AgentMessage[] = [];
  s.on('data', (chunk: Buffer) => reader.push(chunk, (m) => void got.push(m)));
  return got;
}

async function connect(t: Test, port: number): Promise<FramedSocket> {
  const sock = await connectFramed({ host: '127.0.0.1', port, timeoutMs: 5000 });
  t.teardown(() => sock.destroy());
  return sock;
}

t.test('handshake over loopback: hello out, welcome and hosts (one write) back, in order', async (t) => {
  let received: AgentMessage[] = [];
  const port = await listen(t, (s) => {
    received = agentMessages(s);
    s.once('data', () => s.write(Buffer.concat([encodeMessage(welcome), encodeMessage(hosts)])));
  });
  const sock = await connect(t, port);
  t.equal(sock.send(hello), true);
  t.same(await nextMessage(sock, 5000), welcome);
  t.same(await nextMessage(sock, 5000), hosts, 'the second message of the same chunk was queued, not lost');
  t.equal(sock.send(encodeMessage({ type: 'ack', seq: 2, ok: true })), true, 'a pre-encoded frame');
  const closed = once(sock, 'close');
  sock.end();
  await closed;
  t.same(received, [hello, { type: 'ack', seq: 2, ok: true }]);
});

t.test('messages queued with no listener go to the first listener attached, in order', async (t) => {
  const port = await listen(t, (s) => s.write(Buffer.concat([encodeMessage(welcome), encodeMessage(hosts), encodeMessage({ type: 'ping' })])));
  const sock = await connect(t, port);
  t.same(await nextMessage(sock, 5000), welcome);
  const rest: ServerMessage[] = [];
  const third = new Promise<void>((done) =>
    sock.on('message', (m) => {
      rest.push(m);
      if (rest.length === 2) done();
    }),
  );
  await third;
  t.same(rest, [hosts, { type: 'ping' }]);
  t.equal(sock.takeQueued(), undefined);
});

t.test('a protocol error from the server: protocolError, then close; nextMessage rejects with it', async (t) => {
  const port = await listen(t, (s) => s.write(Buffer.from([0, 0, 0, 0])));
  const sock = await connect(t, port);
  const closed = once(sock, 'close');
  await t.rejects(nextMessage(sock, 5000), { name: 'ProtocolError', code: 'bad_frame', message: 'frame length 0: a frame must hold one message' });
  t.same(await closed, [undefined]);
  t.equal(sock.isClosed, true);
  t.equal(sock.send({ type: 'ping' }), false, 'nothing is written after close');
});

t.test('a message the agent must not receive is a protocol error', async (t) => {
  const port = await listen(t, (s) => s.write(encodeMessage(hello)));
  const sock = await connect(t, port);
  const [error] = (await once(sock, 'protocolError')) as [ProtocolError];
  t.same([error.code, error.message], ['bad_message', '"hello" is not a message a server may send']);
});

t.test('nextMessage: timeout, close while waiting, already closed', async (t) => {
  let serverSide: net.Socket | undefined;
  const port = await listen(t, (s) => {
    serverSide = s;
  });
  const sock = await connect(t, port);
  await t.rejects(nextMessage(sock, 20), new NextMessageError('message_timeout', 'no message within 20 ms'));
  t.equal(sock.listenerCount('message'), 0, 'the waiter removed its listeners');
  const waiting = nextMessage(sock, 5000);
  serverSide?.end();
  await t.rejects(waiting, { name: 'NextMessageError', code: 'closed', message: 'the connection closed before a message arrived' });
  await t.rejects(nextMessage(sock, 5000), { code: 'closed', message: 'the connection is closed' });
});

t.test('a reset connection reports its error on close', async (t) => {
  const port = await listen(t, (s) => s.once('data', () => s.resetAndDestroy()));
  const sock = await connect(t, port);
  sock.send({ type: 'ping' });
  const [error] = (await once(sock, 'close')) as [Error | undefined];
  t.equal((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
});

t.test('a throwing listener ends the connection instead of escaping the socket handler', async (t) => {
  const port = await listen(t, (s) => s.write(Buffer.concat([encodeMessage(welcome), encodeMessage(hosts)])));
  const sock = await connect(t, port);
  const seen: ServerMessage[] = [];
  sock.on('message', (m) => {
    seen.push(m);
    throw new Error('listener bug');
  });
  const [error] = (await once(sock, 'close')) as [Error | undefined];
  t.equal(error?.message, 'listener bug');
  t.same(seen, [welcome], 'no message after the failure');
});

t.test('a throwing listener of queued messages ends the connection too', async (t) => {
  const port = await listen(t, (s) => s.write(Buffer.concat([encodeMessage(welcome), encodeMessage(hosts)])));
  const sock = await connect(t, port);
  t.same(await nextMessage(sock, 5000), welcome);
  const closed = once(sock, 'close');
  sock.on('message', () => {
    throw new Error('late listener bug');
  });
  const [error] = (await closed) as [Error | undefined];
  t.equal(error?.message, 'late listener bug');
});

t.test('a listener throwing a non-Error still ends the connection with an Error', async (t) => {
  const port = await listen(t, (s) => s.write(encodeMessage(welcome)));
  const sock = await connect(t, port);
  sock.on('message', () => {
    throw 'not an Error'; // eslint-disable-line no-throw-literal
  });
  const [error] = (await once(sock, 'close')) as [Error | undefined];
  t.ok(error instanceof Error);
  t.equal(error?.message, 'not an Error');
});

t.test('connect refused', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  const error = await connectFramed({ host: '127.0.0.1', port, timeoutMs: 5000 }).catch((e: unknown) => e);
  t.ok(error instanceof ConnectError);
  t.equal((error as ConnectError).code, 'connect_refused');
  t.match((error as ConnectError).message, `connecting to 127.0.0.1:${port} failed: connect ECONNREFUSED`);
});

t.test('TLS: messages flow over a verified TLS connection', async (t) => {
  const server = tls.createServer({ cert, key });
  const port = await listen(t, (s) => s.write(encodeMessage(welcome)), server);
  const sock = await connectFramed({ host: '127.0.0.1', port, timeoutMs: 5000, tls: { ca: cert } });
  t.teardown(() => sock.destroy());
  t.ok(sock.socket instanceof tls.TLSSocket);
  t.same(await nextMessage(sock, 5000), welcome);
});

t.test('TLS: an untrusted certificate fails the connect', async (t) => {
  const port = await listen(t, () => {}, tls.createServer({ cert, key }));
  await t.rejects(connectFramed({ host: '127.0.0.1', port, timeoutMs: 5000, tls: {} }), {
    name: 'ConnectError',
    code: 'connect_failed',
    message: `connecting to 127.0.0.1:${port} failed: self-signed certificate`,
  });
});

t.test('the timeout covers the TLS handshake: a server that never answers', async (t) => {
  const port = await listen(t, () => {}); // plain TCP: accepts, never speaks TLS
  await t.rejects(connectFramed({ host: '127.0.0.1', port, timeoutMs: 50, tls: { ca: cert } }), {
    name: 'ConnectError',
    code: 'connect_timeout',
    message: `connecting to 127.0.0.1:${port} took more than 50 ms`,
  });
});

t.test('maxFrame applies to what the server sends', async (t) => {
  const port = await listen(t, (s) => s.write(encodeMessage(welcome)));
  const sock = await connectFramed({ host: '127.0.0.1', port, timeoutMs: 5000, maxFrame: 16 });
  t.teardown(() => sock.destroy());
  await t.rejects(nextMessage(sock, 5000), { code: 'bad_frame', message: 'frame length 57 exceeds the maximum of 16' });
});
