import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { agentCommand } from '../../agent/command';
import { AGENT_USAGE, runAgentCli, type CliIo } from '../../agent/main';
import { startTestServer } from '../helpers/server';
import { tempDir, type LogLine } from './harness';

interface Captured {
  io: CliIo;
  out: string[];
  err: string[];
  logs: LogLine[];
  signals: EventEmitter;
  /** Resolves with the first log line whose msg starts with `prefix`. */
  logged(prefix: string): Promise<LogLine>;
}

function capture(): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const logs: LogLine[] = [];
  const waiters: Array<{ prefix: string; resolve: (line: LogLine) => void }> = [];
  const signals = new EventEmitter();
  const io: CliIo = {
    out: (text) => void out.push(text),
    err: (text) => void err.push(text),
    signals: signals as unknown as CliIo['signals'],
    logDestination: {
      write: (text: string) => {
        const line = JSON.parse(text) as LogLine;
        logs.push(line);
        for (const waiter of waiters.filter((w) => line.msg.startsWith(w.prefix))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      },
    },
  };
  const logged = (prefix: string): Promise<LogLine> =>
    new Promise((resolve) => {
      const seen = logs.find((line) => line.msg.startsWith(prefix));
      if (seen) resolve(seen);
      else waiters.push({ prefix, resolve });
    });
  return { io, out, err, logs, signals, logged };
}

t.test('--help tells the truth and exits 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const c = capture();
    t.equal(await runAgentCli([flag], c.io), 0);
    t.same(c.out, [AGENT_USAGE]);
    t.same(c.err, []);
  }
  t.match(AGENT_USAGE, /--properties PATH/);
  t.match(AGENT_USAGE, /host\.lb\.check\.interval\.override/);
});

t.test('bad command lines exit 2 and name the problem, then show the usage', async (t) => {
  const cases: Array<[string[], string]> = [
    [[], 'missing --properties PATH'],
    [['--properties', ''], 'missing --properties PATH'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--properties', 'a', 'extra'], "Unexpected argument 'extra'. This command does not take positional arguments"],
    [['--properties'], "Option '--properties <value>' argument missing"],
    [['--properties', 'a', '--log-level', 'loud'], 'bad value for --log-level: "loud" (expected one of fatal, error, warn, info, debug, trace, silent)'],
  ];
  for (const [argv, message] of cases) {
    const c = capture();
    t.equal(await runAgentCli(argv, c.io), 2, argv.join(' '));
    t.equal(c.err.join('').split('\n')[0], `agentlb-agent: ${message}`);
    t.ok(c.err.join('').endsWith(AGENT_USAGE));
    t.same(c.out, []);
  }
});

t.test('a bad properties file exits 2, naming the key and value', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.properties');
  await writeFile(path, 'host=m1\nport=eighty\n');
  const c = capture();
  t.equal(await runAgentCli(['--properties', path], c.io), 2);
  const message = 'agent.properties: bad value for port: "eighty" (expected a whole number)';
  t.same(c.err, [`agentlb-agent: ${message}\n`]);
  t.match(c.logs, [{ level: 60, msg: message, code: 'bad_config', properties: path }]);
});

t.test('runs against a real server until SIGTERM, then exits 0', async (t) => {
  const server = await startTestServer(t);
  const dir = await tempDir(t);
  const path = join(dir, 'agent.properties');
  await writeFile(path, `host=127.0.0.1:${server.agentPort}\n`);
  const c = capture();
  const exit = runAgentCli(['--properties', path, '--log-level', 'debug'], { ...c.io, env: {} });
  const connected = await c.logged('connected to ');
  t.equal(connected.server, `127.0.0.1:${server.agentPort}`);
  t.equal(connected.name, 'agentlb-agent');
  c.signals.emit('SIGTERM', 'SIGTERM');
  t.equal(await exit, 0);
  t.ok(c.logs.some((l) => l.msg === 'SIGTERM received: stopping'));
  t.equal(c.logs.at(-1)?.msg, 'agent stopped');
  t.equal(c.signals.listenerCount('SIGTERM') + c.signals.listenerCount('SIGINT'), 0, 'signal handlers removed');
});

/** A server that requires an enrolment token, and a properties file pointing at it. */
async function tokenServer(t: Test): Promise<{ port: number; path: string }> {
  const server = await startTestServer(t, { security: { agentToken: 'enrol-me' } });
  const path = join(await tempDir(t), 'agent.properties');
  await writeFile(path, `host=127.0.0.1:${server.agentPort}\n`);
  return { port: server.agentPort, path };
}

t.test('AGENTLB_AGENT_TOKEN is presented to servers that require one', async (t) => {
  const { port, path } = await tokenServer(t);
  const c = capture();
  const exit = runAgentCli(['--properties', path], { ...c.io, env: { AGENTLB_AGENT_TOKEN: 'enrol-me' } });
  t.equal((await c.logged('connected to ')).server, `127.0.0.1:${port}`);
  c.signals.emit('SIGTERM', 'SIGTERM');
  t.equal(await exit, 0);
});

t.test('without the token such a server refuses the agent, which says so', async (t) => {
  const { port, path } = await tokenServer(t);
  const c = capture();
  const exit = runAgentCli(['--properties', path], { ...c.io, env: {} });
  const refused = await c.logged(`server 127.0.0.1:${port} refused this agent (unauthorized)`);
  t.equal(refused.level, 50);
  c.signals.emit('SIGINT', 'SIGINT');
  t.equal(await exit, 0);
});

t.test('agentlb agent: the same CLI as a command of agentlb', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (text: string) => void out.push(text), err: (text: string) => void err.push(text), env: {} };
  t.equal(agentCommand.name, 'agent');
  t.equal(await agentCommand.run(['--help'], io), 0);
  t.same(out, [AGENT_USAGE]);
  t.equal(await agentCommand.run(['--nope'], io), 2);
  t.equal(err.join('').split('\n')[0], "agentlb-agent: Unknown option '--nope'");
});
