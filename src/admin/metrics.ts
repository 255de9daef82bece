/**
 * GET /metrics: the server's Prometheus metrics, on ONE prom-client Registry passed in (no
 * global registry, so two servers in one process — tests — never share a counter).
 *
 * Counters and histograms move on the server's typed events; gauges that describe a state
 * (connected agents, settings version, pool) are read from the server when scraped, so they
 * can never drift from the truth and cost nothing per agent between scrapes.
 *
 * Names follow Prometheus conventions: `agentlb_` prefix, `_total` on counters, base units
 * (seconds, bytes). Event-loop delay and process figures come from prom-client's default
 * metrics (`nodejs_eventloop_lag_*_seconds`, `process_*`), registered on the same registry.
 */
import { readdir } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';
import { EventCounter, EventCounter2 } from './event-counter';
import { EventHistogram } from './event-histogram';
import { registerLimitMetrics } from './limit-metrics';
import type { DisconnectReason, HandshakeResult, HostsCause, ServerEvents } from '../server/events';
import { ERROR_CODES } from '../protocol/messages';
import type { ServerState } from '../store/types';
import type { CallStatus } from '../api/calls';
import { agentlbVersion } from '../util/version';
import type { Route } from './http';
import type { PoolStats } from '../server/burst/pool';

export interface MetricsSources {
  events: ServerEvents;
  /** The `server` label: this server's advertised agent address. */
  server(): string;
  /** Connected agents (handshake done) by zone. */
  connectedByZone(): ReadonlyMap<string, number>;
  settingsVersion(): number;
  registeredHosts(): number;
  /** undefined when the server runs without a worker pool. */
  pool(): PoolStats | undefined;
  /** Log lines dropped because the log output did not keep up (src/log-output.ts). */
  logLinesDropped(): number;
  /** Live and planned agents per server of `host` from the rebalance's last survey; undefined before it. */
  plannedLoads?(): ReadonlyMap<string, { live: number; planned: number }> | undefined;
  /** This server's agents a running rebalance has still to tell or to see settle. */
  rebalancePending?(): number;
  /** Calls this server has in flight (sent to its agents, not answered yet). */
  callsInFlight?(): number;
  /** The zone of agents that name none: exported (at 0) from the start. */
  defaultZone?: string;
  /** Whether this server is draining. */
  selfDraining?(): boolean;
  /** The other servers of the registry by state (cluster mode; undefined on the embedded store). */
  peerStates?(): ReadonlyMap<ServerState, number> | undefined;
}

export interface ServerMetrics {
  /** GET /metrics, to mount on the admin listener. */
  readonly route: Route;
  /** Stops listening to the server's events. */
  close(): void;
}

/**
 * The known values of each counter's label, exported at 0 from the start. Typed against the
 * event types, so a value added there without being added here fails the typecheck.
 */
const DISCONNECT_REASONS = [
  'closed_by_agent', 'socket_error', 'ping_timeout', 'protocol_error', 'replaced', 'removed', 'slow_consumer', 'shutting_down', 'store_error', ...ERROR_CODES,
] as const satisfies readonly DisconnectReason[];
const HANDSHAKE_RESULTS = ['ok', 'closed', ...ERROR_CODES] as const satisfies readonly HandshakeResult[];
const HOSTS_CAUSES = ['handshake', 'settings', 'host-set', 'avoid', 'rebalance'] as const satisfies readonly HostsCause[];
const SERVER_STATES = ['up', 'down', 'stopped'] as const satisfies readonly ServerState[];
const CALL_OUTCOMES = ['ok', 'error', 'timeout', 'not_connected', 'unsupported', 'disconnected', 'server_lost'] as const satisfies readonly CallStatus[];
type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : { missing: Exclude<All, Listed> };
const LABELS_COMPLETE: [
  Exhaustive<DisconnectReason, (typeof DISCONNECT_REASONS)[number]>,
  Exhaustive<HandshakeResult, (typeof HANDSHAKE_RESULTS)[number]>,
  Exhaustive<HostsCause, (typeof HOSTS_CAUSES)[number]>,
  Exhaustive<ServerState, (typeof SERVER_STATES)[number]>,
  Exhaustive<CallStatus, (typeof CALL_OUTCOMES)[number]>,
] = [true, true, true, true, true];
void LABELS_COMPLETE;

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Handshakes last milliseconds when the store is quick, seconds when its disk is not. */
const HANDSHAKE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** An ack is a round trip plus the agent's durable write of agent.properties. */
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A built-in answers in a round trip; a handler may run for its whole timeout. */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/**
 * Distinct `method` labels kept; later ones count as "other". Methods are files an operator
 * put in place, but an admin can ask for any name, and every name would be a series forever.
 */
