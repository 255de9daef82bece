/**
 * The embedded store: settings and the host registry in a data directory, for a single
 * management server (cluster mode uses PostgreSQL).
 *
 *   settings.json  {"version": N, "settings": {...}}, replaced atomically on every change
 *   hosts.json     host snapshot, replaced atomically at compaction (see host-journal.ts)
 *   hosts.log      host journal: one line per group commit since the snapshot
 *
 * Every write is atomic and durable before its promise resolves, so `kill -9` at any moment
 * leaves the last committed state readable and a restart keeps every host id.
 *
 * One process per data directory: two servers sharing one would interleave their writes, so
 * open() takes the directory's lock (dir-lock.ts) and the second server refuses to start.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  SettingsConflictError,
  asStoreFull,
  type HostRecord,
  type Store,
  type StoreChange,
  type StoreSnapshot,
} from './types';
import { DEFAULT_SETTINGS, SettingsError, type Settings } from '../settings/types';
import { HostJournal, StoreCorruptError, applyOp, type HostRegistryState, type JournalOp } from './host-journal';
import { readFileIfExists, removeStaleTempFiles, syncDirectory, writeFileAtomic } from '../util/atomic-file';
import { DataDirLock } from './dir-lock';
import { DATA_FILE_MODE } from './data-dir-mode';

export { StoreCorruptError } from './host-journal';

export const SETTINGS_FILE = 'settings.json';
export const HOSTS_SNAPSHOT_FILE = 'hosts.json';
export const HOSTS_JOURNAL_FILE = 'hosts.log';

export interface FileStoreOptions {
  dataDir: string;
  /** Compact the journal into the snapshot once it reaches this size (and the snapshot's). Default 1 MiB. */
  compactAfterBytes?: number;
  /**
   * Told when a compaction fails, with the delay before the next attempt. Nothing committed
   * is lost (the journal still holds it) and compaction is retried on a commit after that
   * delay, so this is for logging, not for callers.
   */
  onCompactionError?: (err: unknown, retryInMs: number) => void;
  /** Monotonic milliseconds, for the compaction back-off; performance.now() by default. */
  now?: () => number;
}

/**
 * A failed compaction waits this long before the next attempt, doubling up to the cap: on a
 * full disk, retrying on every group commit wrote and deleted 179 partial snapshots in 26 s.
 */
export const COMPACTION_RETRY_MIN_MS = 1_000;
export const COMPACTION_RETRY_MAX_MS = 300_000;

/** The store's writes are failing (a full disk): what /healthz reports as `degraded`. */
export interface WriteFailure {
  /** The first failure's message, naming the cause (ENOSPC) and the file. */
  error: string;
  /** ISO-8601 time of the first failure since writes last succeeded. */
  since: string;
}

type WriteKind = 'settings' | 'hosts' | 'compaction';

/** Counters for tests and metrics. */
export interface FileStoreStats {
  /** Journal appends: one per group commit of registrations and removals. */
  hostCommits: number;
  /** Host registrations and removals committed. */
  hostChanges: number;
  compactions: number;
  /** Compactions that failed (each followed by a back-off before the next attempt). */
  compactionFailures: number;
  /** Bytes written to the journal and snapshots. */
  hostBytesWritten: number;
  settingsWrites: number;
}

/** An operation on a store that is not open (yet, or any more). */
export class StoreStateError extends Error {
  constructor(
    readonly code: 'store_not_open' | 'store_already_opened' | 'store_closed',
    message: string,
  ) {
    super(message);
    this.name = 'StoreStateError';
  }
}

interface QueuedOp {
  op: JournalOp;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const DEFAULT_COMPACT_AFTER_BYTES = 1 << 20;

export class FileStore implements Store {
  private readonly dataDir: string;
  private readonly settingsPath: string;
  private readonly compactAfterBytes: number;
  private readonly onCompactionError: (err: unknown, retryInMs: number) => void;
  private readonly now: () => number;
  /** Compaction is not tried before this time (now()); 0 = at the next commit that needs it. */
  private compactNotBefore = 0;
  private compactRetryMs = 0;
  /** Kinds of write failing now, each with its first failure: cleared by that kind's next success. */
  private readonly failing = new Map<WriteKind, WriteFailure>();
  private readonly counters: Omit<FileStoreStats, 'hostBytesWritten'> = { hostCommits: 0, hostChanges: 0, compactions: 0, compactionFailures: 0, settingsWrites: 0 };

