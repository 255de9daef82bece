/**
 * `handshake`: N fresh connections at concurrency C (connect, hello, welcome + hosts, close)
 * against agentlb and against the raw baseline, in alternating rounds so the machine's noise
 * falls on both alike; the median round of each is reported, and the ratio of the medians.
 */
import { freePort, loopbackSources } from '../loopback';
import { runNativeClient } from '../native-client';
import { sampleProcess } from '../proc-stats';
import type { ClientKind, HandshakeResult, HandshakeRun, ServerKind } from '../results';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type AgentlbProcess } from '../servers';
import type { Target } from '../swarm/ipc';
import type { LatencySummary } from '../swarm/latency';
import type { Swarm } from '../swarm/swarm';
import { median, msBetween, poolArgs, rawResponse, verdict, withSwarm, type ScenarioContext } from './context';

/** The target of issue 5: agentlb ≥ 0.85 × raw with the native client. */
export const HANDSHAKE_TARGET_RATIO = 0.85;
const WARMUP = 1_000;

interface Round {
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  rate: number;
  latencyMs: LatencySummary;
  serverCpuMs: number;
}

interface Subject {
  kind: ServerKind;
  targets: Target[];
  pid?: number;
}

type RoundRunner = (subject: Subject, count: number, guidPrefix: string) => Promise<Round>;

async function cpuOf(pid: number | undefined): Promise<number> {
  return pid === undefined ? 0 : (await sampleProcess(pid)).cpuMs;
}

function nativeRounds(ctx: ScenarioContext): RoundRunner {
  return async (subject, count, guidPrefix) => {
    const cpu = await cpuOf(subject.pid);
    // Several servers: the native client drives the first (run it per server for more).
    const r = await runNativeClient({
      target: subject.targets[0]!,
      count,
      concurrency: ctx.opts.concurrency,
      sources: loopbackSources(ctx.opts.sources),
      guidPrefix,
      until: 'hosts',
      timeoutMs: ctx.opts.timeoutMs,
    });
    const serverCpuMs = (await cpuOf(subject.pid)) - cpu;
    return { ok: r.ok, errors: r.errors, errorKinds: nonZero(r.errorKinds), rate: r.rate, latencyMs: { count: r.ok, ...r.latencyMs }, serverCpuMs };
  };
}

function nodeRounds(ctx: ScenarioContext, swarm: Swarm): RoundRunner {
  return async (subject, count, guidPrefix) => {
    await swarm.mark();
    const cpu = await cpuOf(subject.pid);
    const began = process.hrtime.bigint();
    const snap = await swarm.handshakes(count, guidPrefix, {
      targets: subject.targets,
      concurrency: ctx.opts.concurrency,
      until: 'hosts',
      timeoutMs: ctx.opts.timeoutMs,
    });
    const elapsedMs = msBetween(began, process.hrtime.bigint());
    const serverCpuMs = (await cpuOf(subject.pid)) - cpu;
    const ok = snap.counters.completed;
    return { ok, errors: snap.counters.lost, errorKinds: snap.counters.failures, rate: (ok * 1000) / elapsedMs, latencyMs: snap.handshake, serverCpuMs };
  };
}

function nonZero(kinds: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(kinds).filter(([, n]) => n > 0));
}

