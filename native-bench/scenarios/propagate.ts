/**
 * `propagate`: N agents connected under roundrobin over three servers; one PUT /api/settings
 * adds a fourth, which changes EVERY agent's list (a rotation of four is never a rotation of
 * three), so every agent must get one `hosts` frame and ack it. Measured: PUT -> the last ack,
 * the distribution of PUT -> `hosts` per agent, and the server's event-loop delay p99.
 */
import { putSettings, type AdminTarget } from '../admin-client';
import { withFleet } from '../fleet';
import { measurePoolHandoff } from '../pool-handoff';
import type { ClientKind, PoolMode, PropagateResult, PropagateRun } from '../results';
import { loopDelayP99Ms } from '../server-metrics';
import { removeDataDir, spawnAgentlbServer } from '../servers';
import type { Target } from '../swarm/ipc';
import { msBetween, poolArgs, verdict, type ScenarioContext } from './context';

export const PROPAGATE_TARGET_MS = 1_000;
export const LOOP_DELAY_TARGET_MS = 50;

const SERVERS_BEFORE = '10.0.0.1:8250,10.0.0.2:8250,10.0.0.3:8250';
const SERVERS_AFTER = `${SERVERS_BEFORE},10.0.0.4:8250`;

interface Subject {
  targets: Target[];
  admin: AdminTarget;
  /** Event-loop delay p99 of the server, when it can be read. */
  loopDelay: () => Promise<number | undefined>;
}

async function propagateOnce(ctx: ScenarioContext, client: ClientKind, pool: PoolMode, subject: Subject): Promise<PropagateRun> {
  const agents = ctx.opts.agents.propagate;
  const before = await putSettings(subject.admin, { host: SERVERS_BEFORE, 'indirect.agent.lb.algorithm': 'roundrobin' });
  const list = { hosts: SERVERS_BEFORE.split(','), algorithm: 'roundrobin', checkInterval: before['indirect.agent.lb.check.interval'] };
  const fleetOpts = { client, targets: subject.targets, agents, guidPrefix: `prop-${pool}-${client}-${Date.now()}-`, list, opts: ctx.opts, progress: ctx.progress };
  return withFleet(fleetOpts, async (fleet) => {
    ctx.log(`propagate: ${client} client, pool ${pool}: connecting ${agents} agents`);
    await fleet.up('hosts', 'propagate: connect');

    await subject.loopDelay(); // opens the delay window
    const mark = await fleet.mark();
    await putSettings(subject.admin, { host: SERVERS_AFTER });
    const putMs = msBetween(mark, process.hrtime.bigint());
    const snap = await fleet.waitAcked(agents, 'propagate: acks');
    const loopDelay = await subject.loopDelay();
    return {
      client,
      pool,
      agents,
      hostsReceived: snap.hostsReceived,
      acked: snap.acked,
      errors: Math.max(0, agents - snap.acked) + snap.dropped,
      putMs,
      allAckedMs: msBetween(mark, snap.lastAckNs),
      latencyMs: snap.hostsSinceMark,
      ...(loopDelay === undefined ? {} : { loopDelayP99Ms: loopDelay }),
    };
  });
}

export async function runPropagate(ctx: ScenarioContext): Promise<PropagateResult> {
  const { opts } = ctx;
  const clients: ClientKind[] = opts.client ? [opts.client] : ['native', 'node'];
  const runs: PropagateRun[] = [];
  for (const client of clients) {
    if (opts.servers && opts.admin) {
      runs.push(await propagateOnce(ctx, client, 'default', { targets: opts.servers, admin: opts.admin, loopDelay: async () => undefined }));
      continue;
    }
    for (const pool of opts.pools) {
      const server = await spawnAgentlbServer({ extraArgs: poolArgs(pool) });
      try {
        const admin = { host: server.host, port: server.adminPort, token: server.adminToken };
        runs.push(await propagateOnce(ctx, client, pool, { targets: [server], admin, loopDelay: () => loopDelayP99Ms(server) }));
      } finally {
        await server.stop();
        await removeDataDir(server.dataDir);
      }
    }
  }
  const verdicts = runs.flatMap((r) => {
    const label = ` (${r.client} client${r.pool === 'default' ? '' : `, pool ${r.pool}`})`;
    return [
      verdict(`propagate${label}: all ${r.agents} acked within ${PROPAGATE_TARGET_MS} ms of the PUT`, `${r.allAckedMs} ms, ${r.acked} acked`, r.acked >= r.agents && r.allAckedMs <= PROPAGATE_TARGET_MS),
      verdict(
        `propagate${label}: event-loop delay p99 ≤ ${LOOP_DELAY_TARGET_MS} ms`,
        r.loopDelayP99Ms === undefined ? 'not measured (no /metrics)' : `${r.loopDelayP99Ms} ms`,
        r.loopDelayP99Ms !== undefined && r.loopDelayP99Ms <= LOOP_DELAY_TARGET_MS,
      ),
    ];
  });
  ctx.log('propagate: measuring the pool hand-off next to planning in place');
  return { scenario: 'propagate', agents: opts.agents.propagate, runs, handoff: await measurePoolHandoff(), verdicts };
}
