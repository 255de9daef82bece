/**
 * The swarm coordinator: forks the worker processes, splits the agents between them, sends
 * each command to all of them and merges what they report (counters summed, histograms added).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { compiled } from '../paths';
import type { AgentSlice, Command, Counters, HandshakeEnd, Target, WorkerEvent, WorkerStats } from './ipc';
import { mergeHistograms, summarize, type LatencySummary } from './latency';
import { emptyCounters } from './tally';

export class SwarmError extends Error {
  constructor(
    readonly code: 'swarm_timeout' | 'worker_failed' | 'worker_exited',
    message: string,
  ) {
    super(message);
    this.name = 'SwarmError';
  }
}

export interface SwarmOptions {
  /** Worker processes; each holds at most ~19 000 sockets (the open-file limit is 20 000). */
  workers: number;
  /** Loopback source addresses the agents bind before connecting. */
  sources: string[];
  zone?: string;
  /** Called with the swarm-wide counters whenever a worker reports progress. */
  onProgress?: (total: Counters) => void;
}

export interface SwarmSnapshot {
  counters: Counters;
  /** connect start -> handshake's last frame. */
  handshake: LatencySummary;
  /** mark -> `hosts` pushed on established connections. */
  hostsSinceMark: LatencySummary;
  lastCompletedNs: bigint;
  lastAckNs: bigint;
}

export interface RunOptions {
  /** Servers to drive; worker i drives targets[i % length]. */
  targets: Target[];
  concurrency: number;
  until: HandshakeEnd;
  timeoutMs: number;
  /** Held agents connect by their own list once they have one (see ipc.ts). */
  follow?: boolean;
}

interface Pending {
  resolve: (stats: WorkerStats) => void;
  reject: (error: Error) => void;
}

/** Adds `b` into `a` (counts summed, last-times maxed). */
export function sumCounters(a: Counters, b: Counters): Counters {
  const failures = { ...a.failures };
  for (const [kind, n] of Object.entries(b.failures)) failures[kind] = (failures[kind] ?? 0) + n;
  const max = (x: string, y: string): string => (BigInt(x) > BigInt(y) ? x : y);
  return {
    attempts: a.attempts + b.attempts,
    completed: a.completed + b.completed,
    welcomed: a.welcomed + b.welcomed,
    hostsReceived: a.hostsReceived + b.hostsReceived,
    acked: a.acked + b.acked,
    connected: a.connected + b.connected,
    dropped: a.dropped + b.dropped,
    switched: a.switched + b.switched,
    failures,
    lost: a.lost + b.lost,
    lastCompletedNs: max(a.lastCompletedNs, b.lastCompletedNs),
    lastAckNs: max(a.lastAckNs, b.lastAckNs),
  };
}

function pick(targets: readonly Target[], workerIndex: number): Target {
  const t = targets[workerIndex % targets.length]!;
  return { host: t.host, port: t.port };
}

