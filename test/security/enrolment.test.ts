/**
 * Enrolment end to end: the real agent command (agent.properties `token`, `tls.*`) against a
 * real server that requires a token and/or client certificates.
 */
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runAgentCli, type CliIo } from '../../agent/main';
import { startTestServer } from '../helpers/server';
import { tempDir } from '../agent/harness';
import { listenerTls, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Runs `agentlb agent` in-process until `until` is logged, then SIGTERM; returns the exit code and logs. */
async function runAgent(properties: string, until: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; logs: LogLine[]; err: string }> {
  const logs: LogLine[] = [];
  const signals = new EventEmitter();
  let err = '';
  let reached: () => void;
  const seen = new Promise<void>((resolve) => (reached = resolve));
  const io: CliIo = {
    out: () => undefined,
    err: (text) => void (err += text),
    env,
    signals: signals as unknown as CliIo['signals'],
    logDestination: {
      write: (text: string) => {
        const line = JSON.parse(text) as LogLine;
        logs.push(line);
        if (line.msg.startsWith(until)) reached();
      },
    },
  };
  const exit = runAgentCli(['--properties', properties], io);
  const code = await Promise.race([exit, seen.then(() => undefined)]);
  if (code !== undefined) return { code, logs, err };
  signals.emit('SIGTERM', 'SIGTERM');
  return { code: await exit, logs, err };
}

async function properties(dir: string, lines: string[]): Promise<string> {
  const file = path.join(dir, 'agent.properties');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

// A missing or wrong token refused with its exact message: test/server/handshake.test.ts.
t.test('the token property enrols the agent; the environment token wins over it', async (t) => {
  const server = await startTestServer(t, { security: { agentToken: 'enrol-me' } });
  // (t.testdir() again would replace the server's data directory)
  const dir = await tempDir(t);
  const lines = [`host=127.0.0.1:${server.agentPort}`, 'guid=h-prop', 'token=enrol-me'];
  const file = await properties(dir, lines);
  const enrolled = await runAgent(file, 'connected to ');
  t.equal(enrolled.code, 0);
  t.ok(enrolled.logs.some((line) => line.msg === `connected to 127.0.0.1:${server.agentPort}`));
  await properties(dir, lines); // the server's list (its default host setting) replaced ours

  const refused = await runAgent(file, `server 127.0.0.1:${server.agentPort} refused this agent (unauthorized)`, { AGENTLB_AGENT_TOKEN: 'stale' });
  t.equal(refused.code, 0, 'the environment token was sent instead of the property, and refused');
});

t.test('an agent with tls.ca, tls.cert and tls.key (relative paths) is welcomed over mutual TLS', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const file = await properties(pki.dir, [`host=127.0.0.1:${server.agentPort}`, 'guid=agent-1', 'tls.ca=ca.crt', 'tls.cert=agent-1.crt', 'tls.key=agent-1.key']);
  const run = await runAgent(file, 'connected to ');
  t.equal(run.code, 0);
  t.match([...server.controller.allHosts()], [{ guid: 'agent-1' }]);
});

t.test('an agent whose guid is not its certificate name is refused unauthorized, and says so', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, true) } });
  const file = await properties(await tempDir(t), [
    `host=127.0.0.1:${server.agentPort}`,
    'guid=agent-2',
    `tls.ca=${pki.caFile}`,
    `tls.cert=${path.join(pki.dir, 'agent-1.crt')}`,
    `tls.key=${path.join(pki.dir, 'agent-1.key')}`,
  ]);
  const run = await runAgent(file, `server 127.0.0.1:${server.agentPort} refused this agent (unauthorized)`);
  t.equal(run.code, 0);
  t.equal([...server.controller.allHosts()].length, 0);
});

t.test('bad TLS properties stop the agent at start with exit 2, naming the problem', async (t) => {
  const dir = t.testdir();
  const certOnly = await runAgent(await properties(dir, ['host=127.0.0.1:1', 'tls.cert=a.crt']), 'never');
  t.same([certOnly.code, certOnly.err], [2, 'agentlb-agent: agent.properties: tls.cert and tls.key go together (the agent\'s certificate and its key)\n']);
  const noCa = await runAgent(await properties(dir, ['host=127.0.0.1:1', 'tls.cert=a.crt', 'tls.key=a.key']), 'never');
  t.same([noCa.code, noCa.err], [2, "agentlb-agent: agent.properties: tls.cert needs tls.ca (the CA that signed the servers' certificates)\n"]);
  const missing = await runAgent(await properties(dir, ['host=127.0.0.1:1', 'tls.ca=nope.crt']), 'never');
  t.same([missing.code, missing.err], [2, `agentlb-agent: cannot read ${path.join(dir, 'nope.crt')}: ENOENT: no such file or directory, open '${path.join(dir, 'nope.crt')}'\n`]);
});
