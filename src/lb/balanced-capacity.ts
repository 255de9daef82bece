/**
 * How many hosts each server may take, as first choice and as second choice per first choice.
 * Both are pure arithmetic on counts (which hosts fill the places is balanced-assign.ts's job),
 * driven by one fixed `gainOrder` of the servers.
 *
 * Think of hosts being added one at a time: the i-th host (1-based) raises the first-choice
 * capacity of server gainOrder[(i − 1) mod m]. So with n hosts every server has ⌊n/m⌋, and the
 * first (n mod m) servers of gainOrder one more; and going from n to n ± 1 changes exactly one
 * server's capacity by one, which keeps host churn to one short path of moves.
 */

/** First-choice capacity per server: ⌊n/m⌋, plus one for the first (n mod m) of `gainOrder`. */
export function firstChoiceCapacities(hostCount: number, gainOrder: readonly number[]): number[] {
  const serverCount = gainOrder.length;
  const base = Math.floor(hostCount / serverCount);
  const extra = hostCount - base * serverCount;
  const caps = new Array<number>(serverCount).fill(base);
  for (let i = 0; i < extra; i++) caps[gainOrder[i]!]!++;
  return caps;
}

/**
 * Second-choice capacities c[failed][·] for the hosts whose first choice is `failed`, given
 * the first-choice capacities for `hostCount` hosts.
 *
 * When `failed` dies its hosts move to their second entries, so survivor s ends with
 * target(s) = firstLoads[s] + c[s]. With L = ⌊n/(m−1)⌋ and e = n − (m−1)·L, every survivor's
 * target is L or L + 1 (so within one host of n/(m−1)), and e of them get L + 1.
 *
 * Which e: the survivors that gained a first-choice place most recently in `gainOrder`
 * (walking back from the n-th host's server, skipping `failed`). With that choice, one more
 * host raises the target of exactly the survivor whose first-choice load rose — so c[failed]
 * does not change at all unless `failed` itself gained the host, and then by that one host.
 * (A plain water-fill, which picks the e survivors by a fixed tie order, changes c for nearly
 * every failed server on every host added or removed, and with it many second choices.)
 * It is also always feasible: when L = ⌊n/m⌋ the survivors holding ⌈n/m⌉ first choices are
 * among the e most recent gainers, so no capacity goes negative.
 */
export function secondChoiceCapacities(
  hostCount: number,
  firstLoads: readonly number[],
  failed: number,
  gainOrder: readonly number[],
): number[] {
  const m = gainOrder.length;
  const caps = new Array<number>(m).fill(0);
  if (m < 2) return caps;
  const level = Math.floor(hostCount / (m - 1));
  let raised = hostCount - level * (m - 1);
  for (let s = 0; s < m; s++) if (s !== failed) caps[s] = level - firstLoads[s]!;
  // The n-th host's server is gainOrder[(n − 1) mod m]; walk back from there.
  for (let step = 0, at = (hostCount - 1 + m) % m; raised > 0 && step < m; step++, at = (at - 1 + m) % m) {
    const server = gainOrder[at]!;
    if (server === failed) continue;
    caps[server]!++;
    raised--;
  }
  return caps;
}
