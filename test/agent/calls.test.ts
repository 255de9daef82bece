/**
 * The agent's side of calls (protocol.md section 4.4, README "Calls"), against a scripted
 * version 2 server and real handler processes in a temp handlers.dir: built-ins, the file
 * checks (handler_refused), stdin/stdout/env, a failing handler, timeout and cancel killing
 * the whole process group, output beyond one frame, the concurrency cap, in-process handlers,
 * and version negotiation (a version 1 only server: fall back, logged once per server).
 */
import { chmod, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AgentMessage, Call, Result } from '../../src/protocol/messages';
import type { AgentOptions } from '../../agent/agent';
import { makeAgent, next, tempDir } from './harness';
import { serveScripted, welcome, type ScriptedConnection, type ScriptedServer } from './scripted-server';

const addr = (server: ScriptedServer): string => `127.0.0.1:${server.port}`;

/** Writes an executable handler script (mode 0755 unless given). */
async function handler(dir: string, name: string, body: string, mode = 0o755): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, mode);
  return file;
}

/** Sends `message` and waits for its result. */
async function call(conn: ScriptedConnection, message: Call): Promise<Result> {
  conn.send(message);
  return (await conn.arrival((m: AgentMessage) => m.type === 'result' && m.id === message.id)) as Result;
}

/** An agent with a handlers dir, connected to a scripted version 2 server (host id 42). */
async function connected(t: Test, properties = '', options: Partial<AgentOptions> = {}) {
  const server = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(60_000, 42)) });
  const dir = await tempDir(t, 'handlers-');
  const made = await makeAgent(t, `host=${addr(server)}\nguid=g-calls\nzone=z1\n${properties}`, {
    calls: { handlersDir: dir, killGraceMs: 300 },
    ...options,
  });
  made.agent.start();
  await next(made.agent, 'connected');
  const conn = await server.connection(1);
  return { ...made, server, conn, dir };
}

/**
 * Polls `condition` until it holds (a process group disappearing has no event to wait on);
 * the deadline is generous for a loaded machine, and only a broken behaviour reaches it.
 */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether process `pid` (or, negative, process group) still exists. */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('built-ins: agentlb.ping and agentlb.info; unknown and reserved methods', async (t) => {
  const { conn, server, dir } = await connected(t);
  t.same(await call(conn, { type: 'call', id: 1, method: 'agentlb.ping', timeoutMs: 1_000 }), { type: 'result', id: 1, ok: true, value: 'pong' });
  const info = (await call(conn, { type: 'call', id: 2, method: 'agentlb.info', timeoutMs: 1_000 })).value as Record<string, unknown>;
  t.match(info, { version: String, guid: 'g-calls', hostId: 42, zone: 'z1', server: addr(server), list: [addr(server)], algorithm: 'static', checkInterval: 0, uptime: Number, node: process.version });
  t.same(Object.keys(info), ['version', 'guid', 'hostId', 'zone', 'server', 'list', 'algorithm', 'checkInterval', 'uptime', 'node']);
  t.same(await call(conn, { type: 'call', id: 3, method: 'nope', timeoutMs: 1_000 }), {
    type: 'result', id: 3, ok: false, error: { code: 'unknown_method', message: `no handler nope in ${dir}` },
  });
  t.same(await call(conn, { type: 'call', id: 4, method: 'agentlb.shell', timeoutMs: 1_000 }), {
    type: 'result', id: 4, ok: false, error: { code: 'unknown_method', message: 'no method agentlb.shell on this agent' },
  });
});

t.test('a handler gets params on stdin and the call in its environment; stdout is the value', async (t) => {
  const { conn, server, dir } = await connected(t);
  await handler(dir, 'echo', 'printf \'{"stdin":%s,"env":["%s","%s","%s","%s","%s"],"token":"%s"}\' "$(cat)" "$AGENTLB_METHOD" "$AGENTLB_CALL_ID" "$AGENTLB_GUID" "$AGENTLB_HOST_ID" "$AGENTLB_SERVER" "$AGENTLB_AGENT_TOKEN"');
  process.env['AGENTLB_AGENT_TOKEN'] = 'must-not-leak';
  t.teardown(() => delete process.env['AGENTLB_AGENT_TOKEN']);
  t.same(await call(conn, { type: 'call', id: 7, method: 'echo', params: { a: [1, 'two'] }, timeoutMs: 5_000 }), {
    type: 'result', id: 7, ok: true, value: { stdin: { a: [1, 'two'] }, env: ['echo', '7', 'g-calls', '42', addr(server)], token: '' },
  });
  await handler(dir, 'uptime.text', 'echo "up 3 days"');
  t.same((await call(conn, { type: 'call', id: 8, method: 'uptime.text', timeoutMs: 5_000 })).value, 'up 3 days', 'not JSON: the text, last newline dropped');
  await handler(dir, 'quiet', 'exit 0');
  t.same(await call(conn, { type: 'call', id: 9, method: 'quiet', timeoutMs: 5_000 }), { type: 'result', id: 9, ok: true, value: null }, 'no output: null');
});

