/**
 * What a starting server must undo, in reverse order of doing it: each part adds its own close
 * as soon as it exists, so a failed start releases exactly what was opened, and a stop
 * releases everything. A cleanup that fails does not keep the others from running.
 */
export type Cleanup = () => Promise<void> | void;

export class Cleanups {
  private readonly pending: Cleanup[] = [];

  add(cleanup: Cleanup): void {
    this.pending.push(cleanup);
  }

  /** Runs every cleanup added so far, the last added first, each once. */
  async run(): Promise<void> {
    for (const cleanup of this.pending.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}
