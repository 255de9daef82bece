/**
 * What every scenario is given, and the small helpers they share.
 */
import { encodeMessage } from '../../src/protocol/encoder';
import { PROTOCOL_VERSION } from '../../src/protocol/messages';
import { loopbackSources } from '../loopback';
import type { BenchOptions } from '../options';
import type { ProgressFactory } from '../report/progress';
import type { PoolMode } from '../results';
import type { Counters } from '../swarm/ipc';
import { Swarm } from '../swarm/swarm';

export interface ScenarioContext {
  opts: BenchOptions;
  progress: ProgressFactory;
  /** A note for the operator (stderr), e.g. which step is running. */
  log: (line: string) => void;
}

/** One swarm process per ~15 000 agents, at least two (two cores). */
export function workersFor(agents: number, opts: BenchOptions): number {
  return opts.workers ?? Math.max(2, Math.ceil(agents / 15_000));
}

/** The `agentlb server` flags for a pool mode ('default': the server's own default). */
export function poolArgs(pool: PoolMode): string[] {
  return pool === 'default' ? [] : ['--pool', pool];
}

/**
 * What the raw baseline answers: the frames agentlb sends a fresh agent on the default
 * settings (welcome, then hosts), so both servers write the same bytes per handshake.
 */
export function rawResponse(port: number): Buffer {
  const server = `127.0.0.1:${port}`;
  return Buffer.concat([
    encodeMessage({ type: 'welcome', version: PROTOCOL_VERSION, hostId: 1, server, pingInterval: 15_000 }),
    encodeMessage({ type: 'hosts', seq: 1, hosts: ['127.0.0.1:8250'], algorithm: 'static', checkInterval: 0 }),
  ]);
}

export const msBetween = (from: bigint, to: bigint): number => Math.round(Number(to - from) / 1e4) / 100;

/** Starts a swarm sized for `agents`, runs `body`, and always closes the swarm. */
export async function withSwarm<T>(
  ctx: ScenarioContext,
  agents: number,
  body: (swarm: Swarm, follow: (label: string, total: number, count: (c: Counters) => number) => () => void) => Promise<T>,
): Promise<T> {
  let onProgress: ((c: Counters) => void) | undefined;
  const swarm = await Swarm.start({
    workers: workersFor(agents, ctx.opts),
    sources: loopbackSources(ctx.opts.sources),
    onProgress: (c) => onProgress?.(c),
  });
  // Shows one progress bar fed by the swarm's counters until the returned function is called.
  const follow = (label: string, total: number, count: (c: Counters) => number): (() => void) => {
    const bar = ctx.progress(label, total);
    onProgress = (c) => bar.update(count(c));
    return () => {
      onProgress = undefined;
      bar.done();
    };
  };
  try {
    return await body(swarm, follow);
  } finally {
    await swarm.close();
  }
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function verdict(target: string, measured: string, met: boolean): { target: string; measured: string; met: boolean } {
  return { target, measured, met };
}
