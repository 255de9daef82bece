/**
 * The orchestrator against scripted servers: what it does on each kind of answer. Behaviour
 * against real agentlb servers (roundrobin fleets, failover, failback) is in failover.test.ts.
 */
import { once } from 'node:events';
import { readFile, rm, stat } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { ALGORITHM_NAMES } from '../../src/protocol/algorithms';
import type { Hosts } from '../../src/protocol/messages';
import type { AgentLogger } from '../../agent/agent';
import type { CheckTimer } from '../../agent/preferred-check';
import { makeAgent, next, until } from './harness';
import { refusedPort, serveScripted, welcome, type Script, type ScriptedConnection, type ScriptedServer } from './scripted-server';

const welcomes: Script = { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(1_000)) };

const addr = (server: ScriptedServer | number): string => `127.0.0.1:${typeof server === 'number' ? server : server.port}`;

t.test('connects to the first entry that welcomes, with a hello that tells the server what it has', async (t) => {
  const dead = await refusedPort(t);
  const m2 = await serveScripted(t, welcomes);
  const { agent } = await makeAgent(t, `host=${addr(dead)},${addr(m2)}@roundrobin\nhost.lb.check.interval=7\nguid=g-1\nzone=z9\n`);
  agent.start();
  t.same(await next(agent, 'connected'), { server: addr(m2), hostId: 1 });
  t.equal(agent.currentServer, addr(m2));
  agent.start();
  t.equal(agent.connecting, false, 'a second start() does not begin another round');
  t.same(m2.connections[0]!.received[0], {
    type: 'hello',
    version: 2,
    guid: 'g-1',
    zone: 'z9',
    hosts: [addr(dead), addr(m2)],
    algorithm: 'roundrobin',
    checkInterval: 7,
  });
});

t.test('a bare list is announced as static, and a token is sent when given', async (t) => {
  const m1 = await serveScripted(t, welcomes);
  const { agent } = await makeAgent(t, `host=${addr(m1)}\nguid=g\n`, { token: 's3cret' });
  agent.start();
  await next(agent, 'connected');
  t.match(m1.connections[0]!.received[0], { algorithm: 'static', token: 's3cret', checkInterval: 0 });
});

