/**
 * `npm run bench -- [SCENARIO] [flags]`: parsing and checking. Every bad flag or value is a
 * BenchUsageError that names it.
 */
import { parseArgs } from 'node:util';
import { ALGORITHM_NAMES, type AlgorithmName } from '../src/protocol/algorithms';
import type { AdminTarget } from './admin-client';
import { NAMED_ONLY_SCENARIOS, SCENARIOS, type ClientKind, type PoolMode, type ScenarioName } from './results';
import type { Target } from './swarm/ipc';

export class BenchUsageError extends Error {
  readonly code = 'bad_usage';
  constructor(message: string) {
    super(message);
    this.name = 'BenchUsageError';
  }
}

/** The sizes of issue 5's targets: what a bare `npm run bench` runs. */
/** The scenarios sized by a number of agents. */
export type AgentScenario = Exclude<ScenarioName, 'admin-http' | 'scale'>;

export const ISSUE_SIZES: Readonly<Record<AgentScenario, number>> = { handshake: 20_000, storm: 15_000, propagate: 15_000, idle: 15_000, rebalance: 15_000, calls: 15_000 };
/** `rebalance`: moves per second across the fleet (the servers' --drain-rate, the default K). */
export const REBALANCE_RATE = 50;

export interface BenchOptions {
  scenarios: ScenarioName[];
  /** True for a bare `npm run bench`: every scenario, then BENCHMARKS.md is rewritten. */
  all: boolean;
  /** Agents per scenario; --agents overrides every scenario's issue size. */
  agents: Record<AgentScenario, number>;
  concurrency: number;
  /** Existing agentlb servers to drive instead of starting one. */
  servers?: Target[];
  /** `--servers N` (a count): storm starts a cluster of N servers sharing one PostgreSQL. */
  cluster?: number;
  /** The cluster's (or scale's) `indirect.agent.lb.algorithm` (default roundrobin). */
  algorithm?: AlgorithmName;
  /** `scale`: hosts registered, and agents of them held connected through the steps. */
  scale: { hosts: number; connected: number; cpuProfDir?: string };
  /** `rebalance`: K, the fleet's moves per second. */
  rebalanceRate: number;
  admin?: AdminTarget;
  /** The handshake client; undefined: native (the target's client), then node for reference. */
  client?: ClientKind;
  /** --pool value passed to `agentlb server`; several: each is measured. */
  pools: PoolMode[];
  json?: string;
  markdown?: string;
  workers?: number;
  sources: number;
  rounds: number;
  timeoutMs: number;
  /** Seconds of each autocannon run on the admin API. */
  httpDurationS: number;
  progress: boolean;
  /** handshake: write a CPU profile of each agentlb server it starts into this directory (node --cpu-prof). */
  cpuProfDir?: string;
}

export const USAGE = `usage: npm run bench -- [SCENARIO] [flags]

Scenarios (all of them, at issue 5's sizes, when none is given; that run rewrites BENCHMARKS.md):
  handshake   N fresh connections at concurrency C: connect, hello, welcome (+hosts), close
  storm       N agents connected; the server restarts; time until all N are welcomed again
  propagate   N agents connected; one PUT /api/settings; time until all N have acked
  idle        N agents connected; server RSS per agent next to a bare Node net server
  admin-http  autocannon on the admin API: GET /api/settings and GET /metrics
  scale       (only when named) one cluster-mode server, PostgreSQL, N registered hosts: the
              longest silence a probe agent pinging every 20 ms sees during a restart, a
              settings change, a PostgreSQL kill -9, a removal, 1 000 registrations, a drain
              start and GET /api/hosts; RSS per host. Updates the scale section of BENCHMARKS.md
  rebalance   (only when named) three cluster servers on PostgreSQL, N agents (balanced): first
              placement by the automatic rebalance, then kill -9 and restart of M3; time until
              every server is within 5 % of plan, peak moves/s, agents without a server.
              Updates the rebalance section of BENCHMARKS.md
  calls       (only when named) agentlb.ping fanned out to N agents (native hold client,
              protocol 2) on one server, then over three cluster servers on PostgreSQL asked
              of one; time to the last result, event-loop p99/max, RSS, lines by status
              (each agent answered exactly once); single-call latency next to an admin GET.
              Updates the calls section of BENCHMARKS.md

Flags:
  --agents N          agents (default: 20000 handshake, 15000 otherwise)
  --concurrency C     connections in flight (default 200)
  --servers LIST      drive these agentlb servers (host:port,...) instead of starting one
  --servers N         storm only: start PostgreSQL and a cluster of N servers sharing it
                      (default 40000 agents, the node swarm following its lists); the
                      run updates the cluster section of BENCHMARKS.md (or --markdown FILE)
  --algorithm NAME    with --servers N or scale: the algorithm (default roundrobin)
  --rate K            rebalance: moves per second across the fleet (default 50)
  --hosts N           scale: hosts registered (default 100000)
  --connected K       scale: agents of them held connected (default 15000, at most 18000)
  --cpu-prof DIR      calls: every agentlb server under node --cpu-prof, profiles into DIR;
                      scale: run the server under node --cpu-prof, profiles into DIR (one per
                      server process: the first covers registration, the second every step);
                      handshake: profile both agentlb servers (info to a file, then warn)
  --admin HOST:PORT   their admin API (propagate); --token T its bearer token
  --client KIND       handshake client: native (epoll, C) or node (the swarm)
  --pool MODE         agentlb server --pool: on, off or auto (comma list: measure each)
  --json FILE         write the results as JSON
  --markdown FILE     write the BENCHMARKS.md tables there (default for a full run: ./BENCHMARKS.md)
  --workers W         swarm worker processes (default: 2, more above 15000 agents each)
  --sources S         loopback source addresses 127.0.0.1..S (default 8)
  --rounds R          handshake rounds per server, alternating (default 3)
  --timeout-ms T      per-attempt handshake timeout (default 10000)
  --duration S        seconds of each autocannon run on the admin API (default 5)
  --no-progress       no progress bar
  --help`;

