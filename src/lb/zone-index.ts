/**
 * The per-zone host index behind roundrobin's O(1) lookups: each zone keeps its host ids in
 * ascending order, so a host's position is a short lookup instead of CloudStack's
 * re-read-and-search of every id in the zone on every call.
 *
 * The ids are held in blocks of at most MAX_BLOCK ascending ids, each knowing the position of
 * its first id, plus a map id -> block. So:
 * - positionOf is a map read plus a binary search of one block (at most 10 steps);
 * - an add above every id (the usual case: the store issues ids ascending) is O(1);
 * - an add out of order (cluster mode: another server's id arriving late) or a removal costs
 *   one block's splice plus one counter per later block, O(√n)-ish (about 1 100 steps at
 *   100 000 hosts), instead of re-numbering every later host: a burst of k such changes was
 *   k × O(n) and froze the loop (84 s for a resync at 100 000 hosts);
 * - replacing every id (start-up, a resync after a store outage) is one O(n log n) build.
 */
import type { ZoneView } from './types';

/** A host id that cannot be ordered (not a safe integer): a caller bug, refused loudly. */
export class HostIdError extends RangeError {
  readonly code = 'bad_host_id';
  constructor(readonly id: unknown) {
    super(`host id must be a safe integer, got ${String(id)}`);
    this.name = 'HostIdError';
  }
}

function checkHostId(id: number): void {
  // NaN or a fraction would silently corrupt the sorted order every later position relies on.
  if (!Number.isSafeInteger(id)) throw new HostIdError(id);
}

/**
 * Largest block: a split halves it. 1 024 keeps a splice a short memmove and leaves ~200 blocks
 * to re-count at 100 000 hosts, ~2 000 at 1 000 000.
 */
export const MAX_BLOCK = 1024;
/** Blocks built in bulk are half full, so the out-of-order adds that follow rarely split. */
const BUILT_BLOCK = MAX_BLOCK / 2;

/** Ascending ids, and the position of the first one in the zone. */
interface Block {
  ids: number[];
  start: number;
}

/** Index of the first element of `sorted` not below `id`. */
export function lowerBound(sorted: readonly number[], id: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < id) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** One zone's hosts, ordered by id. */
export class ZoneIndex implements ZoneView {
  private blocks: Block[] = [];
  private blockOf = new Map<number, Block>();
  private count = 0;
  /** Frozen copy handed out by ids(); rebuilt lazily after a change so reads stay cheap. */
  private snapshot: readonly number[] | undefined;
  /**
   * Array slots and block counters touched by changes since construction: what a test counts
   * to pin that a change costs a block, not the zone (no timing in pass/fail tests).
   */
  private steps = 0;

  constructor(readonly zone: string) {}

  get size(): number {
    return this.count;
  }

  /** Work done by changes so far, in slots and counters touched (see `steps`). */
  get workDone(): number {
    return this.steps;
  }

  positionOf(id: number): number | undefined {
    const block = this.blockOf.get(id);
    return block === undefined ? undefined : block.start + lowerBound(block.ids, id);
  }

  has(id: number): boolean {
    return this.blockOf.has(id);
  }

  ids(): readonly number[] {
    if (this.snapshot === undefined) {
      const all = new Array<number>(this.count);
      let at = 0;
      for (const block of this.blocks) for (const id of block.ids) all[at++] = id;
      this.snapshot = Object.freeze(all);
    }
    return this.snapshot;
  }

  /** Adds `id`; false when it was already present (a no-op). O(1) above every id present. */
  add(id: number): boolean {
    checkHostId(id);
    if (this.blockOf.has(id)) return false;
    const last = this.blocks[this.blocks.length - 1];
    if (last === undefined || id > last.ids[last.ids.length - 1]!) {
      this.append(id, last);
    } else {
      const at = this.blockAbove(id);
      const block = this.blocks[at]!;
      const slot = lowerBound(block.ids, id);
      block.ids.splice(slot, 0, id);
      this.blockOf.set(id, block);
      this.steps += block.ids.length - slot;
      this.shiftStarts(at + 1, 1);
      if (block.ids.length > MAX_BLOCK) this.split(at);
    }
    this.count += 1;
    this.snapshot = undefined;
    return true;
  }

