/**
 * The cluster's drain board: drains live in the shared store (PostgreSQL's `drains` table),
 * so a drain asked of any server is known to every server, the drained one included.
 *
 * The table is small, so every change (this server's write, another's `drains` announcement,
 * a resync after an outage) is answered by reading it whole. Reads may finish out of order;
 * the one STARTED last wins, since it saw every commit before it began.
 */
import { StoreUnavailableError, type DrainRecord, type DrainRegistry, type Store, type StoreChange } from '../../store/types';
import { DrainList, type DrainBoard, type DrainsListener } from './board';

export function isDrainRegistry(store: Store): store is Store & DrainRegistry {
  const candidate = store as Partial<DrainRegistry>;
  return typeof candidate.setDrain === 'function' && typeof candidate.clearDrain === 'function' && typeof candidate.listDrains === 'function';
}

export class StoreDrainBoard implements DrainBoard {
  readonly scope = 'cluster';
  private readonly list = new DrainList();
  private readonly unsubscribe: () => void;
  private started = 0;
  private applied = 0;
  private closed = false;

  /** Subscribes to the store's changes and starts the first read at once. */
  constructor(
    private readonly store: Store & DrainRegistry,
    private readonly onError: (error: unknown) => void,
  ) {
    this.unsubscribe = store.subscribe((change: StoreChange) => {
      if (change.kind === 'drains' || change.kind === 'resync') void this.refreshQuietly();
    });
    void this.refreshQuietly();
  }

  current(): readonly DrainRecord[] {
    return this.list.records;
  }

  /** Committed before the read: a read failing then leaves the last list until the next change. */
  async set(address: string, rate: number, timeout?: number): Promise<DrainRecord> {
    const record = await this.store.setDrain(address, rate, timeout);
    await this.refreshQuietly();
    return record;
  }

  async clear(address: string): Promise<DrainRecord | undefined> {
    const ended = await this.store.clearDrain(address);
    await this.refreshQuietly();
    return ended;
  }

  subscribe(listener: DrainsListener): () => void {
    return this.list.subscribe(listener);
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    this.list.clearListeners();
  }

  /**
   * An unavailable store is not a fault here: the drains last read stay in force, and the
   * store's resync once it is back triggers the next read.
   */
  private async refreshQuietly(): Promise<void> {
    try {
      await this.refresh();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) this.onError(error);
    }
  }

  private async refresh(): Promise<void> {
    const ticket = ++this.started;
    const drains = await this.store.listDrains();
    if (this.closed || ticket < this.applied) return;
    this.applied = ticket;
    this.list.replace(drains, this.onError);
  }
}