/** Issue 12: the registry size of the scale scenario, and the agents of it held connected. */
export const SCALE_HOSTS = 100_000;
export const SCALE_CONNECTED = 15_000;

/** Issue 6: a fleet above one process's 20 000 open files, spread over the cluster. */
export const CLUSTER_STORM_AGENTS = 40_000;

/** `--servers N`: a count of cluster servers (storm only), or undefined for a host list. */
function clusterSize(text: string | undefined, scenarios: ScenarioName[], client: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (n < 2 || n > 9) throw new BenchUsageError(`--servers N needs a count from 2 to 9, got "${text}"`);
  if (scenarios.length !== 1 || scenarios[0] !== 'storm') throw new BenchUsageError('--servers N (a cluster) applies to storm only');
  if (client === 'native') throw new BenchUsageError('storm --servers N needs the node client: its agents follow their lists across servers');
  return n;
}

function clusterAlgorithm(name: string | undefined): AlgorithmName {
  if (name === undefined) return 'roundrobin';
  if (!(ALGORITHM_NAMES as readonly string[]).includes(name)) throw new BenchUsageError(`--algorithm must be one of ${ALGORITHM_NAMES.join(', ')}, got "${name}"`);
  return name as AlgorithmName;
}

function positiveInt(flag: string, text: string | undefined, min = 1): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    throw new BenchUsageError(`${flag} needs an integer >= ${min}, got "${text}"`);
  }
  return n;
}

function nonEmptyPath(flag: string, text: string): string {
  if (text.trim() === '') throw new BenchUsageError(`${flag} needs a directory, got ""`);
  return text;
}

function hostPort(flag: string, text: string): Target {
  const match = /^([^:\s]+):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : 0;
  if (match === null || port < 1 || port > 65_535) throw new BenchUsageError(`${flag} needs HOST:PORT entries, got "${text}"`);
  return { host: match[1]!, port };
}

