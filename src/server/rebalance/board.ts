/**
 * Where the current rebalance run is recorded, so that every server of the fleet works on the
 * same one: this process's memory (the embedded store: one server), or the cluster's store
 * (board-store.ts), where a run started through any server (or by any server's automatic
 * trigger) is seen by all, and each adds the moves it made to the run's counts.
 *
 * A run is active until its counts reach `toMove` (done), it is stopped (DELETE), or the
 * automatic trigger sees every server settled.
 */
export type RunSource = 'manual' | 'auto';
export type RunEnd = 'done' | 'stopped' | 'settled';

export interface RunRecord {
  /** Increases with every run: a server works on a run once. */
  id: number;
  source: RunSource;
  /** Most moves per second across the fleet. */
  rate: number;
  /** Only agents of this zone; null: every zone. */
  zone: string | null;
  /** ISO-8601. */
  startedAt: string;
  endedAt: string | null;
  endReason: RunEnd | null;
  /** Misplaced agents across the fleet when it started. */
  toMove: number;
  /** Agents told to move that did (their connection to the old server closed). */
  moved: number;
  /** Agents told to move that stayed (an older agent, or its first entry refused it). */
  notMoved: number;
}

export interface RunRequest {
  source: RunSource;
  rate: number;
  zone: string | null;
  toMove: number;
}

export type RunListener = (run: RunRecord | undefined) => void;

export interface RebalanceBoard {
  readonly scope: 'server' | 'cluster';
  /** The latest run (active or not), as last read. */
  current(): RunRecord | undefined;
  /** Starts a run unless one is active; resolves to the new run, or undefined when one is active. */
  start(request: RunRequest): Promise<RunRecord | undefined>;
  /** Ends the active run (of `source`, when given); resolves to it, or undefined when none was. */
  end(reason: RunEnd, source?: RunSource): Promise<RunRecord | undefined>;
  /** Adds this server's outcomes to run `id`; ends it (done) once they reach toMove. */
  count(id: number, moved: number, notMoved: number): Promise<void>;
  /** Told after every change, this server's or (cluster) another's. */
  subscribe(listener: RunListener): () => void;
  close(): void;
}

export function isActive(run: RunRecord | undefined): boolean {
  return run !== undefined && run.endedAt === null;
}

/** Listeners and the current run: what every board shares. */
export class RunHolder {
  private run: RunRecord | undefined;
  private readonly listeners = new Set<RunListener>();

  constructor(private readonly onListenerError: (error: unknown) => void) {}

  get record(): RunRecord | undefined {
    return this.run;
  }

  replace(run: RunRecord | undefined): void {
    this.run = run === undefined ? undefined : Object.freeze({ ...run });
    for (const listener of [...this.listeners]) {
      try {
        listener(this.run);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** The embedded store's board: this process's memory. */
export class LocalRebalanceBoard implements RebalanceBoard {
  readonly scope = 'server';
  private readonly holder: RunHolder;
  private nextId = 1;

  constructor(
    onListenerError: (error: unknown) => void,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.holder = new RunHolder(onListenerError);
  }

  current(): RunRecord | undefined {
    return this.holder.record;
  }

  start(request: RunRequest): Promise<RunRecord | undefined> {
    if (isActive(this.holder.record)) return Promise.resolve(undefined);
    const run: RunRecord = { id: this.nextId++, ...request, startedAt: this.now().toISOString(), endedAt: null, endReason: null, moved: 0, notMoved: 0 };
    this.holder.replace(run);
    // Nothing to move is done at once.
    if (run.toMove === 0) return this.end('done').then(() => this.holder.record);
    return Promise.resolve(this.holder.record);
  }

  end(reason: RunEnd, source?: RunSource): Promise<RunRecord | undefined> {
    const run = this.holder.record;
    if (run === undefined || !isActive(run) || (source !== undefined && run.source !== source)) return Promise.resolve(undefined);
    this.holder.replace({ ...run, endedAt: this.now().toISOString(), endReason: reason });
    return Promise.resolve(this.holder.record);
  }

  count(id: number, moved: number, notMoved: number): Promise<void> {
    const run = this.holder.record;
    if (run === undefined || run.id !== id || (moved === 0 && notMoved === 0)) return Promise.resolve();
    const next = { ...run, moved: run.moved + moved, notMoved: run.notMoved + notMoved };
    if (next.endedAt === null && next.moved + next.notMoved >= next.toMove) {
      next.endedAt = this.now().toISOString();
      next.endReason = 'done';
    }
    this.holder.replace(next);
    return Promise.resolve();
  }

  subscribe(listener: RunListener): () => void {
    return this.holder.subscribe(listener);
  }

  close(): void {
    this.holder.clear();
  }
}
