/**
 * A hello announces the list the agent will hold, so the server it ends up on knows it: a
 * server sends `hosts` only when the hello's list is outdated, and a list changed behind the
 * hello's back would never be corrected. Each race is driven by the scripted servers (no
 * sleeps): the old server sends `hosts` exactly while the agent's hello is in flight, and the
 * agent has read it (it answered the ping behind it, or closed on the error behind it) before
 * the new server answers.
 */
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import type { Hello, Hosts, ServerMessage } from '../../src/protocol/messages';
import type { AgentOptions } from '../../agent/agent';
import { makeAgent, next, type TestAgent } from './harness';
import { serveScripted, welcome, type ScriptedConnection, type ScriptedServer } from './scripted-server';

const addr = (server: ScriptedServer): string => `127.0.0.1:${server.port}`;
const DRAINING: ServerMessage = { type: 'error', code: 'draining', message: 'draining' };
const isAck = (m: { type: string }): boolean => m.type === 'ack';

/**
 * The first reconnect after a drop starts in the same tick as the close (a 0 ms draw), so a
 * hello built without waiting for a save in progress carries the old list every time; later
 * draws are ordinary, so a broken agent backs off instead of spinning.
 */
function zeroFirstDelay(): Partial<AgentOptions> {
  let draws = 0;
  return { backoff: { baseMs: 20, capMs: 200, minMs: 0, random: () => (draws++ === 0 ? 0 : 0.5) } };
}

interface CheckRace {
  agent: TestAgent;
  m1: ScriptedServer;
  m2: ScriptedServer;
  /** The agent's connection to M2, the server it is on when the check starts. */
  m2conn: () => ScriptedConnection;
  /** Every hello M1 received: [0] refused at start, [1] the check's, then any later ones. */
  hellos: Hello[];
}

/**
 * An agent on M2 (M1 refused it at start) whose preferred-host check reaches M1; M1 calls
 * `onCheckHello` with the check's hello and answers any later one with `later`.
 */
async function checkRace(t: Test, onCheckHello: (conn: ScriptedConnection, race: CheckRace) => void, later: (conn: ScriptedConnection, race: CheckRace) => void): Promise<CheckRace> {
  let m2conn: ScriptedConnection | undefined;
  const hellos: Hello[] = [];
  const m1 = await serveScripted(t, {
    onMessage: (conn, m) => {
      if (m.type !== 'hello') return;
      hellos.push(m);
      if (hellos.length === 1) conn.send(DRAINING);
      else if (hellos.length === 2) onCheckHello(conn, race);
      else later(conn, race);
    },
  });
  const m2 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && ((m2conn = conn), conn.send(welcome(1_000))) });
  const agent = await makeAgent(t, `host=${addr(m1)},${addr(m2)}\nhost.lb.check.interval=1\nguid=g\n`, zeroFirstDelay());
  const race: CheckRace = { agent, m1, m2, m2conn: () => m2conn!, hellos };
  agent.agent.start();
  t.equal((await next(agent.agent, 'connected')).server, addr(m2));
  return race;
}

/** `hosts` from M2 that differs from the agent's list and keeps M1 preferred. */
const racingList = (race: CheckRace): Hosts => ({
  type: 'hosts',
  seq: 7,
  hosts: [addr(race.m1), addr(race.m2), '127.0.0.1:1'],
  algorithm: 'static',
  checkInterval: 1,
});

/** M2 sends `hosts` while the check's hello is in flight; `answer` runs once the agent has read it. */
function sendWhileHelloInFlight(race: CheckRace, answer: () => void): void {
  const old = race.m2conn();
  old.send(racingList(race), { type: 'ping' });
  void old.arrival((m) => m.type === 'pong').then(answer);
}

