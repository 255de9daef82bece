import { once } from 'node:events';
import t, { type Test } from 'tap';
import { PROTOCOL_VERSION, type Hello, type Hosts } from '../../src/protocol/messages';
import { toServerEntry, type ServerEntry } from '../../agent/server-pool';
import { HandshakeFailure, openSession, Session, type CloseReason, type SessionOptions } from '../../agent/session';
import { refusedPort, serveScripted, welcome, type Script, type ScriptedConnection, type ScriptedServer } from './scripted-server';

const OPTIONS: SessionOptions = { connectTimeoutMs: 2_000, handshakeTimeoutMs: 2_000, defaultPingIntervalMs: 20, missedIntervals: 3 };
const HELLO: Hello = { type: 'hello', version: PROTOCOL_VERSION, guid: 'g-1', hosts: ['127.0.0.1'], algorithm: 'static', checkInterval: 0 };
const HOSTS: Hosts = { type: 'hosts', seq: 4, hosts: ['a', 'b'], algorithm: 'roundrobin', checkInterval: 9 };

function entry(port: number): ServerEntry {
  return toServerEntry(`127.0.0.1:${port}`, 8250) as ServerEntry;
}

async function failure(promise: Promise<Session | HandshakeFailure>): Promise<HandshakeFailure> {
  const result = await promise;
  if (result instanceof Session) {
    result.close();
    throw new Error('expected a handshake failure, got a session');
  }
  return result;
}

async function session(t: Test, server: ScriptedServer, opts = OPTIONS): Promise<Session> {
  const result = await openSession(entry(server.port), HELLO, opts);
  if (result instanceof HandshakeFailure) throw result;
  t.teardown(() => result.close());
  return result;
}

const welcomes: Script = { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(20)) };
/**
 * For tests of how a session ends, where liveness is not the point: the scripted server never
 * pings nor pongs, so with a 20 ms interval the session dies of ping_timeout after 3 missed
 * intervals (60 ms), which a loaded machine takes just to run the test's next step.
 */
const quietWelcomes: Script = { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(600_000)) };

t.test('a welcome makes a session; the hello is sent as given', async (t) => {
  const server = await serveScripted(t, welcomes);
  const s = await session(t, server);
  t.equal(s.welcome.hostId, 1);
  t.equal(s.pingIntervalMs, 20, 'the server\'s ping interval is used');
  t.equal(s.server.port, server.port);
  t.same(server.connections[0]?.received[0], HELLO);
});

