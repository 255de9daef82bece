/**
 * Group commit: calls that arrive while a flush is in flight wait and go out together in the
 * next one, so a storm of thousands of new agents costs a handful of statements instead of
 * thousands of round trips. One flush at a time; the first flush of a burst waits for
 * setImmediate, so every call made in the same turn of the event loop (e.g. the hellos of
 * one poll phase, each in its own socket callback) joins it.
 */

export type Flush<Item, Result> = (items: readonly Item[]) => Promise<readonly Result[]>;

interface Waiting<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(err: unknown): void;
}

export class GroupCommit<Item, Result> {
  private queue: Waiting<Item, Result>[] = [];
  private busy = false;
  private batches = 0;
  private submitted = 0;

  /**
   * @param flush writes a batch and resolves to one result per item, in the same order; a
   *   rejection fails every call of that batch (and only that batch).
   * @param maxBatch the most items per flush, to bound one statement's size and duration.
   */
  constructor(
    private readonly flush: Flush<Item, Result>,
    private readonly maxBatch: number,
  ) {
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
  }

  submit(item: Item): Promise<Result> {
    this.submitted += 1;
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Fail every call not yet flushed (the store is closing); in-flight batches finish. */
  rejectWaiting(err: unknown): void {
    const waiting = this.queue;
    this.queue = [];
    for (const w of waiting) w.reject(err);
  }

  /** Flushes so far and calls so far: the ratio is the batching achieved. */
  get counts(): { batches: number; calls: number } {
    return { batches: this.batches, calls: this.submitted };
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.batches += 1;
      await this.flushBatch(batch);
    }
    this.busy = false;
  }

  private async flushBatch(batch: Waiting<Item, Result>[]): Promise<void> {
    let results: readonly Result[];
    try {
      results = await this.flush(batch.map((w) => w.item));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (results.length !== batch.length) {
      const err = new Error(`group commit flush returned ${results.length} results for ${batch.length} items`);
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i] as Result));
  }
}
