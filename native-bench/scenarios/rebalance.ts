/**
 * `npm run bench -- rebalance` (issue 13): three agentlb servers sharing one PostgreSQL,
 * 15 000 swarm agents (`balanced`, check interval 0, so no agent moves by its own check)
 * that follow `recheck` make-before-break as the real agent does.
 *
 * 1. First connect with the rebalance off (swarm worker i bootstraps on server i, a spread
 *    that is the bench's), then a restart of every server: the agents reconnect to their first
 *    entries, so the fleet starts at its plan (balanced); then `auto`.
 * 2. SIGKILL of M3: its agents fail over to their second entries (the swarm reconnects them).
 * 3. M3 restarted on its address: once it beats again, the automatic rebalance moves its
 *    agents back. Measured from the restart: until within 5 % of plan, the peak of moves in
 *    any second (agents' switches, polled every 250 ms), and agents ever without a server
 *    during the moves (connections the servers closed: must be 0).
 *
 * Live load is each server's /healthz agent count; planned load is GET /api/servers' `planned`
 * (the rebalance's survey, every heartbeat: 1 s here).
 */
import { Client } from 'pg';
import { getJson, putSettings } from '../admin-client';
import { connectedAgents, startCluster, type BenchCluster } from '../cluster';
import { withFleet, type HeldFleet } from '../fleet';
import type { RebalancePhase, RebalanceResult } from '../results';
import { msBetween, type ScenarioContext } from './context';

const POLL_MS = 250;
const WITHIN = 0.05;
const PHASE_DEADLINE_MS = 15 * 60_000;

interface Loads {
  live: number[];
  planned: (number | null)[];
}

async function loads(cluster: BenchCluster, down: ReadonlySet<number>): Promise<Loads> {
  const live = await Promise.all(cluster.servers.map((s, i) => (down.has(i) ? 0 : connectedAgents(s).catch(() => 0))));
  const admin = down.has(0) ? { ...cluster.admin, port: cluster.servers[1]!.adminPort } : cluster.admin;
  const records = (await getJson(admin, '/api/servers').catch(() => [])) as { address: string; planned: number | null }[];
  const planned = cluster.addresses.map((address) => records.find((r) => r.address === address)?.planned ?? null);
  return { live, planned };
}

/**
 * The most moves the servers were granted in any sliding second, by the database's clock
 * (rebalance_grants keeps the last 10 s: read every 2 s). Every move is one grant.
 */
async function peakGrants(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ peak: number | null }>(
      `SELECT max(s)::int AS peak FROM (SELECT (SELECT sum(b.granted) FROM rebalance_grants b WHERE b.at > a.at - interval '1 second' AND b.at <= a.at) AS s FROM rebalance_grants a) w`,
    );
    return result.rows[0]?.peak ?? 0;
  } finally {
    await client.end();
  }
}

function withinPlan({ live, planned }: Loads): boolean {
  return planned.every((p, i) => p !== null && Math.abs(live[i]! - p) <= Math.max(1, WITHIN * p));
}

