/**
 * Where drains are recorded. `server`: in this process only (the embedded store: each server
 * knows the drains it was asked for). `cluster`: in the shared store, so every server of the
 * fleet sends a draining server last and the drained server itself learns of a drain that
 * was asked of any server (board-store.ts).
 */
import type { DrainScope } from '../../api/drain';
import type { DrainRecord } from '../../store/types';

export type DrainsListener = (drains: readonly DrainRecord[]) => void;

export interface DrainBoard {
  readonly scope: DrainScope;
  /** The drains known now, ordered by address. */
  current(): readonly DrainRecord[];
  /**
   * Begins (or re-rates) a drain; `timeout` (seconds) sets its deadline, undefined keeps the
   * one it has. Listeners have been told before it resolves.
   */
  set(address: string, rate: number, timeout?: number): Promise<DrainRecord>;
  /** Ends a drain; the ended record, or undefined when `address` was not draining. */
  clear(address: string): Promise<DrainRecord | undefined>;
  /** Told the full list after every change, this server's or (cluster) another's. */
  subscribe(listener: DrainsListener): () => void;
  close(): void;
}

/** Listeners and the sorted current list: what every board shares. */
export class DrainList {
  private drains: readonly DrainRecord[] = [];
  private readonly listeners = new Set<DrainsListener>();

  get records(): readonly DrainRecord[] {
    return this.drains;
  }

  find(address: string): DrainRecord | undefined {
    return this.drains.find((drain) => drain.address === address);
  }

  /** Replaces the list and tells every listener (a throwing listener does not stop the rest). */
  replace(drains: readonly DrainRecord[], onListenerError: (error: unknown) => void): void {
    this.drains = Object.freeze([...drains].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)));
    for (const listener of [...this.listeners]) {
      try {
        listener(this.drains);
      } catch (error) {
        onListenerError(error);
      }
    }
  }

  subscribe(listener: DrainsListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  clearListeners(): void {
    this.listeners.clear();
  }
}

/** The embedded store's board: this process's memory; a restart forgets every drain. */
export class LocalDrainBoard implements DrainBoard {
  readonly scope = 'server';
  private readonly list = new DrainList();

  constructor(
    private readonly onListenerError: (error: unknown) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  current(): readonly DrainRecord[] {
    return this.list.records;
  }

  set(address: string, rate: number, timeout?: number): Promise<DrainRecord> {
    // A new rate for a running drain keeps the time it began, and its deadline unless given.
    const running = this.list.find(address);
    const since = running?.since ?? this.now().toISOString();
    const record: DrainRecord = { address, rate, since };
    const deadline = timeout ?? running?.timeout;
    if (deadline !== undefined) record.timeout = deadline;
    this.list.replace([...this.list.records.filter((drain) => drain.address !== address), record], this.onListenerError);
    return Promise.resolve(record);
  }

  clear(address: string): Promise<DrainRecord | undefined> {
    const ended = this.list.find(address);
    if (ended !== undefined) this.list.replace(this.list.records.filter((drain) => drain !== ended), this.onListenerError);
    return Promise.resolve(ended);
  }

  subscribe(listener: DrainsListener): () => void {
    return this.list.subscribe(listener);
  }

  close(): void {
    this.list.clearListeners();
  }
}
