/**
 * Turns announcements from the LISTEN connection into StoreChange values for subscribers,
 * strictly in arrival order, and owns the resync rule: once notifications may have been
 * missed, subscribers get `{kind:'resync', snapshot}` BEFORE any further change.
 *
 * How the order is kept: all work runs on one serial queue. A loss of the LISTEN connection
 * queues a resync task at that moment, so every notification of the next connection is
 * queued behind it; notifications queued before it, or whose read is in flight at that
 * moment, are skipped (the snapshot, read later, already holds their effect). A change may
 * be delivered that the consumer already has from a snapshot (committed between LISTEN and
 * the snapshot read): consumers apply changes
 * idempotently — host-added of a known id and host-removed of an unknown id are no-ops.
 * Settings are only delivered with a version above the last one delivered or committed here.
 */
import type { Logger } from '../../log';
import { parseAnnouncement, AnnouncementError, type Announcement } from './notify';
import type { VersionedSettings } from './queries';
import type { CertifiedRecord, HostRecord, StoreChange, StoreSnapshot } from '../types';

export interface ChangeSource {
  /** This process's instance id: announcements `from` it are our own changes, skipped. */
  readonly instanceId: string;
  readSettings(): Promise<VersionedSettings>;
  readHostsById(ids: readonly number[]): Promise<HostRecord[]>;
  /** Rows of certified_guids and revocations by id (schema version 9). */
  readCertifiedById(ids: readonly number[]): Promise<CertifiedRecord[]>;
  readRevokedById(ids: readonly number[]): Promise<string[]>;
  readSnapshot(): Promise<StoreSnapshot>;
  /** Resolves when the store is available again; rejects when it is closed. */
  whenAvailable(): Promise<void>;
  /** A read failed: the store should consider itself down and recover. */
  readFailed(err: unknown): void;
}

type Listener = (change: StoreChange) => void;

export class ChangeFeed {
  private readonly listeners = new Set<Listener>();
  /** Changes produced while nobody was subscribed, for the first subscriber. */
  private backlog: StoreChange[] = [];
  private tail: Promise<void> = Promise.resolve();
  /** True until a snapshot is read: before that there is no state to apply changes to. */
  private resyncRequired = true;
  private resyncQueued = false;
  private lastSettingsVersion = -1;
  private closed = false;

  constructor(
    private readonly source: ChangeSource,
    private readonly log: Logger,
  ) {}

  /**
   * Changes that arrived while nobody was subscribed (e.g. between open() and this call) are
   * delivered to the first subscriber synchronously, before subscribe() returns: delivering
   * them later could let a newer change overtake them.
   */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    const backlog = this.backlog;
    this.backlog = [];
    for (const change of backlog) this.deliver(listener, change);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** A payload from the LISTEN connection. */
  notification(payload: string): void {
    this.enqueue(() => this.apply(payload));
  }