  private state: 'new' | 'opening' | 'open' | 'closing' | 'closed' = 'new';
  private settings: Settings = { ...DEFAULT_SETTINGS };
  private settingsVersion = 0;
  /** Serialises settings changes: each merges into the result of the one before. */
  private settingsChain: Promise<unknown> = Promise.resolve();

  private journal: HostJournal | undefined;
  private lock: DataDirLock | undefined;
  private registry: HostRegistryState = { hosts: new Map(), nextId: 1 };
  private readonly idByGuid = new Map<string, number>();
  /** Registrations and removals accepted but not yet durable: concurrent repeats share them. */
  private readonly pendingRegistrations = new Map<string, Promise<HostRecord>>();
  private readonly pendingRemovals = new Map<number, Promise<HostRecord | undefined>>();
  /** Ops waiting for the next group commit, and the commit loop while one runs. */
  private queue: QueuedOp[] = [];
  private flushing: Promise<void> | undefined;

  constructor(opts: FileStoreOptions) {
    this.dataDir = opts.dataDir;
    this.settingsPath = path.join(opts.dataDir, SETTINGS_FILE);
    this.compactAfterBytes = opts.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
    this.onCompactionError = opts.onCompactionError ?? (() => undefined);
    this.now = opts.now ?? (() => performance.now());
  }

