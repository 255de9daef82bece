import t from 'tap';
import fc from 'fast-check';
import { AssignmentError, assignWithCapacities, type AssignmentProblem } from '../../src/lb/balanced-assign';
import { RowHeap } from '../../src/lb/balanced-heap';

/** Best total weight over every assignment meeting the caps: the oracle for small problems. */
function bruteForceBest(problem: AssignmentProblem): number {
  const { weights, rows, cols, caps } = problem;
  const load = new Array<number>(cols).fill(0);
  let best = -Infinity;
  const visit = (row: number, total: number): void => {
    if (row === rows) {
      best = Math.max(best, total);
      return;
    }
    for (let col = 0; col < cols; col++) {
      if (load[col]! >= caps[col]!) continue;
      load[col]!++;
      visit(row + 1, total + weights[row * cols + col]!);
      load[col]!--;
    }
  };
  visit(0, 0);
  return best;
}

function totalWeight(problem: AssignmentProblem, assigned: Int32Array): number {
  let total = 0;
  for (let row = 0; row < problem.rows; row++) total += problem.weights[row * problem.cols + assigned[row]!]!;
  return total;
}

/** Random small problems: weights from a narrow range, so ties and negative-edge paths occur. */
const smallProblem: fc.Arbitrary<AssignmentProblem> = fc
  .record({ rows: fc.integer({ min: 0, max: 7 }), cols: fc.integer({ min: 1, max: 4 }) })
  .chain(({ rows, cols }) =>
    fc.record({
      weights: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: rows * cols, maxLength: rows * cols }),
      cuts: fc.array(fc.integer({ min: 0, max: rows }), { minLength: cols - 1, maxLength: cols - 1 }),
    }).map(({ weights, cuts }) => {
      // Caps summing to `rows`: the gaps between sorted cut points.
      const points = [0, ...cuts.sort((a, b) => a - b), rows];
      const caps = Array.from({ length: cols }, (_, c) => points[c + 1]! - points[c]!);
      return { weights: Float64Array.from(weights), rows, cols, caps };
    }),
  );

t.test('meets the capacities exactly and finds the best total weight (brute-force oracle)', async (t) => {
  const details = fc.check(
    fc.property(smallProblem, (problem) => {
      const assigned = assignWithCapacities(problem);
      const load = new Array<number>(problem.cols).fill(0);
      for (const col of assigned) load[col]!++;
      return load.join() === problem.caps.join() && totalWeight(problem, assigned) === bruteForceBest(problem);
    }),
    { numRuns: 300 },
  );
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? '300 random problems');
});

t.test('a hand-checked case that needs a chain of two moves', async (t) => {
  // Both rows 0 and 1 want column 0, which holds one. Moving row 1 straight to column 2 costs
  // 10; moving row 1 to column 1 (cost 1) and row 2 from column 1 to column 2 (cost 1) is cheaper.
  const problem: AssignmentProblem = {
    weights: Float64Array.from([
      10, 0, 0, // row 0
      10, 9, 0, // row 1
      0, 5, 4, // row 2
    ]),
    rows: 3,
    cols: 3,
    caps: [1, 1, 1],
  };
  t.same([...assignWithCapacities(problem)], [0, 1, 2]);
});

t.test('trivial shapes: no rows, one column', async (t) => {
  t.same([...assignWithCapacities({ weights: new Float64Array(0), rows: 0, cols: 3, caps: [0, 0, 0] })], []);
  t.same([...assignWithCapacities({ weights: Float64Array.from([1, 2]), rows: 2, cols: 1, caps: [2] })], [0, 0]);
});

t.test('malformed problems are refused with code bad_capacities', async (t) => {
  const weights = Float64Array.from([1, 2, 3, 4]);
  const cases: [Partial<AssignmentProblem>, string][] = [
    [{ caps: [2] }, 'caps has 1 entries for 2 columns'],
    [{ caps: [3, -1] }, 'capacity -1 is not a non-negative integer'],
    [{ caps: [1.5, 0.5] }, 'capacity 1.5 is not a non-negative integer'],
    [{ caps: [1, 0] }, 'capacities sum to 1, not to the 2 rows'],
    [{ weights: Float64Array.from([1, 2, 3]) }, 'weights has 3 values, expected 2 × 2'],
  ];
  for (const [change, message] of cases) {
    t.throws(() => assignWithCapacities({ weights, rows: 2, cols: 2, caps: [1, 1], ...change }), {
      name: 'AssignmentError',
      code: 'bad_capacities',
      message,
    });
  }
  t.ok(new AssignmentError('x') instanceof Error);
});

t.test('RowHeap: smallest key first, ties by row, grows past its initial size', async (t) => {
  const heap = new RowHeap(1);
  t.equal(heap.peekRow(), -1, 'empty: no row');
  t.equal(heap.peekKey(), Infinity, 'empty: infinite key');
  heap.pop();
  t.equal(heap.size, 0, 'popping an empty heap is a no-op');
  const entries: [number, number][] = [[7, 3], [2, 1], [9, 3], [4, -2], [1, 3], [8, 0]];
  for (const [row, key] of entries.slice(0, 3)) heap.append(row, key);
  heap.heapify();
  for (const [row, key] of entries.slice(3)) heap.push(row, key);
  const order: number[] = [];
  while (heap.size > 0) {
    order.push(heap.peekRow());
    heap.pop();
  }
  t.same(order, [4, 8, 2, 1, 7, 9]);
});
