/**
 * The cluster's rebalance board: the run lives in the shared store (PostgreSQL's
 * `rebalance_runs`), so a run started through any server, or by any server's automatic
 * trigger, is worked on by every server, each adding its outcomes to the same counts.
 *
 * Every change (this server's write, another's `rebalance` announcement, a resync after an
 * outage) is answered by reading the latest run again. Reads may finish out of order; the one
 * STARTED last wins, since it saw every commit before it began.
 */
import { StoreUnavailableError, type RebalanceRegistry, type Store, type StoreChange } from '../../store/types';
import { RunHolder, type RebalanceBoard, type RunEnd, type RunListener, type RunRecord, type RunRequest, type RunSource } from './board';

export function isRebalanceRegistry(store: Store): store is Store & RebalanceRegistry {
  const candidate = store as Partial<RebalanceRegistry>;
  return typeof candidate.startRun === 'function' && typeof candidate.latestRun === 'function' && typeof candidate.countRun === 'function';
}

export class StoreRebalanceBoard implements RebalanceBoard {
  readonly scope = 'cluster';
  private readonly holder: RunHolder;
  private readonly unsubscribe: () => void;
  private started = 0;
  private applied = 0;
  private closed = false;

  constructor(
    private readonly store: Store & RebalanceRegistry,
    private readonly onError: (error: unknown) => void,
  ) {
    this.holder = new RunHolder(onError);
    this.unsubscribe = store.subscribe((change: StoreChange) => {
      if (change.kind === 'rebalance' || change.kind === 'resync') void this.refreshQuietly();
    });
    void this.refreshQuietly();
  }

  current(): RunRecord | undefined {
    return this.holder.record;
  }

  async start(request: RunRequest): Promise<RunRecord | undefined> {
    const run = await this.store.startRun(request);
    await this.refreshQuietly();
    return run;
  }

  async end(reason: RunEnd, source?: RunSource): Promise<RunRecord | undefined> {
    const run = await this.store.endRun(reason, source);
    await this.refreshQuietly();
    return run;
  }

  async count(id: number, moved: number, notMoved: number): Promise<void> {
    if (moved === 0 && notMoved === 0) return;
    await this.store.countRun(id, moved, notMoved);
    await this.refreshQuietly();
  }

  subscribe(listener: RunListener): () => void {
    return this.holder.subscribe(listener);
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    this.holder.clear();
  }

  /** An unavailable store is not a fault: the last run read stays, the resync reads again. */
  private async refreshQuietly(): Promise<void> {
    try {
      const ticket = ++this.started;
      const run = await this.store.latestRun();
      if (this.closed || ticket < this.applied) return;
      this.applied = ticket;
      this.holder.replace(run);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) this.onError(error);
    }
  }
}
