/**
 * Applies changes to the fleet in one order: validate, persist (the store), install (the
 * Fleet), then tell the connected agents (fan-out). Used by the admin API, by handshakes that
 * register hosts, and by changes other servers commit (cluster mode).
 */
import {
  SettingsConflictError,
  StoreUnavailableError,
  type HostRecord,
  type Store,
  type StoreChange,
  type StoreSnapshot,
} from '../../store/types';
import { SETTING_HOST, type Settings } from '../../settings/types';
import { validateSettings } from '../../settings/validate';
import type { AgentRegistry } from './agent-registry';
import { AvoidSources } from '../../lb/avoid';
import type { HostsCause, ServerEvents } from '../events';
import { DEFAULT_SLICE_SIZE, FanoutRunner } from './fanout-runner';
import { DEFAULT_SHIFT_RESEND_MS, ShiftResends, type Schedule } from './resend';
import { FleetSettingsError, type Fleet, type PreparedPlanners } from './fleet';

export type RemoveHostResult =
  | { kind: 'removed'; host: HostRecord; agentsUpdated: number }
  | { kind: 'unknown' }
  | { kind: 'connected'; host: HostRecord };

/** How host-set re-sends are throttled per zone (resend.ts); tests pass a manual clock. */
export interface ShiftResendTiming {
  intervalMs: number;
  schedule?: Schedule;
}

export class FleetController {
  private readonly avoidSources = new AvoidSources();
  /**
   * Re-sends for hosts that moved others' lists (arriving out of id order, or any new host
   * under an algorithm that plans from the whole host set), throttled per zone.
   */
  private readonly shiftResends: ShiftResends;
  /** A resync is comparing hosts (resync()); store changes wait in heldBack meanwhile. */
  private resyncing = false;
  private readonly heldBack: StoreChange[] = [];
  /** Host-set fan-outs asked for in this turn and not started yet, by zone (sendHostSetOnce). */
  private readonly pendingHostSets = new Map<string, Promise<number>>();

  constructor(
    private readonly store: Store,
    private readonly fleet: Fleet,
    private readonly agents: AgentRegistry,
    private readonly events: ServerEvents,
    /** Walks the fleet in slices (and, for large bursts, plans on the worker pool). */
    private readonly fanout: FanoutRunner = new FanoutRunner(fleet, { sliceSize: DEFAULT_SLICE_SIZE, pool: undefined }),
    timing: ShiftResendTiming = { intervalMs: DEFAULT_SHIFT_RESEND_MS },
  ) {
    this.shiftResends = new ShiftResends((zone) => void this.sendHostSet(zone), timing.intervalMs, timing.schedule);
  }

  /** This server's own `host` entry, served while nobody has set `host` (version 0). */
  private defaultHost: string | undefined;

  /**
   * Serve `host` as the default of the `host` setting: now, if no settings were ever
   * committed, and again after a resync to an uncommitted store. Call before agents connect.
   */
  useDefaultHost(host: string): void {
    this.defaultHost = host;
    const applied = this.fleet.applyDefaults(this.withDefaults(this.fleet.settings, 0));
    if (applied instanceof FleetSettingsError) this.events.emit('listenerError', { event: 'settingsChanged', error: applied });
  }

  private withDefaults(settings: Settings, settingsVersion: number): Settings {
    return settingsVersion === 0 && this.defaultHost !== undefined ? { ...settings, [SETTING_HOST]: this.defaultHost } : settings;
  }

  current(): { settings: Settings; settingsVersion: number } {
    return { settings: { ...this.fleet.settings }, settingsVersion: this.fleet.settingsVersion };
  }

  /**
   * Validates the merged result inside the store's commit, then applies it live. Rejects with
   * the store's SettingsError (nothing changed), SettingsConflictError (`expectedVersion`, an
   * If-Match, is no longer the committed version) or StoreUnavailableError.
   */
  async updateSettings(patch: Partial<Settings>, expectedVersion?: number): Promise<{ settings: Settings; settingsVersion: number }> {
    const committed = await this.commitSettings(patch, expectedVersion);
    await this.installSettings(committed.settings, committed.settingsVersion);
    return this.current();
  }

