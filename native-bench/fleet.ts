/**
 * A held fleet: N agents that connect, stay connected, ack every `hosts`, and reconnect on
 * command. Two implementations behind one interface, so storm, propagate and idle run with
 * either client: the Node swarm (real src/protocol clients in worker processes) or the native
 * hold client (client.c, far less CPU).
 */
import { loopbackSources } from './loopback';
import { NativeHold, type HeldList, type HoldStats } from './native-hold';
import type { BenchOptions } from './options';
import type { ProgressFactory } from './report/progress';
import type { ClientKind } from './results';
import type { Counters, HandshakeEnd, Target } from './swarm/ipc';
import type { LatencySummary } from './swarm/latency';
import { Swarm, type SwarmSnapshot } from './swarm/swarm';

export interface FleetSnapshot {
  completed: number;
  lost: number;
  failures: Record<string, number>;
  hostsReceived: number;
  acked: number;
  dropped: number;
  /** Moves on a rebalance's `recheck` (swarm agents only; 0 for the native client). */
  switched: number;
  lastCompletedNs: bigint;
  lastAckNs: bigint;
  /** connect start -> the handshake's last frame. */
  handshake: LatencySummary;
  /** mark -> each `hosts` pushed to an established agent. */
  hostsSinceMark: LatencySummary;
}

export interface HeldFleet {
  readonly client: ClientKind;
  /** Connects every agent that is down, ending each handshake at `until`. */
  up(until: HandshakeEnd, label: string): Promise<FleetSnapshot>;
  /** Zeroes the counters; returns the mark (hrtime ns) latencies count from. */
  mark(): Promise<bigint>;
  waitDropped(count: number, label: string): Promise<void>;
  waitAcked(count: number, label: string): Promise<FleetSnapshot>;
  stats(): Promise<FleetSnapshot>;
  close(): Promise<void>;
}

export interface FleetOptions {
  client: ClientKind;
  targets: Target[];
  agents: number;
  guidPrefix: string;
  /** The list the server hands out, so a native agent's reconnect hello is up to date. */
  list: HeldList;
  opts: BenchOptions;
  progress: ProgressFactory;
  /** Node swarm only: agents connect by their own list once they have one (cluster storm). */
  follow?: boolean;
}

/** How long a wait on the fleet may take before the scenario fails. */
const WAIT_MS = 120_000;

const nonZero = (kinds: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(kinds).filter(([, n]) => n > 0));

function fromSwarm(s: SwarmSnapshot): FleetSnapshot {
  const c = s.counters;
  return {
    completed: c.completed,
    lost: c.lost,
    failures: c.failures,
    hostsReceived: c.hostsReceived,
    acked: c.acked,
    dropped: c.dropped,
    switched: c.switched,
    lastCompletedNs: s.lastCompletedNs,
    lastAckNs: s.lastAckNs,
    handshake: s.handshake,
    hostsSinceMark: s.hostsSinceMark,
  };
}

function fromNative(s: HoldStats): FleetSnapshot {
  return {
    completed: s.completed,
    lost: s.lost,
    failures: nonZero(s.errorKinds),
    hostsReceived: s.hostsReceived,
    acked: s.acked,
    dropped: s.dropped,
    switched: 0,
    lastCompletedNs: BigInt(s.lastCompletedNs),
    lastAckNs: BigInt(s.lastAckNs),
    handshake: s.handshakeMs,
    hostsSinceMark: s.hostsSinceMarkMs,
  };
}

class SwarmFleet implements HeldFleet {
  readonly client = 'node' as const;
  private connected = false;
  private onProgress: ((c: Counters) => void) | undefined;
  private swarm!: Swarm;

  constructor(private readonly f: FleetOptions) {}

  async start(): Promise<this> {
    this.swarm = await Swarm.start({
      workers: this.f.opts.workers ?? Math.max(2, Math.ceil(this.f.agents / 15_000)),
      sources: loopbackSources(this.f.opts.sources),
      onProgress: (c) => this.onProgress?.(c),
    });
    return this;
  }

  async up(until: HandshakeEnd, label: string): Promise<FleetSnapshot> {
    const run = { targets: this.f.targets, concurrency: this.f.opts.concurrency, until, timeoutMs: this.f.opts.timeoutMs, follow: this.f.follow === true };
    return this.follow(label, (c) => c.completed, async () => {
      const snap = this.connected ? await this.swarm.reconnect(run) : await this.swarm.connect(this.f.agents, this.f.guidPrefix, run);
      this.connected = true;
      return fromSwarm(snap);
    });
  }

  mark(): Promise<bigint> {
    return this.swarm.mark();
  }

  async waitDropped(count: number, label: string): Promise<void> {
    await this.swarm.waitUntil((c) => c.dropped >= count, WAIT_MS, label);
  }

  waitAcked(count: number, label: string): Promise<FleetSnapshot> {
    return this.follow(label, (c) => c.acked, async () => {
      await this.swarm.waitUntil((c) => c.acked >= count, WAIT_MS, label);
      return this.stats();
    });
  }

  async stats(): Promise<FleetSnapshot> {
    return fromSwarm(await this.swarm.stats());
  }

  close(): Promise<void> {
    return this.swarm.close();
  }

  private async follow<T>(label: string, count: (c: Counters) => number, body: () => Promise<T>): Promise<T> {
    const bar = this.f.progress(label, this.f.agents);
    this.onProgress = (c) => bar.update(count(c));
    try {
      return await body();
    } finally {
      this.onProgress = undefined;
      bar.done();
    }
  }
}

class NativeFleet implements HeldFleet {
  readonly client = 'native' as const;

  constructor(private readonly hold: NativeHold) {}

  static async start(f: FleetOptions): Promise<NativeFleet> {
    return new NativeFleet(
      await NativeHold.start({
        // The hold client drives one server; several: run one bench per server.
        target: f.targets[0]!,
        count: f.agents,
        concurrency: f.opts.concurrency,
        sources: loopbackSources(f.opts.sources),
        guidPrefix: f.guidPrefix,
        timeoutMs: f.opts.timeoutMs,
        list: f.list,
      }),
    );
  }

  async up(until: HandshakeEnd): Promise<FleetSnapshot> {
    return fromNative(await this.hold.up(until));
  }

  async mark(): Promise<bigint> {
    const markNs = process.hrtime.bigint();
    await this.hold.mark(markNs);
    return markNs;
  }

  async waitDropped(count: number): Promise<void> {
    await this.hold.waitDropped(count);
  }

  async waitAcked(count: number): Promise<FleetSnapshot> {
    return fromNative(await this.hold.waitAcked(count));
  }

  async stats(): Promise<FleetSnapshot> {
    return fromNative(await this.hold.stats());
  }

  close(): Promise<void> {
    return this.hold.close();
  }
}

export async function startFleet(f: FleetOptions): Promise<HeldFleet> {
  return f.client === 'node' ? new SwarmFleet(f).start() : NativeFleet.start(f);
}

/** Starts a fleet, runs `body`, and always closes the fleet. */
export async function withFleet<T>(f: FleetOptions, body: (fleet: HeldFleet) => Promise<T>): Promise<T> {
  const fleet = await startFleet(f);
  try {
    return await body(fleet);
  } finally {
    await fleet.close();
  }
}
