/**
 * What handing a batch to the burst pool costs the event loop, next to planning it in place:
 * the figure that decides whether the pool can win (it frees the main thread only if the
 * hand-off costs less than the work it moves). Measured in this process, on the same code
 * the server runs (src/server/burst/plan.ts, pool.ts).
 */
import { performance } from 'node:perf_hooks';
import { planBurst, type BurstTask } from '../src/server/burst/plan';
import { BurstPool } from '../src/server/burst/pool';

export interface PoolHandoff {
  batch: number;
  /** What a fan-out batch costs per agent. */
  rows: { work: 'fan-out'; inlineUs: number; pooledMainThreadUs: number; pooledWallUs: number }[];
}

const SERVERS = ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250', '10.0.0.4:8250'];

function task(batch: number): BurstTask {
  return {
    servers: SERVERS,
    algorithm: 'roundrobin',
    seq: 2,
    checkInterval: 0,
    agents: Array.from({ length: batch }, (_, i) => ({
      position: i,
      algorithm: 'roundrobin',
      hosts: SERVERS.slice(0, 3),
      checkInterval: 0,
    })),
  };
}

const perAgentUs = (ms: number, runs: number, batch: number): number => Math.round(((ms * 1000) / runs / batch) * 100) / 100;

export async function measurePoolHandoff(batch = 512, runs = 200): Promise<PoolHandoff> {
  const pool = BurstPool.create({ mode: 'on', threshold: 1, batchSize: batch, threads: 1 })!;
  const rows: PoolHandoff['rows'] = [];
  try {
    for (const work of ['fan-out'] as const) {
      const t = task(batch);
      for (let i = 0; i < 30; i++) {
        planBurst(t);
        await pool.run(t);
      }
      let began = performance.now();
      for (let i = 0; i < runs; i++) planBurst(t);
      const inlineMs = performance.now() - began;
      const before = performance.eventLoopUtilization();
      began = performance.now();
      for (let i = 0; i < runs; i++) await pool.run(t);
      const wallMs = performance.now() - began;
      const busy = performance.eventLoopUtilization(before);
      rows.push({ work, inlineUs: perAgentUs(inlineMs, runs, batch), pooledMainThreadUs: perAgentUs(busy.active, runs, batch), pooledWallUs: perAgentUs(wallMs, runs, batch) });
    }
  } finally {
    await pool.close();
  }
  return { batch, rows };
}
