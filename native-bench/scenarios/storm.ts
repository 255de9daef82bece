/**
 * `storm`: N agents connected; the server restarts (SIGTERM, then a new process on the same
 * ports and data dir), so every connection drops at once; then every agent reconnects the
 * moment the new server is ready, C handshakes in flight — the worst case on purpose (real
 * agents spread themselves with jittered back-off). Measured: ready -> all N welcomed again,
 * and agents lost. The raw baseline goes through the same storm with the same swarm.
 */
import { getMetrics, metricValue } from '../admin-client';
import { freePort, loopbackSources } from '../loopback';
import { runNativeClient } from '../native-client';
import type { PoolMode, ServerKind, StormResult, StormRun } from '../results';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type AgentlbProcess, type ServerProcess } from '../servers';
import { msBetween, poolArgs, rawResponse, verdict, withSwarm, type ScenarioContext } from './context';

/** The target of issue 5: all back within 1.3 × N / (raw baseline rate). */
export const STORM_BUDGET_FACTOR = 1.3;

/** Starts (or restarts, given the previous process) one kind of server. */
type Launcher = (previous?: ServerProcess) => Promise<ServerProcess>;

function rawLauncher(port: number): Launcher {
  return () => spawnRawServer({ response: rawResponse(port), port });
}

function agentlbLauncher(pool: PoolMode): Launcher {
  return (previous) => {
    const p = previous as AgentlbProcess | undefined;
    return spawnAgentlbServer(
      p ? { dataDir: p.dataDir, port: p.port, adminPort: p.adminPort, adminToken: p.adminToken, extraArgs: poolArgs(pool) } : { extraArgs: poolArgs(pool) },
    );
  };
}

/** /metrics' event-loop delay p99 in ms (prom-client resets that window on every scrape). */
export async function loopDelayP99Ms(server: ServerProcess): Promise<number | undefined> {
  if (server.kind !== 'agentlb') return undefined;
  const p = server as AgentlbProcess;
  const text = await getMetrics({ host: p.host, port: p.adminPort, token: p.adminToken }).catch(() => undefined);
  const seconds = metricValue(text, 'nodejs_eventloop_lag_p99_seconds');
  return seconds === undefined ? undefined : Math.round(seconds * 100_000) / 100;
}

async function stormOnce(ctx: ScenarioContext, kind: ServerKind, pool: PoolMode, launch: Launcher): Promise<StormRun> {
  const agents = ctx.opts.agents.storm;
  let server = await launch();
  try {
    return await withSwarm(ctx, agents, async (swarm, follow) => {
      const run = { concurrency: ctx.opts.concurrency, timeoutMs: ctx.opts.timeoutMs };
      ctx.log(`storm: ${kind}${kind === 'agentlb' ? ` (pool ${pool})` : ''}, connecting ${agents} agents`);
      let stop = follow(`storm ${kind}: connect`, agents, (c) => c.completed);
      const up = await swarm.connect(agents, `storm-${kind}-${pool}-`, { ...run, targets: [server], until: 'hosts' });
      stop();
      if (up.counters.lost > 0) ctx.log(`storm: ${up.counters.lost} agents could not connect before the restart`);
      const established = up.counters.completed;

      await swarm.mark();
      const killed = process.hrtime.bigint();
      await server.stop('SIGTERM');
      const shutdownMs = msBetween(killed, process.hrtime.bigint());
      // Every agent must have seen its connection drop before the new server exists.
      await swarm.waitUntil((c) => c.dropped >= established, 30_000, 'storm: all connections dropped');

      const spawned = process.hrtime.bigint();
      server = await launch(server);
      const ready = process.hrtime.bigint();
      await loopDelayP99Ms(server); // opens the delay window at the storm's start
      stop = follow(`storm ${kind}: reconnect`, established, (c) => c.completed);
      const back = await swarm.reconnect({ ...run, targets: [server], until: 'welcome' });
      stop();
      const loopDelay = await loopDelayP99Ms(server);
      return {
        server: kind,
        pool,
        agents,
        reconnected: back.counters.completed,
        lost: agents - back.counters.completed,
        failures: back.counters.failures,
        shutdownMs,
        restartMs: msBetween(spawned, ready),
        readyToAllMs: msBetween(ready, back.lastCompletedNs),
        killToAllMs: msBetween(killed, back.lastCompletedNs),
        latencyMs: back.handshake,
        ...(loopDelay === undefined ? {} : { loopDelayP99Ms: loopDelay }),
      };
    });
  } finally {
    await server.stop();
    if (server.kind === 'agentlb') await removeDataDir((server as AgentlbProcess).dataDir);
  }
}

/** The raw server's handshake rate with the native client: the storm budget's denominator. */
async function rawHandshakeRate(ctx: ScenarioContext): Promise<number> {
  const port = await freePort();
  const raw = await spawnRawServer({ response: rawResponse(port), port });
  try {
    const run = (count: number, prefix: string) =>
      runNativeClient({
        target: { host: raw.host, port: raw.port },
        count,
        concurrency: ctx.opts.concurrency,
        sources: loopbackSources(ctx.opts.sources),
        guidPrefix: prefix,
        until: 'hosts',
        timeoutMs: ctx.opts.timeoutMs,
      });
    await run(Math.min(1_000, ctx.opts.agents.storm), 'warm-');
    return Math.round((await run(ctx.opts.agents.storm, 'rate-')).rate);
  } finally {
    await raw.stop();
  }
}

export async function runStorm(ctx: ScenarioContext): Promise<StormResult> {
  const agents = ctx.opts.agents.storm;
  ctx.log(`storm: measuring the raw baseline's handshake rate (native client, ${agents} connections)`);
  const rawRate = await rawHandshakeRate(ctx);
  const budgetMs = Math.round((STORM_BUDGET_FACTOR * agents * 1000) / rawRate);
  const runs: StormRun[] = [await stormOnce(ctx, 'raw', 'default', rawLauncher(await freePort()))];
  for (const pool of ctx.opts.pools) runs.push(await stormOnce(ctx, 'agentlb', pool, agentlbLauncher(pool)));
  const verdicts = runs
    .filter((r) => r.server === 'agentlb')
    .flatMap((r) => [
      verdict(
        `storm (N=${agents}${r.pool === 'default' ? '' : `, pool ${r.pool}`}): all back within 1.3 × N / raw rate = ${budgetMs} ms`,
        `${r.readyToAllMs} ms from ready (${Math.round((r.readyToAllMs / budgetMs) * 100) / 100} × budget)`,
        r.readyToAllMs <= budgetMs,
      ),
      verdict(`storm${r.pool === 'default' ? '' : ` (pool ${r.pool})`}: 0 agents lost`, `${r.lost} lost`, r.lost === 0),
    ]);
  return { scenario: 'storm', agents, concurrency: ctx.opts.concurrency, rawHandshakeRate: rawRate, budgetMs, runs, verdicts };
}