t.test('a non-zero exit is handler_failed with the tail of stderr and the exit code', async (t) => {
  const { conn, dir } = await connected(t);
  await handler(dir, 'fail', `i=0; while [ $i -lt 300 ]; do echo "line $i of noise" >&2; i=$((i+1)); done; echo "disk /dev/sdz not found" >&2; exit 3`);
  const result = await call(conn, { type: 'call', id: 1, method: 'fail', timeoutMs: 5_000 });
  t.equal(result.ok, false);
  t.equal(result.error?.code, 'handler_failed');
  t.equal(result.error?.exitCode, 3);
  t.ok(result.error!.message.endsWith('line 299 of noise\ndisk /dev/sdz not found'), 'the end of stderr');
  t.ok(Buffer.byteLength(result.error!.message) <= 1024, 'within error.message bounds');
});

t.test('handler files refused as sudo and cron refuse them; a non-executable file too', async (t) => {
  const { conn, dir } = await connected(t);
  const worldWritable = await handler(dir, 'ww', 'echo hi', 0o757);
  await chmod(worldWritable, 0o757);
  await handler(dir, 'gw', 'echo hi', 0o775);
  await handler(dir, 'noexec', 'echo hi', 0o644);
  await symlink(join(dir, 'gw'), join(dir, 'link'));
  const refused = async (id: number, method: string) => (await call(conn, { type: 'call', id, method, timeoutMs: 5_000 })).error;
  t.same(await refused(1, 'ww'), { code: 'handler_refused', message: `${join(dir, 'ww')} is writable by everyone (mode 757); chmod go-w it` });
  t.same(await refused(2, 'gw'), { code: 'handler_refused', message: `${join(dir, 'gw')} is writable by its group (mode 775); chmod go-w it` });
  t.same(await refused(3, 'noexec'), { code: 'handler_refused', message: `${join(dir, 'noexec')} is not executable by its owner (chmod u+x)` });
  t.same(await refused(4, 'link'), { code: 'handler_refused', message: `${join(dir, 'link')} is a symbolic link, not a regular file` });
  await writeFile(join(dir, 'gw.marker'), '');
  t.same(await refused(5, 'handlers'), { code: 'unknown_method', message: `no handler handlers in ${dir}` });
});

t.test('timeout and cancel kill the handler and its whole process group', async (t) => {
  const { conn, dir } = await connected(t);
  // The handler starts a child that ignores TERM, then sleeps; both must go.
  await handler(dir, 'slow', `sh -c 'trap "" TERM; echo $$ > "$1.child"; sleep 30' x "$0" & echo $$ > "$0.pid"; sleep 30`);
  const timedOut = await call(conn, { type: 'call', id: 1, method: 'slow', timeoutMs: 300 });
  t.same(timedOut, { type: 'result', id: 1, ok: false, error: { code: 'timeout', message: 'slow did not finish within 300 ms' } });
  const leader = Number(await readFile(join(dir, 'slow.pid'), 'utf8'));
  await waitFor(() => !exists(-leader), 10_000);
  t.notOk(exists(-leader), 'the process group is gone (its TERM-ignoring child killed after the grace)');

  conn.send({ type: 'call', id: 2, method: 'slow', timeoutMs: 60_000 });
  await waitFor(async () => (await readFile(join(dir, 'slow.pid'), 'utf8').catch(() => '')) !== String(leader), 10_000);
  const second = Number(await readFile(join(dir, 'slow.pid'), 'utf8'));
  conn.send({ type: 'cancel', id: 2 });
  await waitFor(() => !exists(-second), 10_000);
  t.notOk(exists(-second), 'cancel killed the group');
  // A cancelled call gets no result: a ping sent after it is answered, and nothing for id 2 came.
  t.same(await call(conn, { type: 'call', id: 3, method: 'agentlb.ping', timeoutMs: 1_000 }), { type: 'result', id: 3, ok: true, value: 'pong' });
  t.same(conn.received.filter((m) => m.type === 'result' && m.id === 2), []);
});

t.test('output beyond one frame is too_large, and the handler is stopped', async (t) => {
  const { conn, dir } = await connected(t);
  await handler(dir, 'big', 'head -c 70000 /dev/zero | tr "\\0" x; sleep 30');
  t.same(await call(conn, { type: 'call', id: 1, method: 'big', timeoutMs: 20_000 }), {
    type: 'result', id: 1, ok: false, error: { code: 'too_large', message: 'the handler wrote more than 65536 bytes; a result travels in one frame' },
  });
  await handler(dir, 'almost', 'head -c 65530 /dev/zero | tr "\\0" x');
  t.same(await call(conn, { type: 'call', id: 2, method: 'almost', timeoutMs: 20_000 }), {
    type: 'result', id: 2, ok: false, error: { code: 'too_large', message: 'the value does not fit one frame of 65536 bytes' },
  }, 'output that fits but whose result frame does not');
});

