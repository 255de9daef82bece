/**
 * The servers under test, as real processes: agentlb (`node dist/src/cli/main.js server`, a
 * temp data dir, fixed fresh ports so a restart comes back on the same ones) and the raw
 * baseline (native-bench/raw-server.ts). Both are measured from outside through /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from './loopback';
import { compiled } from './paths';

export class ServerStartError extends Error {
  readonly code = 'server_start_failed';
  constructor(message: string) {
    super(message);
    this.name = 'ServerStartError';
  }
}

export interface ServerProcess {
  readonly kind: 'agentlb' | 'raw';
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface AgentlbProcess extends ServerProcess {
  readonly kind: 'agentlb';
  readonly adminPort: number;
  readonly adminToken: string;
  readonly dataDir: string;
}

function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

function stopper(child: ChildProcess, exited: Promise<number | string>) {
  return (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
}

/** Collects a child's stderr so a failed start can say why. */
function stderrTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-2_000);
  });
  return () => tail.trim();
}

export interface RawSpawnOptions {
  response: Buffer;
  host?: string;
  /** Default 0 (ephemeral); a restart passes the previous port. */
  port?: number;
}

export async function spawnRawServer(opts: RawSpawnOptions): Promise<ServerProcess> {
  const host = opts.host ?? '127.0.0.1';
  const args = [compiled.rawServer(), '--response-hex', opts.response.toString('hex'), '--host', host, '--port', String(opts.port ?? 0)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = stderrTail(child);
  const exited = exitOf(child);
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => {
      const parsed = JSON.parse(line) as { event: string; port: number };
      resolve(parsed.port);
    });
    void exited.then((code) => reject(new ServerStartError(`raw server exited (${code}) before listening: ${tail()}`)));
  });
  lines.close();
  return { kind: 'raw', pid: child.pid!, host, port, exited, stop: stopper(child, exited) };
}

export interface AgentlbSpawnOptions {
  /** Reuse a data dir (a restart); default: a fresh temp dir. */
  dataDir?: string;
  port?: number;
  adminPort?: number;
  adminToken?: string;
  /** Extra `agentlb server` flags, e.g. ['--pool', 'off']. */
  extraArgs?: string[];
  /**
   * `--log-level`; 'default' passes none (the server's own default, info). Default warn: one
   * line per connect is right for operators, but most scenarios measure something else.
   */
  logLevel?: 'default' | 'warn' | 'info' | 'debug';
  /** Where stdout (the log) goes: this file, appended, as under a service manager; default /dev/null. */
  logFile?: string;
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

function healthy(adminPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/healthz', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Starts `agentlb server` and resolves once GET /healthz answers 200. The process gives no
 * readiness event a parent can wait on, so this polls, with a deadline.
 */
export async function spawnAgentlbServer(opts: AgentlbSpawnOptions = {}): Promise<AgentlbProcess> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'agentlb-bench-')));
  const port = opts.port ?? (await freePort());
  const adminPort = opts.adminPort ?? (await freePort());
  const adminToken = opts.adminToken ?? 'bench-token';
  const logLevel = opts.logLevel ?? 'warn';
  const args = [
    ...(opts.nodeArgs ?? []),
    compiled.cli(),
    'server',
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${adminPort}`,
    '--advertise',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    '--admin-token',
    adminToken,
    ...(logLevel === 'default' ? [] : ['--log-level', logLevel]),
    ...(opts.extraArgs ?? []),
  ];
  const logFd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, args, { stdio: ['ignore', logFd ?? 'ignore', 'pipe'] });
  if (logFd !== undefined) closeSync(logFd); // the child holds its own copy
  const tail = stderrTail(child);
  const exited = exitOf(child);
  let gone = false;
  void exited.then(() => (gone = true));
  // A hang guard, not a figure: the loop returns as soon as /healthz answers. 15 s was short for
  // a cluster member's start at load 50 (test/cluster/bench-storm.test.ts failed on it).
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  const fail = async (why: string): Promise<never> => {
    child.kill('SIGKILL');
    await exited;
    if (opts.dataDir === undefined) await removeDataDir(dataDir);
    throw new ServerStartError(`agentlb server ${why}: ${tail()}`);
  };
  while (!(await healthy(adminPort))) {
    if (gone) await fail('exited before it was healthy');
    if (Date.now() > deadline) await fail('not healthy within the deadline');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    kind: 'agentlb',
    pid: child.pid!,
    host: '127.0.0.1',
    port,
    adminPort,
    adminToken,
    dataDir,
    exited,
    stop: stopper(child, exited),
  };
}

/** Removes a temp data dir made by spawnAgentlbServer. */
export function removeDataDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
