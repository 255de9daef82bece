/**
 * The progress bar, drawn on stderr with `progress` (the bar autocannon draws). Disabled (a
 * no-op) when stderr is not a terminal, so logs and tests stay clean.
 */
import ProgressBar from 'progress';

export interface Progress {
  update(current: number): void;
  done(): void;
}

export type ProgressFactory = (label: string, total: number) => Progress;

const silent: Progress = { update: () => undefined, done: () => undefined };

export function progressFactory(enabled: boolean): ProgressFactory {
  if (!enabled) return () => silent;
  return (label, total) => {
    const bar = new ProgressBar(`  ${label.padEnd(28)} [:bar] :current/:total :percent :elapseds`, {
      total: Math.max(1, total),
      width: 30,
      stream: process.stderr,
      renderThrottle: 100,
      clear: true,
    });
    return {
      update: (current) => bar.update(Math.min(1, current / Math.max(1, total))),
      done: () => bar.terminate(),
    };
  };
}
