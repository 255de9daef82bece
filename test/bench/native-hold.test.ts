/**
 * The native client's hold mode against a scripted in-process server: a held agent acks each
 * `hosts` with its seq, answers pings, reconnects with the list it was given, and reports a
 * drop; bad commands are refused.
 */
import net from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { encodeMessage } from '../../src/protocol/encoder';
import { MessageReader } from '../../src/protocol/message-decoder';
import type { AgentMessage } from '../../src/protocol/messages';
import { NativeHold, type NativeHoldOptions } from '../../native-bench/native-hold';
import { NativeClientError } from '../../native-bench/native-client';

interface Scripted {
  server: net.Server;
  port: number;
  sockets: net.Socket[];
  received: AgentMessage[];
  /** Resolves with the next message received from any agent. */
  next(): Promise<AgentMessage>;
}

/** Answers every hello with welcome + hosts (seq 1), records everything the agents send. */
async function scriptedServer(): Promise<Scripted> {
  const received: AgentMessage[] = [];
  const waiting: ((m: AgentMessage) => void)[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    const reader = new MessageReader({ accept: 'agent' });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk, (m) => {
        received.push(m);
        waiting.shift()?.(m);
        if (m.type === 'hello') {
          socket.write(encodeMessage({ type: 'welcome', version: 1, hostId: 1, server: 'x:1' }));
          if (m.hosts.length === 0) socket.write(encodeMessage({ type: 'hosts', seq: 1, hosts: ['a:1'], algorithm: 'static', checkInterval: 0 }));
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    received,
    next: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

/** A hold client against `port` (closed at teardown); `opts` overrides the small defaults. */
async function holdOn(t: Test, port: number, opts: Partial<NativeHoldOptions> = {}): Promise<NativeHold> {
  const hold = await NativeHold.start({
    target: { host: '127.0.0.1', port },
    count: 1,
    concurrency: 1,
    sources: ['127.0.0.1'],
    guidPrefix: 'x-',
    timeoutMs: 500,
    list: { hosts: [], algorithm: '', checkInterval: 0 },
    ...opts,
  });
  t.teardown(() => hold.close());
  return hold;
}

t.test('held agents: ack, pong, drop, up-to-date reconnect', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => s.server.close());
  const hold = await holdOn(t, s.port, {
    count: 2,
    concurrency: 2,
    sources: ['127.0.0.1', '127.0.0.2'],
    guidPrefix: 'hold-',
    timeoutMs: 2_000,
    list: { hosts: ['a:1'], algorithm: 'static', checkInterval: 0 },
  });

  const up = await hold.up('hosts');
  t.equal(up.completed, 2);
  t.equal(up.up, 2);
  t.equal(up.acked, 2);
  const hellos = s.received.filter((m) => m.type === 'hello');
  t.same(hellos.map((m) => m.type === 'hello' && m.guid).sort(), ['hold-000000000000', 'hold-000000000001']);
  t.same(s.received.filter((m) => m.type === 'ack'), [
    { type: 'ack', seq: 1, ok: true },
    { type: 'ack', seq: 1, ok: true },
  ]);

  const mark = process.hrtime.bigint();
  await hold.mark(mark);
  // A pushed list with a two-byte seq, and a ping: the agent acks with that seq and pongs.
  let reply = s.next();
  s.sockets[0]!.write(encodeMessage({ type: 'hosts', seq: 300, hosts: ['b:2'], algorithm: 'static', checkInterval: 0 }));
  t.same(await reply, { type: 'ack', seq: 300, ok: true });
  reply = s.next();
  s.sockets[0]!.write(encodeMessage({ type: 'ping' }));
  t.same(await reply, { type: 'pong' });
  const acked = await hold.waitAcked(1);
  t.equal(acked.hostsSinceMarkMs.count, 1, 'the pushed list counts as propagation');
  t.ok(BigInt(acked.lastAckNs) > mark);

  // The server drops both: the client sees it, and reconnects with the list it holds.
  for (const socket of s.sockets.splice(0)) socket.destroy();
  const dropped = await hold.waitDropped(2);
  t.equal(dropped.up, 0);
  s.received.length = 0;
  const back = await hold.up('welcome');
  t.equal(back.completed, 2);
  const rehellos = s.received.filter((m) => m.type === 'hello');
  t.same(rehellos.map((m) => m.type === 'hello' && [m.hosts, m.algorithm, m.checkInterval]), [
    [['a:1'], 'static', 0],
    [['a:1'], 'static', 0],
  ]);
});

t.test('agents that cannot connect are lost after their retries', async (t) => {
  const s = await scriptedServer();
  const port = s.port;
  s.server.close();
  await once(s.server, 'close');
  const hold = await holdOn(t, port, { guidPrefix: 'lost-' });
  const up = await hold.up('welcome');
  t.equal(up.lost, 1);
  t.equal(up.errorKinds.connect, 10, 'ten attempts, each refused');
});

t.test('an unknown command is refused', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => s.server.close());
  const hold = await holdOn(t, s.port);
  await t.rejects(hold.command('dance'), new NativeClientError('native hold client refused "dance"'));
  t.equal((await hold.stats()).event, 'stats', 'still answering after a refusal');
});

t.test('held agents speak protocol 2: each call answered with one result, counted per agent', async (t) => {
  const s = await scriptedServer();
  t.teardown(() => s.server.close());
  const hold = await holdOn(t, s.port, { count: 2, concurrency: 2, sources: ['127.0.0.1', '127.0.0.2'], guidPrefix: 'call-', timeoutMs: 2_000 });
  await hold.up('hosts');
  t.same(s.received.filter((m) => m.type === 'hello').map((m) => m.type === 'hello' && m.version), [2, 2], 'the hello says version 2');
  await hold.mark(process.hrtime.bigint());
  // The result frames go through the project's own reader and validator: exact per protocol.md 4.4.
  let reply = s.next();
  s.sockets[0]!.write(encodeMessage({ type: 'call', id: 7, method: 'agentlb.ping', timeoutMs: 1_000 }));
  t.same(await reply, { type: 'result', id: 7, ok: true, value: 'pong' });
  reply = s.next();
  s.sockets[0]!.write(encodeMessage({ type: 'call', id: 70_000, method: 'agentlb.ping', params: { a: [1, 2] }, timeoutMs: 1_000 }));
  t.same(await reply, { type: 'result', id: 70_000, ok: true, value: 'pong' }, 'a four-byte id, params walked past');
  reply = s.next();
  s.sockets[1]!.write(encodeMessage({ type: 'call', id: 2 ** 40, method: 'disk.usage', timeoutMs: 1_000 }));
  t.same(await reply, { type: 'result', id: 2 ** 40, ok: false, error: { code: 'unknown_method', message: 'no such method' } }, 'any other method: unknown_method');
  s.sockets[1]!.write(encodeMessage({ type: 'cancel', id: 2 ** 40 }));
  // The stats command is read after the cancel's bytes only by chance; wait on the count.
  let stats = await hold.stats();
  while (stats.cancels < 1) stats = await hold.stats();
  t.match(stats, { calls: 3, pingCalls: 2, results: 3, cancels: 1, calledOnce: 1, calledMore: 1 }, 'agent 0 called twice, agent 1 once');
  await hold.mark(process.hrtime.bigint());
  t.match(await hold.stats(), { calls: 0, results: 0, calledOnce: 0, calledMore: 0 }, 'mark zeroes the per-agent counts');
});