/** Polls until within 5 % of plan; the peak of switches in any 4 consecutive polls (1 s). */
async function converge(fleet: HeldFleet, cluster: BenchCluster, startNs: bigint, down: ReadonlySet<number>, name: string, back?: number): Promise<RebalancePhase> {
  const base = await fleet.stats();
  const switchedAt: number[] = [base.switched];
  let peak = 0;
  let granted = 0;
  let last: Loads = await loads(cluster, down);
  const deadline = Date.now() + PHASE_DEADLINE_MS;
  // A restarted server counts once the plan includes it again (it beats, and a survey ran).
  const ready = (l: Loads): boolean => back === undefined || (l.planned[back] ?? 0) > 0;
  while (!ready(last) || !withinPlan(last)) {
    if (Date.now() > deadline) throw new Error(`rebalance: ${name}: not within 5 % of plan after ${PHASE_DEADLINE_MS} ms (${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    switchedAt.push((await fleet.stats()).switched);
    const n = switchedAt.length;
    peak = Math.max(peak, switchedAt[n - 1]! - switchedAt[Math.max(0, n - 5)]!);
    if (n % 8 === 0) granted = Math.max(granted, await peakGrants(cluster.pgUrl));
    last = await loads(cluster, down);
  }
  granted = Math.max(granted, await peakGrants(cluster.pgUrl));
  const end = await fleet.stats();
  return {
    name,
    withinPlanMs: msBetween(startNs, process.hrtime.bigint()),
    moves: end.switched - base.switched,
    peakMovesPerSecond: peak,
    peakGrantedPerSecond: granted,
    withoutServer: end.dropped - base.dropped,
    live: last.live,
    planned: last.planned.map((p) => p ?? 0),
  };
}

export async function runRebalance(ctx: ScenarioContext): Promise<RebalanceResult> {
  const agents = ctx.opts.agents.rebalance;
  const rate = ctx.opts.rebalanceRate;
  const grace = 5;
  ctx.log(`rebalance: starting PostgreSQL and 3 agentlb servers sharing it (rebalance rate ${rate}/s)`);
  const cluster = await startCluster(3, ['--drain-rate', String(rate)]);
  try {
    const list = { hosts: cluster.addresses, algorithm: 'balanced', checkInterval: 0 };
    await putSettings(cluster.admin, {
      host: list.hosts.join(','),
      'indirect.agent.lb.algorithm': 'balanced',
      'indirect.agent.lb.check.interval': 0,
      'indirect.agent.lb.rebalance': 'off',
      'indirect.agent.lb.rebalance.threshold': 20,
      'indirect.agent.lb.rebalance.grace': grace,
    });
    const fleetOpts = {
      client: 'node' as const,
      targets: cluster.servers.map((s) => ({ host: s.host, port: s.port })),
      agents,
      guidPrefix: `rebalance-${Date.now()}-`,
      list,
      opts: { ...ctx.opts, workers: ctx.opts.workers ?? Math.max(3, Math.ceil(agents / 15_000)) },
      progress: ctx.progress,
      follow: true,
    };
    const phases = await withFleet(fleetOpts, async (fleet) => {
      ctx.log(`rebalance: connecting ${agents} agents (rebalance off)`);
      const connected = await fleet.up('hosts', 'rebalance: first connect');
      // Every server restarted: the agents come back to their first entries, at the plan.
      await fleet.mark();
      await Promise.all(cluster.servers.map((server) => server.stop('SIGTERM')));
      await fleet.waitDropped(connected.completed, 'rebalance: all connections dropped');
      await Promise.all(cluster.servers.map((_, i) => cluster.restart(i)));
      await fleet.up('welcome', 'rebalance: reconnect to first entries');
      const none = new Set<number>();
      const auto = process.hrtime.bigint();
      await putSettings(cluster.admin, { 'indirect.agent.lb.rebalance': 'auto' });
      ctx.log('rebalance: auto on; the fleet is at its plan');
      const first = await converge(fleet, cluster, auto, none, 'balanced start (all servers restarted, auto on)');

      const m3 = new Set([2]);
      const moving = first.live[2]!;
      await fleet.mark();
      await cluster.servers[2]!.stop('SIGKILL');
      await fleet.waitDropped(moving, 'rebalance: M3 agents dropped');
      ctx.log(`rebalance: M3 killed, ${moving} agents failing over`);
      await fleet.up('welcome', 'rebalance: failover');
      await cluster.restart(2);
      const restarted = process.hrtime.bigint();
      ctx.log('rebalance: M3 restarted; waiting for its agents to come back');
      const back = await converge(fleet, cluster, restarted, none, `kill -9 of M3 and restart (auto, grace ${grace} s)`, 2);
      void m3;
      return [first, back];
    });
    return { scenario: 'rebalance', servers: 3, agents, rate, phases, notes: [] };
  } finally {
    await cluster.stop();
  }
}
