/**
 * Calls end to end with real processes: two `agentlb server` processes (one started with
 * --protocol 1, a version 1 only server), `agentlb-agent` processes (dist/agent/main.js) with a
 * handlers dir, a version 1 agent beside them, and `agentlb call` as a process. Pins: a handler
 * answers through the CLI; a refused file and an unknown method in a fan-out; v1 and v2 agents
 * side by side (unsupported / ok); a v2 agent against the v1-only server falls back (logged
 * once) and is refused calls with 422.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { cleanEnv, runCliProcess, startServerProcess, type ServerProcess } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';

const AGENT_MAIN = join(__dirname, '..', '..', 'dist', 'agent', 'main.js');
const TOKEN = 'calls-e2e-admin-token';

interface AgentProcess {
  logs: Record<string, unknown>[];
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

async function startAgentProcess(t: Test, dir: string, properties: string): Promise<AgentProcess> {
  const path = join(dir, 'agent.properties');
  await writeFile(path, properties);
  const child = spawn(process.execPath, [AGENT_MAIN, '--properties', path], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'close');
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    logs.push(line);
    for (const waiter of [...waiters]) if (waiter.match(line)) (waiters.splice(waiters.indexOf(waiter), 1), waiter.resolve(line));
  });
  return {
    logs,
    waitForLog: (match) => {
      const seen = logs.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

const connectedLine = (line: Record<string, unknown>): boolean => typeof line['msg'] === 'string' && line['msg'].startsWith('connected to ');

async function call(server: ServerProcess, args: string[]) {
  return runCliProcess(['call', ...args, '--admin', `127.0.0.1:${server.adminPort}`], cleanEnv({ AGENTLB_ADMIN_TOKEN: TOKEN }));
}

t.test('calls through real processes', async (t) => {
  const root = t.testdir();
  const a = await startServerProcess(t, ['--data-dir', join(root, 'a'), '--admin-token', TOKEN]);
  const old = await startServerProcess(t, ['--data-dir', join(root, 'old'), '--admin-token', TOKEN, '--protocol', '1']);

  const handlers = join(root, 'handlers');
  await mkdir(handlers);
  await writeFile(join(handlers, 'uptime'), '#!/bin/sh\nread -r s _ < /proc/uptime\nprintf \'{"seconds": %s}\\n\' "${s%.*}"\n');
  await chmod(join(handlers, 'uptime'), 0o755);
  await writeFile(join(handlers, 'loose'), '#!/bin/sh\necho should-not-run\n');
  await chmod(join(handlers, 'loose'), 0o777);

  await mkdir(join(root, 'ag1'));
  const agent1 = await startAgentProcess(t, join(root, 'ag1'), `host=127.0.0.1:${a.agentPort}\nguid=e2e-v2\nhandlers.dir=${handlers}\n`);
  const line1 = await agent1.waitForLog(connectedLine);
  t.equal(line1['protocolVersion'], 2);
  const hostId = line1['hostId'] as number;

  const v1 = await TestAgent.connect(a.agentPort);
  const v1Welcome = await v1.hello({ guid: 'e2e-v1', version: 1 });
  t.teardown(() => v1.close());

  const single = await call(a, [String(hostId), 'uptime']);
  t.equal(single.code, 0, single.stderr);
  t.match(JSON.parse(single.stdout), { seconds: Number });

  const refused = await call(a, [String(hostId), 'loose']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, `handler_refused: ${join(handlers, 'loose')} is writable by everyone (mode 777); chmod go-w it`);
  const unknown = await call(a, [String(hostId), 'nope']);
  t.match(unknown.stderr, `unknown_method: no handler nope in ${handlers}`);

  const fan = await call(a, ['--all', 'agentlb.ping', '--json']);
  const lines = fan.stdout.trim().split('\n').map((text) => JSON.parse(text) as Record<string, unknown>);
  const byHost = new Map(lines.filter((l) => l['hostId'] !== undefined).map((l) => [l['hostId'], l['status']]));
  t.same([byHost.get(hostId), byHost.get(v1Welcome.hostId)], ['ok', 'unsupported'], 'v2 and v1 agents side by side');
  t.match(lines.at(-1), { done: true, total: 2, ok: 1, unsupported: 1 });
  t.equal(fan.code, 1, 'not every call succeeded');

  await mkdir(join(root, 'ag2'));
  const agent2 = await startAgentProcess(t, join(root, 'ag2'), `host=127.0.0.1:${old.agentPort}\nguid=e2e-fallback\n`);
  const line2 = await agent2.waitForLog(connectedLine);
  t.equal(line2['protocolVersion'], 1, 'the v2 agent fell back to version 1');
  t.equal(agent2.logs.filter((l) => String(l['msg']).includes('does not speak protocol 2')).length, 1, 'logged once');
  const onOld = await call(old, [String(line2['hostId']), 'agentlb.ping']);
  t.equal(onOld.code, 1);
  t.match(onOld.stderr, /^agentlb call: host \d+ \(e2e-fallback\) speaks protocol 1, which has no calls\n$/);
  t.ok(a.logs.some((l) => l.event === 'call' && l['method'] === 'uptime' && l['outcome'] === 'ok'), 'the server logged the call');
});
