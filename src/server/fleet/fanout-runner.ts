/**
 * Runs a fan-out over the whole fleet without stalling the event loop: agents are taken in
 * slices, and the loop is given back between slices so acks, pings and handshakes keep being
 * served while 15 000 agents are updated. A fleet of one slice or less is updated at once,
 * synchronously, before run() returns.
 *
 * Each slice is planned either here (the Fleet's O(1) lookups and cached frames) or, for a
 * large burst with a pool, on a worker thread (burst/plan.ts); the frames are then written
 * here, the only thread that owns the sockets. A slice planned for an older settings version,
 * or for an agent whose state changed meanwhile, is dropped: the newer fan-out covers it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SETTING_CHECK_INTERVAL } from '../../settings/types';
import { plannableInBurst, type BurstAgent, type BurstResult } from '../burst/plan';
import type { BurstPool } from '../burst/pool';
import type { HostsCause } from '../events';
import type { AgentListState, FanoutAgent } from './fanout';
import type { Fleet } from './fleet';
import type { HostsFrame } from './fanout';

export interface FanoutRunnerOptions {
  /** Agents per slice between two turns of the event loop. */
  sliceSize: number;
  pool: BurstPool | undefined;
}

export const DEFAULT_SLICE_SIZE = 512;
/** Agents planned and written between two looks at the clock. */
const CHUNK = 64;
/** Wall time a slice (but the first) may take before it gives the loop back. */
export const SLICE_BUDGET_MS = 8;

interface Decision {
  agent: FanoutAgent;
  frame: HostsFrame;
}

/** The agents of a slice with the state each held when the slice was planned. */
interface Slice {
  agents: FanoutAgent[];
  states: AgentListState[];
}

export class FanoutRunner {
  constructor(
    private readonly fleet: Fleet,
    private readonly options: FanoutRunnerOptions,
  ) {}

  /** Sends each outdated agent (of `zone`, when given) one `hosts` frame; resolves with how many. */
  async run(agents: Iterable<FanoutAgent>, cause: HostsCause, zone?: string): Promise<number> {
    const all = [...agents];
    const { sliceSize, pool } = this.options;
    // The pool plans from positions alone: while servers are avoided (a drain), plan here.
    const usePool = pool !== undefined && pool.engages(all.length) && plannableInBurst(this.fleet.algorithm.name) && this.fleet.avoided.size === 0;
    const version = this.fleet.settingsVersion;
    const slices = this.slices(all, usePool ? pool.batchSize : sliceSize, zone);
    // With a pool every slice is submitted at once (the threads work ahead of the writes); a
    // failed batch comes back as undefined and is planned here instead.
    const planned = usePool ? slices.map((slice) => this.planOnPool(pool, slice).catch(() => undefined)) : undefined;
    let sent = 0;
    for (let i = 0; i < slices.length; i++) {
      // Give the loop back between slices (an already-settled pool result would not). The
      // first slice goes at once: a fleet of one slice is updated before run() returns.
      if (i > 0) await nextTurn();
      const slice = slices[i]!;
      const result = planned === undefined ? undefined : await planned[i]!;
      if (result !== undefined) {
        const decisions = this.decisionsFrom(slice, result);
        // A newer settings version started its own fan-out over every agent: this one is moot.
        if (this.fleet.settingsVersion !== version) break;
        for (const { agent, frame } of decisions) agent.sendHostsFrame(frame, cause);
        sent += decisions.length;
        continue;
      }
      const done = await this.sendHere(slice, cause, version, i > 0);
      sent += done.sent;
      if (!done.current) break;
    }
    return sent;
  }

  /**
   * Plans and writes a slice here, a chunk at a time. After the first slice, a slice that has
   * used its time budget gives the loop back before the next chunk: a socket write costs a
   * syscall, and on a busy machine 512 of them took 40-70 ms of wall time (scale bench).
   * `current` is false once a newer settings version made this fan-out moot.
   */
  private async sendHere(slice: Slice, cause: HostsCause, version: number, mayYield: boolean): Promise<{ sent: number; current: boolean }> {
    let sent = 0;
    let turnStart = performance.now();
    for (let from = 0; from < slice.agents.length; from += CHUNK) {
      if (mayYield && from > 0 && performance.now() - turnStart > SLICE_BUDGET_MS) {
        await nextTurn();
        turnStart = performance.now();
      }
      const decisions = this.planHere(slice.agents.slice(from, from + CHUNK));
      if (this.fleet.settingsVersion !== version) return { sent, current: false };
      for (const { agent, frame } of decisions) agent.sendHostsFrame(frame, cause);
      sent += decisions.length;
    }
    return { sent, current: true };
  }

  private slices(all: readonly FanoutAgent[], size: number, zone: string | undefined): Slice[] {
    const slices: Slice[] = [];
    let current: Slice = { agents: [], states: [] };
    for (const agent of all) {
      const state = agent.listState;
      // No state yet: mid-handshake, compared when its handshake completes.
      if (state === undefined || (zone !== undefined && state.zone !== zone)) continue;
      current.agents.push(agent);
      current.states.push(state);
      if (current.agents.length === size) {
        slices.push(current);
        current = { agents: [], states: [] };
      }
    }
    if (current.agents.length > 0) slices.push(current);
    return slices;
  }

  /** Plans a slice now, on this thread (states are re-read: the loop turned since slicing). */
  private planHere(agents: readonly FanoutAgent[]): Decision[] {
    const decisions: Decision[] = [];
    for (const agent of agents) {
      const state = agent.listState;
      const hosts = state === undefined ? undefined : this.fleet.listToSend(state);
      if (hosts !== undefined) decisions.push({ agent, frame: this.fleet.hostsFrame(hosts) });
    }
    return decisions;
  }

  private planOnPool(pool: BurstPool, slice: Slice): Promise<BurstResult> {
    const { fleet } = this;
    const agents: BurstAgent[] = slice.states.map((state) => ({
      position: fleet.positionOf(state.hostId, state.zone),
      algorithm: state.algorithm,
      hosts: state.hosts,
      checkInterval: state.checkInterval,
    }));
    return pool.run({
      servers: fleet.servers,
      algorithm: fleet.algorithm.name,
      seq: fleet.settingsVersion,
      checkInterval: fleet.settings[SETTING_CHECK_INTERVAL],
      agents,
    });
  }

  /** The pool's answer for a slice, keeping only agents whose state is still what was planned. */
  private decisionsFrom(slice: Slice, result: BurstResult): Decision[] {
    const seq = this.fleet.settingsVersion;
    const algorithm = this.fleet.algorithm.name;
    const checkInterval = this.fleet.settings[SETTING_CHECK_INTERVAL];
    const frames = result.lists.map(
      (hosts, i): HostsFrame => ({
        frame: Buffer.from(result.frames.buffer, result.frames.byteOffset + result.offsets[i]!, result.offsets[i + 1]! - result.offsets[i]!),
        seq,
        hosts,
        algorithm,
        checkInterval,
      }),
    );
    const decisions: Decision[] = [];
    slice.agents.forEach((agent, i) => {
      const choice = result.choice[i]!;
      if (choice >= 0 && agent.listState === slice.states[i]) decisions.push({ agent, frame: frames[choice]! });
    });
    return decisions;
  }
}