function summarizeRuns(kind: ServerKind, client: ClientKind, agents: 'known' | 'new', count: number, rounds: Round[]): HandshakeRun {
  const rates = rounds.map((r) => Math.round(r.rate));
  const mid = rounds.find((r) => Math.round(r.rate) === median(rates)) ?? rounds[0]!;
  const errorKinds: Record<string, number> = {};
  for (const r of rounds) for (const [k, n] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
  const ok = rounds.reduce((s, r) => s + r.ok, 0);
  const cpuMs = rounds.reduce((s, r) => s + r.serverCpuMs, 0);
  return {
    server: kind,
    client,
    agents,
    count,
    rounds: rounds.length,
    ok,
    errors: rounds.reduce((s, r) => s + r.errors, 0),
    errorKinds,
    rate: Math.round(median(rates)),
    rates,
    latencyMs: mid.latencyMs,
    serverCpuUs: ok > 0 ? Math.round((cpuMs * 1000) / ok) : 0,
  };
}

/**
 * Warm-up, then for agentlb one round of NEW agents (each registered durably before its
 * welcome), then R alternating rounds in which those same agents connect again (KNOWN agents:
 * the server's protocol path without a store write, comparable with the raw baseline).
 */
async function measure(ctx: ScenarioContext, client: ClientKind, subjects: Subject[], runRound: RoundRunner): Promise<HandshakeRun[]> {
  const count = ctx.opts.agents.handshake;
  const known = new Map<ServerKind, Round[]>(subjects.map((s) => [s.kind, []]));
  const prefix = (s: Subject): string => `hs-${client}-${s.kind}-${Date.now()}-`;
  const prefixes = new Map(subjects.map((s) => [s.kind, prefix(s)]));
  for (const s of subjects) await runRound(s, Math.min(WARMUP, count), `warm-${client}-${s.kind}-${Date.now()}-`);
  const fresh: HandshakeRun[] = [];
  for (const s of subjects.filter((x) => x.kind === 'agentlb')) {
    ctx.log(`handshake: ${client} client, agentlb, ${count} new agents`);
    fresh.push(summarizeRuns(s.kind, client, 'new', count, [await runRound(s, count, prefixes.get(s.kind)!)]));
  }
  for (let r = 0; r < ctx.opts.rounds; r++) {
    // Alternate which server goes first, so neither always runs on the warmer (or noisier) half.
    const order = r % 2 === 0 ? subjects : [...subjects].reverse();
    for (const s of order) {
      ctx.log(`handshake: ${client} client, ${s.kind}, round ${r + 1}/${ctx.opts.rounds}, ${count} connections`);
      known.get(s.kind)!.push(await runRound(s, count, prefixes.get(s.kind)!));
    }
  }
  return [...subjects.map((s) => summarizeRuns(s.kind, client, 'known', count, known.get(s.kind)!)), ...fresh];
}

export async function runHandshake(ctx: ScenarioContext): Promise<HandshakeResult> {
  const { opts } = ctx;
  const clients: ClientKind[] = opts.client ? [opts.client] : ['native', 'node'];
  const rawPort = await freePort();
  const raw = await spawnRawServer({ response: rawResponse(rawPort), port: rawPort });
  let agentlb: AgentlbProcess | undefined;
  const runs: HandshakeRun[] = [];
  try {
    if (!opts.servers) agentlb = await spawnAgentlbServer({ extraArgs: poolArgs(opts.pools[0]!) });
    const subjects: Subject[] = [
      { kind: 'raw', targets: [{ host: raw.host, port: raw.port }], pid: raw.pid },
      agentlb ? { kind: 'agentlb', targets: [{ host: agentlb.host, port: agentlb.port }], pid: agentlb.pid } : { kind: 'agentlb', targets: opts.servers! },
    ];
    for (const client of clients) {
      if (client === 'native') runs.push(...(await measure(ctx, client, subjects, nativeRounds(ctx))));
      else runs.push(...(await withSwarm(ctx, opts.concurrency, (swarm) => measure(ctx, client, subjects, nodeRounds(ctx, swarm)))));
    }
  } finally {
    await raw.stop();
    if (agentlb) {
      await agentlb.stop();
      await removeDataDir(agentlb.dataDir);
    }
  }
  const ratios: HandshakeResult['ratios'] = {};
  for (const client of clients) {
    const a = runs.find((r) => r.client === client && r.server === 'agentlb' && r.agents === 'known')!;
    const b = runs.find((r) => r.client === client && r.server === 'raw')!;
    ratios[client] = b.rate > 0 ? Math.round((a.rate / b.rate) * 1000) / 1000 : 0;
  }
  const verdicts = [];
  const native = runs.find((r) => r.client === 'native' && r.server === 'agentlb' && r.agents === 'known');
  if (native !== undefined) {
    verdicts.push(
      verdict(
        `handshake (native, N=${opts.agents.handshake}, C=${opts.concurrency}, known agents): agentlb ≥ ${HANDSHAKE_TARGET_RATIO} × raw`,
        `${ratios.native} × raw (${native.rate}/s vs ${runs.find((r) => r.client === 'native' && r.server === 'raw')!.rate}/s)`,
        (ratios.native ?? 0) >= HANDSHAKE_TARGET_RATIO,
      ),
      verdict('handshake: 0 errors', `${native.errors} errors`, native.errors === 0),
    );
  }
  return { scenario: 'handshake', agents: opts.agents.handshake, concurrency: opts.concurrency, runs, ratios, verdicts };
}
