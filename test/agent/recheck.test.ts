/**
 * `hosts.recheck` (protocol.md section 5, rule 7): the agent acks the list as usual, then runs
 * its preferred-host check at once, whatever its check interval (0 here: no check would ever
 * run by itself), and switches make-before-break. On its preferred server already, nothing
 * more happens. Scripted servers: the test sees every frame in order.
 */
import { once } from 'node:events';
import t from 'tap';
import type { Ack, AgentMessage } from '../../src/protocol/messages';
import { makeAgent, next } from './harness';
import { serveScripted, welcome, type ScriptedServer } from './scripted-server';

const addr = (server: ScriptedServer): string => `127.0.0.1:${server.port}`;
const isAck = (seq: number) => (m: AgentMessage): boolean => m.type === 'ack' && m.seq === seq;

async function welcoming(t: Parameters<typeof serveScripted>[0]): Promise<ScriptedServer> {
  return serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(60_000)) });
}

t.test('recheck: ack first, then a real handshake with the first entry, then the old connection closes', async (t) => {
  const a = await welcoming(t);
  const b = await welcoming(t);
  const A = addr(a);
  const B = addr(b);
  // On B, its first entry: no check. The list B sends next names A first, with interval 0.
  const { agent } = await makeAgent(t, `host=${B},${A}\nguid=g\nhost.lb.check.interval=0\n`);
  agent.start();
  t.equal((await next(agent, 'connected')).server, B);
  const onB = b.connections[0]!;

  onB.send({ type: 'hosts', seq: 1, hosts: [A, B], algorithm: 'static', checkInterval: 0 });
  t.same(await onB.arrival(isAck(1)), { type: 'ack', seq: 1, ok: true });
  t.equal(a.connections.length, 0, 'interval 0 and no recheck: the agent stays on B');

  const switched = next(agent, 'switched');
  const recheck = next(agent, 'recheck');
  onB.send({ type: 'hosts', seq: 1, hosts: [A, B], algorithm: 'static', checkInterval: 0, recheck: true });
  t.same(await onB.arrival((m) => m.type === 'ack' && onB.received.filter(isAck(1)).length === 2), { type: 'ack', seq: 1, ok: true });
  t.same(await recheck, { server: B, preferred: A, started: true });
  t.same(await switched, { from: B, to: A });
  t.equal(a.connections.length, 1, 'one handshake with A');
  t.equal(a.connections[0]!.received[0]?.type, 'hello');
  t.same((a.connections[0]!.received[0] as { hosts: string[] }).hosts, [A, B], 'the hello announces the list just acked');
  if (!onB.socket.destroyed) await once(onB.socket, 'close');
  t.pass('the old connection is closed after the switch');
  t.equal(agent.currentServer, A);
});

t.test('recheck on the preferred server: acked, and no handshake anywhere', async (t) => {
  const a = await welcoming(t);
  const b = await welcoming(t);
  const A = addr(a);
  const B = addr(b);
  const { agent } = await makeAgent(t, `host=${A},${B}\nguid=g\n`);
  agent.start();
  await next(agent, 'connected');
  const recheck = next(agent, 'recheck');
  a.connections[0]!.send({ type: 'hosts', seq: 2, hosts: [A, B], algorithm: 'static', checkInterval: 0, recheck: true });
  t.same((await a.connections[0]!.arrival(isAck(2))) as Ack, { type: 'ack', seq: 2, ok: true });
  t.same(await recheck, { server: A, preferred: A, started: false });
  t.equal(b.connections.length, 0);
  t.equal(a.connections.length, 1);
});

t.test('recheck to a preferred server that refuses: the agent stays, the check failed', async (t) => {
  const a = await serveScripted(t, {
    onMessage: (conn, m) => m.type === 'hello' && conn.send({ type: 'error', code: 'draining', message: 'draining' }),
  });
  const b = await welcoming(t);
  const A = addr(a);
  const B = addr(b);
  const { agent } = await makeAgent(t, `host=${B},${A}\nguid=g\n`);
  agent.start();
  await next(agent, 'connected');
  const failed = next(agent, 'checkFailed');
  b.connections[0]!.send({ type: 'hosts', seq: 3, hosts: [A, B], algorithm: 'static', checkInterval: 0, recheck: true });
  t.same(await failed, { server: A, code: 'draining' });
  t.equal(agent.currentServer, B);
  t.equal(b.connections[0]!.socket.destroyed, false, 'still on B');
});