  /** Resolves once the commits queued so far, and any compaction following them, are done. */
  async settled(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  /** The oldest write failure still unresolved, or undefined while every write succeeds. */
  writeFailure(): WriteFailure | undefined {
    let oldest: WriteFailure | undefined;
    for (const failure of this.failing.values()) if (oldest === undefined || failure.since < oldest.since) oldest = failure;
    return oldest;
  }

  private wrote(kind: WriteKind, error?: unknown): void {
    if (error === undefined) this.failing.delete(kind);
    else if (!this.failing.has(kind)) this.failing.set(kind, { error: (error as Error).message ?? String(error), since: new Date().toISOString() });
  }

  get stats(): Readonly<FileStoreStats> {
    return { ...this.counters, hostBytesWritten: this.journal?.bytesWritten ?? 0 };
  }

  async open(): Promise<StoreSnapshot> {
    if (this.state !== 'new') throw new StoreStateError('store_already_opened', 'FileStore.open() may be called once');
    this.state = 'opening';
    const created = await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    if (created !== undefined) await syncCreatedDirectories(created, this.dataDir);
    try {
      this.lock = await DataDirLock.acquire(this.dataDir);
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    try {
      return await this.load();
    } catch (err) {
      this.state = 'closed';
      await this.lock.release();
      throw err;
    }
  }

  private async load(): Promise<StoreSnapshot> {
    const snapshotPath = path.join(this.dataDir, HOSTS_SNAPSHOT_FILE);
    const journalPath = path.join(this.dataDir, HOSTS_JOURNAL_FILE);
    for (const file of [this.settingsPath, snapshotPath, journalPath]) await removeStaleTempFiles(file);

    const stored = await readSettingsFile(this.settingsPath);
    if (stored) {
      this.settings = stored.settings;
      this.settingsVersion = stored.version;
    }
    const { journal, state } = await HostJournal.load(journalPath, snapshotPath, this.compactAfterBytes);
    this.journal = journal;
    this.registry = state;
    for (const host of state.hosts.values()) this.idByGuid.set(host.guid, host.id);
    this.state = 'open';
    return {
      settings: { ...this.settings },
      settingsVersion: this.settingsVersion,
      hosts: [...state.hosts.values()].sort((a, b) => a.id - b.id),
    };
  }

  updateSettings(
    patch: Partial<Settings>,
    validate: (merged: Settings) => string | undefined,
    expectedVersion?: number,
  ): Promise<{ settings: Settings; settingsVersion: number }> {
    const closed = this.refuseUnlessOpen();
    if (closed) return Promise.reject(closed);
    const result = this.settingsChain.then(() => this.commitSettings(patch, validate, expectedVersion));
    this.settingsChain = result.catch(() => undefined);
    return result;
  }

  registerHost(guid: string, zone: string): Promise<HostRecord> {
    const closed = this.refuseUnlessOpen();
    if (closed) return Promise.reject(closed);
    const knownId = this.idByGuid.get(guid);
    if (knownId !== undefined) return Promise.resolve(this.registry.hosts.get(knownId)!);
    const pending = this.pendingRegistrations.get(guid);
    if (pending) return pending;
    // The id is taken now, in call order, so concurrent registrations get ascending ids; if
    // the commit fails it is simply never used (ids are never reused, gaps are fine).
    const host: HostRecord = Object.freeze({
      id: this.registry.nextId++,
      guid,
      zone,
      registeredAt: new Date().toISOString(),
    });
    const registration = this.commit({ op: 'add', host })
      .then(() => host)
      .finally(() => this.pendingRegistrations.delete(guid));
    this.pendingRegistrations.set(guid, registration);
    return registration;
  }

  /**
   * Journalled as an `add` of the same id with the new zone: replaying an add replaces the
   * record (applyOp), so the journal format and older servers reading it are unchanged.
   */
  moveHost(id: number, zone: string): Promise<HostRecord | undefined> {
    const closed = this.refuseUnlessOpen();
    if (closed) return Promise.reject(closed);
    const host = this.registry.hosts.get(id);
    // A removal already queued would otherwise be undone by this re-add.
    if (!host || this.pendingRemovals.has(id)) return Promise.resolve(undefined);
    if (host.zone === zone) return Promise.resolve(host);
    const moved: HostRecord = Object.freeze({ ...host, zone });
    return this.commit({ op: 'add', host: moved }).then(() => moved);
  }

  removeHost(id: number): Promise<HostRecord | undefined> {
    const closed = this.refuseUnlessOpen();
    if (closed) return Promise.reject(closed);
    const host = this.registry.hosts.get(id);
    if (!host) return Promise.resolve(undefined);
    const pending = this.pendingRemovals.get(id);
    if (pending) return pending;
    const removal = this.commit({ op: 'remove', id })
      .then(() => host)
      .finally(() => this.pendingRemovals.delete(id));
    this.pendingRemovals.set(id, removal);
    return removal;
  }

  /** The file store is the only writer of its directory: there is never a change to report. */
  subscribe(_listener: (change: StoreChange) => void): () => void {
    return () => undefined;
  }

  /** Refuses new work at once; resolves when every accepted change is durable. */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    await this.flushing;
    await this.settingsChain;
    await this.lock?.release();
    this.state = 'closed';
  }

  private refuseUnlessOpen(): StoreStateError | undefined {
    if (this.state === 'open') return undefined;
    if (this.state === 'closing' || this.state === 'closed') return new StoreStateError('store_closed', 'the store is closed');
    return new StoreStateError('store_not_open', 'the store is not open yet');
  }

  private async commitSettings(
    patch: Partial<Settings>,
    validate: (merged: Settings) => string | undefined,
    expectedVersion: number | undefined,
  ): Promise<{ settings: Settings; settingsVersion: number }> {
    // Checked here, in the chain that serialises changes: no other change can slip in between.
    if (expectedVersion !== undefined && expectedVersion !== this.settingsVersion) {
      throw new SettingsConflictError(expectedVersion, this.settingsVersion);
    }
    const merged = mergeSettings(this.settings, patch);
    const problem = validate(merged);
    if (problem !== undefined) throw new SettingsError(problem);
    const version = this.settingsVersion + 1;
    try {
      await writeFileAtomic(this.settingsPath, JSON.stringify({ version, settings: merged }, null, 2) + '\n', { mode: DATA_FILE_MODE });
    } catch (error) {
      const named = asStoreFull(error, SETTINGS_FILE);
      this.wrote('settings', named);
      throw named;
    }
    this.wrote('settings');
    this.counters.settingsWrites++;
    this.settings = merged;
    this.settingsVersion = version;
    return { settings: { ...merged }, settingsVersion: version };
  }

  /** Queue `op` for the next group commit; resolves once it is durable and applied. */
  private commit(op: JournalOp): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.flushing ??= this.flushQueue();
    });
  }

  /**
   * The group commit loop: every op queued while a write is in flight shares the next write,
   * so a registration storm costs a handful of appends, not one per agent.
   */
  private async flushQueue(): Promise<void> {
    // Let the registrations of every socket read in this turn of the event loop join the first write.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.journal!.append(batch.map((queued) => queued.op));
      } catch (error) {
        const named = asStoreFull(error, HOSTS_JOURNAL_FILE);
        this.wrote('hosts', named);
        for (const queued of batch) queued.reject(named);
        continue;
      }
      this.wrote('hosts');
      this.counters.hostCommits++;
      this.counters.hostChanges += batch.length;
      for (const queued of batch) this.apply(queued.op);
      for (const queued of batch) queued.resolve();
      if (this.journal!.needsCompaction() && this.now() >= this.compactNotBefore) await this.compact();
    }
    this.flushing = undefined;
  }

  private apply(op: JournalOp): void {
    if (op.op === 'add') this.idByGuid.set(op.host.guid, op.host.id);
    else this.idByGuid.delete(this.registry.hosts.get(op.id)!.guid);
    applyOp(this.registry, op);
  }

  private async compact(): Promise<void> {
    try {
      await this.journal!.compact(this.registry);
      this.counters.compactions++;
      this.compactRetryMs = 0;
      this.compactNotBefore = 0;
      this.wrote('compaction');
    } catch (error) {
      const named = asStoreFull(error, HOSTS_SNAPSHOT_FILE);
      this.counters.compactionFailures++;
      this.compactRetryMs = Math.min(COMPACTION_RETRY_MAX_MS, Math.max(COMPACTION_RETRY_MIN_MS, this.compactRetryMs * 2));
      this.compactNotBefore = this.now() + this.compactRetryMs;
      this.wrote('compaction', named);
      this.onCompactionError(named, this.compactRetryMs);
    }
  }
}

