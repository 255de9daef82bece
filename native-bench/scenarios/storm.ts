/**
 * `storm`: N agents connected; the server restarts (SIGTERM, then a new process on the same
 * ports and data dir), so every connection drops at once; then every agent reconnects the
 * moment the new server is ready, C handshakes in flight — the worst case on purpose (real
 * agents spread themselves with jittered back-off). Measured: ready -> all N welcomed again,
 * and agents lost. The raw baseline goes through the same storm with the same client.
 */
import { DEFAULT_SETTINGS } from '../../src/settings/types';
import { withFleet } from '../fleet';
import { freePort, loopbackSources } from '../loopback';
import { runNativeClient } from '../native-client';
import type { ClientKind, PoolMode, ServerKind, StormResult, StormRun } from '../results';
import { loopDelayP99Ms } from '../server-metrics';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type AgentlbProcess, type ServerProcess } from '../servers';
import { msBetween, poolArgs, rawResponse, verdict, type ScenarioContext } from './context';

/** The target of issue 5: all back within 1.3 × N / (raw baseline rate). */
export const STORM_BUDGET_FACTOR = 1.3;

/** The list both servers hand a fresh agent on default settings (see rawResponse). */
export const DEFAULT_LIST = {
  hosts: DEFAULT_SETTINGS.host.split(','),
  algorithm: DEFAULT_SETTINGS['indirect.agent.lb.algorithm'],
  checkInterval: DEFAULT_SETTINGS['indirect.agent.lb.check.interval'],
};

/** Starts (or restarts, given the previous process) one kind of server. */
type Launcher = (previous?: ServerProcess) => Promise<ServerProcess>;

function rawLauncher(port: number): Launcher {
  return () => spawnRawServer({ response: rawResponse(port), port });
}

function agentlbLauncher(pool: PoolMode): Launcher {
  return (previous) => {
    const p = previous as AgentlbProcess | undefined;
    const extraArgs = poolArgs(pool);
    return spawnAgentlbServer(p ? { dataDir: p.dataDir, port: p.port, adminPort: p.adminPort, adminToken: p.adminToken, extraArgs } : { extraArgs });
  };
}

async function stormOnce(ctx: ScenarioContext, client: ClientKind, kind: ServerKind, pool: PoolMode, launch: Launcher): Promise<StormRun> {
  const agents = ctx.opts.agents.storm;
  let server = await launch();
  const name = `${kind}${kind === 'agentlb' ? ` (pool ${pool})` : ''}, ${client} client`;
  try {
    const fleetOpts = { client, targets: [server], agents, guidPrefix: `storm-${kind}-${pool}-${client}-`, list: DEFAULT_LIST, opts: ctx.opts, progress: ctx.progress };
    return await withFleet(fleetOpts, async (fleet) => {
      ctx.log(`storm: ${name}: connecting ${agents} agents`);
      const up = await fleet.up('hosts', `storm ${kind}: connect`);
      if (up.lost > 0) ctx.log(`storm: ${up.lost} agents could not connect before the restart`);

      await fleet.mark();
      const killed = process.hrtime.bigint();
      await server.stop('SIGTERM');
      const shutdownMs = msBetween(killed, process.hrtime.bigint());
      // Every agent must have seen its connection drop before the new server exists.
      await fleet.waitDropped(up.completed, 'storm: all connections dropped');

      const spawned = process.hrtime.bigint();
      server = await launch(server);
      const ready = process.hrtime.bigint();
      await loopDelayP99Ms(server); // opens the delay window at the storm's start
      ctx.log(`storm: ${name}: server back, reconnecting`);
      const back = await fleet.up('welcome', `storm ${kind}: reconnect`);
      const loopDelay = await loopDelayP99Ms(server);
      return {
        server: kind,
        client,
        pool,
        agents,
        reconnected: back.completed,
        lost: agents - back.completed,
        failures: back.failures,
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
  const clients: ClientKind[] = ctx.opts.client ? [ctx.opts.client] : ['native', 'node'];
  const runs: StormRun[] = [];
  for (const client of clients) {
    runs.push(await stormOnce(ctx, client, 'raw', 'default', rawLauncher(await freePort())));
    for (const pool of ctx.opts.pools) runs.push(await stormOnce(ctx, client, 'agentlb', pool, agentlbLauncher(pool)));
  }
  // The target is about the server's ceiling: judged on the native client's runs when present.
  const judged = runs.filter((r) => r.server === 'agentlb' && r.client === clients[0]);
  const verdicts = judged.flatMap((r) => {
    const label = `${r.client} client${r.pool === 'default' ? '' : `, pool ${r.pool}`}`;
    return [
      verdict(
        `storm (N=${agents}, ${label}): all back within 1.3 × N / raw rate = ${budgetMs} ms`,
        `${r.readyToAllMs} ms from ready (${Math.round((r.readyToAllMs / budgetMs) * 100) / 100} × budget)`,
        r.readyToAllMs <= budgetMs,
      ),
      verdict(`storm (${label}): 0 agents lost`, `${r.lost} lost`, r.lost === 0),
    ];
  });
  return { scenario: 'storm', agents, concurrency: ctx.opts.concurrency, rawHandshakeRate: rawRate, budgetMs, runs, verdicts };
}