t.test('a check that switches drops the old server\'s list sent during its hello: the agent holds what the hello said', async (t) => {
  const race = await checkRace(
    t,
    (conn, race) => sendWhileHelloInFlight(race, () => conn.send(welcome(1_000))),
    (conn) => conn.send(welcome(1_000)),
  );
  const { agent, path, logs } = race.agent;
  const before = await readFile(path, 'utf8');
  t.same(await next(agent, 'switched'), { from: addr(race.m2), to: addr(race.m1) });
  await agent.stop(); // waits for any update still being saved
  const announced = race.hellos[1]!;
  t.same(announced.hosts, [addr(race.m1), addr(race.m2)], 'the check\'s hello carried the list held when it was sent');
  t.same(agent.hosts, announced.hosts, 'the agent holds exactly what its new server was told');
  t.equal(await readFile(path, 'utf8'), before, 'and persisted nothing else');
  t.same(race.m2conn().received.filter(isAck), [], 'the old server got no ack for a list the agent did not take');
  t.match(
    logs.filter((l) => l.msg.startsWith('hosts updates from')),
    [{ msg: `hosts updates from ${addr(race.m2)} not applied: superseded by the switch to ${addr(race.m1)}`, seqs: [7] }],
  );
});

t.test('a check that fails applies and acks the old server\'s list it held, in order', async (t) => {
  let ackedBeforeRefusal: boolean | undefined;
  const race = await checkRace(
    t,
    (conn, race) =>
      sendWhileHelloInFlight(race, () => {
        ackedBeforeRefusal = race.m2conn().received.some(isAck);
        conn.send(DRAINING);
      }),
    (conn) => conn.send(DRAINING),
  );
  const { agent, path } = race.agent;
  const failed = next(agent, 'checkFailed');
  const ack = await race.m2conn().arrival(isAck);
  t.same(await failed, { server: addr(race.m1), code: 'draining' });
  t.equal(ackedBeforeRefusal, false, 'held while the check was in flight');
  t.same(ack, { type: 'ack', seq: 7, ok: true }, 'then applied and acked as usual');
  t.same(agent.hosts, racingList(race).hosts);
  t.match(await readFile(path, 'utf8'), `host=${racingList(race).hosts.join(',')}@static\n`);
  t.equal(agent.currentServer, addr(race.m2));
});

t.test('the old server hands over during the check: its list is applied before the reconnect\'s hello', async (t) => {
  const race = await checkRace(
    t,
    // The check's hello is left unanswered until the connect loop has said hello too.
    (_conn, race) => race.m2conn().send(racingList(race), DRAINING),
    (conn, race) => {
      conn.send(welcome(1_000));
      race.m1.connections[1]!.send(DRAINING); // the check's handshake fails now
    },
  );
  const { agent, path } = race.agent;
  t.same(await next(agent, 'connected'), { server: addr(race.m1), hostId: 1 });
  const list = racingList(race);
  t.same(race.hellos[2]?.hosts, list.hosts, 'the reconnect announced the list the old server handed over');
  t.same(agent.hosts, list.hosts);
  t.match(await readFile(path, 'utf8'), `host=${list.hosts.join(',')}@static\n`);
});

t.test('a dropped server\'s last list, still saving, is in the reconnect\'s hello', async (t) => {
  const m3 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(1_000)) });
  const m2 = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(1_000)) });
  const { agent, path } = await makeAgent(t, `host=${addr(m2)},${addr(m3)}\nguid=g\n`, zeroFirstDelay());
  agent.start();
  t.equal((await next(agent, 'connected')).server, addr(m2));
  // A drain's hand-over: the list with M2 last, then the error, in one write.
  const handOver: Hosts = { type: 'hosts', seq: 4, hosts: [addr(m3), addr(m2)], algorithm: 'static', checkInterval: 0 };
  m2.connections[0]!.send(handOver, DRAINING);
  t.equal((await next(agent, 'connected')).server, addr(m3));
  t.same((m3.connections[0]!.received[0] as Hello).hosts, handOver.hosts, 'the hello carried the handed-over list');
  t.same(agent.hosts, handOver.hosts);
  t.match(await readFile(path, 'utf8'), `host=${handOver.hosts.join(',')}@static\n`);
});
