/**
 * Work that is O(n) once per change (re-planning a 100 000-host zone, rebuilding an index)
 * written as a generator that pauses (`yield`) between slices, and the two ways to run one:
 * at once (small inputs, tests, a worker) or giving the event loop back at every pause, so
 * that no single stall grows with n.
 *
 * Pauses are counted in units of work (SliceClock), never in wall time: where a computation
 * pauses depends only on its input, so a zone below one slice is always planned in the same
 * turn, on a loaded machine as on a quiet one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** A sliced computation: pauses between slices, then returns its result. */
export type Sliced<T> = Generator<void, T, void>;

/** Counts units of work and says when a slice is full (every `slice` units; never when Infinity). */
export class SliceClock {
  private done = 0;

  constructor(readonly slice: number) {}

  /** Adds `units` of work; true when the slice is full (the caller then yields). */
  due(units = 1): boolean {
    if (this.slice === Number.POSITIVE_INFINITY) return false;
    this.done += units;
    if (this.done < this.slice) return false;
    this.done = 0;
    return true;
  }
}

/** A clock that never calls for a pause: the computation runs in one go. */
export const UNSLICED: SliceClock = new SliceClock(Number.POSITIVE_INFINITY);

/** Runs `steps` to its end in this turn (its pauses ignored). */
export function runNow<T>(steps: Sliced<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** Runs `steps` to its end, giving the event loop back (setImmediate) at every pause. */
export async function runInTurns<T>(steps: Sliced<T>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    await nextTurn();
  }
}
