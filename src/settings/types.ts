/**
 * The global settings: their names (exactly as CloudStack has them), types and defaults, and
 * the error a refused change is. Parsed and checked by validate.ts; kept by src/store/.
 */
import type { AlgorithmName } from '../protocol/algorithms';

export const SETTING_HOST = 'host';
export const SETTING_ALGORITHM = 'indirect.agent.lb.algorithm';
export const SETTING_CHECK_INTERVAL = 'indirect.agent.lb.check.interval';
/** `auto`: misplaced agents are moved back to their plan when the load drifts (README "Rebalance"). */
export const SETTING_REBALANCE = 'indirect.agent.lb.rebalance';
/** Percent a server's live load may differ from its planned load before `auto` acts. */
export const SETTING_REBALANCE_THRESHOLD = 'indirect.agent.lb.rebalance.threshold';
/** Seconds the difference must last before `auto` acts. */
export const SETTING_REBALANCE_GRACE = 'indirect.agent.lb.rebalance.grace';

export const REBALANCE_MODES = ['auto', 'off'] as const;
export type RebalanceMode = (typeof REBALANCE_MODES)[number];

export interface Settings {
  [SETTING_HOST]: string;
  [SETTING_ALGORITHM]: AlgorithmName;
  [SETTING_CHECK_INTERVAL]: number;
  [SETTING_REBALANCE]: RebalanceMode;
  [SETTING_REBALANCE_THRESHOLD]: number;
  [SETTING_REBALANCE_GRACE]: number;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  [SETTING_HOST]: '127.0.0.1:8250',
  [SETTING_ALGORITHM]: 'static',
  [SETTING_CHECK_INTERVAL]: 0,
  [SETTING_REBALANCE]: 'auto',
  [SETTING_REBALANCE_THRESHOLD]: 20,
  [SETTING_REBALANCE_GRACE]: 60,
});

/** A refused settings change; `message` names the bad key and value. */
export class SettingsError extends Error {
  readonly code = 'bad_setting';
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}
