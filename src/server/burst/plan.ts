/**
 * Planning for a burst of agents, as one pure function of plain data: for each agent, the
 * list it must be sent (or none: up to date), with every distinct list's `hosts` frame
 * encoded. The same function runs in a Piscina worker
 * (worker.ts) for large bursts, and its result crosses back as transferred bytes.
 *
 * Only algorithms that plan from an agent's position alone (dependsOnHostSet false: static,
 * roundrobin, shuffle) can be planned here; the main thread passes each agent's position,
 * computed O(1) from the live zone index.
 */
import { algorithmByName, isUpToDate } from '../../lb/index';
import type { ZoneView } from '../../lb/types';
import { encodeMessage } from '../../protocol/encoder';

export interface BurstAgent {
  /** 0-based position among its zone's hosts ordered by id (the zone's size when absent). */
  position: number;
  /** What the agent holds (from its hello, or from what was last sent to it). */
  algorithm: string;
  hosts: readonly string[];
  checkInterval: number | undefined;
}

export interface BurstTask {
  servers: readonly string[];
  algorithm: string;
  seq: number;
  checkInterval: number;
  agents: readonly BurstAgent[];
}

export interface BurstResult {
  /** Per agent: the index of its list in `lists`, or -1 when it is up to date. */
  choice: Int32Array;
  lists: string[][];
  /** lists[i]'s `hosts` frame is frames[offsets[i] .. offsets[i + 1]). */
  frames: Uint8Array;
  offsets: Int32Array;
}

export class BurstPlanError extends Error {
  readonly code = 'burst_unplannable';
  constructor(message: string) {
    super(message);
    this.name = 'BurstPlanError';
  }
}

/** True when `algorithm` can be planned from positions alone (so in a worker). */
export function plannableInBurst(algorithm: string): boolean {
  return algorithmByName(algorithm)?.dependsOnHostSet === false;
}

/** A zone seen only through the positions the main thread computed: an agent's "id" is its position. */
const POSITIONAL_ZONE: ZoneView = { zone: 'burst', size: 0, positionOf: (id) => id, ids: () => [] };

/** Concatenates `parts` into one buffer of its own (transferable, unlike a pooled Buffer). */
function pack(parts: readonly Uint8Array[]): { bytes: Uint8Array; offsets: Int32Array } {
  const offsets = new Int32Array(parts.length + 1);
  let total = 0;
  parts.forEach((part, i) => {
    offsets[i] = total;
    total += part.length;
  });
  offsets[parts.length] = total;
  const bytes = new Uint8Array(total);
  parts.forEach((part, i) => bytes.set(part, offsets[i]!));
  return { bytes, offsets };
}

export function planBurst(task: BurstTask): BurstResult {
  const algorithm = algorithmByName(task.algorithm);
  if (algorithm === undefined || algorithm.dependsOnHostSet) {
    throw new BurstPlanError(`algorithm ${JSON.stringify(task.algorithm)} cannot be planned from positions`);
  }
  const planner = algorithm.plan(task.servers, POSITIONAL_ZONE);
  const choice = new Int32Array(task.agents.length);
  // Planners hand one array to every agent that shares a list: one frame per distinct list.
  const index = new Map<readonly string[], number>();
  const lists: string[][] = [];
  const frames: Uint8Array[] = [];
  task.agents.forEach((agent, i) => {
    const expected = planner.listFor(agent.position);
    if (isUpToDate(algorithm, agent.algorithm, agent.hosts, expected) && agent.checkInterval === task.checkInterval) {
      choice[i] = -1;
      return;
    }
    let at = index.get(expected);
    if (at === undefined) {
      at = lists.length;
      index.set(expected, at);
      lists.push([...expected]);
      frames.push(encodeMessage({ type: 'hosts', seq: task.seq, hosts: [...expected], algorithm: algorithm.name, checkInterval: task.checkInterval }));
    }
    choice[i] = at;
  });
  const packedFrames = pack(frames);
  return { choice, lists, frames: packedFrames.bytes, offsets: packedFrames.offsets };
}
