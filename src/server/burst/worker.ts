/**
 * The Piscina worker: plans one batch of a burst (see plan.ts). It holds no state, so
 * any thread can take any batch.
 */
import { planBurst, type BurstResult, type BurstTask } from './plan';

export default function planBatch(task: BurstTask): BurstResult {
  return planBurst(task);
}
