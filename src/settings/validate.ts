/**
 * Validation of the global settings, applied when a change is SET: CloudStack accepted
 * an unknown algorithm or an empty `host` and then failed every agent connection. Every
 * message names the key and the bad value.
 */
import { ALGORITHMS, algorithmByName } from '../lb/index';
import type { AlgorithmName } from '../protocol/algorithms';
import { HostListError, parseHostList } from '../protocol/host-list';
import {
  REBALANCE_MODES,
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_HOST,
  SETTING_REBALANCE,
  SETTING_REBALANCE_GRACE,
  SETTING_REBALANCE_THRESHOLD,
  SettingsError,
  type RebalanceMode,
  type Settings,
} from '../settings/types';

export const SETTING_KEYS = [
  SETTING_HOST,
  SETTING_ALGORITHM,
  SETTING_CHECK_INTERVAL,
  SETTING_REBALANCE,
  SETTING_REBALANCE_THRESHOLD,
  SETTING_REBALANCE_GRACE,
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

/** One day: a longer preferred-host check is indistinguishable from "off" to an operator. */
export const MAX_CHECK_INTERVAL_SECONDS = 86_400;
/** A threshold is a percentage of the planned load: 1..100 (below 1 every agent is off). */
export const MAX_REBALANCE_THRESHOLD = 100;
/** A day, as for the check interval. */
export const MAX_REBALANCE_GRACE_SECONDS = 86_400;

function isSettingKey(key: string): key is SettingKey {
  return (SETTING_KEYS as readonly string[]).includes(key);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
  if (value === null || Array.isArray(value)) return JSON.stringify(value)?.slice(0, 100) ?? String(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** A wrong-typed value as `a number 5`, `an array`, `null`: its type first, then the value. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value} ${show(value)}`;
}

/** The `host` setting's entries (trimmed, as written), or the error naming the bad entry. */
export function serverList(host: string): string[] | HostListError {
  return parseHostList(host);
}

function hostEntries(value: unknown): string[] | SettingsError {
  if (typeof value !== 'string') {
    return new SettingsError(`${SETTING_HOST} must be a string, got ${describe(value)}`);
  }
  const entries = serverList(value);
  if (entries instanceof HostListError) {
    return new SettingsError(`${SETTING_HOST} ${show(value)} is refused: ${entries.message}`);
  }
  return entries;
}

function checkHost(value: unknown): string | SettingsError {
  const entries = hostEntries(value);
  // Stored normalised (no spaces around entries) so every reader sees the same text.
  return entries instanceof SettingsError ? entries : entries.join(',');
}

function checkAlgorithm(value: unknown): AlgorithmName | SettingsError {
  const known = [...ALGORITHMS.keys()].join(', ');
  if (typeof value !== 'string') {
    return new SettingsError(`${SETTING_ALGORITHM} must be a string (one of ${known}), got ${describe(value)}`);
  }
  const algorithm = algorithmByName(value);
  if (algorithm === undefined) {
    return new SettingsError(`${SETTING_ALGORITHM} ${show(value)} is not one of ${known}`);
  }
  return algorithm.name;
}

function checkInterval(value: unknown): number | SettingsError {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_CHECK_INTERVAL_SECONDS) {
    return new SettingsError(
      `${SETTING_CHECK_INTERVAL} must be an integer number of seconds from 0 to ${MAX_CHECK_INTERVAL_SECONDS}, got ${show(value)}`,
    );
  }
  return value;
}

function checkRebalance(value: unknown): RebalanceMode | SettingsError {
  if (typeof value !== 'string' || !(REBALANCE_MODES as readonly string[]).includes(value)) {
    return new SettingsError(`${SETTING_REBALANCE} must be one of ${REBALANCE_MODES.join(', ')}, got ${typeof value === 'string' ? show(value) : describe(value)}`);
  }
  return value as RebalanceMode;
}

function checkInteger(key: string, value: unknown, min: number, max: number, unit: string): number | SettingsError {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    return new SettingsError(`${key} must be an integer ${unit} from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/** A request body -> the settings it changes, or the error naming the first bad key/value. */
export function parseSettingsPatch(body: unknown): Partial<Settings> | SettingsError {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new SettingsError(`settings must be a JSON object, got ${describe(body)}`);
  }
  const keys = Object.keys(body);
  if (keys.length === 0) {
    return new SettingsError(`no setting given: set at least one of ${SETTING_KEYS.join(', ')}`);
  }
  const patch: Partial<Settings> = {};
  for (const key of keys) {
    if (!isSettingKey(key)) {
      return new SettingsError(`unknown setting ${show(key)} (known: ${SETTING_KEYS.join(', ')})`);
    }
    const value: unknown = (body as Record<string, unknown>)[key];
    const checked = checkOne(key, value);
    if (checked instanceof SettingsError) return checked;
    (patch as Record<string, unknown>)[key] = checked;
  }
  return patch;
}

function checkOne(key: SettingKey, value: unknown): string | number | SettingsError {
  switch (key) {
    case SETTING_HOST:
      return checkHost(value);
    case SETTING_ALGORITHM:
      return checkAlgorithm(value);
    case SETTING_CHECK_INTERVAL:
      return checkInterval(value);
    case SETTING_REBALANCE:
      return checkRebalance(value);
    case SETTING_REBALANCE_THRESHOLD:
      return checkInteger(key, value, 1, MAX_REBALANCE_THRESHOLD, 'percentage');
    case SETTING_REBALANCE_GRACE:
      return checkInteger(key, value, 0, MAX_REBALANCE_GRACE_SECONDS, 'number of seconds');
  }
}

/** A complete settings value, checked, with what the check parsed (so no reader parses again). */
export interface ParsedSettings {
  readonly settings: Readonly<Settings>;
  /** The `host` setting's entries, as written (trimmed). */
  readonly servers: readonly string[];
  readonly algorithm: AlgorithmName;
}

/** A complete settings value (e.g. read back from a store), parsed; the error naming the first bad key if not usable. */
export function parseSettings(settings: Settings): ParsedSettings | SettingsError {
  const servers = hostEntries(settings[SETTING_HOST]);
  if (servers instanceof SettingsError) return servers;
  for (const key of SETTING_KEYS) {
    if (key === SETTING_HOST) continue;
    const checked = checkOne(key, settings[key]);
    if (checked instanceof SettingsError) return checked;
  }
  return { settings: Object.freeze({ ...settings }), servers: Object.freeze(servers), algorithm: settings[SETTING_ALGORITHM] };
}

/** Whether a complete settings value is usable (the store's check before it commits); the error if not. */
export function validateSettings(settings: Settings): string | undefined {
  const parsed = parseSettings(settings);
  return parsed instanceof SettingsError ? parsed.message : undefined;
}
