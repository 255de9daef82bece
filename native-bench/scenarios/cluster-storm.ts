/**
 * `storm --servers N`: a fleet larger than one process can hold (40 000 agents by default,
 * against 20 000 open files per process) over N agentlb servers sharing one PostgreSQL, with
 * `roundrobin` over all N (or --algorithm). The swarm's agents follow their lists as real
 * agents do (first entry, then the next ones). Phases, each measured from its start to the
 * last agent welcomed:
 *
 * 1. first connect: every agent is new and registered in PostgreSQL; swarm worker i
 *    bootstraps on server i, so this spread is the bench's, not the algorithm's;
 * 2. restart of every server (SIGTERM all, start all): the full reconnection; agents go to
 *    their preferred (first) entry, so the fleet lands as the algorithm spreads it;
 * 3. SIGKILL of M1, when the fleet fits on the servers left: its agents move to their second
 *    entries (roundrobin sends them all to the same next server: the herd shows here).
 */
import { putSettings } from '../admin-client';
import { connectedAgents, knownHosts, MAX_AGENTS_PER_SERVER, serversCpuMs, startCluster, type BenchCluster } from '../cluster';
import { withFleet, type FleetSnapshot, type HeldFleet } from '../fleet';
import type { ClusterPhase, ClusterStormResult } from '../results';
import { DEFAULT_SHIFT_RESEND_MS } from '../../src/server/fleet/resend';
import { msBetween, type ScenarioContext } from './context';


/**
 * Waits until every server knows the `registered` hosts and, from then on, no `hosts` frame has
 * arrived for two re-send intervals: hosts registered on other servers reach a server through
 * PostgreSQL, out of id order, and their re-sends are throttled (src/server/fleet/resend.ts),
 * so lists keep being corrected for a moment after the last welcome. Quiet alone was not
 * enough: at load 7 a server learnt of the last hosts after a 2 s quiet spell, and agents
 * restarted with lists not yet corrected (8/12/10 instead of 10/10/10). Returns the frames
 * that arrived meanwhile. The servers report no "settled" event, so this watches the agents
 * and the servers' /healthz.
 */
async function listsSettled(fleet: HeldFleet, cluster: BenchCluster, registered: number): Promise<number> {
  const quietMs = 2 * DEFAULT_SHIFT_RESEND_MS;
  const first = (await fleet.stats()).hostsReceived;
  let last = first;
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, quietMs / 8));
    const now = (await fleet.stats()).hostsReceived;
    const known = await Promise.all(cluster.servers.map((server) => knownHosts(server)));
    if (now !== last || known.some((hosts) => hosts < registered)) quietSince = Date.now();
    last = now;
  }
  return last - first;
}

async function spread(cluster: BenchCluster, down: ReadonlySet<number> = new Set()): Promise<ClusterPhase['spread']> {
  return Promise.all(
    cluster.servers.map(async (server, i) => ({
      server: cluster.addresses[i]!,
      agents: down.has(i) ? 0 : await connectedAgents(server),
    })),
  );
}

interface Measured {
  snap: FleetSnapshot;
  startNs: bigint;
  serverCpuMs: number;
  where: ClusterPhase['spread'];
  restartMs?: number;
}

function phase(name: string, agents: number, { snap, startNs, serverCpuMs, where, restartMs }: Measured): ClusterPhase {
  return {
    name,
    agents,
    back: snap.completed,
    lost: agents - snap.completed,
    failures: snap.failures,
    ...(restartMs === undefined ? {} : { restartMs }),
    allBackMs: msBetween(startNs, snap.lastCompletedNs),
    hostsFrames: snap.hostsReceived,
    serverCpuMs,
    spread: where,
    latencyMs: snap.handshake,
  };
}