t.test('no welcome, no session', async (t) => {
  t.test('refused', async (t) => {
    const port = await refusedPort(t);
    const f = await failure(openSession(entry(port), HELLO, OPTIONS));
    t.equal(f.code, 'connect_failed');
    t.match(f.message, /ECONNREFUSED/);
  });

  t.test('a server that accepts then closes is not healthy', async (t) => {
    const server = await serveScripted(t, { onConnect: (conn) => conn.socket.destroy() });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'closed');
    t.equal(
      f.message,
      `127.0.0.1:${server.port} closed the connection before welcome without sending a byte, as a TLS server does to a plain client: ` +
        'if it expects TLS, set tls.ca (and tls.cert/tls.key if it requires client certificates) in agent.properties',
      'a bare close is what a TLS server does to a plain agent, so the hint says so',
    );
  });

  t.test('a server that says something that is not TLS, then closes, is only said to have closed', async (t) => {
    const server = await serveScripted(t, { onConnect: (conn) => conn.socket.end(Buffer.from([0, 0])) });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'closed');
    t.equal(f.message, 'the server closed the connection before welcome');
  });

  t.test('a server that never answers hello times out', async (t) => {
    const server = await serveScripted(t, {});
    const f = await failure(openSession(entry(server.port), HELLO, { ...OPTIONS, handshakeTimeoutMs: 30 }));
    t.equal(f.code, 'handshake_timeout');
    t.equal(f.message, 'no welcome within 30 ms');
  });

  t.test('an error reply carries the server\'s code', async (t) => {
    const server = await serveScripted(t, {
      onMessage: (conn) => conn.send({ type: 'error', code: 'draining', message: 'try your next server' }),
    });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'server_error');
    t.equal(f.serverCode, 'draining');
    t.equal(f.message, 'draining: try your next server');
  });

  t.test('anything but welcome first is a bad reply', async (t) => {
    const server = await serveScripted(t, { onMessage: (conn) => conn.send(HOSTS) });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'bad_reply');
    t.equal(f.message, 'expected welcome, got hosts');
  });

  t.test('a welcome for another protocol version is a bad reply', async (t) => {
    const server = await serveScripted(t, { onMessage: (conn) => conn.send({ type: 'welcome', version: 1, hostId: 1, server: 's' }) });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'bad_reply');
    t.equal(f.message, 'welcome for protocol version 1, hello asked for 2');
  });

  t.test('bytes that break the protocol are a bad reply', async (t) => {
    const server = await serveScripted(t, { onMessage: (conn) => conn.socket.write(Buffer.from([0, 0, 0, 0])) });
    const f = await failure(openSession(entry(server.port), HELLO, OPTIONS));
    t.equal(f.code, 'bad_reply');
  });

  t.test('an abort ends a handshake in progress', async (t) => {
    let helloArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (helloArrived = resolve));
    const server = await serveScripted(t, { onMessage: () => helloArrived() });
    const controller = new AbortController();
    const pending = openSession(entry(server.port), HELLO, OPTIONS, controller.signal);
    await arrived;
    controller.abort();
    const f = await failure(pending);
    t.equal(f.code, 'aborted');
    t.equal(f.message, 'stopped during the handshake');
  });

  t.test('an aborted signal stops before connecting, and during the connect', async (t) => {
    const server = await serveScripted(t, welcomes);
    const controller = new AbortController();
    controller.abort();
    t.equal((await failure(openSession(entry(server.port), HELLO, OPTIONS, controller.signal))).message, 'stopped before connecting');
    const during = new AbortController();
    const pending = openSession(entry(server.port), HELLO, OPTIONS, during.signal);
    during.abort();
    t.equal((await failure(pending)).message, 'stopped while connecting');
  });
});

t.test('a hosts frame right behind the welcome is held until start()', async (t) => {
  const server = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(1_000), HOSTS) });
  const s = await session(t, server);
  const got: Hosts[] = [];
  s.on('hosts', (h) => got.push(h));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(got, [], 'nothing delivered before start');
  s.start();
  t.same(got, [HOSTS]);
});

t.test('liveness', async (t) => {
  t.test('a silent server is declared dead after 3 intervals, and was pinged meanwhile', async (t) => {
    const server = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(20)) });
    const s = await session(t, server);
    s.start();
    const [reason] = (await once(s, 'closed')) as [CloseReason];
    t.equal(reason.code, 'ping_timeout');
    t.match(reason.message, /^no frame from the server for \d+ ms$/);
    // The pings were written before the close, but the server reads them in a later turn (on
    // a loaded machine after the agent's deadline fired): its side's close comes after them.
    const conn = server.connections[0]!;
    if (!conn.socket.closed) await once(conn.socket, 'close');
    t.ok(conn.received.some((m) => m.type === 'ping'), 'the agent pinged');
    t.equal(s.closed, true);
  });

  t.test('the default interval applies when the welcome states none', async (t) => {
    const server = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome()) });
    const s = await session(t, server, { ...OPTIONS, defaultPingIntervalMs: 15 });
    t.equal(s.pingIntervalMs, 15);
  });

  /** `promise`, or a rejection naming the reason if the session closes first. */
  function whileOpen<T>(s: Session, promise: Promise<T>): Promise<T> {
    return Promise.race([
      promise,
      once(s, 'closed').then(([reason]) => {
        throw new Error(`the session closed: ${JSON.stringify(reason)}`);
      }),
    ]);
  }

  t.test('server pings are answered with pongs, and keep the session alive', async (t) => {
    let pongs = 0;
    let enough: () => void = () => {};
    const fivePongs = new Promise<void>((resolve) => (enough = resolve));
    // Deadline 300 ms; this server never answers the agent's pings, only pings itself every ~50 ms.
    const server = await serveScripted(t, {
      onMessage: (conn, m) => {
        if (m.type === 'hello') {
          conn.send(welcome(100));
          conn.send({ type: 'ping' });
        } else if (m.type === 'pong') {
          pongs += 1;
          if (pongs === 5) enough();
          else setTimeout(() => conn.send({ type: 'ping' }), 50);
        }
      },
    });
    const s = await session(t, server);
    s.start();
    await whileOpen(s, fivePongs);
    t.equal(s.closed, false, 'five ping/pong rounds, still alive');
  });

  t.test('pongs from the server count as inbound frames', async (t) => {
    let pings = 0;
    let enough: () => void = () => {};
    const fourPings = new Promise<void>((resolve) => (enough = resolve));
    // This server never pings: only its pongs keep the session alive past the 900 ms deadline
    // (four pings span 1.2 s). An interval of 300 ms, not 100: at 100 a stall of about 200 ms on
    // a loaded machine would end the session before its next pong; at 300 it takes about 600 ms.
    const server = await serveScripted(t, {
      onMessage: (conn, m) => {
        if (m.type === 'hello') conn.send(welcome(300));
        if (m.type === 'ping') {
          conn.send({ type: 'pong' });
          pings += 1;
          if (pings === 4) enough();
        }
      },
    });
    const s = await session(t, server);
    s.start();
    await whileOpen(s, fourPings);
    t.equal(s.closed, false);
  });
});

