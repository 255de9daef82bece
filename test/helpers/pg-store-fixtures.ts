/**
 * Shared by the PgStore tests: stores with short timeouts, a recorder of each store's change
 * feed that tests await on (no sleeps), and a direct SQL client for checking the database.
 */
import { Client } from 'pg';
import { PgStore, type PgStoreOptions } from '../../src/store/pg/store';
import type { StoreChange, StoreSnapshot } from '../../src/store/types';

/** Timeouts short enough for tests, long enough for a loaded 2-core machine. */
export const TEST_STORE_OPTIONS: Omit<PgStoreOptions, 'connectionString'> = {
  connectTimeoutMs: 2_000,
  statementTimeoutMs: 5_000,
  healthCheckIntervalMs: 2_000,
  reconnect: { baseMs: 50, capMs: 500, minMs: 20 },
};

/** Every change a store delivers, in order, with a way to await the next matching one. */
export class ChangeRecorder {
  readonly changes: StoreChange[] = [];
  private waiters: { from: number; match(c: StoreChange): boolean; resolve(c: StoreChange): void }[] = [];

  constructor(store: PgStore) {
    store.subscribe((change) => {
      this.changes.push(change);
      const index = this.changes.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (index < w.from || !w.match(change)) return true;
        w.resolve(change);
        return false;
      });
    });
  }

  /** Position to wait from: changes recorded before it are ignored by waitFor. */
  mark(): number {
    return this.changes.length;
  }

  /** The first change at or after `from` that matches (already recorded, or the next one). */
  waitFor(match: (c: StoreChange) => boolean, from = 0): Promise<StoreChange> {
    const found = this.changes.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ from, match, resolve }));
  }

  since(from: number): StoreChange[] {
    return this.changes.slice(from);
  }
}

export interface OpenedStore {
  store: PgStore;
  snapshot: StoreSnapshot;
  recorder: ChangeRecorder;
}

/** Open a store and subscribe a recorder before any change can arrive. */
export async function openStore(url: string, options: Partial<PgStoreOptions> = {}): Promise<OpenedStore> {
  const store = new PgStore({ ...TEST_STORE_OPTIONS, ...options, connectionString: url });
  const recorder = new ChangeRecorder(store);
  const snapshot = await store.open();
  return { store, snapshot, recorder };
}

/** Run one statement on a connection of its own (checks from outside any store). */
export async function sql<R>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

/**
 * Poll `check` until it returns true or `deadlineMs` passes (30 s: it returns as soon as the fact
 * holds, so only a red run waits that long; 5 s was short at load 50). Only for server-side facts no
 * event reports (e.g. a backend process exiting after its client disconnected).
 */
export async function pollUntil(check: () => Promise<boolean>, deadlineMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
