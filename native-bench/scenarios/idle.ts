/**
 * `idle`: N agents connected and idle; the server's resident memory per agent (RSS after -
 * RSS before, over N), next to the raw baseline holding the same N idle connections, in the
 * same run with the same swarm. agentlb's V8 heap per agent comes from /metrics when it has it.
 */
import { withFleet } from '../fleet';
import { freePort } from '../loopback';
import { sampleProcess } from '../proc-stats';
import type { ClientKind, IdleResult, IdleRun } from '../results';
import { heapUsedBytes } from '../server-metrics';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type ServerProcess } from '../servers';
import { poolArgs, rawResponse, verdict, type ScenarioContext } from './context';
import { DEFAULT_LIST } from './storm';

export const IDLE_TARGET_RATIO = 1.5;
/**
 * Lets in-flight garbage settle before the second sample: a sleep, acceptable in a benchmark
 * (no event says "the heap is quiet"); scaled down for the few agents of the smoke test.
 */
const settleMs = (agents: number): number => Math.min(1_000, agents / 10);

async function idleOnce(ctx: ScenarioContext, client: ClientKind, server: ServerProcess): Promise<IdleRun> {
  const agents = ctx.opts.agents.idle;
  const before = await sampleProcess(server.pid);
  const heapBefore = await heapUsedBytes(server);
  const fleetOpts = { client, targets: [server], agents, guidPrefix: `idle-${server.kind}-`, list: DEFAULT_LIST, opts: ctx.opts, progress: ctx.progress };
  return withFleet(fleetOpts, async (fleet) => {
    ctx.log(`idle: ${server.kind}, ${client} client: connecting ${agents} agents`);
    const snap = await fleet.up('hosts', `idle ${server.kind}: connect`);
    await new Promise((resolve) => setTimeout(resolve, settleMs(agents)));
    const after = await sampleProcess(server.pid);
    const heapAfter = await heapUsedBytes(server);
    const connected = snap.completed;
    const run: IdleRun = {
      server: server.kind,
      client,
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
  // Memory, not CPU, is measured here: one client is enough, the lighter one by default.
  const client = ctx.opts.client ?? 'native';
  const port = await freePort();
  const raw = await spawnRawServer({ response: rawResponse(port), port });
  const runs: IdleRun[] = [];
  try {
    runs.push(await idleOnce(ctx, client, raw));
  } finally {
    await raw.stop();
  }
  const agentlb = await spawnAgentlbServer({ extraArgs: poolArgs(ctx.opts.pools[0]!) });
  try {
    runs.push(await idleOnce(ctx, client, agentlb));
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