  /**
   * The first change of a store nobody configured keeps the `host` agents were being served
   * (this server's own address), not the store's placeholder: the default becomes explicit,
   * committed against version 0 so that in a cluster a change another server made first wins.
   */
  private async commitSettings(patch: Partial<Settings>, expectedVersion: number | undefined): Promise<{ settings: Settings; settingsVersion: number }> {
    if (this.defaultHost !== undefined && this.fleet.settingsVersion === 0 && patch[SETTING_HOST] === undefined && (expectedVersion ?? 0) === 0) {
      try {
        return await this.store.updateSettings({ ...patch, [SETTING_HOST]: this.defaultHost }, validateSettings, 0);
      } catch (error) {
        if (!(error instanceof SettingsConflictError) || expectedVersion !== undefined) throw error;
      }
    }
    return this.store.updateSettings(patch, validateSettings, expectedVersion);
  }

  /**
   * The record of a guid (a handshake). A known guid is answered from memory, as the store
   * would (its zone unchanged): a reconnect storm costs the store nothing, and in cluster
   * mode known agents are served while the database is down. A new guid is registered
   * durably first, then hosts whose list it moved are re-sent. A known guid's record is
   * returned as is, not in a promise: the handshake goes on in the same tick. `known`: the
   * caller's own lookup of the guid, so a handshake looks it up once.
   */
  registerHost(guid: string, zone: string, known: HostRecord | undefined = this.fleet.hostByGuid(guid)): HostRecord | Promise<HostRecord> {
    if (known === undefined) return this.registerNewHost(guid, zone);
    return known.zone === zone ? known : this.moveHost(known, zone);
  }

  /** The registered host `id`, or undefined. */
  host(id: number): HostRecord | undefined {
    return this.fleet.host(id);
  }

  /** Every registered host, in no particular order. */
  allHosts(): IterableIterator<HostRecord> {
    return this.fleet.hosts();
  }

