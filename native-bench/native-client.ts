/**
 * Builds native-bench/client.c with the machine's gcc (into native-bench/out/, rebuilt when the
 * source is newer) and runs it. The hello frame is encoded here, by src/protocol, so the C
 * client never needs its own msgpack encoder: it only overwrites the guid's digits.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeMessage } from '../src/protocol/encoder';
import { PROTOCOL_VERSION } from '../src/protocol/messages';
import { repoRoot } from './paths';
import type { HandshakeEnd, Target } from './swarm/ipc';

const run = promisify(execFile);

export class NativeClientError extends Error {
  readonly code = 'native_client_failed';
  constructor(message: string) {
    super(message);
    this.name = 'NativeClientError';
  }
}

export interface NativeClientResult {
  count: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  elapsedMs: number;
  /** Completed handshakes per second. */
  rate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** The client's own CPU time: what a Node client would have taken from the server. */
  cpuMs: { user: number; system: number };
}

export interface NativeClientOptions {
  target: Target;
  count: number;
  concurrency: number;
  sources: string[];
  /** Distinguishes this run's agents from earlier runs against the same data dir. */
  guidPrefix: string;
  until: HandshakeEnd;
  timeoutMs: number;
  /** nats: the NATS handshake (INFO, CONNECT + PING, PONG) against nats-server; default agentlb. */
  protocol?: 'agentlb' | 'nats';
}

export const GUID_DIGITS = 12;

/** Compiles client.c unless native-bench/out/client is newer; returns the binary's path. */
export function buildNativeClient(): Promise<string> {
  return buildNative('client');
}

/**
 * Compiles native-bench/NAME.c into native-bench/out/NAME unless the binary is newer than the
 * source; returns the binary's path (client.c, floor-server.c).
 */
export async function buildNative(name: string): Promise<string> {
  const source = path.join(repoRoot(), 'native-bench', `${name}.c`);
  const outDir = path.join(repoRoot(), 'native-bench', 'out');
  const binary = path.join(outDir, name);
  const built = await stat(binary).catch(() => undefined);
  if (built !== undefined && built.mtimeMs >= (await stat(source)).mtimeMs) return binary;
  await mkdir(outDir, { recursive: true });
  // Build under a name of our own, then rename: test files running side by side may build at
  // the same moment, and none may execute a binary another is still writing.
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-Wall', '-Wextra', '-o', partial, source]);
    await rename(partial, binary);
  } catch (err) {
    await rm(partial, { force: true });
    throw new NativeClientError(`gcc could not build ${source}: ${(err as Error).message}`);
  }
  return binary;
}

/** A fresh agent's hello (empty list, so the server answers welcome + hosts) and its guid digits. */
export function helloTemplate(guidPrefix: string): { frame: Buffer; guidOffset: number } {
  const guid = guidPrefix + '0'.repeat(GUID_DIGITS);
  const frame = encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '' });
  const at = frame.indexOf(Buffer.from(guid, 'utf8'));
  if (at < 0) throw new NativeClientError('the encoded hello does not hold its guid verbatim');
  return { frame, guidOffset: at + Buffer.byteLength(guidPrefix, 'utf8') };
}

export async function runNativeClient(opts: NativeClientOptions): Promise<NativeClientResult> {
  const binary = await buildNativeClient();
  const { frame, guidOffset } = helloTemplate(opts.guidPrefix);
  const hello = opts.protocol === 'nats' ? ['--protocol=nats'] : [`--hello-hex=${frame.toString('hex')}`, `--guid-offset=${guidOffset}`];
  const args = [
    `--host=${opts.target.host}`,
    `--port=${opts.target.port}`,
    `--count=${opts.count}`,
    `--concurrency=${opts.concurrency}`,
    `--sources=${opts.sources.join(',')}`,
    ...hello,
    `--guid-width=${GUID_DIGITS}`,
    `--until=${opts.until}`,
    `--timeout-ms=${opts.timeoutMs}`,
  ];
  try {
    const { stdout } = await run(binary, args, { maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as NativeClientResult;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new NativeClientError(`native client failed: ${stderr.trim() || (err as Error).message}`);
  }
}
