/**
 * `handshake`: N fresh connections at concurrency C (connect, hello, welcome + hosts, close)
 * against agentlb and its peers, in alternating rounds so the machine's noise falls on all
 * alike; the median round of each is reported, and the ratios of the medians.
 *
 * agentlb runs twice: at its default log level (info) with stdout appended to a file, as under
 * a service manager (the figure the target is judged on), and at --log-level warn. The peers,
 * driven by the same native client in the same run: the raw Node server (the ceiling for a
 * Node process), the C floor (the machine's: one epoll thread answering one frame) and
 * nats-server (INFO, CONNECT + PING, PONG), skipped with a note when it is not installed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, loopbackSources } from '../loopback';
import { runNativeClient } from '../native-client';
import { natsServerBinary, spawnFloorServer, spawnNatsServer, type PeerProcess } from '../peers';
import { sampleProcess } from '../proc-stats';
import { HANDSHAKE_PEERS, type ClientKind, type HandshakeResult, type HandshakeRun, type HandshakeServer } from '../results';
import { removeDataDir, spawnAgentlbServer, spawnRawServer, type AgentlbProcess, type ServerProcess } from '../servers';
import type { Target } from '../swarm/ipc';
import type { LatencySummary } from '../swarm/latency';
import type { Swarm } from '../swarm/swarm';
import { median, msBetween, poolArgs, rawResponse, verdict, withSwarm, type ScenarioContext } from './context';

/** The target of issues 5 and 16: agentlb at its defaults ≥ 0.85 × raw with the native client. */
export const HANDSHAKE_TARGET_RATIO = 0.85;
/** Issue 16: agentlb's rate ≥ nats-server's on this machine. */
export const NATS_TARGET_RATIO = 1.0;
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
  kind: HandshakeServer;
  targets: Target[];
  pid?: number;
}

const isAgentlb = (kind: HandshakeServer): boolean => kind === 'agentlb' || kind === 'agentlb-warn';

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
      ...(subject.kind === 'nats' ? { protocol: 'nats' as const } : {}),
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

