/**
 * `npm run bench -- calls` (issue 14): `agentlb.ping` fanned out (POST /api/calls, all: true)
 * to N agents held by the native hold client (client.c: protocol 2, answers every call at
 * once, counts calls per agent), and single calls to one idle agent.
 *
 * 1. One server (embedded store) at its defaults (log level info, to a file as under a
 *    service manager), then at --log-level warn: each runs one fan-out, then sequential single
 *    calls next to admin GETs of the same server (the baseline, same connection, same run).
 * 2. Three cluster-mode servers on a throwaway PostgreSQL, N/3 agents on each (one hold
 *    client per server), the fan-out asked of M1 only: M2's and M3's agents are reached
 *    through PostgreSQL (routed-calls.ts). Then single calls asked of M1 for an agent on M2.
 *
 * Each fan-out: POST -> last host line, the asked server's event-loop p99 and max over the
 * fan-out (prom-client's histogram, reset by the scrape that opens the window), its RSS peak
 * (sampled every 20 ms through /proc), lines by status and by holding server, and what the
 * agents saw: each must be called exactly once and answer once (no call lost or doubled).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AdminTarget } from '../admin-client';
import { getMetrics, metricValue, putSettings } from '../admin-client';
import { fanout, roundTrips } from '../calls-client';
import { MAX_AGENTS_PER_SERVER, startCluster } from '../cluster';
import { loadNow, openFilesLimit } from '../machine';
import { NativeHold, type HoldStats } from '../native-hold';
import { loopbackSources } from '../loopback';
import { sampleProcess } from '../proc-stats';
import type { CallsFanout, CallsLatency, CallsResult, Verdict } from '../results';
import { removeDataDir, spawnAgentlbServer, type AgentlbProcess } from '../servers';
import { verdict, type ScenarioContext } from './context';

/** issue 14's targets on this machine. */
export const CALLS_TARGETS = { oneServerMs: 2_000, clusterMs: 4_000, loopP99Ms: 50, stallMs: 100 };
/** Sequential single calls (and admin GETs) per latency row; fewer with fewer agents (a small run is a check, not a figure). */
export const SINGLE_CALLS = 300;
/** Files a process needs beyond its sockets (stdio, epoll, the store, PostgreSQL, admin). */
const FILE_MARGIN = 200;
const CLUSTER_SERVERS = 3;
/** The call's timeout: far above the fan-out's duration, so a slow run is measured, not timed out. */
const TIMEOUT_S = 60;

const adminOf = (server: AgentlbProcess): AdminTarget => ({ host: server.host, port: server.adminPort, token: server.adminToken });

/** Refuses, naming the numbers, a size that one process's open files cannot hold. */
export function checkOpenFiles(agents: number, limit: number | undefined): void {
  if (agents > MAX_AGENTS_PER_SERVER) {
    throw new Error(`calls: ${agents} agents on one server exceed what one process holds here (${MAX_AGENTS_PER_SERVER}: 20 000 open files); use --agents ${MAX_AGENTS_PER_SERVER} or fewer`);
  }
  if (limit !== undefined && agents + FILE_MARGIN > limit) {
    throw new Error(`calls: ${agents} agents in one process need about ${agents + FILE_MARGIN} open files, but ulimit -n is ${limit}; raise it or use --agents ${limit - FILE_MARGIN} or fewer`);
  }
}

/** The server's event-loop delay since the previous scrape, ms: [p99, max]. */
async function loopDelay(server: AgentlbProcess): Promise<[number | undefined, number | undefined]> {
  const text = await getMetrics(adminOf(server)).catch(() => undefined);
  const ms = (name: string): number | undefined => {
    const seconds = metricValue(text, name);
    return seconds === undefined ? undefined : Math.round(seconds * 100_000) / 100;
  };
  return [ms('nodejs_eventloop_lag_p99_seconds'), ms('nodejs_eventloop_lag_max_seconds')];
}

/** Samples `pid`'s RSS every 20 ms until stopped; resolves with the peak. */
function rssPeak(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let reading: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    reading = reading.then(() => sampleProcess(pid).then((s) => void (peak = Math.max(peak, s.rssBytes)), () => undefined));
  }, 20);
  return {
    async stop() {
      clearInterval(timer);
      await reading;
      return peak;
    },
  };
}

