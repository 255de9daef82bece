/**
 * The admin API's 401 and 413 close the connection and never read the body (audit: a 401 kept
 * the connection alive and read an unauthenticated 100 MiB body to the end). Raw sockets, so
 * the test sees what a client streaming a body sees: the answer, then the connection cut long
 * before the body could have been sent.
 */
import net from 'node:net';
import t from 'tap';
import { startTestServer, TEST_TOKEN } from '../helpers/server';

const HUNDRED_MIB = 100 * 1024 * 1024;

interface Outcome {
  head: string;
  /** Bytes the client managed to hand to the kernel before the server cut it off. */
  sent: number;
  closed: boolean;
}

/** Sends `head` declaring a 100 MiB body and streams it; resolves when the server closes (or after 20 s). */
function streamBody(port: number, head: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    const chunk = Buffer.alloc(65_536, 0x61);
    const give = setTimeout(() => finish(false), 20_000);
    const finish = (closed: boolean): void => {
      clearTimeout(give);
      socket.destroy();
      resolve({ head: answer.split('\r\n\r\n')[0]!, sent, closed });
    };
    socket.on('data', (data) => (answer += data.toString('latin1')));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(`${head}Content-Length: ${HUNDRED_MIB}\r\nContent-Type: application/json\r\n\r\n`);
      const pump = (): void => {
        while (sent < HUNDRED_MIB && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

t.test('401: Connection: close and the unauthenticated body is not read', async (t) => {
  const server = await startTestServer(t);
  const outcome = await streamBody(server.adminAddress.port, 'PUT /api/settings HTTP/1.1\r\nHost: admin\r\n');
  t.match(outcome.head, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  t.match(outcome.head, /\r\nconnection: close\r\n/i);
  t.equal(outcome.closed, true, 'the server closed the connection');
  t.ok(outcome.sent < 32 * 1024 * 1024, `the body stopped at the socket buffers (${outcome.sent} bytes sent, not ${HUNDRED_MIB})`);
});

t.test('413: the same for an authenticated body that is too large', async (t) => {
  const server = await startTestServer(t);
  const outcome = await streamBody(server.adminAddress.port, `PUT /api/settings HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer ${TEST_TOKEN}\r\n`);
  t.match(outcome.head, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  t.match(outcome.head, /\r\nconnection: close\r\n/i);
  t.equal(outcome.closed, true);
  t.ok(outcome.sent < 32 * 1024 * 1024, `${outcome.sent} bytes sent`);
});

t.test('a keep-alive client with the token keeps its connection', async (t) => {
  const server = await startTestServer(t);
  const answer = await fetch(`http://127.0.0.1:${server.adminAddress.port}/api/settings`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  t.equal(answer.status, 200);
  t.not(answer.headers.get('connection'), 'close');
  await answer.text();
});