  /**
   * A known guid said hello with another zone (its agent.properties changed): the move is
   * committed, then both zones are re-planned. While the store cannot take it, the host is
   * served in its registered zone (as a known guid is served from memory) and moves at a
   * later connect.
   */
  private async moveHost(known: HostRecord, zone: string): Promise<HostRecord> {
    let moved: HostRecord | undefined;
    try {
      moved = await this.store.moveHost(known.id, zone);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) this.events.emit('listenerError', { event: 'zoneChanged', error });
      return this.fleet.host(known.id) ?? known;
    }
    // Removed meanwhile: the handshake goes on with the record it had (the removal closes it).
    if (moved === undefined) return known;
    this.trackMove(moved);
    return this.fleet.host(moved.id) ?? moved;
  }

  /** Puts a moved host in its new zone and re-sends the lists of both zones once. */
  private trackMove(moved: HostRecord): void {
    const before = this.fleet.host(moved.id);
    if (before === undefined || before.zone === moved.zone) return;
    this.fleet.removeHost(moved.id);
    this.fleet.addHost(moved);
    this.events.emit('zoneChanged', { host: moved, fromZone: before.zone, toZone: moved.zone });
    void this.sendHostSetOnce(before.zone);
    void this.sendHostSetOnce(moved.zone);
  }

  private async registerNewHost(guid: string, zone: string): Promise<HostRecord> {
    const host = await this.store.registerHost(guid, zone);
    this.trackHost(host);
    return host;
  }

  /**
   * Removes a host. A connected host is refused unless `force`, which closes its connection
   * first: a live agent would otherwise re-register at once under a new id.
   */
  async removeHost(id: number, force: boolean): Promise<RemoveHostResult> {
    const host = this.fleet.host(id);
    if (host === undefined) return { kind: 'unknown' };
    const connection = this.agents.byHost(id);
    if (connection !== undefined && !force) return { kind: 'connected', host };
    connection?.close('removed');
    const removed = await this.store.removeHost(id);
    if (removed === undefined && this.fleet.host(id) === undefined) return { kind: 'unknown' };
    return { kind: 'removed', host, agentsUpdated: (await this.untrackHost(id)) ?? 0 };
  }

  /**
   * Puts `addresses` last in every list, for one reason (`source`: e.g. draining, down),
   * replacing what that source said before; re-sends the lists this changes.
   */
  async setAvoided(source: string, addresses: Iterable<string>): Promise<number> {
    if (!this.fleet.setAvoided(this.avoidSources.set(source, addresses))) return 0;
    const avoided = this.fleet.avoided.sorted();
    // A fleet of one slice is sent its lists before this returns (a drain relies on it).
    const agentsUpdated = await this.sendOutdated('avoid');
    this.events.emit('avoidChanged', { avoided, agentsUpdated });
    return agentsUpdated;
  }

  /** Connected (handshake done) agents per zone; O(agents), meant for a metrics scrape. */
  connectedByZone(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const connection of this.agents.all()) {
      const zone = connection.zone!;
      counts.set(zone, (counts.get(zone) ?? 0) + 1);
    }
    return counts;
  }

  get registeredHosts(): number {
    return this.fleet.hostCount;
  }

  /** Cancels re-sends still waiting (shutdown): none fires into a stopped server. */
  close(): void {
    this.shiftResends.close();
  }

  /** Applies a change another server committed (cluster mode). */
  onStoreChange(change: StoreChange): void {
    // A resync in progress compares in slices: what arrives meanwhile follows it, in order.
    if (this.resyncing) {
      this.heldBack.push(change);
      return;
    }
    switch (change.kind) {
      case 'settings':
        void this.installSettings(change.settings, change.settingsVersion);
        return;
      case 'host-added':
        this.trackHost(change.host);
        return;
      case 'host-moved':
        this.trackMove(change.host);
        return;
      case 'host-removed':
        this.agents.byHost(change.id)?.close('removed');
        void this.untrackHost(change.id);
        return;
      case 'resync':
        this.resync(change.snapshot);
        return;
    }
  }

  /**
   * Replaces every host and the settings with a snapshot (notifications may have been lost).
   * The comparison runs in slices (Fleet.planResync) while the last known state keeps being
   * served; store changes arriving meanwhile are held back and applied after it, in order.
   */
  private resync(snapshot: StoreSnapshot): void {
    this.resyncing = true;
    void this.fleet
      .planResync(snapshot.hosts)
      .then((plan) => {
        for (const id of this.fleet.applyResync(plan)) this.agents.byHost(id)?.close('removed');
        // New settings are planned aside before they are installed: changes wait for that too.
        return this.installSettings(snapshot.settings, snapshot.settingsVersion, true);
      })
      .catch((error: unknown) => this.events.emit('listenerError', { event: 'resync', error }))
      .finally(() => {
        this.resyncing = false;
        const held = this.heldBack.splice(0);
        // In order; a second resync among them holds back the rest again.
        for (let i = 0; i < held.length; i++) {
          if (this.resyncing) {
            this.heldBack.unshift(...held.slice(i));
            return;
          }
          this.onStoreChange(held[i]!);
        }
      });
  }

  /**
   * Installs committed settings and re-sends the lists they change. Settings that re-plan a
   * large zone (balanced, new servers) are planned aside first, in slices, the current ones
   * serving meanwhile: the promise resolves once they are installed (at once otherwise, with
   * nothing left to wait for).
   */
  private installSettings(settings: Settings, settingsVersion: number, forceFanout = false): Promise<void> | undefined {
    const preparing = settingsVersion > this.fleet.settingsVersion ? this.fleet.prepareSettings(settings) : undefined;
    if (preparing === undefined) {
      this.applySettings(settings, settingsVersion, forceFanout, undefined);
      return undefined;
    }
    return preparing.then(
      (prepared) => this.applySettings(settings, settingsVersion, forceFanout, prepared),
      (error: unknown) => {
        // Planning aside failed (a bug): install them anyway, planned when first asked.
        this.events.emit('listenerError', { event: 'settingsChanged', error });
        this.applySettings(settings, settingsVersion, forceFanout, undefined);
      },
    );
  }

  private applySettings(settings: Settings, settingsVersion: number, forceFanout: boolean, prepared: PreparedPlanners | undefined): void {
    const applied =
      settingsVersion === 0 ? this.fleet.applyDefaults(this.withDefaults(settings, 0)) : this.fleet.applySettings(settings, settingsVersion, prepared);
    // Committed settings were validated by the same rules, so this is a store written by
    // something else; keep serving the last good settings rather than break every agent.
    if (applied instanceof FleetSettingsError) {
      this.events.emit('listenerError', { event: 'settingsChanged', error: applied });
      return;
    }
    if (!applied && !forceFanout) return;
    const settingsNow = { ...this.fleet.settings };
    // A large fleet is updated over several turns of the event loop: the change is reported
    // once every agent was sent its frame (a fleet of one slice, before this returns).
    void this.sendOutdated('settings').then((agentsUpdated) => {
      if (applied) this.events.emit('settingsChanged', { settings: settingsNow, settingsVersion, agentsUpdated });
    });
  }

  /**
   * Sends each outdated agent (of `zone`, when given) its list. Several callers do not wait for
   * it: a fault is reported as `listenerError` rather than left an unhandled rejection, which
   * would stop the server and drop every agent.
   */
  private sendOutdated(cause: HostsCause, zone?: string): Promise<number> {
    const began = performance.now();
    const agentsConnected = this.agents.size;
    // Stale planners (balanced after host-set changes) are re-planned in slices first; with
    // nothing stale the fan-out starts in this turn (a fleet of one slice: before this returns).
    const refreshing = this.fleet.refreshPlans(zone);
    const sent = refreshing === undefined ? this.fanout.run(this.agents.all(), cause, zone) : refreshing.then(() => this.fanout.run(this.agents.all(), cause, zone));
    return sent.then(
      (agentsUpdated) => {
        // One summary per fan-out for the log (the per-agent hosts_sent lines are debug).
        this.events.emit('fanout', {
          cause,
          ...(zone === undefined ? {} : { zone }),
          agentsUpdated,
          agentsConnected,
          settingsVersion: this.fleet.settingsVersion,
          durationMs: performance.now() - began,
        });
        return agentsUpdated;
      },
      (error: unknown) => {
        this.events.emit('listenerError', { event: `fanout:${cause}`, error });
        return 0;
      },
    );
  }

  /**
   * Re-sends the lists a host-set change of `zone` outdated. The zone's plan was left stale by
   * the change (fleet.ts): sendOutdated re-plans it, once per throttled re-send, not once per host.
   */
  private sendHostSet(zone: string): Promise<number> {
    return this.sendOutdated('host-set', zone);
  }

  /**
   * One host-set fan-out of `zone` for every removal made in the same turn (a batch of removals
   * announced by another server arrives as one loop of changes): k removals cost one walk over
   * the agents and one frame per moved agent, not k of each.
   */
  private sendHostSetOnce(zone: string): Promise<number> {
    let pending = this.pendingHostSets.get(zone);
    if (pending === undefined) {
      pending = Promise.resolve().then(() => {
        this.pendingHostSets.delete(zone);
        return this.sendHostSet(zone);
      });
      this.pendingHostSets.set(zone, pending);
    }
    return pending;
  }

  private trackHost(host: HostRecord): void {
    const left = this.fleet.host(host.id)?.zone;
    const { added, shifted } = this.fleet.addHost(host);
    if (!added) return;
    // An id announced in another zone than the one known: the zone it left is re-sent too.
    if (left !== undefined && left !== host.zone) void this.sendHostSetOnce(left);
    this.events.emit('hostRegistered', { host });
    if (shifted) this.shiftResends.shifted(host.zone);
  }

  /** Forgets a host and re-sends to the agents of its zone whose position moved. */
  private async untrackHost(id: number): Promise<number | undefined> {
    const host = this.fleet.removeHost(id);
    if (host === undefined) return undefined;
    const agentsUpdated = await this.sendHostSetOnce(host.zone);
    this.events.emit('hostRemoved', { host, agentsUpdated });
    return agentsUpdated;
  }
}
