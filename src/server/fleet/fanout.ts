/**
 * The vocabulary of a fan-out (a change sent to the connected agents whose list, algorithm or
 * interval it outdates, one `hosts` frame each): what the server knows an agent holds, the
 * rule that says whether that is outdated (the Fleet), and what an agent offers to be sent a
 * planned frame. The walk over the fleet is fanout-runner.ts.
 */
import type { HostsCause } from '../events';

/** What the server knows an agent holds: from its hello, then from what was sent to it. */
export interface AgentListState {
  readonly hostId: number;
  readonly zone: string;
  readonly algorithm: string;
  readonly hosts: readonly string[];
  /** undefined when the agent never reported one (its hello carried none). */
  readonly checkInterval: number | undefined;
}

export interface ListPolicy {
  /** The list to send to an agent holding `state`, or undefined when it is up to date. */
  listToSend(state: AgentListState): readonly string[] | undefined;
}

export interface FanoutAgent {
  readonly listState: AgentListState | undefined;
  /** Sends a frame planned ahead (a burst); ignored once the agent is no longer ready. */
  sendHostsFrame(frame: HostsFrame, cause: HostsCause): void;
}

/** One encoded `hosts` frame plus the values it carries, so senders can record them. */
export interface HostsFrame {
  readonly frame: Buffer;
  readonly seq: number;
  readonly hosts: readonly string[];
  readonly algorithm: string;
  readonly checkInterval: number;
}