export function parseBenchArgs(argv: string[], isTty = false): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        agents: { type: 'string' },
        concurrency: { type: 'string' },
        servers: { type: 'string' },
        algorithm: { type: 'string' },
        hosts: { type: 'string' },
        connected: { type: 'string' },
        rate: { type: 'string' },
        'cpu-prof': { type: 'string' },
        admin: { type: 'string' },
        token: { type: 'string' },
        client: { type: 'string' },
        pool: { type: 'string' },
        json: { type: 'string' },
        markdown: { type: 'string' },
        workers: { type: 'string' },
        sources: { type: 'string' },
        rounds: { type: 'string' },
        'timeout-ms': { type: 'string' },
        duration: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'([^']+)'/.exec(e.message)?.[1];
    throw new BenchUsageError(e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag ? `unknown flag ${flag}` : e.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 1) throw new BenchUsageError(`one scenario at most, got "${positionals.join(' ')}"`);
  const scenario = positionals[0];
  const known = [...SCENARIOS, ...NAMED_ONLY_SCENARIOS];
  if (scenario !== undefined && !(known as readonly string[]).includes(scenario)) {
    throw new BenchUsageError(`unknown scenario "${scenario}" (expected ${known.join(', ')})`);
  }
  const scenarios = scenario === undefined ? [...SCENARIOS] : [scenario as ScenarioName];
  const agents = positiveInt('--agents', values.agents);
  const client = values.client;
  if (client !== undefined && client !== 'native' && client !== 'node') {
    throw new BenchUsageError(`--client must be native or node, got "${client}"`);
  }
  // A full run measures the pool both ways (issue 5); one scenario runs the server's default.
  const pools = (values.pool ?? (scenario === undefined ? 'off,on' : 'default')).split(',').map((p) => p.trim());
  for (const p of pools) {
    if (!['on', 'off', 'auto', 'default'].includes(p)) throw new BenchUsageError(`--pool must be on, off or auto, got "${p}"`);
  }
  const cluster = clusterSize(values.servers, scenarios, client);
  const isScale = scenario === 'scale';
  if (values.algorithm !== undefined && cluster === undefined && !isScale) throw new BenchUsageError('--algorithm applies to storm --servers N and scale only');
  if ((values.hosts !== undefined || values.connected !== undefined) && !isScale) {
    throw new BenchUsageError('--hosts and --connected apply to scale only');
  }
  if (values['cpu-prof'] !== undefined && !isScale && scenario !== 'handshake' && scenario !== 'calls') throw new BenchUsageError('--cpu-prof applies to scale, handshake and calls only');
  if (values.rate !== undefined && scenario !== 'rebalance') throw new BenchUsageError('--rate applies to rebalance only');
  const rebalanceRate = positiveInt('--rate', values.rate) ?? REBALANCE_RATE;
  const scaleHosts = positiveInt('--hosts', values.hosts) ?? SCALE_HOSTS;
  const connected = positiveInt('--connected', values.connected) ?? Math.min(SCALE_CONNECTED, scaleHosts);
  if (connected > scaleHosts) throw new BenchUsageError(`--connected (${connected}) cannot exceed --hosts (${scaleHosts})`);
  // One server process holds ~19 000 sockets (20 000 open files), the probe and admin calls included.
  if (connected > 18_000) throw new BenchUsageError(`--connected must be at most 18000 (one process's open files), got ${connected}`);
  const servers = cluster !== undefined ? undefined : values.servers?.split(',').map((s) => hostPort('--servers', s));
  if (servers !== undefined && scenarios.includes('storm')) {
    throw new BenchUsageError('storm restarts the server it measures: it cannot run against --servers');
  }
  if (servers !== undefined && scenarios.includes('idle')) {
    throw new BenchUsageError("idle reads the server's memory through /proc: it cannot run against --servers");
  }
  if (servers !== undefined && scenarios.includes('propagate') && values.admin === undefined) {
    throw new BenchUsageError('propagate against --servers needs --admin HOST:PORT (and --token)');
  }
  const admin = values.admin === undefined ? undefined : { ...hostPort('--admin', values.admin), token: values.token ?? process.env.AGENTLB_ADMIN_TOKEN ?? '' };
  const sources = positiveInt('--sources', values.sources) ?? 8;
  if (sources > 254) throw new BenchUsageError(`--sources must be at most 254, got "${values.sources}"`);
  return {
    scenarios,
    all: scenario === undefined,
    agents: {
      handshake: agents ?? ISSUE_SIZES.handshake,
      storm: agents ?? (cluster === undefined ? ISSUE_SIZES.storm : CLUSTER_STORM_AGENTS),
      propagate: agents ?? ISSUE_SIZES.propagate,
      idle: agents ?? ISSUE_SIZES.idle,
      rebalance: agents ?? ISSUE_SIZES.rebalance,
      calls: agents ?? ISSUE_SIZES.calls,
    },
    rebalanceRate,
    concurrency: positiveInt('--concurrency', values.concurrency) ?? 200,
    servers,
    ...(cluster === undefined ? {} : { cluster, algorithm: clusterAlgorithm(values.algorithm) }),
    ...(isScale ? { algorithm: clusterAlgorithm(values.algorithm) } : {}),
    scale: { hosts: scaleHosts, connected, ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }) },
    admin,
    client: client as ClientKind | undefined,
    pools: pools as PoolMode[],
    json: values.json,
    markdown: values.markdown,
    workers: positiveInt('--workers', values.workers),
    sources,
    rounds: positiveInt('--rounds', values.rounds) ?? 3,
    timeoutMs: positiveInt('--timeout-ms', values['timeout-ms']) ?? 10_000,
    httpDurationS: positiveInt('--duration', values.duration) ?? 5,
    progress: isTty && !values['no-progress'],
    ...(values['cpu-prof'] === undefined || isScale ? {} : { cpuProfDir: nonEmptyPath('--cpu-prof', values['cpu-prof']) }),
  };
}
