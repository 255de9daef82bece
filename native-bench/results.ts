/**
 * The shape of a bench run's results: what `--json FILE` writes, what the tables and
 * BENCHMARKS.md are rendered from, and what the smoke test asserts on.
 */
import type { PoolHandoff } from './pool-handoff';
import type { LatencySummary } from './swarm/latency';

export type ScenarioName = 'handshake' | 'storm' | 'propagate' | 'idle' | 'admin-http' | 'scale' | 'rebalance' | 'calls';
/** What a bare `npm run bench` runs; `scale` (issue 12, minutes of CPU) runs only when named. */
export const SCENARIOS: readonly ScenarioName[] = ['handshake', 'storm', 'propagate', 'idle', 'admin-http'];
export const NAMED_ONLY_SCENARIOS: readonly ScenarioName[] = ['scale', 'rebalance', 'calls'];

export type ServerKind = 'agentlb' | 'raw';
export type ClientKind = 'native' | 'node';
export type PoolMode = 'on' | 'off' | 'auto' | 'default';

/** A target of issue 5, checked against this run's figures. */
export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

/**
 * The servers of the handshake scenario: agentlb at its default log level (info) logging to a
 * file, as under a service manager; agentlb at --log-level warn; the raw Node server; the C
 * floor; nats-server (when installed).
 */
export type HandshakeServer = 'agentlb' | 'agentlb-warn' | 'raw' | 'floor' | 'nats';
export const HANDSHAKE_PEERS = ['raw', 'nats', 'floor'] as const;
export type HandshakePeer = (typeof HANDSHAKE_PEERS)[number];

export interface HandshakeRun {
  server: HandshakeServer;
  client: ClientKind;
  /**
   * known: agents the server has registered before (a reconnect: no store write), the figure
   * the target is judged on; new: first-time agents, each registered durably before welcome.
   */
  agents: 'known' | 'new';
  /** Handshakes attempted per round, and rounds (alternating servers; the median is reported). */
  count: number;
  rounds: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Median of the rounds' rates, handshakes per second. */
  rate: number;
  rates: number[];
  latencyMs: LatencySummary;
  /** Server CPU (user + system) per handshake, microseconds. */
  serverCpuUs: number;
}

export interface HandshakeResult {
  scenario: 'handshake';
  agents: number;
  concurrency: number;
  runs: HandshakeRun[];
  /** agentlb rate (known agents, default log level) / raw rate, for each client kind measured. */
  ratios: Partial<Record<ClientKind, number>>;
  /**
   * Native client, known agents: each agentlb run's rate as a ratio of each peer's, medians of
   * the same run (agentlb -> raw/nats/floor -> ratio; a peer not measured is absent).
   */
  versus: Partial<Record<'agentlb' | 'agentlb-warn', Partial<Record<HandshakePeer, number>>>>;
  /**
   * The same pairs by server CPU per handshake: the peer's CPU / agentlb's (above 1: agentlb
   * spends less). Steadier than rates on a shared machine: it does not count time spent
   * waiting for a CPU.
   */
  versusCpu: Partial<Record<'agentlb' | 'agentlb-warn', Partial<Record<HandshakePeer, number>>>>;
  /** What was skipped and why (nats-server not installed). */
  notes: string[];
  /** Bytes the default-level agentlb logged per known-agent handshake (its log file / handshakes). */
  logBytesPerHandshake?: number;
  verdicts: Verdict[];
}

export interface StormRun {
  server: ServerKind;
  client: ClientKind;
  pool: PoolMode;
  agents: number;
  /** Agents welcomed again after the restart. */
  reconnected: number;
  lost: number;
  failures: Record<string, number>;
  /** SIGTERM sent -> process exited. */
  shutdownMs: number;
  /** Process spawned -> listening (healthy). */
  restartMs: number;
  /** Server ready -> the last agent welcomed: the figure the target is about. */
  readyToAllMs: number;
  /** SIGTERM -> the last agent welcomed. */
  killToAllMs: number;
  latencyMs: LatencySummary;
  /** Server event-loop delay p99 during the storm, from /metrics; undefined without metrics. */
  loopDelayP99Ms?: number;
}

export interface StormResult {
  scenario: 'storm';
  agents: number;
  concurrency: number;
  /** The raw server's handshake rate with the native client, measured in this run. */
  rawHandshakeRate: number;
  /** 1.3 × N / rawHandshakeRate, ms. */
  budgetMs: number;
  runs: StormRun[];
  verdicts: Verdict[];
}