t.test('at most handlers.concurrency run at once; the rest wait, and a full queue is busy', async (t) => {
  const made = await connectedAgent(t, 'handlers.concurrency=2\n', { calls: { maxQueued: 1 } });
  let running = 0;
  let peak = 0;
  const release: (() => void)[] = [];
  // In-process handlers count against the same cap as files.
  made.agent.handle('hold', () => {
    running++;
    peak = Math.max(peak, running);
    return new Promise((resolve) => release.push(() => (running--, resolve('done'))));
  });
  for (const id of [1, 2, 3, 4]) made.conn.send({ type: 'call', id, method: 'hold', timeoutMs: 10_000 });
  const busy = (await made.conn.arrival((m) => m.type === 'result' && m.id === 4)) as Result;
  t.same(busy.error?.code, 'busy', 'the fourth call finds 2 running and 1 waiting');
  await waitFor(() => release.length === 2, 5_000);
  t.equal(peak, 2);
  release.shift()!();
  await waitFor(() => release.length === 2, 5_000);
  t.equal(peak, 2, 'the waiting one started when a slot freed, never a third at once');
  release.splice(0).forEach((go) => go());
  for (const id of [1, 2, 3]) t.same(await made.conn.arrival((m) => m.type === 'result' && m.id === id), { type: 'result', id, ok: true, value: 'done' });
});

/** connected() without a handlers dir (in-process handlers only). */
async function connectedAgent(t: Test, properties: string, options: Partial<AgentOptions>) {
  const server = await serveScripted(t, { onMessage: (conn, m) => m.type === 'hello' && conn.send(welcome(60_000, 42)) });
  const made = await makeAgent(t, `host=${addr(server)}\nguid=g-lib\n${properties}`, options);
  return { server, ...made, conn: await startAndConnect(made.agent, server) };
}

async function startAndConnect(agent: Parameters<typeof next>[0], server: ScriptedServer): Promise<ScriptedConnection> {
  agent.start();
  await next(agent, 'connected');
  return server.connection(1);
}

t.test('in-process handlers: value as JSON carries it, a throw is handler_failed, the signal aborts on timeout', async (t) => {
  const made = await connectedAgent(t, '', {});
  let aborted = false;
  made.agent.handle('sum', (params) => (params as number[]).reduce((a, b) => a + b, 0));
  made.agent.handle('date', () => ({ at: new Date(0), gone: undefined, f: () => 1 }));
  made.agent.handle('throws', () => {
    throw new Error('no such volume');
  });
  made.agent.handle('hang', (_params, context) => new Promise(() => context.signal.addEventListener('abort', () => (aborted = true))));
  t.throws(() => made.agent.handle('agentlb.ping', () => 1), { message: 'methods starting with "agentlb." are built in: agentlb.ping' });
  t.same((await call(made.conn, { type: 'call', id: 1, method: 'sum', params: [1, 2, 3], timeoutMs: 1_000 })).value, 6);
  t.same((await call(made.conn, { type: 'call', id: 2, method: 'date', timeoutMs: 1_000 })).value, { at: '1970-01-01T00:00:00.000Z' });
  t.same((await call(made.conn, { type: 'call', id: 3, method: 'throws', timeoutMs: 1_000 })).error, { code: 'handler_failed', message: 'no such volume' });
  t.same((await call(made.conn, { type: 'call', id: 4, method: 'hang', timeoutMs: 50 })).error, { code: 'timeout', message: 'hang did not finish within 50 ms' });
  t.ok(aborted, 'the handler was told through its signal');
});

t.test('a version 1 only server: the agent falls back to version 1 at once, logging it once per server', async (t) => {
  const server = await serveScripted(t, {
    onMessage: (conn, m) => {
      if (m.type !== 'hello') return;
      if (m.version === 1) conn.send(welcome(60_000, 5, 1));
      else conn.send({ type: 'error', code: 'unsupported_version', message: 'supported versions: 1' });
    },
  });
  const made = await makeAgent(t, `host=${addr(server)}\nguid=g-old\n`, {});
  made.agent.start();
  t.same(await next(made.agent, 'connected'), { server: addr(server), hostId: 5 });
  t.same(server.connections.map((c) => (c.received[0] as { version: number }).version), [2, 1], 'asked for 2, then 1 on a new connection');
  // Reconnect: 2 is asked again (an upgraded server would say yes), the fallback not logged again.
  server.connections[1]!.socket.destroy();
  await next(made.agent, 'connected');
  t.same(server.connections.map((c) => (c.received[0] as { version: number }).version), [2, 1, 2, 1]);
  const fallbacks = made.logs.filter((l) => l.msg.includes('does not speak protocol 2'));
  t.equal(fallbacks.length, 1, 'logged once');
  t.equal(fallbacks[0]?.level, 30, 'at info');
  t.equal(made.logs.filter((l) => l.level >= 50).length, 0, 'no error logged');
  // On a version 1 connection a call is a protocol error: the agent drops that server.
  server.connections[3]!.send({ type: 'call', id: 1, method: 'agentlb.ping', timeoutMs: 1_000 });
  t.match(await next(made.agent, 'disconnected'), { reason: { code: 'protocol_error', message: '"call" on a version 1 connection' } });
});
