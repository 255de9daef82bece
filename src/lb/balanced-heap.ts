/**
 * A binary min-heap of row indices with numeric keys, ties broken by the smaller row so the
 * order never depends on insertion history. Stale entries are left in place and skipped by
 * the caller (lazy deletion), which is cheaper than tracking positions for removal.
 *
 * Typed arrays, sized up front for the initial batch and doubled when pushes outgrow them:
 * the solver builds m·(m−1) of these over up to n rows each, so plain arrays and per-push
 * growth dominated planning time.
 */
import type { SliceClock, Sliced } from '../util/slices';

export class RowHeap {
  private rows: Int32Array;
  private keys: Float64Array;
  private count = 0;

  constructor(initialCapacity = 4) {
    this.rows = new Int32Array(Math.max(1, initialCapacity));
    this.keys = new Float64Array(Math.max(1, initialCapacity));
  }

  get size(): number {
    return this.count;
  }

  /** Adds an entry without ordering it; call `heapify` once after a batch. */
  append(row: number, key: number): void {
    if (this.count === this.rows.length) this.grow();
    this.rows[this.count] = row;
    this.keys[this.count] = key;
    this.count++;
  }

  heapify(): void {
    for (let i = (this.count >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** heapify, pausing whenever `clock` says a slice is full (a heap of 333 000 rows at 1 000 000 hosts). */
  *heapifyInSlices(clock: SliceClock): Sliced<void> {
    for (let i = (this.count >> 1) - 1; i >= 0; i--) {
      if (clock.due(8)) yield;
      this.siftDown(i);
    }
  }

  push(row: number, key: number): void {
    this.append(row, key);
    this.siftUp(this.count - 1);
  }

  /** Row at the top, or -1 when empty. */
  peekRow(): number {
    return this.count > 0 ? this.rows[0]! : -1;
  }

  /** Key at the top, or +Infinity when empty. */
  peekKey(): number {
    return this.count > 0 ? this.keys[0]! : Infinity;
  }

  pop(): void {
    if (this.count === 0) return;
    this.count--;
    if (this.count === 0) return;
    this.rows[0] = this.rows[this.count]!;
    this.keys[0] = this.keys[this.count]!;
    this.siftDown(0);
  }

  private grow(): void {
    const rows = new Int32Array(this.rows.length * 2);
    rows.set(this.rows);
    this.rows = rows;
    const keys = new Float64Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
  }

  private less(i: number, j: number): boolean {
    const ki = this.keys[i]!;
    const kj = this.keys[j]!;
    return ki < kj || (ki === kj && this.rows[i]! < this.rows[j]!);
  }

  private swap(i: number, j: number): void {
    const row = this.rows[i]!;
    this.rows[i] = this.rows[j]!;
    this.rows[j] = row;
    const key = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = key;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.count;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.less(right, left) ? right : left;
      if (!this.less(child, i)) return;
      this.swap(i, child);
      i = child;
    }
  }
}