  /** Removes `id`; false when absent. Later hosts move one position down, a block at a time. */
  remove(id: number): boolean {
    const block = this.blockOf.get(id);
    if (block === undefined) return false;
    const at = this.indexOfBlock(block);
    const slot = lowerBound(block.ids, id);
    block.ids.splice(slot, 1);
    this.blockOf.delete(id);
    this.steps += block.ids.length - slot;
    this.shiftStarts(at + 1, -1);
    if (block.ids.length === 0) this.blocks.splice(at, 1);
    this.count -= 1;
    this.snapshot = undefined;
    return true;
  }

  /** Replaces every id with `ids` (any order, duplicates ignored): O(n log n) once. */
  reset(ids: readonly number[]): void {
    for (const id of ids) checkHostId(id);
    this.blocks = [];
    this.blockOf = new Map();
    // fill() in one go: with an infinite slice it never pauses.
    for (const _ of this.fill(ids, Number.POSITIVE_INFINITY));
  }

  /**
   * Fills this (new, empty, not yet shared) index with `ids` in slices: a generator that pauses
   * every `slice` ids, so that a rebuild of 1 000 000 hosts can run beside the event loop.
   */
  *fill(ids: readonly number[], slice: number): Generator<void, void> {
    // A store's snapshot comes in id order (pages by id): then there is nothing to sort, and
    // the sort (one piece, ~100 ms for a zone of 1 000 000) is skipped.
    let ascending = true;
    for (let i = 1; i < ids.length && ascending; i++) {
      if (i % slice === 0) yield;
      ascending = ids[i - 1]! < ids[i]!;
    }
    const sorted = ascending ? ids : Float64Array.from(ids).sort();
    let current: Block | undefined;
    let count = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i > 0 && i % slice === 0) yield;
      const id = sorted[i]!;
      if (i > 0 && id === sorted[i - 1]) continue;
      if (current === undefined || current.ids.length === BUILT_BLOCK) {
        current = { ids: [], start: count };
        this.blocks.push(current);
      }
      current.ids.push(id);
      this.blockOf.set(id, current);
      count += 1;
    }
    this.steps += count;
    this.count = count;
    this.snapshot = undefined;
  }

  private append(id: number, last: Block | undefined): void {
    if (last === undefined || last.ids.length >= MAX_BLOCK) {
      last = { ids: [], start: this.count };
      this.blocks.push(last);
    }
    last.ids.push(id);
    this.blockOf.set(id, last);
    this.steps += 1;
  }

  /** Index of the first block whose last id is above `id` (one exists: `id` is below the maximum). */
  private blockAbove(id: number): number {
    let low = 0;
    let high = this.blocks.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const ids = this.blocks[middle]!.ids;
      if (ids[ids.length - 1]! < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Index of `block` in `blocks`, by its first id (blocks are disjoint and ascending). */
  private indexOfBlock(block: Block): number {
    const first = block.ids[0]!;
    let low = 0;
    let high = this.blocks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.blocks[middle]!.ids[0]! <= first) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  private shiftStarts(from: number, by: number): void {
    for (let at = from; at < this.blocks.length; at++) this.blocks[at]!.start += by;
    this.steps += this.blocks.length - from;
  }

  /** Moves the upper half of block `at` into a new block right after it. */
  private split(at: number): void {
    const block = this.blocks[at]!;
    const upper: Block = { ids: block.ids.splice(BUILT_BLOCK), start: block.start + BUILT_BLOCK };
    for (const id of upper.ids) this.blockOf.set(id, upper);
    this.blocks.splice(at + 1, 0, upper);
    this.steps += upper.ids.length + this.blocks.length;
  }
}

/** Every zone's index, plus which zone each host id is in. */
export class HostIndex {
  private readonly zonesByName = new Map<string, ZoneIndex>();
  private zoneOfId = new Map<number, ZoneIndex>();

  /** Number of hosts across all zones. */
  get size(): number {
    return this.zoneOfId.size;
  }

  /**
   * Registers host `id` in `zone`; false when it is already there (a no-op). A host id already
   * registered in another zone is moved: the latest registration is the truth.
   */
  add(id: number, zone: string): boolean {
    const current = this.zoneOfId.get(id);
    if (current?.zone === zone) return false;
    const target = this.zoneIndex(zone);
    target.add(id);
    current?.remove(id);
    this.zoneOfId.set(id, target);
    return true;
  }

  /** Unregisters host `id` from its zone; false when unknown. */
  remove(id: number): boolean {
    const current = this.zoneOfId.get(id);
    if (current === undefined) return false;
    current.remove(id);
    this.zoneOfId.delete(id);
    return true;
  }

  /**
   * Replaces every host with `hosts` in one O(n log n) build (start-up, a resync): never one
   * removal at a time. A repeated id keeps its last zone, as add() would. Views handed out
   * before stay live: each zone is rebuilt in place (a zone left with no host, empty).
   */
  replaceAll(hosts: Iterable<{ readonly id: number; readonly zone: string }>): void {
    const zoneOfId = new Map<number, ZoneIndex>();
    for (const { id, zone } of hosts) {
      checkHostId(id);
      zoneOfId.set(id, this.zoneIndex(zone));
    }
    const idsByZone = new Map<ZoneIndex, number[]>();
    for (const index of this.zonesByName.values()) idsByZone.set(index, []);
    for (const [id, index] of zoneOfId) idsByZone.get(index)!.push(id);
    for (const [index, ids] of idsByZone) index.reset(ids);
    this.zoneOfId = zoneOfId;
  }

  /**
   * A new index of `hosts`, built in slices (a generator pausing every `slice` hosts) while the
   * current one keeps serving; ids must be safe integers and distinct (a store's snapshot).
   */
  static *build(hosts: readonly { readonly id: number; readonly zone: string }[], slice: number): Generator<void, HostIndex> {
    const built = new HostIndex();
    const idsByZone = new Map<ZoneIndex, number[]>();
    for (let i = 0; i < hosts.length; i++) {
      if (i > 0 && i % slice === 0) yield;
      const { id, zone } = hosts[i]!;
      checkHostId(id);
      const index = built.zoneIndex(zone);
      built.zoneOfId.set(id, index);
      let ids = idsByZone.get(index);
      if (ids === undefined) idsByZone.set(index, (ids = []));
      ids.push(id);
    }
    for (const [index, ids] of idsByZone) yield* index.fill(ids, slice);
    return built;
  }

  /**
   * The live view of `name`'s hosts: empty for a zone with no hosts yet. The view is created on
   * first ask and kept (even when it empties) so that a planner built on it sees hosts added
   * afterwards instead of holding a stale empty view.
   */
  zone(name: string): ZoneView {
    return this.zoneIndex(name);
  }

  zoneOf(id: number): string | undefined {
    return this.zoneOfId.get(id)?.zone;
  }

  /** Names of the zones that currently hold at least one host. */
  zones(): string[] {
    const names: string[] = [];
    for (const [name, index] of this.zonesByName) if (index.size > 0) names.push(name);
    return names;
  }

  /** Work done by changes in every zone so far (ZoneIndex.workDone). */
  get workDone(): number {
    let steps = 0;
    for (const index of this.zonesByName.values()) steps += index.workDone;
    return steps;
  }

  private zoneIndex(name: string): ZoneIndex {
    let index = this.zonesByName.get(name);
    if (index === undefined) {
      index = new ZoneIndex(name);
      this.zonesByName.set(name, index);
    }
    return index;
  }
}
