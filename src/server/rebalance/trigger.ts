/**
 * When the automatic rebalance acts: a pure decision over the live and planned load of each
 * server, observed over time (the caller passes the time: tests need no clock).
 *
 * - A server is OFF when its live load differs from its planned load by more than
 *   `threshold` percent of the planned load AND by at least MIN_AGENTS_OFF agents (a handful of
 *   agents off a small plan is noise, not imbalance; Zabbix uses the same kind of floor).
 * - A rebalance STARTS once some server has been off at every observation for the whole
 *   grace period (a server just restarted, or agents still failing over, settle by themselves).
 * - Hysteresis: once started, it CONTINUES until every server is within HALF the threshold,
 *   so it neither stops at the edge nor flaps between starting and stopping.
 * - Nothing moves while the store is unavailable, until it has been back for three
 *   heartbeats (every heartbeat stopped during the outage, so the view is stale), during a
 *   drain (the drain's own moves would be undone), or with `rebalance=off`: such an
 *   observation resets the grace and stops a running rebalance.
 */
import type { RebalanceMode } from '../../settings/types';

/** Fewest agents a server must be off by before it counts as off. */
export const MIN_AGENTS_OFF = 10;
/** Heartbeats the store must have been back before anything moves. */
export const SETTLE_HEARTBEATS = 3;

export interface ServerLoad {
  /** Agents connected to it now. */
  live: number;
  /** Agents whose first usable entry it is (the plan for the connected agents). */
  planned: number;
}

export interface TriggerSettings {
  mode: RebalanceMode;
  /** Percent of the planned load. */
  thresholdPercent: number;
  graceMs: number;
}

export interface TriggerGates {
  storeAvailable: boolean;
  /** When the store became available (same clock as `now`). */
  storeAvailableSince: number;
  heartbeatMs: number;
  /** A drain is in progress. */
  draining: boolean;
}

export type TriggerDecision = 'idle' | 'start' | 'continue' | 'stop';

function deviation(load: ServerLoad): number {
  return Math.abs(load.live - load.planned);
}

/** Off by more than the threshold and by at least MIN_AGENTS_OFF agents. */
export function isOff(load: ServerLoad, thresholdPercent: number): boolean {
  const off = deviation(load);
  return off >= MIN_AGENTS_OFF && off * 100 > thresholdPercent * load.planned;
}

/** Within half the threshold: where a running rebalance may stop. */
export function isSettled(load: ServerLoad, thresholdPercent: number): boolean {
  return deviation(load) * 200 <= thresholdPercent * load.planned;
}

export class RebalanceTrigger {
  /** Since when each server has been off at every observation. */
  private readonly offSince = new Map<string, number>();
  private running = false;

  get active(): boolean {
    return this.running;
  }

  /** One observation at `now` (ms). */
  observe(now: number, loads: ReadonlyMap<string, ServerLoad>, settings: TriggerSettings, gates: TriggerGates): TriggerDecision {
    if (this.blocked(now, settings, gates)) {
      this.offSince.clear();
      if (!this.running) return 'idle';
      this.running = false;
      return 'stop';
    }
    if (this.running) {
      for (const load of loads.values()) if (!isSettled(load, settings.thresholdPercent)) return 'continue';
      this.reset();
      return 'stop';
    }
    for (const server of [...this.offSince.keys()]) if (!loads.has(server)) this.offSince.delete(server);
    let due = false;
    for (const [server, load] of loads) {
      if (!isOff(load, settings.thresholdPercent)) {
        this.offSince.delete(server);
        continue;
      }
      const since = this.offSince.get(server) ?? now;
      this.offSince.set(server, since);
      if (now - since >= settings.graceMs) due = true;
    }
    if (!due) return 'idle';
    this.offSince.clear();
    this.running = true;
    return 'start';
  }

  /** The rebalance ended by itself (nothing left to move) or was stopped: a new start needs a new grace. */
  reset(): void {
    this.running = false;
    this.offSince.clear();
  }

  /** Whether nothing may move now (off, a drain, the store down or back too recently). */
  blocked(now: number, settings: TriggerSettings, gates: TriggerGates): boolean {
    if (settings.mode === 'off' || gates.draining || !gates.storeAvailable) return true;
    return now - gates.storeAvailableSince < SETTLE_HEARTBEATS * gates.heartbeatMs;
  }
}