function summarizeRuns(kind: HandshakeServer, client: ClientKind, agents: 'known' | 'new', count: number, rounds: Round[]): HandshakeRun {
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
  const known = new Map<HandshakeServer, Round[]>(subjects.map((s) => [s.kind, []]));
  const prefix = (s: Subject): string => `hs-${client}-${s.kind}-${Date.now()}-`;
  const prefixes = new Map(subjects.map((s) => [s.kind, prefix(s)]));
  for (const s of subjects) await runRound(s, Math.min(WARMUP, count), `warm-${client}-${s.kind}-${Date.now()}-`);
  const fresh: HandshakeRun[] = [];
  for (const s of subjects.filter((x) => isAgentlb(x.kind))) {
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
  const notes: string[] = [];
  const started: { stop(): Promise<unknown> }[] = [];
  const agentlbs: AgentlbProcess[] = [];
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'agentlb-bench-log-'));
  const logFile = path.join(logDir, 'agentlb.log');
  const runs: HandshakeRun[] = [];
  try {
    const rawPort = await freePort();
    const response = rawResponse(rawPort);
    const raw = await spawnRawServer({ response, port: rawPort });
    started.push(raw);
    const subjects: Subject[] = [subjectOf('raw', raw)];
    if (opts.servers) {
      subjects.push({ kind: 'agentlb', targets: opts.servers });
    } else {
      const nodeArgs = opts.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir];
      const extraArgs = poolArgs(opts.pools[0]!);
      const atDefault = await spawnAgentlbServer({ extraArgs, logLevel: 'default', logFile, nodeArgs });
      agentlbs.push(atDefault);
      subjects.push(subjectOf('agentlb', atDefault));
      const atWarn = await spawnAgentlbServer({ extraArgs, logLevel: 'warn', nodeArgs });
      agentlbs.push(atWarn);
      subjects.push(subjectOf('agentlb-warn', atWarn));
    }
    const floor = await spawnFloorServer(response);
    started.push(floor);
    subjects.push(subjectOf('floor', floor));
    const nats = natsServerBinary();
    if (nats === undefined) {
      notes.push('nats-server is not installed (apt-get install nats-server): its row and ratio are skipped');
    } else {
      const peer = await spawnNatsServer(nats);
      started.push(peer);
      subjects.push(subjectOf('nats', peer));
    }
    for (const client of clients) {
      if (client === 'native') runs.push(...(await measure(ctx, client, subjects, nativeRounds(ctx))));
      else {
        // The swarm speaks agentlb's protocol only: NATS and the floor are measured natively.
        const nodeSubjects = subjects.filter((s) => s.kind === 'raw' || isAgentlb(s.kind));
        runs.push(...(await withSwarm(ctx, opts.concurrency, (swarm) => measure(ctx, client, nodeSubjects, nodeRounds(ctx, swarm)))));
      }
    }
  } finally {
    for (const server of started) await server.stop();
    for (const server of agentlbs) {
      await server.stop();
      await removeDataDir(server.dataDir);
    }
  }
  const logBytes = (await stat(logFile).catch(() => undefined))?.size;
  await rm(logDir, { recursive: true, force: true });

  const find = (client: ClientKind, server: HandshakeServer, agents: 'known' | 'new' = 'known'): HandshakeRun | undefined =>
    runs.find((r) => r.client === client && r.server === server && (r.agents === agents || !isAgentlb(server)));
  const ratio = (a: HandshakeRun | undefined, b: HandshakeRun | undefined): number | undefined =>
    a === undefined || b === undefined || b.rate === 0 ? undefined : Math.round((a.rate / b.rate) * 1000) / 1000;
  const ratios: HandshakeResult['ratios'] = {};
  for (const client of clients) ratios[client] = ratio(find(client, 'agentlb'), find(client, 'raw')) ?? 0;
  const versus: HandshakeResult['versus'] = {};
  const versusCpu: HandshakeResult['versusCpu'] = {};
  const cpuRatio = (own: HandshakeRun, peer: HandshakeRun | undefined): number | undefined =>
    peer === undefined || own.serverCpuUs === 0 ? undefined : Math.round((peer.serverCpuUs / own.serverCpuUs) * 1000) / 1000;
  for (const kind of ['agentlb', 'agentlb-warn'] as const) {
    const own = find('native', kind);
    if (own === undefined) continue;
    const row: Partial<Record<(typeof HANDSHAKE_PEERS)[number], number>> = {};
    const cpuRow: Partial<Record<(typeof HANDSHAKE_PEERS)[number], number>> = {};
    for (const peer of HANDSHAKE_PEERS) {
      const value = ratio(own, find('native', peer));
      if (value !== undefined) row[peer] = value;
      const cpu = cpuRatio(own, find('native', peer));
      if (cpu !== undefined) cpuRow[peer] = cpu;
    }
    versus[kind] = row;
    versusCpu[kind] = cpuRow;
  }
  const verdicts = [];
  const native = find('native', 'agentlb');
  const rawNative = find('native', 'raw');
  if (native !== undefined && rawNative !== undefined) {
    const size = `native, N=${opts.agents.handshake}, C=${opts.concurrency}, known agents`;
    verdicts.push(
      verdict(
        `handshake (${size}): agentlb at its default log level (info, to a file) ≥ ${HANDSHAKE_TARGET_RATIO} × raw`,
        `${ratios.native} × raw (${native.rate}/s vs ${rawNative.rate}/s)`,
        (ratios.native ?? 0) >= HANDSHAKE_TARGET_RATIO,
      ),
    );
    const natsRun = find('native', 'nats');
    if (natsRun !== undefined) {
      const vsNats = versus.agentlb?.nats ?? 0;
      verdicts.push(
        verdict(
          `handshake (${size}): agentlb at its defaults ≥ ${NATS_TARGET_RATIO} × nats-server`,
          `${vsNats} × nats-server (${native.rate}/s vs ${natsRun.rate}/s)`,
          vsNats >= NATS_TARGET_RATIO,
        ),
      );
    }
    verdicts.push(verdict('handshake: 0 errors', `${native.errors} errors`, native.errors === 0));
  }
  const handshakesLogged = runs.filter((r) => r.server === 'agentlb').reduce((sum, r) => sum + r.ok, 0);
  return {
    scenario: 'handshake',
    agents: opts.agents.handshake,
    concurrency: opts.concurrency,
    runs,
    ratios,
    versus,
    versusCpu,
    notes,
    ...(logBytes === undefined || handshakesLogged === 0 ? {} : { logBytesPerHandshake: Math.round(logBytes / handshakesLogged) }),
    verdicts,
  };
}

function subjectOf(kind: HandshakeServer, server: ServerProcess | PeerProcess | AgentlbProcess): Subject {
  return { kind, targets: [{ host: server.host, port: server.port }], pid: server.pid };
}