t.test('hosts updates', async (t) => {
  const FILE = [
    '# agent.properties, hand-written',
    '! servers below',
    'host = 127.0.0.1:1@static',
    '',
    'workers: 4',
    'guid  g-2',
    '# the end',
    '',
  ].join('\n');

  t.test('persisted with every comment kept, then acked with the same seq; an unchanged one is not rewritten', async (t) => {
    const update: Hosts = { type: 'hosts', seq: 11, hosts: ['10.0.0.1', '10.0.0.2:9000'], algorithm: 'roundrobin', checkInterval: 30 };
    const m1 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(1_000), update) });
    const { agent, path } = await makeAgent(t, FILE.replace('127.0.0.1:1', addr(m1)));
    agent.start();
    t.same(await next(agent, 'hostsUpdated'), { hosts: update.hosts, algorithm: 'roundrobin', checkInterval: 30, persisted: true });
    t.equal(
      await readFile(path, 'latin1'),
      FILE.replace('host = 127.0.0.1:1@static', 'host = 10.0.0.1,10.0.0.2:9000@roundrobin') + 'host.lb.check.interval=30\n',
    );
    const conn = m1.connections[0]!;
    t.same(await conn.arrival((m) => m.type === 'ack'), { type: 'ack', seq: 11, ok: true });
    t.same(agent.hosts, update.hosts, 'the new list is in use');
    t.equal(agent.checkInterval, 30);

    const inode = (await stat(path)).ino;
    conn.send({ ...update, seq: 12 });
    t.same(await next(agent, 'hostsUpdated'), { hosts: update.hosts, algorithm: 'roundrobin', checkInterval: 30, persisted: false });
    t.equal((await stat(path)).ino, inode, 'the file was not replaced');
    t.same(await conn.arrival((m) => m.type === 'ack' && m.seq === 12), { type: 'ack', seq: 12, ok: true });
  });

  t.test('a bad update is refused with ok:false and the reason; the last good list and the file stay', async (t) => {
    const m1 = await serveScripted(t, welcomes);
    const { agent, path } = await makeAgent(t, FILE.replace('127.0.0.1:1', addr(m1)));
    agent.start();
    await next(agent, 'connected');
    const conn = m1.connections[0]!;
    const cases: Array<[Hosts, string]> = [
      [{ type: 'hosts', seq: 1, hosts: [], algorithm: 'static', checkInterval: 0 }, 'agent.properties: bad value for host: "@static" (empty host list)'],
      [
        { type: 'hosts', seq: 2, hosts: ['a', 'A:8250'], algorithm: 'static', checkInterval: 0 },
        'agent.properties: bad value for host: "a,A:8250@static" (duplicate entry "A:8250" (same as "a"))',
      ],
      [
        { type: 'hosts', seq: 3, hosts: ['a'], algorithm: 'fastest', checkInterval: 0 },
        `agent.properties: bad value for host: "a@fastest" (unknown algorithm "fastest" (expected one of ${ALGORITHM_NAMES.join(', ')}))`,
      ],
    ];
    for (const [update, reason] of cases) {
      conn.send(update);
      t.same(await next(agent, 'hostsRefused'), { seq: update.seq, reason });
      t.same(await conn.arrival((m) => m.type === 'ack' && m.seq === update.seq), { type: 'ack', seq: update.seq, ok: false, error: reason });
    }
    t.same(agent.hosts, [addr(m1)]);
    t.equal(await readFile(path, 'latin1'), FILE.replace('127.0.0.1:1', addr(m1)));
  });

  t.test('an update that cannot be saved is acked ok:false and not applied', async (t) => {
    const m1 = await serveScripted(t, welcomes);
    const { agent, dir } = await makeAgent(t, `host=${addr(m1)}\nguid=g\n`);
    agent.start();
    await next(agent, 'connected');
    await rm(dir, { recursive: true });
    m1.connections[0]!.send({ type: 'hosts', seq: 5, hosts: ['b'], algorithm: 'static', checkInterval: 3 });
    const refused = await next(agent, 'hostsRefused');
    t.equal(refused.seq, 5);
    t.match(refused.reason, /^cannot save .*agent\.properties: ENOENT/);
    t.same(agent.hosts, [addr(m1)], 'memory does not run ahead of the file');
    t.equal(agent.checkInterval, 0);
  });
});

t.test('a server that says draining or server_busy is skipped for the next entry', async (t) => {
  for (const code of ['draining', 'server_busy'] as const) {
    const m1 = await serveScripted(t, { onMessage: (conn) => conn.send({ type: 'error', code, message: 'try your next server' }) });
    const m2 = await serveScripted(t, welcomes);
    const { agent, logs } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nguid=g\n`);
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2), code);
    t.ok(logs.some((l) => l.msg === `server ${addr(m1)} unusable` && l.serverCode === code));
    await agent.stop();
  }
});

t.test('shutting_down from the current server: reconnect with jitter, that server tried last', async (t) => {
  const m1 = await serveScripted(t, welcomes);
  const m2 = await serveScripted(t, welcomes);
  const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nguid=g\n`);
  agent.start();
  t.equal((await next(agent, 'connected')).server, addr(m1));
  m1.connections[0]!.send({ type: 'error', code: 'shutting_down', message: 'bye' });
  const gone = await next(agent, 'disconnected');
  t.same(gone, { server: addr(m1), reason: { code: 'server_error', message: 'bye', serverCode: 'shutting_down' } });
  t.equal((await next(agent, 'connected')).server, addr(m2), 'M1 still accepts, but said it is going away');
});

