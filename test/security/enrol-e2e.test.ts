/**
 * Enrolment and renewal end to end over real TLS: the real agent command (runAgentCli
 * in-process) with only tls.ca and the token in agent.properties, against a real server
 * started with --ca-dir. The agent makes its key, enrols, saves agent.key (0600) and agent.crt
 * beside agent.properties, reconnects with them and is served; a restart against a server that
 * REQUIRES client certificates proves the saved pair works; a certificate with a lifetime of
 * seconds is renewed over a new connection while the agent stays served.
 */
import { EventEmitter } from 'node:events';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { runAgentCli, type CliIo } from '../../agent/main';
import type { ServerEventMap } from '../../src/server/events';
import { startTestServer } from '../helpers/server';
import { tempDir } from '../agent/harness';
import { listenerTls, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

const TOKEN = 'enrolment-token-0123456789';

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Runs the agent in-process; `stop()` sends SIGTERM and resolves with the exit code. */
function startAgent(properties: string): { logs: LogLine[]; logged: (prefix: string, count?: number) => Promise<LogLine>; stop: () => Promise<number> } {
  const logs: LogLine[] = [];
  const signals = new EventEmitter();
  const waiters: { prefix: string; count: number; resolve: (line: LogLine) => void }[] = [];
  const check = (): void => {
    for (const waiter of [...waiters]) {
      const matching = logs.filter((line) => line.msg.startsWith(waiter.prefix));
      if (matching.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(matching[waiter.count - 1]!);
      }
    }
  };
  const io: CliIo = {
    out: () => undefined,
    err: () => undefined,
    env: {},
    signals: signals as unknown as CliIo['signals'],
    logDestination: {
      write: (text: string) => {
        logs.push(JSON.parse(text) as LogLine);
        check();
      },
    },
  };
  const exit = runAgentCli(['--properties', properties], io);
  return {
    logs,
    logged: (prefix, count = 1) =>
      new Promise((resolve) => {
        waiters.push({ prefix, count, resolve });
        check();
      }),
    stop: async () => {
      signals.emit('SIGTERM', 'SIGTERM');
      return exit;
    },
  };
}

async function agentDir(t: Parameters<typeof tempDir>[0], port: number, guid: string): Promise<{ dir: string; file: string }> {
  const dir = await tempDir(t);
  const file = path.join(dir, 'agent.properties');
  await writeFile(file, [`host=127.0.0.1:${port}`, `guid=${guid}`, `token=${TOKEN}`, `tls.ca=${pki.caFile}`, ''].join('\n'));
  return { dir, file };
}

t.test('only tls.ca and the token: the agent enrols, reconnects with its certificate and is served', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN } });
  const handshakes: ServerEventMap['handshake'][] = [];
  server.events.on('handshake', (e) => handshakes.push(e));
  const { dir, file } = await agentDir(t, server.agentPort, 'e2e-agent');
  const agent = startAgent(file);
  await agent.logged('enrolled: certificate saved');
  await agent.logged('connected to ', 2);
  t.equal(await agent.stop(), 0);
  t.same(handshakes.filter((e) => e.guid === 'e2e-agent').map((e) => e.result), ['ok', 'ok'], 'enrolment connection, then the one with the certificate');
  const key = await stat(path.join(dir, 'agent.key'));
  t.equal(key.mode & 0o777, 0o600, 'the key is 0600');
  const cert = new X509Certificate(await readFile(path.join(dir, 'agent.crt')));
  t.equal(cert.subject, 'CN=e2e-agent');
  t.ok(cert.verify(new X509Certificate(pki.ca).publicKey));

  // The saved pair is what it presents from now on: a server that requires one admits it.
  const strict = await startTestServer(t, { security: { tls: listenerTls(pki, true), agentToken: TOKEN } });
  await writeFile(file, [`host=127.0.0.1:${strict.agentPort}`, 'guid=e2e-agent', `token=${TOKEN}`, `tls.ca=${pki.caFile}`, ''].join('\n'));
  const again = startAgent(file);
  await again.logged('connected to ');
  t.equal(await again.stop(), 0);
  t.notOk(again.logs.some((line) => line.msg.startsWith('enrolled')), 'no second enrolment');
});

t.test('a second agent with the same token cannot enrol that guid', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN } });
  const first = await agentDir(t, server.agentPort, 'taken-guid');
  const owner = startAgent(first.file);
  await owner.logged('connected to ', 2);
  const second = await agentDir(t, server.agentPort, 'taken-guid');
  const thief = startAgent(second.file);
  const refusal = await thief.logged(`server 127.0.0.1:${server.agentPort} refused this agent (unauthorized)`);
  t.match(refusal, { reason: 'guid "taken-guid" holds a certificate: connect with it (tls.cert and tls.key), or have an operator run `agentlb hosts reissue` for it' });
  t.equal(await thief.stop(), 0);
  t.equal(await owner.stop(), 0);
});

t.test('a renewal due soon happens over a new connection; the agent is never without its server', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN, certLifetimeMs: 9_000 } });
  const gone: ServerEventMap['disconnected'][] = [];
  server.events.on('disconnected', (e) => gone.push(e));
  const { dir, file } = await agentDir(t, server.agentPort, 'renewing-agent');
  const agent = startAgent(file);
  const enrolled = await agent.logged('enrolled: certificate saved');
  const first = new X509Certificate(await readFile(path.join(dir, 'agent.crt')));
  const renewed = await agent.logged('certificate renewed, valid until');
  const second = new X509Certificate(await readFile(path.join(dir, 'agent.crt')));
  t.not(second.serialNumber, first.serialNumber, 'a new certificate on disk');
  t.ok(Date.parse(String(renewed['notAfter'])) > Date.parse(String(enrolled['notAfter'])), 'valid for longer');
  t.equal(server.agentCount, 1);
  t.same(
    gone.filter((e) => e.guid === 'renewing-agent').map((e) => e.reason),
    gone.filter((e) => e.guid === 'renewing-agent').map(() => 'replaced'),
    'each old connection was replaced by its successor, none dropped',
  );
  t.notOk(agent.logs.some((line) => line.msg.startsWith('disconnected from') && line.level >= 40), 'the agent saw no unexpected close');
  t.equal(await agent.stop(), 0);
});
