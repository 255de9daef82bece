/**
 * Capacitated assignment: put each row (host) on one column (server), exactly `caps[c]` rows
 * on column c, maximising the total weight. This is what makes `balanced` both exactly
 * balanced and low-churn:
 *
 * - With the random 44-bit weights of balanced-hash.ts the optimum is unique (ties would need
 *   two sums of independent 44-bit values to be equal), so the result depends only on the
 *   inputs, never on the order the solver happened to work in.
 * - Removing one row, or moving one unit of capacity between two columns, changes an optimal
 *   solution by one shortest augmenting path over the columns. A shortest path visits each
 *   column at most once, so at most (cols − 1) other rows move. A greedy "take your best
 *   server that still has room" in a fixed order has no such bound: one vacancy can cascade
 *   down the whole order.
 *
 * The solver is successive shortest paths: start with every row on its best column (optimal
 * with no capacities), then repeatedly move one unit from an over-full column to an
 * under-full one along the cheapest chain of moves. Edge a→b costs the least weight lost by
 * moving some row from a to b, read from one lazy min-heap per ordered pair of columns.
 * Edges can be negative after moves (a row may now prefer where another row sits), so paths
 * are found with Bellman–Ford; the graph has only `cols` nodes. The number of augmentations
 * is the initial overflow, about √(rows) per column, so the whole solve is near-linear.
 */
import { UNSLICED, runNow, type SliceClock, type Sliced } from '../util/slices';
import { RowHeap } from './balanced-heap';

export interface AssignmentProblem {
  /** Row-major `rows × cols`; higher means the row prefers that column more. */
  readonly weights: Float64Array;
  readonly rows: number;
  readonly cols: number;
  /** Exactly `caps[c]` rows end on column c. Non-negative integers summing to `rows`. */
  readonly caps: readonly number[];
}

export class AssignmentError extends Error {
  readonly code = 'bad_capacities' as const;
  constructor(message: string) {
    super(message);
    this.name = 'AssignmentError';
  }
}

function checkProblem(problem: AssignmentProblem): void {
  const { weights, rows, cols, caps } = problem;
  if (caps.length !== cols) {
    throw new AssignmentError(`caps has ${caps.length} entries for ${cols} columns`);
  }
  let total = 0;
  for (const cap of caps) {
    if (!Number.isInteger(cap) || cap < 0) throw new AssignmentError(`capacity ${cap} is not a non-negative integer`);
    total += cap;
  }
  if (total !== rows) throw new AssignmentError(`capacities sum to ${total}, not to the ${rows} rows`);
  if (weights.length !== rows * cols) {
    throw new AssignmentError(`weights has ${weights.length} values, expected ${rows} × ${cols}`);
  }
}

/** Every row on its highest-weight column (ties: the lower column). */
function* bestColumns(problem: AssignmentProblem, clock: SliceClock): Sliced<Int32Array> {
  const { weights, rows, cols } = problem;
  const assigned = new Int32Array(rows);
  for (let row = 0; row < rows; row++) {
    if (clock.due(cols)) yield;
    const base = row * cols;
    let best = 0;
    for (let col = 1; col < cols; col++) {
      if (weights[base + col]! > weights[base + best]!) best = col;
    }
    assigned[row] = best;
  }
  return assigned;
}

/** The solver's working state: assignment, loads and one move-cost heap per column pair. */
class Solver {
  private readonly load: number[];
  private readonly heaps: RowHeap[];
  private readonly edge: Float64Array;
  private readonly dist: Float64Array;
  private readonly pred: Int32Array;

  private constructor(
    private readonly problem: AssignmentProblem,
    private readonly assigned: Int32Array,
  ) {
    const { rows, cols } = problem;
    this.load = new Array<number>(cols).fill(0);
    for (let row = 0; row < rows; row++) this.load[assigned[row]!]!++;
    // Every row now on column a has an entry in each heap (a, b): size them for that.
    this.heaps = Array.from({ length: cols * cols }, (_, pair) => new RowHeap(this.load[Math.floor(pair / cols)]!));
    this.edge = new Float64Array(cols * cols);
    this.dist = new Float64Array(cols);
    this.pred = new Int32Array(cols);
  }