function sumStats(stats: readonly HoldStats[]): CallsFanout['agentSide'] {
  const sum = (key: 'calls' | 'calledOnce' | 'calledMore' | 'cancels'): number => stats.reduce((n, s) => n + s[key], 0);
  return { calls: sum('calls'), calledOnce: sum('calledOnce'), calledMore: sum('calledMore'), cancels: sum('cancels') };
}

/** Holds `count` agents on `server`, all past their first `hosts`; fails when one could not connect. */
async function hold(ctx: ScenarioContext, server: AgentlbProcess, count: number, guidPrefix: string, hosts: string[]): Promise<NativeHold> {
  const client = await NativeHold.start({
    target: server,
    count,
    concurrency: ctx.opts.concurrency,
    sources: loopbackSources(ctx.opts.sources),
    guidPrefix,
    timeoutMs: ctx.opts.timeoutMs,
    list: { hosts, algorithm: 'roundrobin', checkInterval: 0 },
  });
  const up = await client.up('hosts').catch(async (error: unknown) => {
    await client.close();
    throw error;
  });
  if (up.up !== count) {
    await client.close();
    throw new Error(`calls: only ${up.up} of ${count} agents connected to ${server.host}:${server.port} (${JSON.stringify(up.errorKinds)})`);
  }
  return client;
}

interface FanoutTarget {
  name: string;
  asked: AgentlbProcess;
  others: AgentlbProcess[];
  holds: NativeHold[];
  agents: number;
  concurrency?: number;
}

async function measureFanout(ctx: ScenarioContext, t: FanoutTarget): Promise<{ fanout: CallsFanout; anOkHost: number | undefined; otherHost: number | undefined }> {
  ctx.log(`calls: ${t.name}: fan-out of agentlb.ping to ${t.agents} agents`);
  const load = loadNow();
  const markNs = process.hrtime.bigint();
  await Promise.all(t.holds.map((h) => h.mark(markNs)));
  const all = [t.asked, ...t.others];
  const cpuOf = async (): Promise<number[]> => Promise.all(all.map(async (s) => (await sampleProcess(s.pid)).cpuMs));
  const rssBeforeBytes = (await sampleProcess(t.asked.pid)).rssBytes;
  const cpuBefore = await cpuOf();
  // Opens every server's event-loop window (prom-client resets its histogram on a scrape).
  await Promise.all([t.asked, ...t.others].map((s) => loopDelay(s)));
  const rss = rssPeak(t.asked.pid);
  const body = { method: 'agentlb.ping', all: true, timeout: TIMEOUT_S, ...(t.concurrency === undefined ? {} : { concurrency: t.concurrency }) };
  const reading = await fanout(adminOf(t.asked), body).finally(() => rss.stop());
  const [[loopP99Ms, loopMaxMs], ...others] = await Promise.all([t.asked, ...t.others].map((s) => loopDelay(s)));
  const rssPeakBytes = Math.max(await rss.stop(), rssBeforeBytes);
  const cpuUsed = (await cpuOf()).map((ms, i) => ms - cpuBefore[i]!);
  const agentSide = sumStats(await Promise.all(t.holds.map((h) => h.stats())));
  const summary = reading.summary!;
  const summaryMatches = summary.total === reading.lines && Object.entries(reading.byStatus).every(([status, n]) => summary[status as keyof typeof summary] === n);
  const othersMax = others.map(([, max]) => max ?? 0);
  // An ok line from a server other than the asked one: the routed single call's target.
  const askedName = `${t.asked.host}:${t.asked.port}`;
  const result: CallsFanout = {
    name: t.name,
    servers: 1 + t.others.length,
    agents: t.agents,
    ...(t.concurrency === undefined ? {} : { concurrency: t.concurrency }),
    load,
    lines: reading.lines,
    byStatus: reading.byStatus,
    byServer: reading.byServer,
    errorCodes: reading.errorCodes,
    ...(reading.firstError === undefined ? {} : { firstError: reading.firstError }),
    duplicateLines: reading.duplicateLines,
    missing: t.agents - reading.okHosts.size,
    agentSide,
    summaryMatches,
    firstLineMs: reading.firstLineMs,
    lastResultMs: reading.lastResultMs,
    summaryMs: reading.summaryMs,
    ...(loopP99Ms === undefined ? {} : { loopP99Ms }),
    ...(loopMaxMs === undefined ? {} : { loopMaxMs }),
    ...(othersMax.length === 0 ? {} : { othersLoopMaxMs: Math.max(...othersMax) }),
    rssBeforeBytes,
    rssPeakBytes,
    serverCpuMs: cpuUsed,
    cpuPerCallUs: Math.round((cpuUsed.reduce((a, b) => a + b, 0) * 1000) / Math.max(1, reading.lines)),
  };
  if (result.firstError !== undefined) ctx.log(`calls:   the first line not ok: ${result.firstError}`);
  ctx.log(
    `calls:   last result ${result.lastResultMs} ms, ${JSON.stringify(result.byStatus)} ${JSON.stringify(result.errorCodes)}, loop p99 ${loopP99Ms} ms max ${loopMaxMs} ms, server CPU ${cpuUsed.join(' + ')} ms (${result.cpuPerCallUs} µs per call), agents called once ${agentSide.calledOnce}, more ${agentSide.calledMore} (load ${load})`,
  );
  const otherHost = Object.entries(reading.firstOkByServer).find(([server]) => server !== askedName)?.[1];
  return { fanout: result, anOkHost: reading.anOkHost, otherHost };
}

