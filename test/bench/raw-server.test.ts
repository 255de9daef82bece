/**
 * The raw baseline server: one answer per connection, after the first whole frame however it
 * is split, then nothing; and its command line.
 */
import net from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { main, startRawServer } from '../../native-bench/raw-server';

const RESPONSE = Buffer.from('0000000201ff', 'hex');
const FRAME = Buffer.from('00000003aabbcc', 'hex');

function collect(socket: net.Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= bytes) resolve(got);
    });
  });
}

t.test('answers once, after the first frame arrives one byte at a time', async (t) => {
  const server = await startRawServer({ response: RESPONSE });
  t.teardown(() => server.close());
  const socket = net.connect(server.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  const answer = collect(socket, RESPONSE.length);
  for (const byte of FRAME) {
    socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.same(await answer, RESPONSE);
  t.equal(server.answered(), 1);
  // Later frames are read and dropped: still one answer, connection still open.
  socket.write(FRAME);
  socket.write(FRAME);
  const ended = once(socket, 'close');
  socket.end();
  await ended;
  t.equal(server.answered(), 1);
});

t.test('counts open connections and drops them on close', async (t) => {
  const server = await startRawServer({ response: RESPONSE });
  const sockets = await Promise.all([1, 2, 3].map(async () => {
    const s = net.connect(server.port, '127.0.0.1');
    await once(s, 'connect');
    s.write(FRAME);
    await collect(s, RESPONSE.length);
    return s;
  }));
  t.equal(server.connections(), 3);
  const closed = sockets.map((s) => once(s, 'close'));
  await server.close();
  await Promise.all(closed);
  t.equal(server.connections(), 0);
});

t.test('main() refuses a bad --response-hex and a bad --port', async (t) => {
  await t.rejects(main(['--response-hex', 'xyz']), new Error('raw-server: --response-hex must be a non-empty hex string'));
  await t.rejects(main(['--response-hex', '00', '--port', '70000']), new Error('raw-server: --port must be 0..65535, got "70000"'));
});