t.test('a server that goes silent is left within the ping deadline, for the next entry', async (t) => {
  const m1 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(20)) });
  const m2 = await serveScripted(t, welcomes);
  const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nguid=g\n`);
  agent.start();
  t.equal((await next(agent, 'connected')).server, addr(m1));
  const gone = await next(agent, 'disconnected');
  t.equal(gone.reason.code, 'ping_timeout');
  t.equal((await next(agent, 'connected')).server, addr(m2));
});

t.test('every entry unusable: said in the log, rounds back off exponentially, and the list is retried until a server answers', async (t) => {
  const refused = await refusedPort(t);
  let open = false;
  const busy = await serveScripted(t, {
    onMessage: (conn, m) => m.type === 'hello' && conn.send(open ? welcome(1_000) : { type: 'error', code: 'server_busy', message: 'full' }),
  });
  const { agent, logs } = await makeAgent(t, `host=${addr(refused)},${addr(busy)}\nguid=g\n`, {
    backoff: { baseMs: 10, capMs: 40, minMs: 2, random: () => 0.5 },
  });
  const delays: number[] = [];
  agent.on('roundFailed', ({ delayMs }) => delays.push(delayMs));
  agent.start();
  await until(agent, 'roundFailed', () => delays.length === 5);
  t.same(delays, [6, 11, 21, 21, 21], 'ceilings 10, 20, 40 (cap): midpoints of 2..ceiling');
  t.ok(logs.some((l) => l.level === 40 && l.msg.startsWith('all 2 servers unusable; retrying the list in ')));
  open = true;
  t.equal((await next(agent, 'connected')).server, addr(busy));
});

t.test('unauthorized or unsupported_version: logged as errors, and the agent backs off', async (t) => {
  for (const code of ['unauthorized', 'unsupported_version'] as const) {
    const m1 = await serveScripted(t, { onMessage: (conn) => conn.send({ type: 'error', code, message: 'no' }) });
    const { agent, logs } = await makeAgent(t, `host=${addr(m1)}\nguid=g\n`);
    agent.start();
    const failed = await next(agent, 'roundFailed');
    t.ok(failed.delayMs >= 5, 'a real wait, not a spin');
    const line = logs.find((l) => l.level === 50);
    t.equal(line?.msg, `server ${addr(m1)} refused this agent (${code}): check its token, client certificate and version`);
    await agent.stop();
  }
});

t.test('stop() during a back-off returns at once and nothing connects afterwards', async (t) => {
  const port = await refusedPort(t);
  const { agent } = await makeAgent(t, `host=${addr(port)}\nguid=g\n`, { backoff: { baseMs: 60_000, minMs: 60_000 } });
  agent.start();
  await next(agent, 'roundFailed');
  await agent.stop();
  t.equal(agent.currentServer, undefined);
  agent.start();
  t.equal(agent.currentServer, undefined, 'a stopped agent does not start again');
});

t.test('stop() during a handshake aborts it', async (t) => {
  let helloSeen: () => void = () => {};
  const seen = new Promise<void>((resolve) => (helloSeen = resolve));
  const mute = await serveScripted(t, { onMessage: () => helloSeen() });
  const { agent } = await makeAgent(t, `host=${addr(mute)}\nguid=g\n`);
  agent.start();
  await seen;
  await agent.stop();
  t.equal(agent.currentServer, undefined);
});

t.test('preferred-host check', async (t) => {
  t.test('an interval pushed by the server starts the check at once; the switch is make-before-break', async (t) => {
    const order: string[] = [];
    let m1Ready = false;
    const m1 = await serveScripted(t, {
      onMessage: (conn, m) => {
        if (m.type !== 'hello') return;
        if (!m1Ready) return conn.send({ type: 'error', code: 'draining', message: 'not yet' });
        order.push('M1 welcomed');
        conn.send(welcome(1_000));
      },
    });
    const m2 = await serveScripted(t, welcomes);
    const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}@static\nguid=g\n`);
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2));
    t.equal(agent.checkInterval, 0);
    const m2conn = m2.connections[0]!;
    m2conn.socket.on('close', () => order.push('M2 closed'));
    m1Ready = true;
    m2conn.send({ type: 'hosts', seq: 1, hosts: [addr(m1), addr(m2)], algorithm: 'static', checkInterval: 1 });
    t.same(await next(agent, 'switched'), { from: addr(m2), to: addr(m1) });
    t.equal(agent.currentServer, addr(m1));
    await once(m2conn.socket, 'close');
    t.same(order, ['M1 welcomed', 'M2 closed'], 'the new connection was welcomed before the old one closed');
  });

  t.test('the local override wins over the server\'s 0', async (t) => {
    let m1Ready = false;
    const m1 = await serveScripted(t, {
      onMessage: (conn, m) => m.type === 'hello' && conn.send(m1Ready ? welcome(1_000) : { type: 'error', code: 'draining', message: '' }),
    });
    const m2 = await serveScripted(t, welcomes);
    const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nhost.lb.check.interval=0\nhost.lb.check.interval.override=1\nguid=g\n`);
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2));
    t.equal(agent.checkInterval, 1);
    m1Ready = true;
    t.same(await next(agent, 'switched'), { from: addr(m2), to: addr(m1) });
  });

  t.test('a preferred server that accepts and closes is never chosen', async (t) => {
    const m1 = await serveScripted(t, { onConnect: (conn) => conn.socket.destroy() });
    const m2 = await serveScripted(t, welcomes);
    const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nhost.lb.check.interval=1\nguid=g\n`);
    let switched = false;
    agent.on('switched', () => (switched = true));
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2));
    await m1.connection(5); // the first round's attempt, then four checks
    t.equal(switched, false);
    t.equal(agent.currentServer, addr(m2));
  });

  t.test('no check while on the preferred server', async (t) => {
    // The check's timer is injected and records what is timed: "no check" is read off it at
    // once, not from the absence of a second connection after a wait (which a loaded machine
    // stretched past the session's ping deadline, so the agent reconnected). The server never
    // pings, so the welcome's interval keeps the session far from its deadline.
    const timed: number[] = [];
    const checkTimer: CheckTimer = { set: (_fire, delayMs) => timed.push(delayMs), clear: () => {} };
    const m1 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(60_000)) });
    const { agent } = await makeAgent(t, `host=${addr(m1)},127.0.0.1:1\nhost.lb.check.interval=1\nguid=g\n`, { checkTimer, random: () => 0.5 });
    agent.start();
    await next(agent, 'connected');
    const conn = m1.connections[0]!;
    conn.send({ type: 'hosts', seq: 1, hosts: [addr(m1), '127.0.0.1:1'], algorithm: 'static', checkInterval: 1 });
    await next(agent, 'hostsUpdated');
    t.same(timed, [], 'no check timed on the preferred server, at connect nor after the update');
    t.equal(m1.connections.length, 1, 'no second connection to the server it is on');
    // The control: the same agent, once away from its preferred server, times its checks on
    // this timer (so the empty list above is not a timer left unused). 1 s of interval is 50 ms (FAST).
    conn.send({ type: 'hosts', seq: 2, hosts: ['127.0.0.1:1', addr(m1)], algorithm: 'static', checkInterval: 1 });
    await next(agent, 'hostsUpdated');
    t.same(timed, [50], 'away from the preferred server, a check is timed');
  });
});

