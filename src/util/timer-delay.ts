/**
 * The longest delay setTimeout honours. Node runs a timer with a longer delay after 1 ms
 * instead, so a long wait computed from settings (an interval plus jitter, three ping
 * intervals) would turn into a spin; such waits are capped here and simply re-checked.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}
