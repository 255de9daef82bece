/**
 * The avoid list (CloudStack 4.21's name for it): servers that are draining or down go to the
 * END of every list the server sends, so no agent prefers them, while they stay in the list as
 * a last resort. Entries are matched by the address exactly as written in the `host` setting:
 * CloudStack matched resolved addresses, which misses every entry written as a name.
 */

const NO_ADDRESSES: ReadonlySet<string> = new Set();

export class AvoidList {
  static readonly EMPTY = new AvoidList(NO_ADDRESSES);

  /**
   * Reordered lists by source list. Planners hand one array to every host sharing a list,
   * so memoising by identity keeps that sharing (one encoded frame per distinct list), and a
   * WeakMap lets superseded lists be collected.
   */
  private readonly reordered = new WeakMap<readonly string[], readonly string[]>();

  private constructor(private readonly addresses: ReadonlySet<string>) {}

  static of(addresses: Iterable<string>): AvoidList {
    const set = new Set(addresses);
    return set.size === 0 ? AvoidList.EMPTY : new AvoidList(set);
  }

  get size(): number {
    return this.addresses.size;
  }

  has(address: string): boolean {
    return this.addresses.has(address);
  }

  /** The addresses, sorted (for logs, status and equality). */
  sorted(): string[] {
    return [...this.addresses].sort();
  }

  equals(other: AvoidList): boolean {
    if (other.size !== this.size) return false;
    for (const address of this.addresses) if (!other.has(address)) return false;
    return true;
  }

  /**
   * `list` with the avoided entries moved to its end, each part keeping its order. Returns
   * `list` itself when nothing moves, and the same array for the same input.
   */
  apply(list: readonly string[]): readonly string[] {
    if (this.addresses.size === 0 || this.respectedBy(list)) return list;
    let result = this.reordered.get(list);
    if (result === undefined) {
      const kept = list.filter((entry) => !this.addresses.has(entry));
      const last = list.filter((entry) => this.addresses.has(entry));
      result = Object.freeze([...kept, ...last]);
      this.reordered.set(list, result);
    }
    return result;
  }

  /** Whether every avoided entry of `list` already sits after every other entry. */
  respectedBy(list: readonly string[]): boolean {
    if (this.addresses.size === 0) return true;
    let seenAvoided = false;
    for (const entry of list) {
      if (this.addresses.has(entry)) seenAvoided = true;
      else if (seenAvoided) return false;
    }
    return true;
  }
}

/**
 * Several reasons to avoid a server (this drain board, the cluster's down servers), each
 * replaced as a whole by its owner; the avoid list is their union.
 */
export class AvoidSources {
  private readonly sources = new Map<string, ReadonlySet<string>>();

  /** Replaces `source`'s addresses; returns the new union. */
  set(source: string, addresses: Iterable<string>): AvoidList {
    const set = new Set(addresses);
    if (set.size === 0) this.sources.delete(source);
    else this.sources.set(source, set);
    return this.union();
  }

  union(): AvoidList {
    const all = new Set<string>();
    for (const addresses of this.sources.values()) for (const address of addresses) all.add(address);
    return AvoidList.of(all);
  }
}