async function measureLatency(ctx: ScenarioContext, name: string, asked: AgentlbProcess, hostId: number): Promise<CallsLatency> {
  const count = Math.min(SINGLE_CALLS, ctx.opts.agents.calls);
  ctx.log(`calls: ${name}: ${count} sequential calls to host ${hostId}, and as many GET /api/settings`);
  const load = loadNow();
  const admin = adminOf(asked);
  const baseline = await roundTrips(admin, count, 'GET', '/api/settings');
  const calls = await roundTrips(admin, count, 'POST', `/api/hosts/${hostId}/call`, { method: 'agentlb.ping', timeout: 10 });
  const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
  const first = calls.firstError ?? baseline.firstError;
  if (first !== undefined) ctx.log(`calls:   ${calls.errors + baseline.errors} unexpected answers, the first: ${first}`);
  return {
    name,
    load,
    callMs: calls.latency,
    baselineMs: baseline.latency,
    ratioP50: ratio(calls.latency.p50, baseline.latency.p50),
    ratioP99: ratio(calls.latency.p99, baseline.latency.p99),
    errors: calls.errors + baseline.errors,
  };
}

/** Node flags for every server: --cpu-prof into the asked directory. */
function nodeArgs(ctx: ScenarioContext): string[] {
  return ctx.opts.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', ctx.opts.cpuProfDir];
}

/** One server, embedded store: a fan-out, then single calls. */
export async function oneServer(ctx: ScenarioContext, name: string, logLevel: 'default' | 'warn', logDir: string): Promise<{ fanout: CallsFanout; latency?: CallsLatency }> {
  const agents = ctx.opts.agents.calls;
  const server = await spawnAgentlbServer({ logLevel, logFile: path.join(logDir, `one-${logLevel}.log`), nodeArgs: nodeArgs(ctx) });
  try {
    const self = `${server.host}:${server.port}`;
    await putSettings(adminOf(server), { host: self, 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 });
    ctx.log(`calls: ${name}: connecting ${agents} protocol-2 agents`);
    const held = await hold(ctx, server, agents, `calls-${logLevel}-${Date.now()}-`, [self]);
    try {
      const measured = await measureFanout(ctx, { name, asked: server, others: [], holds: [held], agents });
      const latency = measured.anOkHost === undefined ? undefined : await measureLatency(ctx, `${name}: single call, local agent`, server, measured.anOkHost);
      return { fanout: measured.fanout, ...(latency === undefined ? {} : { latency }) };
    } finally {
      await held.close();
    }
  } finally {
    await server.stop();
    await removeDataDir(server.dataDir);
  }
}

