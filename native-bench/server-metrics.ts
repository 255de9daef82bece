/**
 * Figures read from an agentlb server's GET /metrics (undefined for the raw baseline, or when
 * the server has no metrics endpoint).
 */
import { getMetrics, metricValue } from './admin-client';
import type { AgentlbProcess, ServerProcess } from './servers';

async function scrape(server: ServerProcess): Promise<string | undefined> {
  if (server.kind !== 'agentlb') return undefined;
  const p = server as AgentlbProcess;
  return getMetrics({ host: p.host, port: p.adminPort, token: p.adminToken }).catch(() => undefined);
}

/**
 * Event-loop delay p99 in ms since the previous scrape: prom-client resets its event-loop
 * histogram on every collect, so scrape once to open a window and once to read it.
 */
export async function loopDelayP99Ms(server: ServerProcess): Promise<number | undefined> {
  const seconds = metricValue(await scrape(server), 'nodejs_eventloop_lag_p99_seconds');
  return seconds === undefined ? undefined : Math.round(seconds * 100_000) / 100;
}

export async function heapUsedBytes(server: ServerProcess): Promise<number | undefined> {
  return metricValue(await scrape(server), 'nodejs_heap_size_used_bytes');
}
