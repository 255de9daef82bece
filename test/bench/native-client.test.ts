/**
 * The native client (client.c, built with gcc) against the raw baseline server, in-process:
 * every way a handshake can end is counted under its own kind.
 */
import t from 'tap';
import { encodeMessage } from '../../src/protocol/encoder';
import { freePort, loopbackSources } from '../../native-bench/loopback';
import { buildNativeClient, helloTemplate, runNativeClient, NativeClientError } from '../../native-bench/native-client';
import { startRawServer } from '../../native-bench/raw-server';
import type { HandshakeEnd } from '../../native-bench/swarm/ipc';

const welcome = encodeMessage({ type: 'welcome', version: 1, hostId: 7, server: '127.0.0.1:8250' });
const hosts = encodeMessage({ type: 'hosts', seq: 3, hosts: ['a:1', 'b:2'], algorithm: 'static', checkInterval: 0 });

async function against(response: Buffer, until: HandshakeEnd, count = 30) {
  const server = await startRawServer({ response });
  try {
    return await runNativeClient({
      target: { host: '127.0.0.1', port: server.port },
      count,
      concurrency: 8,
      sources: loopbackSources(3),
      guidPrefix: 'nc-test-',
      until,
      timeoutMs: 300,
    });
  } finally {
    await server.close();
  }
}

t.test('the binary is built into native-bench/out and reused', async (t) => {
  const first = await buildNativeClient();
  t.match(first, /native-bench\/out\/client$/);
  t.equal(await buildNativeClient(), first);
});

t.test('the hello template holds the guid digits at the offset it reports', async (t) => {
  const { frame, guidOffset } = helloTemplate('pfx-');
  t.equal(frame.subarray(guidOffset, guidOffset + 12).toString(), '000000000000');
  t.equal(frame.subarray(guidOffset - 4, guidOffset).toString(), 'pfx-');
});

t.test('welcome + hosts: every handshake completes', async (t) => {
  const r = await against(Buffer.concat([welcome, hosts]), 'hosts');
  t.equal(r.count, 30);
  t.equal(r.ok, 30);
  t.equal(r.errors, 0);
  t.ok(r.latencyMs.p50 <= r.latencyMs.max, 'percentiles are ordered');
});

t.test('frames before the awaited type are walked past', async (t) => {
  const r = await against(Buffer.concat([welcome, welcome, hosts]), 'hosts', 5);
  t.equal(r.ok, 5);
});

t.test('an error frame is counted as errorFrame', async (t) => {
  const r = await against(encodeMessage({ type: 'error', code: 'server_busy', message: 'full' }), 'welcome', 6);
  t.equal(r.ok, 0);
  t.equal(r.errorKinds.errorFrame, 6);
});

t.test('a zero-length frame is counted as badFrame', async (t) => {
  const r = await against(Buffer.from([0, 0, 0, 0]), 'welcome', 4);
  t.equal(r.errorKinds.badFrame, 4);
});

t.test('waiting for hosts that never comes is counted as timeout', async (t) => {
  const r = await against(welcome, 'hosts', 3);
  t.equal(r.errorKinds.timeout, 3);
});

t.test('a refused connection is counted as connect', async (t) => {
  const port = await freePort();
  const r = await runNativeClient({
    target: { host: '127.0.0.1', port },
    count: 3,
    concurrency: 2,
    sources: ['127.0.0.1'],
    guidPrefix: 'x-',
    until: 'welcome',
    timeoutMs: 300,
  });
  t.equal(r.errorKinds.connect, 3);
  t.equal(r.errors, 3);
});

t.test('bad arguments fail with the client message', async (t) => {
  await t.rejects(
    runNativeClient({ target: { host: 'not-an-ip', port: 1 }, count: 1, concurrency: 1, sources: ['127.0.0.1'], guidPrefix: 'x-', until: 'welcome', timeoutMs: 100 }),
    new NativeClientError('native client failed: client: --host must be an IPv4 address'),
  );
});
