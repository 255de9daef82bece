/**
 * The handshake benchmark's peers, as real processes driven by the native client: the C floor
 * answers one frame per connection as the raw Node server does; the client's nats mode does
 * NATS's handshake (INFO, CONNECT + PING, PONG) against a real nats-server (skipped when it is
 * not installed); a server that never sends INFO times out, counted as such.
 */
import net from 'node:net';
import t from 'tap';
import { loopbackSources } from '../../native-bench/loopback';
import { runNativeClient } from '../../native-bench/native-client';
import { natsServerBinary, spawnFloorServer, spawnNatsServer } from '../../native-bench/peers';
import { encodeMessage } from '../../src/protocol/encoder';

const welcome = encodeMessage({ type: 'welcome', version: 1, hostId: 7, server: '127.0.0.1:8250' });
const hosts = encodeMessage({ type: 'hosts', seq: 3, hosts: ['a:1'], algorithm: 'static', checkInterval: 0 });

const client = (port: number, protocol: 'agentlb' | 'nats', count = 40) =>
  runNativeClient({ target: { host: '127.0.0.1', port }, count, concurrency: 8, sources: loopbackSources(2), guidPrefix: 'peer-', until: 'hosts', timeoutMs: 2_000, protocol });

t.test('the C floor answers every handshake with the bytes it was given', async (t) => {
  const floor = await spawnFloorServer(Buffer.concat([welcome, hosts]));
  t.teardown(() => floor.stop());
  const r = await client(floor.port, 'agentlb');
  t.same([r.ok, r.errors], [40, 0]);
  // Welcome only: the client waits for hosts, which never comes, and counts a timeout.
  const welcomeOnly = await spawnFloorServer(welcome);
  t.teardown(() => welcomeOnly.stop());
  const late = await client(welcomeOnly.port, 'agentlb', 3);
  t.same([late.ok, late.errorKinds.timeout], [0, 3]);
  t.equal(await floor.stop(), 0, 'exits 0 on SIGTERM');
});

t.test('nats mode: INFO, CONNECT + PING, PONG against nats-server', { skip: natsServerBinary() === undefined && 'nats-server is not installed' }, async (t) => {
  const nats = await spawnNatsServer(natsServerBinary()!);
  t.teardown(() => nats.stop());
  const r = await client(nats.port, 'nats');
  t.same([r.ok, r.errors], [40, 0]);
});

t.test('nats mode: -ERR is an error frame, a server that never sends INFO a timeout', async (t) => {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', () => socket.end("-ERR 'Authorization Violation'\r\n"));
    socket.write('INFO {"server_id":"x"}\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const r = await client((server.address() as net.AddressInfo).port, 'nats', 5);
  t.same([r.ok, r.errorKinds.errorFrame], [0, 5]);

  const silent = net.createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    silent.close();
  });
  const quiet = await runNativeClient({ target: { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port }, count: 2, concurrency: 2, sources: loopbackSources(1), guidPrefix: 'q-', until: 'hosts', timeoutMs: 300, protocol: 'nats' });
  t.same([quiet.ok, quiet.errorKinds.timeout], [0, 2]);
});
