/**
 * What a draining server tells an agent just before handing it over: the list it should hold,
 * with the avoided servers and this one last, so the agent's next server is another one.
 * Memoised per (avoid list, self): one array, so one encoded frame, per distinct list.
 */
import { AvoidList } from '../../lb/avoid';
import type { AgentListState } from '../fleet/fanout';

/** The part of the Fleet the hand-over list is computed from. */
export interface HandoverFleet {
  readonly avoided: AvoidList;
  listToSend(state: AgentListState): readonly string[] | undefined;
}

/**
 * The list a draining server sends an agent just before handing it over: what the agent
 * should hold, with the avoided servers and this one last; undefined when it holds that.
 */
export function handoverLists(fleet: HandoverFleet): (state: AgentListState, self: string) => readonly string[] | undefined {
  // One AvoidList per (avoid list, self): its memo keeps one array (one frame) per list.
  let cached: { avoided: AvoidList; self: string; list: AvoidList } | undefined;
  return (state, self) => {
    if (cached?.avoided !== fleet.avoided || cached.self !== self) {
      cached = { avoided: fleet.avoided, self, list: AvoidList.of([...fleet.avoided.sorted(), self]) };
    }
    const next = cached.list.apply(fleet.listToSend(state) ?? state.hosts);
    return next === state.hosts ? undefined : next;
  };
}
