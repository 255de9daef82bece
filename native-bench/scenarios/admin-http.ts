/**
 * HTTP load on the admin API with autocannon: GET /api/settings (what the CLI and operators
 * poll) and GET /metrics (what Prometheus scrapes), against a fresh agentlb server.
 */
import autocannon from 'autocannon';
import type { AdminHttpResult, AdminHttpRun } from '../results';
import { removeDataDir, spawnAgentlbServer } from '../servers';
import { poolArgs, type ScenarioContext } from './context';

export const ADMIN_PATHS = ['/api/settings', '/metrics'] as const;
const CONNECTIONS = 10;

export async function runAdminHttp(ctx: ScenarioContext): Promise<AdminHttpResult> {
  const server = await spawnAgentlbServer({ extraArgs: poolArgs(ctx.opts.pools[0]!) });
  const runs: AdminHttpRun[] = [];
  try {
    for (const path of ADMIN_PATHS) {
      ctx.log(`admin-http: autocannon GET ${path}, ${CONNECTIONS} connections, ${ctx.opts.httpDurationS} s`);
      const result = await autocannon({
        url: `http://127.0.0.1:${server.adminPort}${path}`,
        connections: CONNECTIONS,
        duration: ctx.opts.httpDurationS,
        // Every /api call needs the token, reads included (a scraper would send it too).
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      ctx.log(autocannon.printResult(result));
      runs.push({
        path,
        connections: CONNECTIONS,
        durationS: result.duration,
        requestsPerSec: Math.round(result.requests.average),
        latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
        errors: result.errors,
        non2xx: result.non2xx,
      });
    }
  } finally {
    await server.stop();
    await removeDataDir(server.dataDir);
  }
  return { scenario: 'admin-http', runs };
}
