/**
 * The per-zone host index behind roundrobin's O(1) lookups: each zone keeps its host ids sorted
 * ascending plus a map id -> position, so a host's position is a map lookup instead of
 * CloudStack's re-read-and-search of every id in the zone on every call.
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

/** One zone's hosts, ordered by id. */
export class ZoneIndex implements ZoneView {
  private readonly sortedIds: number[] = [];
  private readonly positions = new Map<number, number>();
  /** Frozen copy handed out by ids(); rebuilt lazily after a change so reads stay cheap. */
  private snapshot: readonly number[] | undefined;

  constructor(readonly zone: string) {}

  get size(): number {
    return this.sortedIds.length;
  }

  positionOf(id: number): number | undefined {
    return this.positions.get(id);
  }

  has(id: number): boolean {
    return this.positions.has(id);
  }

  ids(): readonly number[] {
    this.snapshot ??= Object.freeze(this.sortedIds.slice());
    return this.snapshot;
  }

  /**
   * Adds `id`; false when it was already present (a no-op). O(1) when `id` is above every id
   * present, which is the common case since the store issues ids ascending; otherwise (cluster
   * mode, where another server's ids can arrive out of order) O(n) to shift later positions.
   */
  add(id: number): boolean {
    checkHostId(id);
    if (this.positions.has(id)) return false;
    const count = this.sortedIds.length;
    if (count === 0 || id > this.sortedIds[count - 1]!) {
      this.sortedIds.push(id);
      this.positions.set(id, count);
    } else {
      const at = this.insertionPoint(id);
      this.sortedIds.splice(at, 0, id);
      this.renumberFrom(at);
    }
    this.snapshot = undefined;
    return true;
  }

  /** Removes `id`; false when absent. O(n): every later host moves one position down. */
  remove(id: number): boolean {
    const at = this.positions.get(id);
    if (at === undefined) return false;
    this.sortedIds.splice(at, 1);
    this.positions.delete(id);
    this.renumberFrom(at);
    this.snapshot = undefined;
    return true;
  }

  /** Index of the first id greater than `id` (binary search; `id` is known to be absent). */
  private insertionPoint(id: number): number {
    let low = 0;
    let high = this.sortedIds.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.sortedIds[middle]! < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private renumberFrom(start: number): void {
    for (let position = start; position < this.sortedIds.length; position++) {
      this.positions.set(this.sortedIds[position]!, position);
    }
  }
}

/** Every zone's index, plus which zone each host id is in. */
export class HostIndex {
  private readonly zonesByName = new Map<string, ZoneIndex>();
  private readonly zoneOfId = new Map<number, ZoneIndex>();

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

  private zoneIndex(name: string): ZoneIndex {
    let index = this.zonesByName.get(name);
    if (index === undefined) {
      index = new ZoneIndex(name);
      this.zonesByName.set(name, index);
    }
    return index;
  }
}