/**
 * A new data directory's entry must be durable too, and so must every directory mkdir created
 * on the way to it (`first` is the topmost): each one's entry lives in its parent.
 */
async function syncCreatedDirectories(first: string, dataDir: string): Promise<void> {
  const top = path.resolve(first);
  for (let dir = path.resolve(dataDir); ; dir = path.dirname(dir)) {
    await syncDirectory(path.dirname(dir));
    if (dir === top || dir === path.dirname(dir)) return;
  }
}

function mergeSettings(current: Settings, patch: Partial<Settings>): Settings {
  const merged = { ...current };
  // Only the known keys (those with a default), so a caller's stray property is never persisted.
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
    const value = patch[key];
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

async function readSettingsFile(file: string): Promise<{ version: number; settings: Settings } | undefined> {
  const bytes = await readFileIfExists(file);
  if (bytes === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new StoreCorruptError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const root = parsed as { version?: unknown; settings?: unknown } | null;
  if (typeof root !== 'object' || root === null || typeof root.settings !== 'object' || root.settings === null) {
    throw new StoreCorruptError(`${file}: expected {"version": N, "settings": {...}}`);
  }
  if (!Number.isSafeInteger(root.version) || (root.version as number) < 0) {
    throw new StoreCorruptError(`${file}: version ${JSON.stringify(root.version)} is not a non-negative integer`);
  }
  const stored = root.settings as Record<string, unknown>;
  // Keys missing from an older file take their defaults; present ones must have the right type.
  const settings: Settings = { ...DEFAULT_SETTINGS };
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
    const value = stored[key];
    if (value === undefined) continue;
    if (typeof value !== typeof DEFAULT_SETTINGS[key]) {
      throw new StoreCorruptError(`${file}: ${key} ${JSON.stringify(value)} is not a ${typeof DEFAULT_SETTINGS[key]}`);
    }
    (settings as unknown as Record<string, unknown>)[key] = value;
  }
  return { version: root.version as number, settings };
}
