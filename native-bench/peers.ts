/**
 * The handshake benchmark's peers, as real processes measured like agentlb (from outside,
 * through /proc): the C floor (native-bench/floor-server.c, built with gcc like client.c: the
 * least a server can do per handshake on this machine) and nats-server (Debian's package, Go),
 * which an operator could pick instead for a fleet's connections. nats-server is optional: when
 * it is not installed the scenario skips it with a note.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from './loopback';
import { buildNative } from './native-client';
import { ServerStartError, type ServerProcess } from './servers';

export interface PeerProcess extends Omit<ServerProcess, 'kind'> {
  readonly kind: 'floor' | 'nats';
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

/** Starts the C floor answering every connection's first frame with `response`. */
export async function spawnFloorServer(response: Buffer): Promise<PeerProcess> {
  const binary = await buildNative('floor-server');
  const child = spawn(binary, ['--response-hex', response.toString('hex'), '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = exitOf(child);
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    void exited.then((code) => reject(new ServerStartError(`floor server exited (${code}) before listening: ${stderr.trim()}`)));
  });
  lines.close();
  return { kind: 'floor', pid: child.pid!, host: '127.0.0.1', port, exited, stop: stopper(child, exited) };
}

/** nats-server on the PATH (or Debian's /usr/sbin), or undefined when it is not installed. */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env['PATH'] ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Starts nats-server on a free loopback port with its defaults (no auth, no TLS, notices only
 * on stderr: no per-connection log lines) and waits for its "Server is ready" notice.
 */
export async function spawnNatsServer(binary: string): Promise<PeerProcess> {
  const port = await freePort();
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = exitOf(child);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('Server is ready')) resolve();
    });
    void exited.then((code) => reject(new ServerStartError(`nats-server exited (${code}) before it was ready: ${stderr.trim().slice(-500)}`)));
  });
  // Keep draining its stderr: a full pipe would block it.
  child.stderr!.resume();
  return { kind: 'nats', pid: child.pid!, host: '127.0.0.1', port, exited, stop: stopper(child, exited) };
}
