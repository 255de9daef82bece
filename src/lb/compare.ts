/**
 * The two "is the agent's list up to date" rules of the spec. Both are total: any two lists
 * give an answer, and an empty agent list only matches an empty expected list.
 */

/** Same length, same entries at every index (static, roundrobin). */
export function equalInOrder(agentList: readonly string[], expected: readonly string[]): boolean {
  if (agentList.length !== expected.length) return false;
  for (let index = 0; index < expected.length; index++) {
    if (agentList[index] !== expected[index]) return false;
  }
  return true;
}

/**
 * Same size and same members, in any order (shuffle). An agent list holding a duplicate is
 * never up to date: with the same length it must miss one of the expected entries.
 */
export function equalAsSet(agentList: readonly string[], expected: readonly string[]): boolean {
  if (agentList.length !== expected.length) return false;
  const wanted = new Set(expected);
  const seen = new Set<string>();
  for (const entry of agentList) {
    if (!wanted.has(entry) || seen.has(entry)) return false;
    seen.add(entry);
  }
  return true;
}