  /** The solver for `assigned` (every row on its best column), its heaps filled a slice at a time. */
  static *build(problem: AssignmentProblem, assigned: Int32Array, clock: SliceClock): Sliced<Solver> {
    const solver = new Solver(problem, assigned);
    const { rows, cols, weights } = problem;
    for (let row = 0; row < rows; row++) {
      if (clock.due(cols)) yield;
      const from = assigned[row]!;
      const base = row * cols;
      for (let to = 0; to < cols; to++) {
        if (to !== from) solver.heaps[from * cols + to]!.append(row, weights[base + from]! - weights[base + to]!);
      }
    }
    for (const heap of solver.heaps) yield* heap.heapifyInSlices(clock);
    return solver;
  }

  overflow(): number {
    let total = 0;
    for (let col = 0; col < this.problem.cols; col++) total += Math.max(0, this.load[col]! - this.problem.caps[col]!);
    return total;
  }

  /** Moves one unit from an over-full column to an under-full one along a cheapest path. */
  augment(): void {
    const { cols, caps } = this.problem;
    this.refreshEdges();
    const { dist, pred, edge } = this;
    for (let col = 0; col < cols; col++) {
      dist[col] = this.load[col]! > caps[col]! ? 0 : Infinity;
      pred[col] = -1;
    }
    for (let round = 1; round < cols; round++) {
      let changed = false;
      for (let from = 0; from < cols; from++) {
        const base = dist[from]!;
        if (base === Infinity) continue;
        for (let to = 0; to < cols; to++) {
          const candidate = base + edge[from * cols + to]!;
          if (candidate < dist[to]!) {
            dist[to] = candidate;
            pred[to] = from;
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
    let target = -1;
    for (let col = 0; col < cols; col++) {
      if (this.load[col]! < caps[col]! && (target < 0 || dist[col]! < dist[target]!)) target = col;
    }
    // Walk back from the target: each edge moves one row, so only the path's ends change load.
    // Walking backwards means no move on this path can disturb a heap top the path still needs.
    for (let to = target, steps = 0; pred[to]! >= 0 && steps < cols; steps++) {
      const from = pred[to]!;
      this.moveTop(from, to);
      to = from;
    }
  }

  /** Edge a→b = cheapest move of a row now on a to b; +Infinity when no row can make it. */
  private refreshEdges(): void {
    const { cols } = this.problem;
    for (let from = 0; from < cols; from++) {
      for (let to = 0; to < cols; to++) {
        if (from === to) {
          this.edge[from * cols + to] = 0;
          continue;
        }
        const heap = this.heaps[from * cols + to]!;
        while (heap.size > 0 && this.assigned[heap.peekRow()] !== from) heap.pop();
        this.edge[from * cols + to] = heap.peekKey();
      }
    }
  }

  private moveTop(from: number, to: number): void {
    const { cols, weights } = this.problem;
    const heap = this.heaps[from * cols + to]!;
    const row = heap.peekRow();
    heap.pop();
    this.assigned[row] = to;
    this.load[from]!--;
    this.load[to]!++;
    const base = row * cols;
    for (let next = 0; next < cols; next++) {
      if (next !== to) this.heaps[to * cols + next]!.push(row, weights[base + to]! - weights[base + next]!);
    }
  }
}

/**
 * The column of each row in the unique maximum-weight assignment that meets `caps` exactly.
 * Throws AssignmentError (code `bad_capacities`) when the problem is malformed.
 */
export function assignWithCapacities(problem: AssignmentProblem): Int32Array {
  return runNow(assignInSlices(problem, UNSLICED));
}

/**
 * assignWithCapacities, pausing whenever `clock` says a slice is full: the same result,
 * whatever the slices (the work and its order do not depend on them).
 */
export function* assignInSlices(problem: AssignmentProblem, clock: SliceClock): Sliced<Int32Array> {
  checkProblem(problem);
  const assigned = yield* bestColumns(problem, clock);
  if (problem.rows === 0 || problem.cols < 2) return assigned;
  const solver = yield* Solver.build(problem, assigned, clock);
  const { cols } = problem;
  for (let overflow = solver.overflow(); overflow > 0; overflow--) {
    // An augmentation is a Bellman-Ford over the columns plus a few heap pops.
    if (clock.due(cols * cols * cols)) yield;
    solver.augment();
  }
  return assigned;
}