const MAX_METHOD_LABELS = 100;

/**
 * Three of prom-client's default metrics are O(connections) on the event loop at every scrape:
 * `nodejs_active_handles` wraps every socket in a JS object and reads its class name,
 * `nodejs_active_resources` builds a string per socket, and `process_open_fds` lists
 * /proc/self/fd synchronously. With 15 000 agents connected one scrape held the loop 130-200 ms
 * (scale bench profiles, BENCHMARKS.md). The first two are dropped (agentlb_connected_agents
 * counts the agents); the third is read by an asynchronous readdir, off the loop, same name.
 */
function replaceStallingDefaults(registry: Registry): void {
  registry.removeSingleMetric('nodejs_active_handles');
  registry.removeSingleMetric('nodejs_active_resources');
  registry.removeSingleMetric('process_open_fds');
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      // The directory's own descriptor is open while it is read: not counted.
      const fds = await readdir('/proc/self/fd').catch(() => undefined);
      if (fds !== undefined) this.set(fds.length - 1);
    },
  });
}

export function registerServerMetrics(registry: Registry, sources: MetricsSources): ServerMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these three totals as gauges named `_total`, which Prometheus'
  // linter (promtool check metrics) rejects; nodejs_active_requests stays, by type (the
  // handles and resources by type are dropped below: they walk every socket).
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  replaceStallingDefaults(registry);

  new Gauge({
    name: 'agentlb_build_info',
    help: 'Always 1; the labels say which agentlb and which Node.js this server runs (join on them in queries).',
    labelNames: ['version', 'node'] as const,
    registers,
  }).set({ version: agentlbVersion(), node: process.version }, 1);
  // Every zone seen since start stays exported, at 0 once its agents are gone, and the default
  // zone from the start: an alert on `== 0` needs a series to compare, an absent one never fires.
  const zonesSeen = new Set<string>(sources.defaultZone === undefined ? [] : [sources.defaultZone]);
  new Gauge({
    name: 'agentlb_connected_agents',
    help: 'Agents connected to this server with their handshake done, by zone (0 for every zone seen since start).',
    labelNames: ['zone', 'server'] as const,
    registers,
    collect() {
      this.reset();
      const server = sources.server();
      const connected = sources.connectedByZone();
      for (const zone of connected.keys()) zonesSeen.add(zone);
      for (const zone of zonesSeen) this.set({ zone, server }, connected.get(zone) ?? 0);
    },
  });
  new Gauge({
    name: 'agentlb_drain_active',
    help: 'Whether this server is draining (handing its agents over to the others): 1 yes, 0 no.',
    registers,
    collect() {
      this.set(sources.selfDraining?.() === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'agentlb_peer_servers',
    help: 'Other management servers in the server registry, by state (up, down: 3 heartbeats missed, stopped: a clean stop), as this server last read it. 0 on the embedded store.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const peers = sources.peerStates?.();
      for (const state of SERVER_STATES) this.set({ state }, peers?.get(state) ?? 0);
    },
  });
  new Gauge({
    name: 'agentlb_registered_hosts',
    help: 'Hosts in the registry (connected or not).',
    registers,
    collect() {
      this.set(sources.registeredHosts());
    },
  });
  new Gauge({
    name: 'agentlb_settings_version',
    help: 'Version of the settings this server serves (the seq of the hosts frames it sends).',
    registers,
    collect() {
      this.set(sources.settingsVersion());
    },
  });
  /** A counter by one label, every known value of it exported from the start at 0. */
  const counter = (name: string, help: string, label: string, known: readonly string[] = []): EventCounter => new EventCounter(registry, name, help, label, known);
  const histogram = (name: string, help: string, buckets: number[]): EventHistogram => new EventHistogram(registry, name, help, buckets);
  const handshakes = counter('agentlb_handshakes_total', 'Finished handshakes by result: ok, or the error code the agent was sent.', 'result', HANDSHAKE_RESULTS);
  const handshakeDuration = histogram(
    'agentlb_handshake_duration_seconds',
    'Accept to welcome, for handshakes that succeeded (includes the durable registration).',
    HANDSHAKE_BUCKETS,
  );
  const hostsSent = counter('agentlb_hosts_frames_sent_total', 'hosts frames sent to agents, by cause (handshake, settings, host-set, avoid, rebalance).', 'cause', HOSTS_CAUSES);
  const hostsAcked = counter('agentlb_hosts_frames_acked_total', 'Acks received for hosts frames, by result (ok: the agent persisted the list).', 'result', ['ok', 'error']);
  const ackLatency = histogram('agentlb_ack_latency_seconds', 'hosts frame sent to its ack received.', ACK_BUCKETS);
  const protocolErrors = counter('agentlb_protocol_errors_total', 'Frames or messages from agents that broke the protocol, by error code.', 'code', ERROR_CODES);
  const disconnects = counter('agentlb_disconnects_total', 'Closed agent connections, by reason.', 'reason', DISCONNECT_REASONS);
  const poolGauge = (name: string, help: string, read: (stats: PoolStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const stats = sources.pool();
        this.set(stats === undefined ? 0 : read(stats));
      },
    });
  };
  poolGauge('agentlb_pool_threads', 'Worker threads in the burst pool (0: no pool).', (s) => s.threads);
  poolGauge('agentlb_pool_utilization_ratio', 'Share of the burst pool capacity used since start (0..1).', (s) => s.utilization);
  poolGauge('agentlb_pool_queue_size', 'Batches waiting for a pool thread.', (s) => s.queueSize);
  new Counter({
    name: 'agentlb_pool_tasks_completed_total',
    help: 'Batches the burst pool has completed since start.',
    registers,
    collect() {
      // Piscina counts; mirror its count rather than keep a second one.
      this.reset();
      this.inc(sources.pool()?.completed ?? 0);
    },
  });

  new Counter({
    name: 'agentlb_log_lines_dropped_total',
    help: 'Log lines dropped because stdout was not read fast enough (the log buffer was full).',
    registers,
    collect() {
      // The log output counts (it knows nothing of metrics); mirror its count.
      this.reset();
      this.inc(sources.logLinesDropped());
    },
  });
  // Exported from the start (issue 15): every outcome at 0 under the catch-all method label,
  // so a rate of failed calls exists before the first call.
  const callsTotal = new EventCounter2(
    registry,
    'agentlb_calls_total',
    'Calls to agents by method and outcome (ok, error, timeout, not_connected, unsupported, disconnected, server_lost).',
    ['method', 'outcome'],
    CALL_OUTCOMES.map((outcome) => ['other', outcome] as const),
  );
  const callDuration = histogram('agentlb_call_duration_seconds', 'Call asked of this server to its line (result, timeout or refusal).', CALL_BUCKETS);
  new Gauge({
    name: 'agentlb_calls_in_flight',
    help: 'Calls sent to this server\'s agents and not answered yet.',
    registers,
    collect() {
      this.set(sources.callsInFlight?.() ?? 0);
    },
  });
  const methodLabels = new Set<string>();
  const methodLabel = (method: string): string => {
    if (methodLabels.has(method)) return method;
    if (methodLabels.size >= MAX_METHOD_LABELS) return 'other';
    methodLabels.add(method);
    return method;
  };

  new Gauge({
    name: 'agentlb_planned_agents',
    help: 'Connected agents (fleet-wide) whose first usable entry is this server, by server: the plan the rebalance moves agents back to (compare agentlb_connected_agents).',
    labelNames: ['server'] as const,
    registers,
    collect() {
      this.reset();
      for (const [server, load] of sources.plannedLoads?.() ?? []) this.set({ server }, load.planned);
    },
  });
  new Gauge({
    name: 'agentlb_rebalance_pending',
    help: 'Agents of this server a running rebalance has still to tell to move, or told and not settled yet.',
    registers,
    collect() {
      this.set(sources.rebalancePending?.() ?? 0);
    },
  });
  const rebalanceMoves = counter('agentlb_rebalance_moves_total', 'Agents told to move by a rebalance, by outcome (moved, not_moved).', 'outcome', ['moved', 'not_moved']);

  const { events } = sources;
  const unsubscribe = [
    events.on('rebalanceMove', (e) => rebalanceMoves.inc(e.outcome)),
    events.on('call', (e) => {
      callsTotal.inc(methodLabel(e.method), e.status);
      callDuration.record(e.ms / 1000);
    }),
    events.on('handshake', (e) => {
      handshakes.inc(e.result);
      if (e.result === 'ok') handshakeDuration.record(e.durationMs / 1000);
    }),
    events.on('hostsSent', (e) => hostsSent.inc(e.cause)),
    events.on('acked', (e) => {
      hostsAcked.inc(e.ok ? 'ok' : 'error');
      if (e.latencyMs !== undefined) ackLatency.record(e.latencyMs / 1000);
    }),
    events.on('protocolError', (e) => protocolErrors.inc(e.code)),
    events.on('disconnected', (e) => disconnects.inc(e.reason)),
    registerLimitMetrics(registry, events),
  ];

  return {
    route: {
      method: 'GET',
      path: '/metrics',
      handle: async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType }),
    },
    close: () => {
      for (const off of unsubscribe) off();
    },
  };
}