t.test('how a session ends', async (t) => {
  async function ended(t: Test, act: (conn: ScriptedConnection) => void): Promise<CloseReason> {
    const server = await serveScripted(t, quietWelcomes);
    const s = await session(t, server);
    s.start();
    const closed = once(s, 'closed') as Promise<[CloseReason]>;
    act(await server.connection(1));
    return (await closed)[0];
  }

  t.test('the server closes', async (t) => {
    t.same(await ended(t, (conn) => conn.socket.destroy()), { code: 'closed', message: 'the server closed the connection' });
  });
  t.test('the server sends an error', async (t) => {
    t.same(await ended(t, (conn) => conn.send({ type: 'error', code: 'shutting_down', message: 'bye' })), {
      code: 'server_error',
      message: 'bye',
      serverCode: 'shutting_down',
    });
  });
  t.test('the server breaks the protocol', async (t) => {
    const reason = await ended(t, (conn) => conn.socket.write(Buffer.from([0xff, 0, 0, 0])));
    t.equal(reason.code, 'protocol_error');
  });
  t.test('a second welcome', async (t) => {
    t.same(await ended(t, (conn) => conn.send(welcome(20))), { code: 'protocol_error', message: 'a second welcome from the server' });
  });
  t.test('closed by the agent: the ack written just before still reaches the server', async (t) => {
    const server = await serveScripted(t, quietWelcomes);
    const s = await session(t, server);
    s.start();
    const conn = await server.connection(1);
    const serverSawClose = once(conn.socket, 'close');
    s.sendAck({ type: 'ack', seq: 4, ok: true });
    s.close();
    s.close();
    s.sendAck({ type: 'ack', seq: 5, ok: true });
    await serverSawClose;
    t.same(
      conn.received.filter((m) => m.type === 'ack'),
      [{ type: 'ack', seq: 4, ok: true }],
      'the ack before close arrived, the one after was not sent',
    );
  });
  t.test('a close before start() is delivered by start()', async (t) => {
    const server = await serveScripted(t, quietWelcomes);
    const s = await session(t, server);
    const conn = await server.connection(1);
    conn.socket.destroy();
    const reasons: CloseReason[] = [];
    s.on('closed', (r) => reasons.push(r));
    // Nothing is emitted before start() by design, so poll the flag (with a deadline).
    const deadline = Date.now() + 5_000;
    while (!s.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    t.equal(s.closed, true);
    t.same(reasons, []);
    s.start();
    t.same(reasons, [{ code: 'closed', message: 'the server closed the connection' }]);
  });
});