/** Splits `total` into `parts` near-equal counts, larger ones first. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

class WorkerHandle {
  latest = emptyCounters();
  readonly pending = new Map<number, Pending>();
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    onEvent: (handle: WorkerHandle, event: WorkerEvent) => void,
  ) {
    child.on('message', (event: WorkerEvent) => onEvent(this, event));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new SwarmError('worker_exited', `swarm worker ${child.pid} exited`));
      this.pending.clear();
    });
  }

  request(cmd: Command): Promise<WorkerStats> {
    return new Promise((resolve, reject) => {
      this.pending.set(cmd.id, { resolve, reject });
      this.child.send(cmd);
    });
  }
}

export class Swarm {
  private nextId = 1;
  private nextAgent = 0;
  private waiters = new Set<() => void>();

  private constructor(
    private readonly handles: WorkerHandle[],
    private readonly opts: SwarmOptions,
  ) {}

  static async start(opts: SwarmOptions): Promise<Swarm> {
    const ready: Promise<void>[] = [];
    let swarm: Swarm | undefined;
    const handles = Array.from({ length: opts.workers }, () => {
      // execArgv []: a test runner's loader flags must not leak into the compiled worker.
      const child = fork(compiled.swarmWorker(), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let markReady: () => void = () => undefined;
      ready.push(new Promise<void>((resolve, reject) => {
        markReady = resolve;
        child.once('exit', (code) => reject(new SwarmError('worker_exited', `swarm worker exited (${code}) before it was ready`)));
      }));
      return new WorkerHandle(child, (handle, event) => {
        if (event.ev === 'ready') markReady();
        else swarm?.onEvent(handle, event);
      });
    });
    swarm = new Swarm(handles, opts);
    await Promise.all(ready);
    return swarm;
  }

  get workerCount(): number {
    return this.handles.length;
  }

  /** Swarm-wide counters from the latest progress of every worker. */
  total(): Counters {
    return this.handles.reduce((acc, h) => sumCounters(acc, h.latest), emptyCounters());
  }

  /**
   * N fresh connections, each closed after its handshake; guids `${guidPrefix}0..N-1`, so the
   * same prefix twice is the same agents reconnecting.
   */
  handshakes(total: number, guidPrefix: string, run: RunOptions): Promise<SwarmSnapshot> {
    const slices = this.slices(total, guidPrefix, 0);
    const { targets, ...rest } = run;
    const concurrency = this.perWorker(run.concurrency);
    return this.all((id, i) => ({ id, cmd: 'handshakes', ...rest, target: pick(targets, i), concurrency, slice: slices[i]! }));
  }

  /** Connects N more held agents (they stay connected and ack every `hosts`). */
  connect(total: number, guidPrefix: string, run: RunOptions): Promise<SwarmSnapshot> {
    const slices = this.slices(total, guidPrefix);
    const { targets, ...rest } = run;
    const concurrency = this.perWorker(run.concurrency);
    return this.all((id, i) => ({ id, cmd: 'connect', ...rest, target: pick(targets, i), concurrency, slice: slices[i]! }));
  }

  /** Reconnects every held agent that is down. */
  reconnect(run: RunOptions): Promise<SwarmSnapshot> {
    const { targets, ...rest } = run;
    const concurrency = this.perWorker(run.concurrency);
    return this.all((id, i) => ({ id, cmd: 'reconnect', ...rest, target: pick(targets, i), concurrency }));
  }

  /** Zeroes every worker's counters; returns the mark (hrtime ns) latencies count from. */
  async mark(): Promise<bigint> {
    const markNs = process.hrtime.bigint();
    await this.all((id) => ({ id, cmd: 'mark', markNs: markNs.toString() }));
    return markNs;
  }

  stats(): Promise<SwarmSnapshot> {
    return this.all((id) => ({ id, cmd: 'stats' }));
  }

  /** Resolves once `predicate` holds for the swarm-wide counters (checked on every progress report). */
  waitUntil(predicate: (total: Counters) => boolean, timeoutMs: number, what: string): Promise<Counters> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const total = this.total();
        if (!predicate(total)) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(total);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new SwarmError('swarm_timeout', `${what}: not reached within ${timeoutMs} ms (${JSON.stringify(this.total())})`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Closes every agent and stops the workers. */
  async close(): Promise<void> {
    await this.all((id) => ({ id, cmd: 'close' })).catch(() => undefined);
    for (const h of this.handles) if (h.child.connected) h.child.disconnect();
    await Promise.all(this.handles.map((h) => h.exited));
  }

  private onEvent(handle: WorkerHandle, event: WorkerEvent): void {
    if (event.ev === 'progress') {
      handle.latest = event.counters;
      this.opts.onProgress?.(this.total());
      for (const check of [...this.waiters]) check();
      return;
    }
    if (event.ev === 'ready') return;
    const pending = handle.pending.get(event.id);
    if (pending === undefined) return;
    handle.pending.delete(event.id);
    if (event.ev === 'reply') {
      handle.latest = event.stats.counters;
      pending.resolve(event.stats);
    } else pending.reject(new SwarmError('worker_failed', event.message));
  }

  private perWorker(concurrency: number): number {
    return Math.max(1, Math.ceil(concurrency / this.handles.length));
  }

  /** Held agents get indexes never used before in this swarm; handshake runs start at 0. */
  private slices(total: number, guidPrefix: string, firstIndex?: number): AgentSlice[] {
    let first = firstIndex ?? this.nextAgent;
    if (firstIndex === undefined) this.nextAgent += total;
    return split(total, this.handles.length).map((count) => {
      const slice = { guidPrefix, firstIndex: first, count, zone: this.opts.zone ?? 'default', sources: this.opts.sources };
      first += count;
      return slice;
    });
  }

  private async all(make: (id: number, workerIndex: number) => Command): Promise<SwarmSnapshot> {
    const stats = await Promise.all(this.handles.map((h, i) => h.request(make(this.nextId++, i))));
    const counters = stats.reduce((acc, s) => sumCounters(acc, s.counters), emptyCounters());
    return {
      counters,
      handshake: summarize(mergeHistograms(stats.map((s) => s.handshake))),
      hostsSinceMark: summarize(mergeHistograms(stats.map((s) => s.hostsSinceMark))),
      lastCompletedNs: BigInt(counters.lastCompletedNs),
      lastAckNs: BigInt(counters.lastAckNs),
    };
  }
}
