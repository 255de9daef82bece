/**
 * `idle`: N agents connected and idle; the server's resident memory per agent (RSS after -
 * RSS before, over N), next to the raw baseline holding the same N idle connections, in the
 * same run with the same swarm. agentlb's V8 heap per agent comes from /metrics when it has it.
 */
import { getMetrics, metricValue } from '../admin-client';
import { freePort } from '../loopback';
import { sampleProcess } from '../proc-stats';
import type { IdleResult, IdleRun } from '../results';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type AgentlbProcess, type ServerProcess } from '../servers';
import { poolArgs, rawResponse, verdict, withSwarm, type ScenarioContext } from './context';

export const IDLE_TARGET_RATIO = 1.5;
/**
 * Lets in-flight garbage settle before the second sample: a sleep, acceptable in a benchmark
 * (no event says "the heap is quiet"); scaled down for the few agents of the smoke test.
 */
const settleMs = (agents: number): number => Math.min(1_000, agents / 10);

async function heapUsed(server: ServerProcess): Promise<number | undefined> {
  if (server.kind !== 'agentlb') return undefined;
  const p = server as AgentlbProcess;
  const text = await getMetrics({ host: p.host, port: p.adminPort, token: p.adminToken }).catch(() => undefined);
  return metricValue(text, 'nodejs_heap_size_used_bytes');
}

async function idleOnce(ctx: ScenarioContext, server: ServerProcess): Promise<IdleRun> {
  const agents = ctx.opts.agents.idle;
  const before = await sampleProcess(server.pid);
  const heapBefore = await heapUsed(server);
  return withSwarm(ctx, agents, async (swarm, follow) => {
    ctx.log(`idle: ${server.kind}, connecting ${agents} agents`);
    const stop = follow(`idle ${server.kind}: connect`, agents, (c) => c.completed);
    const snap = await swarm.connect(agents, `idle-${server.kind}-`, {
      targets: [server],
      concurrency: ctx.opts.concurrency,
      until: 'hosts',
      timeoutMs: ctx.opts.timeoutMs,
    });
    stop();
    await new Promise((resolve) => setTimeout(resolve, settleMs(agents)));
    const after = await sampleProcess(server.pid);
    const heapAfter = await heapUsed(server);
    const connected = snap.counters.completed;
    const run: IdleRun = {
      server: server.kind,
      agents,
      connected,
      rssBeforeBytes: before.rssBytes,
      rssAfterBytes: after.rssBytes,
      rssPerAgentBytes: connected > 0 ? Math.round((after.rssBytes - before.rssBytes) / connected) : 0,
    };
    if (heapBefore !== undefined && heapAfter !== undefined && connected > 0) {
      run.heapPerAgentBytes = Math.round((heapAfter - heapBefore) / connected);
    }
    return run;
  });
}

export async function runIdle(ctx: ScenarioContext): Promise<IdleResult> {
  const port = await freePort();
  const raw = await spawnRawServer({ response: rawResponse(port), port });
  const runs: IdleRun[] = [];
  try {
    runs.push(await idleOnce(ctx, raw));
  } finally {
    await raw.stop();
  }
  const agentlb = await spawnAgentlbServer({ extraArgs: poolArgs(ctx.opts.pools[0]!) });
  try {
    runs.push(await idleOnce(ctx, agentlb));
  } finally {
    await agentlb.stop();
    await removeDataDir(agentlb.dataDir);
  }
  const [rawRun, ours] = [runs[0]!, runs[1]!];
  const ratio = rawRun.rssPerAgentBytes > 0 ? Math.round((ours.rssPerAgentBytes / rawRun.rssPerAgentBytes) * 100) / 100 : 0;
  const verdicts = [
    verdict(
      `idle (N=${ctx.opts.agents.idle}): agentlb RSS per agent ≤ ${IDLE_TARGET_RATIO} × the bare net server's`,
      `${ratio} × (${ours.rssPerAgentBytes} B vs ${rawRun.rssPerAgentBytes} B per agent)`,
      ratio > 0 && ratio <= IDLE_TARGET_RATIO,
    ),
    verdict(`idle: all ${ctx.opts.agents.idle} agents connected`, `${ours.connected} connected`, ours.connected === ctx.opts.agents.idle),
  ];
  return { scenario: 'idle', agents: ctx.opts.agents.idle, runs, ratio, verdicts };
}
