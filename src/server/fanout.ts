/**
 * Fan-out of a change (settings, or a host set that moved positions) to connected agents:
 * each agent whose list, algorithm or interval no longer matches gets exactly one `hosts`
 * frame; the others get nothing.
 *
 * Deciding (outdatedAgents) is kept apart from sending (fanOut) and works on plain values, so
 * a later change can move the deciding of large bursts into a worker pool unchanged.
 */
import type { HostsCause } from './events';
import type { HostsFrame } from './fleet';

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

export interface FanoutTarget<A> {
  agent: A;
  hosts: readonly string[];
}

export interface FanoutAgent {
  readonly listState: AgentListState | undefined;
  sendHosts(hosts: readonly string[], cause: HostsCause): void;
  /** Sends a frame planned ahead (a burst); ignored once the agent is no longer ready. */
  sendHostsFrame(frame: HostsFrame, cause: HostsCause): void;
}

/** The agents (of `zone`, when given) that must be sent a new list, with that list. */
export function outdatedAgents<A extends { readonly listState: AgentListState | undefined }>(
  agents: Iterable<A>,
  policy: ListPolicy,
  zone?: string,
): FanoutTarget<A>[] {
  const targets: FanoutTarget<A>[] = [];
  for (const agent of agents) {
    const state = agent.listState;
    // No state yet: the agent is mid-handshake and will be compared when it completes.
    if (state === undefined || (zone !== undefined && state.zone !== zone)) continue;
    const hosts = policy.listToSend(state);
    if (hosts !== undefined) targets.push({ agent, hosts });
  }
  return targets;
}

/** Sends one `hosts` frame to every outdated agent; returns how many were sent. */
export function fanOut(agents: Iterable<FanoutAgent>, policy: ListPolicy, cause: HostsCause, zone?: string): number {
  const targets = outdatedAgents(agents, policy, zone);
  for (const { agent, hosts } of targets) agent.sendHosts(hosts, cause);
  return targets.length;
}
