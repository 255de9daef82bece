/**
 * A set of integer ids (safe integers) sized once for a known count: one Float64Array with
 * open addressing, so adding 1 000 000 ids never rehashes (a Set<number> of that size doubled
 * its table inside one add, a stall of tens of ms that no slicing could split) and leaves one
 * array for the GC instead of a million-entry hash table.
 */

/** The low 32 bits and the bits above, mixed into one 32-bit hash. */
function hashOf(id: number): number {
  const low = id >>> 0;
  const high = Math.floor(id / 4294967296) >>> 0;
  let h = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class IdSet {
  /** NaN marks a free slot (every id is a number equal to itself). */
  private readonly slots: Float64Array;
  private readonly mask: number;
  private count = 0;

  /** Room for `capacity` ids; adding more is a caller bug, refused. */
  constructor(private readonly capacity: number) {
    let size = 2;
    // At most half full: probes stay short.
    while (size < capacity * 2) size *= 2;
    this.slots = new Float64Array(size).fill(Number.NaN);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `id`; false when it was already there. */
  add(id: number): boolean {
    let at = hashOf(id) & this.mask;
    for (;;) {
      const held = this.slots[at]!;
      if (held === id) return false;
      if (held !== held) break;
      at = (at + 1) & this.mask;
    }
    if (this.count >= this.capacity) throw new RangeError(`IdSet sized for ${this.capacity} ids is full`);
    this.slots[at] = id;
    this.count++;
    return true;
  }

  has(id: number): boolean {
    let at = hashOf(id) & this.mask;
    for (;;) {
      const held = this.slots[at]!;
      if (held === id) return true;
      if (held !== held) return false;
      at = (at + 1) & this.mask;
    }
  }
}
