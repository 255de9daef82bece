/**
 * A real `agentlb server` whose stdout is a pipe nobody reads (a stuck journald, `| tee` on a
 * stopped terminal). Logging used to be synchronous: the server froze after ~100 handshakes.
 * Pinned here: handshakes, pongs, pings and /healthz go on while the pipe stays full; lines
 * beyond the bound are dropped and counted (metric and one warn line once writing resumes);
 * when the pipe is read again the lines come out in the order they were logged; and a SIGTERM
 * with the pipe still full exits instead of hanging on the unwritten lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { loopbackSources } from '../../native-bench/loopback';
import { runNativeClient } from '../../native-bench/native-client';
import { CLI_PATH, cleanEnv, type LogLine } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';

const TOKEN = 'unread-pipe-admin-token';
/** Small, so a few thousand handshakes overflow it; the default is 16 MiB. */
const LOG_BUFFER = 64 * 1024;

interface UnreadServer {
  child: ChildProcess;
  agentPort: number;
  adminPort: number;
  /** Starts reading stdout again; every line from the first one, parsed, as they arrive. */
  resume(): void;
  lines: LogLine[];
  /** Resolves with the first line (past or future) `match` accepts, once reading resumed. */
  waitForLine(match: (line: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<number | null>;
}

/** Starts the server, reads stdout up to its `started` line, then stops reading it. */
async function startUnread(t: Test, extra: string[]): Promise<UnreadServer> {
  const dataDir = t.testdir();
  const child = spawn(
    process.execPath,
    [CLI_PATH, 'server', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-dir', dataDir, '--admin-token', TOKEN, ...extra],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'close').then(([code]) => code as number | null);
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stdout = child.stdout!;
  let text = '';
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const parse = (): void => {
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = JSON.parse(text.slice(0, nl)) as LogLine;
      text = text.slice(nl + 1);
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  const started = await new Promise<LogLine>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      parse();
      const line = lines.find((l) => l.event === 'started');
      if (line === undefined) return;
      // Stop reading: from here on the kernel's socket buffer and then the server's fill up.
      stdout.off('data', onData);
      stdout.pause();
      resolve(line);
    };
    stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited (${code}) before starting: ${stderr}`)));
  });
  return {
    child,
    agentPort: started['agentPort'] as number,
    adminPort: started['adminPort'] as number,
    lines,
    resume: () => {
      stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        parse();
      });
      stdout.resume();
    },
    waitForLine: (match) => {
      const seen = lines.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    exited,
  };
}

/**
 * Keeps a held agent alive as a real one is: answers every ping of the server (else it would
 * be dropped after 3 silent intervals) and counts pings and pongs, until stopped.
 */
function answerPings(agent: TestAgent) {
  const state = { pings: 0, pongs: 0, stopped: false };
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const settle = (): void => {
    for (const waiter of [...waiters]) {
      if (waiter.ready()) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const loop = async (): Promise<void> => {
    while (!state.stopped) {
      const message = await agent.next(60_000).catch(() => undefined);
      if (message === undefined) return;
      if (message.type === 'ping') {
        state.pings++;
        agent.send({ type: 'pong' });
      } else if (message.type === 'pong') state.pongs++;
      settle();
    }
  };
  void loop();
  return {
    get pings() {
      return state.pings;
    },
    get pongs() {
      return state.pongs;
    },
    until: (ready: () => boolean): Promise<void> => (ready() ? Promise.resolve() : new Promise((resolve) => waiters.push({ ready, resolve }))),
    stop: () => {
      state.stopped = true;
    },
  };
}

async function droppedMetric(adminPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const match = /^agentlb_log_lines_dropped_total (\d+)$/m.exec(text);
  if (match === null) throw new Error('agentlb_log_lines_dropped_total is missing from /metrics');
  return Number(match[1]);
}

t.test('stdout on an unread pipe: serving goes on, lines come out in order when it is read', async (t) => {
  // debug: four lines per handshake (accepted, connected, hosts_sent, disconnected).
  const server = await startUnread(t, ['--log-level', 'debug', '--log-buffer', String(LOG_BUFFER), '--ping-interval', '0.2']);

  const held = await TestAgent.connect(server.agentPort);
  t.teardown(() => held.close());
  await held.hello({ guid: 'held-agent' });
  const liveness = answerPings(held);
  t.teardown(() => liveness.stop());

  // ~1 KB of log lines per handshake: 3000 handshakes are ~3 MB, far beyond the pipe's
  // buffer (~200 KB) and the server's bound (64 KiB). Synchronous logging froze after ~100.
  const burst = await runNativeClient({
    target: { host: '127.0.0.1', port: server.agentPort },
    count: 3000,
    concurrency: 50,
    sources: loopbackSources(4),
    guidPrefix: 'unread-',
    until: 'hosts',
    timeoutMs: 30_000,
  });
  t.equal(burst.ok, 3000, 'every handshake completed with the pipe full');
  t.equal(burst.errors, 0);

  // The held agent is still served: the server's pings keep coming, its ping is answered.
  const pingsSoFar = liveness.pings;
  await liveness.until(() => liveness.pings >= pingsSoFar + 3);
  const pongsSoFar = liveness.pongs;
  held.send({ type: 'ping' });
  await liveness.until(() => liveness.pongs > pongsSoFar);
  t.pass(`the held agent got ${liveness.pings} pings and its pong, with the pipe full`);
  t.equal((await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).status, 200, '/healthz answers');
  const droppedWhileFull = await droppedMetric(server.adminPort);
  t.ok(droppedWhileFull > 0, `lines were dropped and counted (${droppedWhileFull})`);

  server.resume();
  const warned = await server.waitForLine((line) => line.event === 'log_lines_dropped');
  t.equal(warned['level'], 40, 'one warn line once writing resumed');
  // The metric moves with every drop; the warn lines together name every one of them.
  const droppedTotal = await droppedMetric(server.adminPort);
  t.ok(droppedTotal >= droppedWhileFull);

  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
  const lines = server.lines;
  t.equal(lines.at(-1)?.event, 'stopped', 'the last line logged is the last line read');
  const warnings = lines.filter((line) => line.event === 'log_lines_dropped');
  t.equal(
    warnings.reduce((sum, line) => sum + (line['dropped'] as number), 0),
    droppedTotal,
    'the warn lines add up to the metric',
  );

  // In order: accept order is connId order, and each connection's lines come in their order.
  const accepted = lines.filter((line) => line.event === 'accepted').map((line) => line['connId'] as number);
  t.ok(accepted.length > 0);
  t.ok(
    accepted.every((id, i) => i === 0 || id > accepted[i - 1]!),
    'accepted lines in connId order (gaps where lines were dropped)',
  );
  const position = new Map<string, number>();
  lines.forEach((line, i) => position.set(`${line.event}:${line['connId']}`, i));
  let checked = 0;
  for (const id of accepted) {
    const a = position.get(`accepted:${id}`)!;
    const c = position.get(`connected:${id}`);
    const d = position.get(`disconnected:${id}`);
    if (c === undefined || d === undefined) continue;
    checked++;
    if (!(a < c && c < d)) t.fail(`connection ${id}: accepted ${a}, connected ${c}, disconnected ${d}`);
  }
  t.ok(checked > 0, `${checked} connections logged whole, each in order`);
  const times = lines.map((line) => Date.parse(line['time'] as string));
  t.ok(
    times.every((time, i) => Number.isFinite(time) && (i === 0 || time >= times[i - 1]!)),
    'ISO 8601 times, never going back',
  );
});

t.test('SIGTERM with stdout still unread: the server exits instead of waiting for the pipe', async (t) => {
  const server = await startUnread(t, ['--log-level', 'debug', '--log-buffer', String(LOG_BUFFER)]);
  const burst = await runNativeClient({
    target: { host: '127.0.0.1', port: server.agentPort },
    count: 1500,
    concurrency: 50,
    sources: loopbackSources(2),
    guidPrefix: 'exit-',
    until: 'hosts',
    timeoutMs: 30_000,
  });
  t.equal(burst.ok, 1500);
  t.ok((await droppedMetric(server.adminPort)) > 0, 'the pipe is full');
  const exit = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  // The flush waits at most 5 s for a reader; then the process exits 0 all the same. ('exit',
  // not 'close': stdout is still unread, so it never ends.)
  t.same(await exit, [0, null]);
});