export interface PropagateRun {
  client: ClientKind;
  pool: PoolMode;
  agents: number;
  hostsReceived: number;
  acked: number;
  errors: number;
  /** PUT sent -> its response. */
  putMs: number;
  /** PUT sent -> the last agent's ack. */
  allAckedMs: number;
  /** PUT sent -> each agent's `hosts`. */
  latencyMs: LatencySummary;
  loopDelayP99Ms?: number;
}

export interface PropagateResult {
  scenario: 'propagate';
  agents: number;
  runs: PropagateRun[];
  /** The pool's hand-off cost next to planning in place (native-bench/pool-handoff.ts). */
  handoff: PoolHandoff;
  verdicts: Verdict[];
}

export interface IdleRun {
  server: ServerKind;
  client: ClientKind;
  agents: number;
  connected: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerAgentBytes: number;
  /** V8 heap used per agent, from /metrics (agentlb with metrics only). */
  heapPerAgentBytes?: number;
}

export interface IdleResult {
  scenario: 'idle';
  agents: number;
  runs: IdleRun[];
  /** agentlb RSS per agent / raw RSS per agent. */
  ratio: number;
  verdicts: Verdict[];
}

export interface AdminHttpRun {
  path: string;
  connections: number;
  durationS: number;
  requestsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: number;
  non2xx: number;
}

export interface AdminHttpResult {
  scenario: 'admin-http';
  runs: AdminHttpRun[];
}

/** One step of `storm --servers N`: agents (re)connecting to the cluster, and where they land. */
export interface ClusterPhase {
  /** e.g. `first connect`, `restart of all servers`. */
  name: string;
  /** Agents that had to (re)connect in this phase. */
  agents: number;
  back: number;
  lost: number;
  failures: Record<string, number>;
  /** Servers spawned -> all healthy; undefined when no server was started. */
  restartMs?: number;
  /** Start of the phase (servers ready) -> the last agent welcomed. */
  allBackMs: number;
  /** `hosts` frames the agents received in the phase (lists sent, and re-sent until settled). */
  hostsFrames: number;
  /** CPU time the servers used in the phase (all processes, from /proc), ms. */
  serverCpuMs: number;
  /** Connected agents per server afterwards (GET /healthz), in the `host` setting's order. */
  spread: { server: string; agents: number }[];
  /** connect -> welcome (or hosts, for a first connect). */
  latencyMs: LatencySummary;
}

/** `storm --servers N`: a fleet over a cluster of N servers sharing one PostgreSQL. */
export interface ClusterStormResult {
  scenario: 'cluster-storm';
  servers: number;
  agents: number;
  concurrency: number;
  algorithm: string;
  phases: ClusterPhase[];
  /** Why a phase was not run (e.g. the fleet does not fit on the servers left). */
  notes: string[];
}

/** One step of `scale`: what the probe agent and the server saw while it ran. */
export interface ScaleStep {
  name: string;
  /** Longest time the probe (pinging every 20 ms) heard nothing from the server, ms. */
  probeSilenceMs: number;
  /** Drops of the probe's connection (a restart drops it by design). */
  probeDrops: number;
  /** The probe process's own longest event-loop delay: a large one means the machine, not the server. */
  probeLoopMaxMs: number;
  /** The server's longest event-loop delay in the step (nodejs_eventloop_lag_max_seconds). */
  serverLoopMaxMs: number | undefined;
  /** Start of the step -> its action answered or done (e.g. the DELETE's response), ms. */
  actionMs: number;
  /** Start of the step -> the last agent's ack (the fan-out done), ms; undefined: no frame sent. */
  lastAckMs: number | undefined;
  /** `hosts` frames the held agents received in the step. */
  framesToHeld: number;
  detail: string;
}

/** `scale`: one cluster-mode server holding a registry of N hosts (issue 12). */
export interface ScaleResult {
  scenario: 'scale';
  hosts: number;
  /** Agents held connected through the steps (the rest are registered, not connected). */
  connected: number;
  algorithm: string;
  /** Registration of the N hosts (connect, hello, welcome, close at `concurrency`). */
  registration: { ms: number; rate: number; errors: number };
  /** SIGTERM -> the restarted server answers /healthz, ms. */
  restartServesMs: number;
  /** Server RSS with an empty registry, and with N hosts (before the held agents reconnect). */
  rssEmptyBytes: number;
  rssWithHostsBytes: number;
  rssPerHostBytes: number;
  steps: ScaleStep[];
  notes: string[];
  verdicts: Verdict[];
}