t.test('a fault inside the agent is logged and survived, never an unhandled rejection', async (t) => {
  /** A logger that throws the first time it is asked to log a message starting with `trap`. */
  function trapLogger(trap: string): { logger: AgentLogger; errors: string[] } {
    const errors: string[] = [];
    let sprung = false;
    const log =
      (level: string) =>
      (_fields: object, msg?: string): void => {
        if (level === 'error') errors.push(msg ?? '');
        if (!sprung && msg?.startsWith(trap)) {
          sprung = true;
          throw new Error('boom');
        }
      };
    return { logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } as unknown as AgentLogger, errors };
  }

  t.test('in the connect loop', async (t) => {
    const dead = await refusedPort(t);
    const m2 = await serveScripted(t, welcomes);
    const { logger, errors } = trapLogger(`server ${addr(dead)} unusable`);
    const { agent } = await makeAgent(t, `host=${addr(dead)},${addr(m2)}\nguid=g\n`, { logger });
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2));
    t.same(errors, ['connect loop failed; retrying']);
  });

  /** An agent with a trapped logger, connected to a scripted server; returns that connection. */
  async function connectedWithTrap(t: Test, trap: string): Promise<{ conn: ScriptedConnection; errors: string[] }> {
    const m1 = await serveScripted(t, welcomes);
    const { logger, errors } = trapLogger(trap);
    const { agent } = await makeAgent(t, `host=${addr(m1)}\nguid=g\n`, { logger });
    agent.start();
    await next(agent, 'connected');
    return { conn: m1.connections[0]!, errors };
  }

  t.test('in a hosts update: one ack per update, ok:false when it came before the ack', async (t) => {
    const { conn, errors } = await connectedWithTrap(t, 'hosts update refused');
    conn.send({ type: 'hosts', seq: 3, hosts: [], algorithm: 'static', checkInterval: 0 });
    t.same(await conn.arrival((m) => m.type === 'ack'), { type: 'ack', seq: 3, ok: false, error: 'internal error: Error: boom' });
    t.same(errors, ['hosts update refused', 'hosts update failed']);
  });

  t.test('in a hosts update: after the ack, no second ack', async (t) => {
    const { conn, errors } = await connectedWithTrap(t, 'hosts update');
    const m1 = `127.0.0.1:${conn.socket.localPort}`;
    conn.send({ type: 'hosts', seq: 3, hosts: [m1], algorithm: 'static', checkInterval: 0 });
    conn.send({ type: 'hosts', seq: 4, hosts: [m1], algorithm: 'static', checkInterval: 0 });
    await conn.arrival((m) => m.type === 'ack' && m.seq === 4);
    t.same(
      conn.received.filter((m) => m.type === 'ack'),
      [
        { type: 'ack', seq: 3, ok: true },
        { type: 'ack', seq: 4, ok: true },
      ],
    );
    t.same(errors, ['hosts update failed']);
  });

  t.test('in a preferred-host check: the next check still runs', async (t) => {
    const m1 = await serveScripted(t, { onConnect: (conn) => conn.socket.destroy() });
    const m2 = await serveScripted(t, welcomes);
    const { agent, logs } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nhost.lb.check.interval=1\nguid=g\n`);
    let thrown = false;
    agent.on('checkFailed', () => {
      if (thrown) return;
      thrown = true;
      throw new Error('a listener that throws');
    });
    agent.start();
    t.equal((await next(agent, 'connected')).server, addr(m2));
    t.same(await next(agent, 'checkFailed'), { server: addr(m1), code: 'closed' }, 'a second check ran');
    t.ok(logs.some((l) => l.level === 50 && l.msg === 'preferred-host check failed'));
  });
});

t.test('a check that ends after the agent lost its server does not switch; the connect loop takes over', async (t) => {
  let m2conn: ScriptedConnection | undefined;
  let checkClosed: Promise<unknown> | undefined;
  let hellos = 0;
  const m1 = await serveScripted(t, {
    onMessage: (conn, m) => {
      if (m.type !== 'hello') return;
      hellos += 1;
      if (hellos === 1) return conn.send({ type: 'error', code: 'draining', message: 'not yet' });
      if (hellos === 2) {
        // the check's handshake: hold the welcome until the agent has lost M2
        checkClosed = once(conn.socket, 'close');
        agent.once('disconnected', () => conn.send(welcome(1_000)));
        m2conn!.socket.destroy();
        return;
      }
      conn.send(welcome(1_000));
    },
  });
  const m2 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && ((m2conn = conn), conn.send(welcome(1_000))) });
  const { agent } = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nhost.lb.check.interval=1\nguid=g\n`);
  let switched = false;
  agent.on('switched', () => (switched = true));
  agent.start();
  t.equal((await next(agent, 'connected')).server, addr(m2));
  t.equal((await next(agent, 'disconnected')).server, addr(m2));
  t.equal((await next(agent, 'connected')).server, addr(m1), 'reconnected by the loop');
  t.equal(switched, false);
  await checkClosed;
  t.pass('the check\'s late connection was closed');
});