  /**
   * The state this feed continues from, read on the queue (call right after the LISTEN
   * connection is up): notifications received before it are skipped, as it holds them.
   */
  initialSnapshot(): Promise<StoreSnapshot> {
    this.resyncRequired = true;
    return new Promise((resolve, reject) => {
      this.enqueue(async () => {
        if (this.closed) return reject(new Error('change feed closed'));
        try {
          const snapshot = await this.source.readSnapshot();
          this.acceptSnapshot(snapshot);
          resolve(snapshot);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Notifications may have been missed: deliver a fresh snapshot before anything else. */
  requireResync(reason: string): void {
    this.resyncRequired = true;
    if (this.resyncQueued) return;
    this.log.debug({ reason }, 'store resync queued');
    this.resyncQueued = true;
    this.enqueue(async () => {
      this.resyncQueued = false;
      await this.resync(); // returns at once when closed
    });
  }

  /** A settings version committed by this process (so an older announcement is not news). */
  noteSettingsVersion(version: number): void {
    this.lastSettingsVersion = Math.max(this.lastSettingsVersion, version);
  }

  /** Resolves once every task queued so far has run. */
  settled(): Promise<void> {
    return this.tail;
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.backlog = [];
  }

  /** Tasks run one at a time, in order; each checks `closed` itself. */
  private enqueue(task: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      try {
        await task();
      } catch (err) {
        this.log.error({ err }, 'store change feed task failed');
      }
    });
  }

  private acceptSnapshot(snapshot: StoreSnapshot): void {
    this.lastSettingsVersion = snapshot.settingsVersion;
    // A newer loss may have queued another resync meanwhile; it must still run and gate.
    if (!this.resyncQueued) this.resyncRequired = false;
  }

  private async resync(): Promise<void> {
    while (!this.closed) {
      try {
        await this.source.whenAvailable();
      } catch {
        return; // closed
      }
      let snapshot: StoreSnapshot;
      try {
        snapshot = await this.source.readSnapshot();
      } catch (err) {
        this.source.readFailed(err);
        continue;
      }
      this.acceptSnapshot(snapshot);
      this.log.info(
        { event: 'store_resync', settingsVersion: snapshot.settingsVersion, hosts: snapshot.hosts.length },
        'caught up with the database (notifications may have been missed)',
      );
      this.emit({ kind: 'resync', snapshot });
      return;
    }
  }

  private async apply(payload: string): Promise<void> {
    if (this.closed || this.resyncRequired) return;
    const announcement = parseAnnouncement(payload);
    if (announcement instanceof AnnouncementError) {
      // Perhaps a newer server's announcement: a full re-read cannot be wrong.
      this.log.warn({ err: announcement, payload: payload.slice(0, 200) }, 'unknown store announcement; resyncing');
      this.requireResync(announcement.message);
      return;
    }
    if (announcement.from === this.source.instanceId) return;
    try {
      const changes = await this.changesFor(announcement);
      // The loss may have been learnt while this read was in flight: from then on the next
      // change must be the resync, whose snapshot (read after this one) holds these changes.
      if (this.closed || this.resyncRequired) return;
      for (const change of changes) this.emit(change);
    } catch (err) {
      // The change is committed but we could not read it: only a resync can recover it.
      this.source.readFailed(err);
      this.requireResync(`reading a ${announcement.kind} change failed`);
    }
  }

  private async changesFor(announcement: Announcement): Promise<StoreChange[]> {
    switch (announcement.kind) {
      case 'settings': {
        // Read the current row: several announcements in a row cost one delivery each at
        // most, and an announcement older than what we already have is dropped.
        const current = await this.source.readSettings();
        if (current.settingsVersion <= this.lastSettingsVersion) return [];
        this.lastSettingsVersion = current.settingsVersion;
        return [{ kind: 'settings', ...current }];
      }
      case 'host-added': {
        // Hosts removed since the announcement are simply not found; their removal follows.
        const hosts = await this.source.readHostsById(announcement.ids);
        return hosts.map((host) => ({ kind: 'host-added', host }));
      }
      case 'host-removed':
        return announcement.ids.map((id) => ({ kind: 'host-removed', id }));
      case 'host-moved': {
        // The zone as committed now: a later move is announced again and read again.
        const hosts = await this.source.readHostsById(announcement.ids);
        return hosts.map((host) => ({ kind: 'host-moved', host }));
      }
      case 'drains':
        // The whole (small) table is read again by whoever keeps the drains.
        return [{ kind: 'drains' }];
      case 'rebalance':
        // The current run is read again by whoever keeps the rebalance board.
        return [{ kind: 'rebalance' }];
      case 'certified': {
        // The rows as committed now (a reset one with serial null); a later change is read again.
        const records = await this.source.readCertifiedById(announcement.ids);
        return records.length === 0 ? [] : [{ kind: 'certified', records }];
      }
      case 'revoked': {
        const serials = await this.source.readRevokedById(announcement.ids);
        return serials.length === 0 ? [] : [{ kind: 'revoked', serials }];
      }
    }
  }

  private emit(change: StoreChange): void {
    if (this.closed) return;
    if (this.listeners.size === 0) {
      // A resync replaces all state, so nothing before it is worth keeping.
      if (change.kind === 'resync') this.backlog = [];
      this.backlog.push(change);
      return;
    }
    for (const listener of [...this.listeners]) this.deliver(listener, change);
  }

  private deliver(listener: Listener, change: StoreChange): void {
    try {
      listener(change);
    } catch (err) {
      // A subscriber's bug must not stop the feed for the others.
      this.log.error({ err, change: change.kind }, 'store change subscriber threw');
    }
  }
}
