/**
 * The built `agentlb` command as a real process (dist/: `npx tsc -p tsconfig.build.json`
 * first; `npm test` builds before running).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { runCli } from '../../src/cli/main';

export const CLI_PATH = path.join(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/** The environment without the variables the CLI reads, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['AGENTLB_ADMIN_TOKEN'];
  delete env['AGENTLB_AGENT_TOKEN'];
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `agentlb ARGS` to completion. */
export async function runCliProcess(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** `agentlb ARGS` in this process, output captured: for commands that start no server. */
export async function runCliInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (text) => (out += text), err: (text) => (err += text), env });
  return { code, out, err };
}

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export interface ServerProcess {
  child: ChildProcess;
  agentPort: number;
  adminPort: number;
  /** Every JSON log line so far. */
  logs: LogLine[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Resolves with the first log line (past or future) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
}

/** Starts `agentlb server` on ephemeral ports and resolves once it logged `started`. */
export async function startServerProcess(t: Test, args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI_PATH, 'server', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // 'close', not 'exit': stdout has been read to its end by then, so `logs` holds every line.
  const exited = once(child, 'close').then(([code]) => code as number | null);
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const logs: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const waitForLog = (match: (line: LogLine) => boolean): Promise<LogLine> => {
    const seen = logs.find(match);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const started = await Promise.race([
    waitForLog((line) => line.event === 'started'),
    exited.then((code) => {
      throw new Error(`agentlb server exited with ${code} before starting: ${stderr}`);
    }),
  ]);
  return { child, agentPort: started['agentPort'] as number, adminPort: started['adminPort'] as number, logs, exited, waitForLog };
}