/** Three cluster servers on PostgreSQL, a third of the agents on each, the fan-out asked of M1. */
export async function threeServers(ctx: ScenarioContext, name: string, logDir: string): Promise<{ fanout: CallsFanout; latency?: CallsLatency }> {
  const agents = ctx.opts.agents.calls;
  ctx.log(`calls: ${name}: starting PostgreSQL and ${CLUSTER_SERVERS} cluster-mode servers`);
  const cluster = await startCluster(CLUSTER_SERVERS, [], { logLevel: 'default', logFile: (i) => path.join(logDir, `cluster-m${i + 1}.log`), nodeArgs: nodeArgs(ctx) });
  const holds: NativeHold[] = [];
  try {
    // roundrobin over the three: each server's planned load is a third, as held, so the
    // automatic rebalance (on by default) has nothing to move during the measurement.
    await putSettings(cluster.admin, { host: cluster.addresses.join(','), 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 });
    const prefix = `calls-cluster-${Date.now()}-`;
    for (const [i, server] of cluster.servers.entries()) {
      const count = Math.floor(agents / CLUSTER_SERVERS) + (i < agents % CLUSTER_SERVERS ? 1 : 0);
      ctx.log(`calls: ${name}: connecting ${count} agents to M${i + 1}`);
      holds.push(await hold(ctx, server, count, `${prefix}m${i + 1}-`, cluster.addresses));
    }
    const [asked, ...others] = cluster.servers as [AgentlbProcess, ...AgentlbProcess[]];
    const measured = await measureFanout(ctx, { name, asked, others, holds, agents });
    const latency =
      measured.otherHost === undefined ? undefined : await measureLatency(ctx, `${name}: single call asked of M1, agent on another server (routed)`, asked, measured.otherHost);
    return { fanout: measured.fanout, ...(latency === undefined ? {} : { latency }) };
  } finally {
    for (const h of holds) await h.close();
    await cluster.stop();
  }
}

export function callsVerdicts(fanouts: readonly CallsFanout[]): Verdict[] {
  return fanouts.flatMap((f) => {
    const budget = f.servers === 1 ? CALLS_TARGETS.oneServerMs : CALLS_TARGETS.clusterMs;
    const exact = f.lines === f.agents && f.byStatus['ok'] === f.agents && f.duplicateLines === 0 && f.missing === 0 && f.agentSide.calledOnce === f.agents && f.agentSide.calledMore === 0 && f.summaryMatches;
    const statuses = Object.entries(f.byStatus).map(([s, n]) => `${s} ${n}`).join(', ');
    return [
      verdict(`${f.name}: ${f.agents} results within ${budget / 1000} s`, `${f.lastResultMs} ms (load ${f.load})`, f.lines === f.agents && f.lastResultMs <= budget),
      verdict(`${f.name}: event-loop p99 at most ${CALLS_TARGETS.loopP99Ms} ms`, `${f.loopP99Ms ?? 'n/a'} ms`, f.loopP99Ms !== undefined && f.loopP99Ms <= CALLS_TARGETS.loopP99Ms),
      verdict(`${f.name}: no event-loop stall above ${CALLS_TARGETS.stallMs} ms`, `max ${f.loopMaxMs ?? 'n/a'} ms`, f.loopMaxMs !== undefined && f.loopMaxMs <= CALLS_TARGETS.stallMs),
      verdict(
        `${f.name}: no call lost or doubled (each agent called and answered once)`,
        `${f.lines} lines (${statuses}), ${f.duplicateLines} doubled, ${f.missing} missing; agents called once ${f.agentSide.calledOnce}, more ${f.agentSide.calledMore}`,
        exact,
      ),
    ];
  });
}

export async function runCalls(ctx: ScenarioContext): Promise<CallsResult> {
  const agents = ctx.opts.agents.calls;
  checkOpenFiles(agents, openFilesLimit());
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'agentlb-bench-calls-'));
  const fanouts: CallsFanout[] = [];
  const latency: CallsLatency[] = [];
  const notes: string[] = [];
  try {
    const runs = [
      () => oneServer(ctx, 'one server, defaults (log info to a file)', 'default', logDir),
      () => oneServer(ctx, 'one server, --log-level warn', 'warn', logDir),
      () => threeServers(ctx, `${CLUSTER_SERVERS} cluster servers, asked of M1, defaults (log info to a file)`, logDir),
    ];
    for (const run of runs) {
      const done = await run();
      fanouts.push(done.fanout);
      if (done.latency !== undefined) latency.push(done.latency);
      else notes.push(`${done.fanout.name}: no ok line to pick a host for the single-call latency`);
    }
  } finally {
    await rm(logDir, { recursive: true, force: true });
  }
  notes.push(`fan-outs name no concurrency (the server's default, 1 000 hosts at once) and timeout ${TIMEOUT_S} s`);
  return { scenario: 'calls', agents, fanouts, latency, notes, verdicts: callsVerdicts(fanouts) };
}