/** One phase of `rebalance`: from its start until every server is within 5 % of its plan. */
export interface RebalancePhase {
  name: string;
  withinPlanMs: number;
  /** Agents that moved on a `recheck` during the phase. */
  moves: number;
  /** Most moves completed in any second, as the agents saw them (the swarm's counters, polled every 250 ms). */
  peakMovesPerSecond: number;
  /** Most moves the servers were granted in any sliding second (the shared budget, database clock). */
  peakGrantedPerSecond: number;
  /** Connections the servers closed during the phase: agents without a server (must be 0). */
  withoutServer: number;
  live: number[];
  planned: number[];
}

/** `rebalance` (issue 13): three cluster servers, one killed and restarted. */
export interface RebalanceResult {
  scenario: 'rebalance';
  servers: number;
  agents: number;
  /** The rebalance rate K (moves per second across the fleet). */
  rate: number;
  phases: RebalancePhase[];
  notes: string[];
}

/** One fan-out of `calls`: `agentlb.ping` to every agent, asked of one server. */
export interface CallsFanout {
  name: string;
  /** Servers holding the agents (the fan-out is asked of the first). */
  servers: number;
  agents: number;
  /** The request's `concurrency`; undefined: none named (the server's default). */
  concurrency?: number;
  /** 1-minute load average when the fan-out began. */
  load: number;
  /** Host lines received (the summary line not counted). */
  lines: number;
  byStatus: Record<string, number>;
  /** Host lines by the `server` that held the agent. */
  byServer: Record<string, number>;
  /** Error codes of the lines that were not ok, and the first such line (host, status, code, message). */
  errorCodes: Record<string, number>;
  firstError?: string;
  /** Host ids that came back in more than one line. */
  duplicateLines: number;
  /** Agents of the fleet with no `ok` line. */
  missing: number;
  /** What the agents saw (the hold clients' counters): calls received, agents called once / more, cancels. */
  agentSide: { calls: number; calledOnce: number; calledMore: number; cancels: number };
  /** The summary line's counts agree with the lines counted. */
  summaryMatches: boolean;
  /** POST sent -> first host line, last host line, summary line. */
  firstLineMs: number;
  lastResultMs: number;
  summaryMs: number;
  /** The asked server's event-loop delay during the fan-out (prom-client's histogram since the previous scrape). */
  loopP99Ms?: number;
  loopMaxMs?: number;
  /** The other servers' worst event-loop delay in the same window (cluster only). */
  othersLoopMaxMs?: number;
  /** The asked server's RSS before, and its peak sampled every 20 ms during the fan-out. */
  rssBeforeBytes: number;
  rssPeakBytes: number;
  /**
   * CPU time (user + system, /proc) each server used during the fan-out, asked server first,
   * and all of it per host line (µs): steadier than times on a shared machine, since it does
   * not count the time spent waiting for a CPU.
   */
  serverCpuMs: number[];
  cpuPerCallUs: number;
}

/** Sequential single calls to one idle agent, next to admin GETs of the same server, same run. */
export interface CallsLatency {
  name: string;
  load: number;
  /** POST /api/hosts/ID/call agentlb.ping, one after another on one keep-alive connection. */
  callMs: LatencySummary;
  /** GET /api/settings on the same connection: an admin round trip with no agent in it. */
  baselineMs: LatencySummary;
  /** callMs / baselineMs at p50 and p99. */
  ratioP50: number;
  ratioP99: number;
  errors: number;
}

/** `calls` (issue 14): fan-outs of agentlb.ping and single-call latency. */
export interface CallsResult {
  scenario: 'calls';
  agents: number;
  fanouts: CallsFanout[];
  latency: CallsLatency[];
  notes: string[];
  verdicts: Verdict[];
}

export type ScenarioResult = HandshakeResult | StormResult | PropagateResult | IdleResult | AdminHttpResult | ClusterStormResult | ScaleResult | RebalanceResult | CallsResult;

export interface MachineInfo {
  nproc: number;
  memoryBytes: number;
  node: string;
  cpuModel: string;
  kernel: string;
  date: string;
  /**
   * 1-minute load average when the run began and ended: on a shared 2-core machine, other
   * work running at the same time is the first thing to read next to the figures.
   */
  loadAverage: { atStart: number; atEnd: number };
}

export interface BenchReport {
  command: string;
  machine: MachineInfo;
  durationS: number;
  results: ScenarioResult[];
}
