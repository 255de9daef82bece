/**
 * What the server's log says (issue 15, "logs an operator can read"), read from a real
 * server's lines: ISO 8601 times; one `fanout` summary per fan-out (how many agents, why, how
 * long) with each agent's `hosts_sent` only at debug; `handshake_failed` naming the check that
 * refused the agent; and an agent that refused the server's certificate named as such, with
 * its address, instead of "TLS refused: socket hang up".
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, type LogLevel } from '../../src/log';
import { agentRefusedCertificateMessage } from '../../src/security/tls-refused';
import { api, startTestServer } from '../helpers/server';
import { connectAgents, TestAgent } from '../helpers/test-agent';
import { connectTls, helloOver, listenerTls, makePki, type Pki } from '../security/pki';

type Line = Record<string, unknown>;

/** A logger at `level` whose lines are kept, parsed, and can be waited for. */
function capture(level: LogLevel) {
  const lines: Line[] = [];
  const waiters: { match: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as Line;
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
      done();
    },
  });
  return {
    logger: createLogger({ level, destination }),
    lines,
    waitFor(match: (line: Line) => boolean): Promise<Line> {
      const seen = lines.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

const ISO_8601_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

t.test('times are ISO 8601 (UTC)', async (t) => {
  const log = capture('info');
  await startTestServer(t, { logger: log.logger });
  const started = await log.waitFor((line) => line['event'] === 'started');
  t.match(started['time'], ISO_8601_UTC);
  t.ok(Math.abs(Date.parse(started['time'] as string) - Date.now()) < 60_000, 'and it is now');
});

t.test('a settings change: one fanout line at info, the per-agent lists at debug', async (t) => {
  for (const level of ['info', 'debug'] as const) {
    const log = capture(level);
    const server = await startTestServer(t, { logger: log.logger });
    const agents = await connectAgents(server.agentPort, ['a1', 'a2', 'a3']);
    t.teardown(() => Promise.all(agents.map(({ agent }) => agent.close())));
    for (const { agent, hosts } of agents) agent.ack(hosts!);

    const put = await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2' } });
    t.equal(put.status, 200);
    const fanout = await log.waitFor((line) => line['event'] === 'fanout' && line['cause'] === 'settings');
    t.match(fanout, { level: 30, cause: 'settings', agentsUpdated: 3, agentsConnected: 3, settingsVersion: 1, ms: Number }, level);
    t.match(fanout['msg'], /^list sent to 3 of 3 agents \(settings changed\) in \d+(\.\d)? ms$/);
    t.equal(log.lines.filter((line) => line['event'] === 'fanout' && line['cause'] === 'settings').length, 1, 'one line for the fan-out');
    const perAgent = log.lines.filter((line) => line['event'] === 'hosts_sent' && line['cause'] === 'settings');
    if (level === 'info') t.equal(perAgent.length, 0, 'no per-agent line at info');
    else t.same(perAgent.map((line) => [line['level'], line['guid'], line['hosts']]).sort(), [20, 20, 20].map((lvl, i) => [lvl, `a${i + 1}`, ['M1', 'M2']]));
  }
});

t.test('a fan-out that changes nobody is a debug line only', async (t) => {
  const log = capture('debug');
  const server = await startTestServer(t, { logger: log.logger });
  const put = await api(server, 'PUT', '/api/settings', { body: { host: 'M1' } });
  t.equal(put.status, 200);
  t.match(await log.waitFor((line) => line['event'] === 'fanout'), { level: 20, agentsUpdated: 0, agentsConnected: 0, msg: /^list sent to 0 of 0 agents/ });
});

t.test('handshake_failed says which enrolment check refused the agent', async (t) => {
  const cases = [
    { token: undefined, reason: 'this server requires an enrolment token' },
    { token: 'a-wrong-token', reason: 'wrong enrolment token' },
  ];
  for (const [i, { token, reason }] of cases.entries()) {
    // A server each: failed handshakes of one kind are logged once per 10 s window.
    const log = capture('info');
    const server = await startTestServer(t, { logger: log.logger, security: { agentToken: 'the-right-token' } });
    const agent = await TestAgent.connect(server.agentPort);
    agent.sendHello({ guid: `refused-${i}`, ...(token === undefined ? {} : { token }) });
    t.match(await agent.next(), { type: 'error', code: 'unauthorized', message: reason });
    await agent.close();
    const line = await log.waitFor((l) => l['event'] === 'handshake_failed' && l['guid'] === `refused-${i}`);
    t.match(line, { level: 40, result: 'unauthorized', reason, msg: `agent handshake failed: unauthorized: ${reason}` });
    t.notMatch(JSON.stringify(line), /the-right-token|a-wrong-token/, 'no token in the log');
  }
});

t.test('handshake_failed names a client certificate that does not name the guid', async (t) => {
  const log = capture('info');
  const server = await startTestServer(t, { logger: log.logger, security: { tls: listenerTls(pki, true) } });
  const sock = await connectTls(server.agentPort, pki, pki.agent);
  const reason = 'guid "agent-2" is not a name of the client certificate ("agent-1")';
  t.match(await helloOver(sock, 'agent-2'), { type: 'error', code: 'unauthorized', message: reason });
  sock.destroy();
  t.match(await log.waitFor((l) => l['event'] === 'handshake_failed'), { result: 'unauthorized', guid: 'agent-2', reason });
});

t.test('an unsupported version says what the agent spoke', async (t) => {
  const log = capture('info');
  const server = await startTestServer(t, { logger: log.logger });
  const agent = await TestAgent.connect(server.agentPort);
  agent.sendHello({ guid: 'future', version: 9 });
  t.match(await agent.next(), { type: 'error', code: 'unsupported_version' });
  await agent.close();
  t.match(await log.waitFor((l) => l['event'] === 'handshake_failed'), {
    result: 'unsupported_version',
    reason: 'the agent speaks version 9; supported versions: 1',
  });
});

t.test('an agent that refuses the server certificate is named as such, with its address', async (t) => {
  const log = capture('info');
  const server = await startTestServer(t, { logger: log.logger, security: { tls: listenerTls(pki, false, false) } });
  // The agent trusts another CA: it closes the TLS handshake once it has the certificate.
  const refused = await connectTls(server.agentPort, pki, undefined, { ca: pki.stranger.cert }).catch((error: unknown) => error);
  t.match(refused, { code: 'connect_failed', cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } });
  const line = await log.waitFor((l) => l['event'] === 'tls_failed');
  t.match(line, { level: 40, code: 'agent_refused_certificate', cause: 'ECONNRESET', detail: 'socket hang up', remote: /^127\.0\.0\.1:\d+$/ });
  t.equal(line['msg'], agentRefusedCertificateMessage(line['remote'] as string));
  t.match(line['msg'], /^the agent at 127\.0\.0\.1:\d+ refused this server's certificate/);

  // A TCP connection closed before any TLS byte (a port probe) is not called a refusal.
  const probe = capture('info');
  const other = await startTestServer(t, { logger: probe.logger, security: { tls: listenerTls(pki, false, false) } });
  const socket = net.connect(other.agentPort, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.destroy();
  const failed = await probe.waitFor((l) => l['event'] === 'tls_failed');
  t.match(failed, { code: 'ECONNRESET', msg: 'TLS refused: socket hang up' }, 'a reset before the server wrote a byte');
});
