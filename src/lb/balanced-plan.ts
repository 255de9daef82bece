/**
 * Plans one zone for `balanced`: every host's full server order, as indices into `servers`.
 *
 * Pure and allocation-light, with a transferable result (one Int32Array), so a server can run
 * it in a worker thread for a large zone and build the planner from the result.
 *
 * 1. Each host weighs each server with a fixed hash (balanced-hash.ts): its rendezvous order.
 * 2. First choices: the maximum-weight assignment with exactly ⌊n/m⌋ or ⌈n/m⌉ hosts per server.
 * 3. Second choices, per first choice f: the maximum-weight assignment of f's hosts to the
 *    other servers, with capacities chosen so that losing f leaves every survivor within one
 *    host of n/(m−1) (balanced-capacity.ts).
 * 4. The remaining entries in rendezvous order.
 *
 * The result depends on the set of (host id, server entry) pairs only: not on the order the
 * servers are configured in, and not on anything local to the server that computes it.
 */
import { UNSLICED, runNow, type SliceClock, type Sliced } from '../util/slices';
import { assignInSlices } from './balanced-assign';
import { firstChoiceCapacities, secondChoiceCapacities } from './balanced-capacity';
import { idHigh, idLow, seedRank, serverSeed, weightOfWords, type ServerSeed } from './balanced-hash';

/**
 * The order in which servers gain first-choice places (balanced-capacity.ts): by a hash of each
 * entry alone, so adding or removing a server keeps the others' relative order; equal hashes
 * by the entry text, so the configured order never matters.
 */
function gainOrderOf(servers: readonly string[], seeds: readonly ServerSeed[]): number[] {
  const ranks = seeds.map(seedRank);
  return servers
    .map((_, index) => index)
    .sort((x, y) => ranks[x]! - ranks[y]! || (servers[x]! < servers[y]! ? -1 : servers[x]! > servers[y]! ? 1 : 0));
}

function* weighAll(ids: readonly number[], seeds: readonly ServerSeed[], clock: SliceClock): Sliced<Float64Array> {
  const m = seeds.length;
  const weights = new Float64Array(ids.length * m);
  for (let row = 0; row < ids.length; row++) {
    // Hashing is the dearest unit of the plan: count it as several.
    if (clock.due(4 * m)) yield;
    const low = idLow(ids[row]!);
    const high = idHigh(ids[row]!);
    for (let s = 0; s < m; s++) weights[row * m + s] = weightOfWords(low, high, seeds[s]!);
  }
  return weights;
}

/** Second choice of every host, given the first choices and the first-choice loads. */
function* planSecondChoices(
  weights: Float64Array,
  first: Int32Array,
  firstLoads: readonly number[],
  gainOrder: readonly number[],
  clock: SliceClock,
): Sliced<Int32Array> {
  const m = gainOrder.length;
  const second = new Int32Array(first.length);
  const members: number[][] = Array.from({ length: m }, () => []);
  for (let row = 0; row < first.length; row++) {
    if (clock.due(4)) yield;
    members[first[row]!]!.push(row);
  }
  const all = firstLoads.map((_, index) => index);
  for (let failed = 0; failed < m; failed++) {
    const rows = members[failed]!;
    if (rows.length === 0) continue;
    const survivors = all.filter((s) => s !== failed);
    const caps = secondChoiceCapacities(first.length, firstLoads, failed, gainOrder);
    const cols = survivors.length;
    const subWeights = new Float64Array(rows.length * cols);
    for (let i = 0; i < rows.length; i++) {
      if (clock.due(cols)) yield;
      const base = rows[i]! * m;
      for (let c = 0; c < cols; c++) subWeights[i * cols + c] = weights[base + survivors[c]!]!;
    }
    const chosen = yield* assignInSlices({
      weights: subWeights,
      rows: rows.length,
      cols,
      caps: survivors.map((s) => caps[s]!),
    }, clock);
    for (let i = 0; i < rows.length; i++) second[rows[i]!] = survivors[chosen[i]!]!;
  }
  return second;
}

/** Writes `lead` entries first, then the other servers by weight descending (ties: index). */
function writeOrder(out: Int32Array, offset: number, weights: Float64Array, row: number, m: number, lead: readonly number[]): void {
  let filled = 0;
  for (const server of lead) out[offset + filled++] = server;
  const base = row * m;
  for (let s = 0; s < m; s++) {
    if (lead.includes(s)) continue;
    // Insertion sort: m is small and this avoids allocating per host.
    let at = offset + filled++;
    const weight = weights[base + s]!;
    while (at > offset + lead.length && weights[base + out[at - 1]!]! < weight) {
      out[at] = out[at - 1]!;
      at--;
    }
    out[at] = s;
  }
}

/** One host's rendezvous order: all servers by its weight, descending. */
export function rendezvousOrder(hostId: number, seeds: readonly ServerSeed[]): Int32Array {
  const weights = runNow(weighAll([hostId], seeds, UNSLICED));
  const out = new Int32Array(seeds.length);
  writeOrder(out, 0, weights, 0, seeds.length, []);
  return out;
}

export function serverSeeds(servers: readonly string[]): ServerSeed[] {
  return servers.map(serverSeed);
}

/**
 * Row-major `ids.length × servers.length` server indices: row i is the order for ids[i].
 * With fewer than 2 servers there is nothing to balance: every row is the configured order.
 */
export function planBalancedOrders(servers: readonly string[], ids: readonly number[]): Int32Array {
  return runNow(planBalancedOrdersInSlices(servers, ids, UNSLICED));
}

/**
 * planBalancedOrders, pausing whenever `clock` says a slice is full (a 100 000-host zone took
 * 49-55 ms in one piece). The result does not depend on the slices: the same steps in the same
 * order, only interrupted. `ids` must not change meanwhile (ZoneView.ids() is a frozen copy).
 */
export function* planBalancedOrdersInSlices(servers: readonly string[], ids: readonly number[], clock: SliceClock): Sliced<Int32Array> {
  const m = servers.length;
  if (m < 2) return new Int32Array(ids.length * m);
  const seeds = serverSeeds(servers);
  const weights = yield* weighAll(ids, seeds, clock);
  const gainOrder = gainOrderOf(servers, seeds);
  const firstLoads = firstChoiceCapacities(ids.length, gainOrder);
  const first = yield* assignInSlices({ weights, rows: ids.length, cols: m, caps: firstLoads }, clock);
  const second = yield* planSecondChoices(weights, first, firstLoads, gainOrder, clock);
  const orders = new Int32Array(ids.length * m);
  const lead = [0, 0];
  for (let row = 0; row < ids.length; row++) {
    if (clock.due(m)) yield;
    lead[0] = first[row]!;
    lead[1] = second[row]!;
    writeOrder(orders, row * m, weights, row, m, lead);
  }
  return orders;
}