async function restartAll(ctx: ScenarioContext, cluster: BenchCluster, fleet: HeldFleet, connected: number): Promise<ClusterPhase> {
  await fleet.mark();
  await Promise.all(cluster.servers.map((server) => server.stop('SIGTERM')));
  await fleet.waitDropped(connected, 'cluster storm: all connections dropped');
  const spawned = process.hrtime.bigint();
  await Promise.all(cluster.servers.map((_, i) => cluster.restart(i)));
  const ready = process.hrtime.bigint();
  ctx.log(`storm: all ${cluster.servers.length} servers back, ${connected} agents reconnecting to their preferred servers`);
  const back = await fleet.up('welcome', 'cluster storm: reconnect');
  // New processes: all their CPU (start-up included) belongs to this phase.
  const serverCpuMs = await serversCpuMs(cluster);
  return phase(`restart of all ${cluster.servers.length} servers`, connected, {
    snap: back,
    startNs: ready,
    serverCpuMs,
    where: await spread(cluster),
    restartMs: msBetween(spawned, ready),
  });
}

async function loseFirst(ctx: ScenarioContext, cluster: BenchCluster, fleet: HeldFleet, before: ClusterPhase['spread']): Promise<ClusterPhase> {
  const moving = before[0]!.agents;
  const m1 = new Set([0]);
  await fleet.mark();
  // What the servers left spend from here is the failover's.
  const cpuBefore = await serversCpuMs(cluster, m1);
  const killed = process.hrtime.bigint();
  await cluster.servers[0]!.stop('SIGKILL');
  await fleet.waitDropped(moving, 'cluster storm: M1 agents dropped');
  ctx.log(`storm: M1 killed, ${moving} agents moving to their second entries`);
  const back = await fleet.up('welcome', 'cluster storm: failover');
  const serverCpuMs = (await serversCpuMs(cluster, m1)) - cpuBefore;
  return phase('SIGKILL of M1', moving, { snap: back, startNs: killed, serverCpuMs, where: await spread(cluster, m1) });
}

export async function runClusterStorm(ctx: ScenarioContext): Promise<ClusterStormResult> {
  const count = ctx.opts.cluster!;
  const algorithm = ctx.opts.algorithm ?? 'roundrobin';
  const agents = ctx.opts.agents.storm;
  ctx.log(`storm: starting PostgreSQL and ${count} agentlb servers sharing it`);
  const cluster = await startCluster(count);
  const notes: string[] = [];
  try {
    const list = { hosts: cluster.addresses, algorithm, checkInterval: 0 };
    await putSettings(cluster.admin, { host: list.hosts.join(','), 'indirect.agent.lb.algorithm': algorithm, 'indirect.agent.lb.check.interval': 0 });
    const fleetOpts = {
      client: 'node' as const,
      targets: cluster.servers.map((s) => ({ host: s.host, port: s.port })),
      agents,
      guidPrefix: `cluster-${Date.now()}-`,
      list,
      // At least one swarm worker per server: worker i bootstraps its agents on server i.
      opts: { ...ctx.opts, workers: ctx.opts.workers ?? Math.max(count, Math.ceil(agents / 15_000)) },
      progress: ctx.progress,
      follow: true,
    };
    const phases = await withFleet(fleetOpts, async (fleet) => {
      ctx.log(`storm: connecting ${agents} new agents over ${count} servers`);
      await fleet.mark();
      const cpuBefore = await serversCpuMs(cluster);
      const started = process.hrtime.bigint();
      const first = await fleet.up('hosts', 'cluster storm: first connect');
      // The agents welcomed, not all asked for: a lost agent must not make this wait forever.
      const resent = await listsSettled(fleet, cluster, first.completed);
      const serverCpuMs = (await serversCpuMs(cluster)) - cpuBefore;
      const connected = phase('first connect (new hosts)', agents, { snap: first, startNs: started, serverCpuMs, where: await spread(cluster) });
      connected.hostsFrames += resent;
      const done: ClusterPhase[] = [connected];
      done.push(await restartAll(ctx, cluster, fleet, first.completed));
      const fits = agents <= (count - 1) * MAX_AGENTS_PER_SERVER;
      if (fits) done.push(await loseFirst(ctx, cluster, fleet, done[1]!.spread));
      else {
        notes.push(
          `SIGKILL of M1 not run: ${agents} agents do not fit on the ${count - 1} servers left at ${MAX_AGENTS_PER_SERVER} agents each (20 000 open files per process); plan N+1 servers for this fleet`,
        );
      }
      return done;
    });
    return { scenario: 'cluster-storm', servers: count, agents, concurrency: ctx.opts.concurrency, algorithm, phases, notes };
  } finally {
    await cluster.stop();
  }
}
