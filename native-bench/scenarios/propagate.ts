/**
 * `propagate`: N agents connected under roundrobin over three servers; one PUT /api/settings
 * adds a fourth, which changes EVERY agent's list (a rotation of four is never a rotation of
 * three), so every agent must get one `hosts` frame and ack it. Measured: PUT -> the last ack,
 * the distribution of PUT -> `hosts` per agent, and the server's event-loop delay p99.
 */
import { putSettings, type AdminTarget } from '../admin-client';
import type { PoolMode, PropagateResult, PropagateRun } from '../results';
import { removeDataDir, spawnAgentlbServer } from '../servers';
import type { Target } from '../swarm/ipc';
import { msBetween, poolArgs, verdict, withSwarm, type ScenarioContext } from './context';
import { loopDelayP99Ms } from './storm';

export const PROPAGATE_TARGET_MS = 1_000;
export const LOOP_DELAY_TARGET_MS = 50;

const SERVERS_BEFORE = '10.0.0.1:8250,10.0.0.2:8250,10.0.0.3:8250';
const SERVERS_AFTER = `${SERVERS_BEFORE},10.0.0.4:8250`;

interface Subject {
  targets: Target[];
  admin: AdminTarget;
  /** For the loop-delay read: an agentlb process we started. */
  loopDelay: () => Promise<number | undefined>;
}

async function propagateOnce(ctx: ScenarioContext, pool: PoolMode, subject: Subject): Promise<PropagateRun> {
  const agents = ctx.opts.agents.propagate;
  await putSettings(subject.admin, { host: SERVERS_BEFORE, 'indirect.agent.lb.algorithm': 'roundrobin' });
  return withSwarm(ctx, agents, async (swarm, follow) => {
    ctx.log(`propagate: pool ${pool}, connecting ${agents} agents`);
    let stop = follow('propagate: connect', agents, (c) => c.completed);
    await swarm.connect(agents, `prop-${pool}-${Date.now()}-`, { targets: subject.targets, concurrency: ctx.opts.concurrency, until: 'hosts', timeoutMs: ctx.opts.timeoutMs });
    stop();

    await subject.loopDelay(); // opens the delay window
    const mark = await swarm.mark();
    stop = follow('propagate: acks', agents, (c) => c.acked);
    await putSettings(subject.admin, { host: SERVERS_AFTER });
    const putMs = msBetween(mark, process.hrtime.bigint());
    let timedOut = false;
    await swarm.waitUntil((c) => c.acked >= agents, 60_000, 'propagate: every agent acked').catch(() => (timedOut = true));
    stop();
    const loopDelay = await subject.loopDelay();
    const snap = await swarm.stats();
    return {
      pool,
      agents,
      hostsReceived: snap.counters.hostsReceived,
      acked: snap.counters.acked,
      errors: (timedOut ? agents - snap.counters.acked : 0) + snap.counters.dropped,
      putMs,
      allAckedMs: msBetween(mark, snap.lastAckNs),
      latencyMs: snap.hostsSinceMark,
      ...(loopDelay === undefined ? {} : { loopDelayP99Ms: loopDelay }),
    };
  });
}

export async function runPropagate(ctx: ScenarioContext): Promise<PropagateResult> {
  const { opts } = ctx;
  const runs: PropagateRun[] = [];
  if (opts.servers && opts.admin) {
    const admin = opts.admin;
    runs.push(await propagateOnce(ctx, 'default', { targets: opts.servers, admin, loopDelay: async () => undefined }));
  } else {
    for (const pool of opts.pools) {
      const server = await spawnAgentlbServer({ extraArgs: poolArgs(pool) });
      try {
        const admin = { host: server.host, port: server.adminPort, token: server.adminToken };
        runs.push(await propagateOnce(ctx, pool, { targets: [server], admin, loopDelay: () => loopDelayP99Ms(server) }));
      } finally {
        await server.stop();
        await removeDataDir(server.dataDir);
      }
    }
  }
  const verdicts = runs.flatMap((r) => {
    const label = r.pool === 'default' ? '' : ` (pool ${r.pool})`;
    return [
      verdict(`propagate${label}: all ${r.agents} acked within ${PROPAGATE_TARGET_MS} ms of the PUT`, `${r.allAckedMs} ms, ${r.acked} acked`, r.acked >= r.agents && r.allAckedMs <= PROPAGATE_TARGET_MS),
      verdict(
        `propagate${label}: event-loop delay p99 ≤ ${LOOP_DELAY_TARGET_MS} ms`,
        r.loopDelayP99Ms === undefined ? 'not measured (no /metrics)' : `${r.loopDelayP99Ms} ms`,
        r.loopDelayP99Ms !== undefined && r.loopDelayP99Ms <= LOOP_DELAY_TARGET_MS,
      ),
    ];
  });
  return { scenario: 'propagate', agents: opts.agents.propagate, runs, verdicts };
}
