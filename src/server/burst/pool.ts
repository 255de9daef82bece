/**
 * The worker pool for bursts (Piscina): a settings change that must reach thousands of agents
 * is planned in batches (every agent's list decided, every distinct frame encoded) on worker
 * threads instead of the event loop. One task costs ~50-150 µs of hand-off, so work goes in
 * batches of hundreds of agents, never one task per agent.
 *
 * Modes: `off` (no threads at all), `on` (every burst of at least one batch), `auto` (bursts
 * of at least `threshold` agents).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { BurstResult, BurstTask } from './plan';

export const POOL_MODES = ['on', 'off', 'auto'] as const;
export type PoolMode = (typeof POOL_MODES)[number];

export interface PoolOptions {
  mode: PoolMode;
  /** `auto`: smallest burst (agents) handed to the pool. */
  threshold: number;
  /** Agents per task. */
  batchSize: number;
  /** Worker threads; default: the CPUs left once the event loop has one. */
  threads?: number;
}

/** The pool's load, as Piscina reports it. */
export interface PoolStats {
  threads: number;
  /** Fraction of the pool's capacity used since it started, 0..1. */
  utilization: number;
  queueSize: number;
  completed: number;
}

/** The compiled worker next to this module; under a TypeScript loader (tests), the .ts one. */
function workerFile(): string {
  const js = path.join(__dirname, 'worker.js');
  return existsSync(js) ? js : path.join(__dirname, 'worker.ts');
}

/**
 * Off by default: measured on the 2-core reference machine (BENCHMARKS.md), handing a batch
 * to a thread costs the event loop more per agent (~0.6-0.8 µs: the structured clone) than
 * planning it in place (~0.5-0.8 µs), and a fan-out's real cost is the socket writes, which
 * only the main thread can do. `--pool on|auto` stays for machines with idle cores and for
 * algorithms whose per-agent planning is heavier.
 */
export const DEFAULT_POOL_OPTIONS: Readonly<PoolOptions> = Object.freeze({ mode: 'off', threshold: 4_096, batchSize: 512 });

export class BurstPool {
  private piscina: Piscina | undefined;

  private constructor(private readonly options: PoolOptions) {}

  /**
   * The threads start with the first burst, not with the server: a server that never sees
   * one (most test servers, small fleets) never pays for them; once started they stay.
   */
  private threads(): Piscina {
    const threads = this.options.threads ?? Math.max(1, os.availableParallelism() - 1);
    this.piscina ??= new Piscina({ filename: workerFile(), minThreads: threads, maxThreads: threads, idleTimeout: 2 ** 31 - 1 });
    return this.piscina;
  }

  /** A pool for `on` and `auto`; undefined for `off`. */
  static create(options: PoolOptions): BurstPool | undefined {
    return options.mode === 'off' ? undefined : new BurstPool(options);
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  /** Whether a burst of `agents` goes to the pool. */
  engages(agents: number): boolean {
    return agents >= (this.options.mode === 'auto' ? this.options.threshold : this.options.batchSize);
  }

  run(task: BurstTask): Promise<BurstResult> {
    return this.threads().run(task) as Promise<BurstResult>;
  }

  stats(): PoolStats {
    const p = this.piscina;
    return p === undefined
      ? { threads: 0, utilization: 0, queueSize: 0, completed: 0 }
      : { threads: p.threads.length, utilization: p.utilization, queueSize: p.queueSize, completed: p.completed };
  }

  async close(): Promise<void> {
    await this.piscina?.destroy();
    this.piscina = undefined;
  }
}
