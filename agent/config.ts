/**
 * The agent's settings, read from (and, for the keys the server owns, written back to)
 * agent.properties. This file knows key names and value rules; the file format itself is
 * properties.ts and the durable write is src/util/atomic-file.ts.
 *
 * Two interval keys, on purpose:
 * - `host.lb.check.interval` is the SERVER's value. The agent writes it whenever the server
 *   sends a new one, so the file always shows what the server said.
 * - `host.lb.check.interval.override` is the operator's. The agent never writes it; when set it
 *   wins over the server's value (CloudStack's rule "a local host.lb.check.interval wins").
 * CloudStack kept both in one key, so the operator's value and the server's fought over it.
 */
import { randomUUID } from 'node:crypto';
import type { AlgorithmName } from '../src/protocol/algorithms';
import { equalInOrder } from '../src/lb/compare';
import { formatHostSetting, HostListError, parseAlgorithmName, parseHostEntries, parseHostSetting } from '../src/protocol/host-list';
import { LIMITS, DEFAULT_AGENT_PORT } from '../src/protocol/limits';
import {
  AGENT_KEY_CHECK_INTERVAL,
  AGENT_KEY_GUID,
  AGENT_KEY_HOST,
  AGENT_KEY_PORT,
  AGENT_KEY_ZONE,
  loadPropertiesFile,
  savePropertiesFile,
  type PropertiesDoc,
} from './properties';

/** The operator's local override; see the file comment. Never written by the agent. */
export const KEY_CHECK_INTERVAL_OVERRIDE = 'host.lb.check.interval.override';
/** The enrolment token servers started with --agent-token require (env AGENTLB_AGENT_TOKEN wins). */
export const KEY_TOKEN = 'token';
/** TLS: the CA the servers' certificates chain to; with it set the agent only speaks TLS. */
export const KEY_TLS_CA = 'tls.ca';
/** TLS: this agent's certificate and key, for servers that require client certificates. */
export const KEY_TLS_CERT = 'tls.cert';
export const KEY_TLS_KEY = 'tls.key';
/** Calls: the directory whose executable files are the agent's methods (relative to the file's directory). */
export const KEY_HANDLERS_DIR = 'handlers.dir';
/** Calls: handlers running at once (more wait). */
export const KEY_HANDLERS_CONCURRENCY = 'handlers.concurrency';
/** Upper bound of handlers.concurrency: each running handler is a process. */
export const MAX_HANDLERS_CONCURRENCY = 256;

/** PEM file paths as written (relative ones are relative to agent.properties' directory). */
export interface AgentTlsPaths {
  ca: string;
  cert: string | undefined;
  key: string | undefined;
}

export interface AgentConfig {
  hosts: string[];
  /** The algorithm the list was made with (`@algorithm` suffix); undefined for a bare list. */
  algorithm: AlgorithmName | undefined;
  /** Seconds; the server's value as last persisted (0 when absent). */
  serverCheckInterval: number;
  /** Seconds; the operator's local override, when set. */
  checkIntervalOverride: number | undefined;
  /** Port for entries written without one. */
  port: number;
  guid: string | undefined;
  zone: string | undefined;
  token: string | undefined;
  /** undefined: plain TCP. */
  tls: AgentTlsPaths | undefined;
  /** `handlers.dir` as written; undefined: built-in methods only. */
  handlersDir: string | undefined;
  /** `handlers.concurrency`; undefined: the default (4). */
  handlersConcurrency: number | undefined;
}

/** A bad or unreadable agent.properties; the message names the key and the value. */
export class ConfigError extends Error {
  readonly code = 'bad_config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function badValue(key: string, value: string, reason: string): ConfigError {
  return new ConfigError(`agent.properties: bad value for ${key}: "${value}" (${reason})`);
}

function readCount(doc: PropertiesDoc, key: string, max: number): number | undefined | ConfigError {
  const raw = doc.get(key);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d+$/.test(text)) return badValue(key, raw, 'expected a whole number');
  const value = Number(text);
  if (value > max) return badValue(key, raw, `at most ${max}`);
  return value;
}

function readId(doc: PropertiesDoc, key: string, maxBytes: number): string | undefined | ConfigError {
  const raw = doc.get(key);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text.length === 0 || Buffer.byteLength(text) > maxBytes) {
    return badValue(key, raw, `expected 1..${maxBytes} bytes`);
  }
  return text;
}

/** Read and check every agent key of `doc`. Unknown keys are left alone. */
export function readAgentConfig(doc: PropertiesDoc): AgentConfig | ConfigError {
  const port = readCount(doc, AGENT_KEY_PORT, 65_535);
  if (port instanceof ConfigError) return port;
  if (port === 0) return badValue(AGENT_KEY_PORT, doc.get(AGENT_KEY_PORT) ?? '', 'expected 1..65535');

  const hostText = doc.get(AGENT_KEY_HOST);
  if (hostText === undefined) {
    return new ConfigError(`agent.properties: ${AGENT_KEY_HOST} is missing (expected e.g. host=m1:8250,m2:8250@roundrobin)`);
  }
  const parsed = parseHostSetting(hostText, port ?? DEFAULT_AGENT_PORT);
  if (parsed instanceof HostListError) return badValue(AGENT_KEY_HOST, hostText, parsed.message);

  const serverCheckInterval = readCount(doc, AGENT_KEY_CHECK_INTERVAL, LIMITS.checkIntervalSeconds);
  if (serverCheckInterval instanceof ConfigError) return serverCheckInterval;
  const checkIntervalOverride = readCount(doc, KEY_CHECK_INTERVAL_OVERRIDE, LIMITS.checkIntervalSeconds);
  if (checkIntervalOverride instanceof ConfigError) return checkIntervalOverride;
  // `guid=` with nothing after it, as CloudStack's sample agent.properties ships it, means
  // "not generated yet": loadAgentConfig fills that very line in.
  const guid = doc.get(AGENT_KEY_GUID)?.trim() === '' ? undefined : readId(doc, AGENT_KEY_GUID, LIMITS.guidBytes);
  if (guid instanceof ConfigError) return guid;
  const zone = readId(doc, AGENT_KEY_ZONE, LIMITS.zoneBytes);
  if (zone instanceof ConfigError) return zone;
  const token = readId(doc, KEY_TOKEN, LIMITS.tokenBytes);
  if (token instanceof ConfigError) return token;
  const tls = readTlsPaths(doc);
  if (tls instanceof ConfigError) return tls;
  const handlersText = doc.get(KEY_HANDLERS_DIR)?.trim();
  const handlersConcurrency = readCount(doc, KEY_HANDLERS_CONCURRENCY, MAX_HANDLERS_CONCURRENCY);
  if (handlersConcurrency instanceof ConfigError) return handlersConcurrency;
  if (handlersConcurrency === 0) return badValue(KEY_HANDLERS_CONCURRENCY, doc.get(KEY_HANDLERS_CONCURRENCY) ?? '', `expected 1..${MAX_HANDLERS_CONCURRENCY}`);

  return {
    hosts: parsed.hosts,
    algorithm: parsed.algorithm,
    serverCheckInterval: serverCheckInterval ?? 0,
    checkIntervalOverride,
    port: port ?? DEFAULT_AGENT_PORT,
    guid,
    zone,
    token,
    tls,
    handlersDir: handlersText === '' ? undefined : handlersText,
    handlersConcurrency,
  };
}

function readTlsPaths(doc: PropertiesDoc): AgentTlsPaths | undefined | ConfigError {
  const [ca, cert, key] = [KEY_TLS_CA, KEY_TLS_CERT, KEY_TLS_KEY].map((k) => {
    const text = doc.get(k)?.trim();
    return text === '' ? undefined : text;
  });
  if ((cert === undefined) !== (key === undefined)) {
    return new ConfigError(`agent.properties: ${KEY_TLS_CERT} and ${KEY_TLS_KEY} go together (the agent's certificate and its key)`);
  }
  if (ca === undefined) {
    return cert === undefined ? undefined : new ConfigError(`agent.properties: ${KEY_TLS_CERT} needs ${KEY_TLS_CA} (the CA that signed the servers' certificates)`);
  }
  return { ca, cert, key };
}

/** Seconds between preferred-host checks: the operator's override wins over the server. */
export function effectiveCheckInterval(config: Pick<AgentConfig, 'serverCheckInterval' | 'checkIntervalOverride'>): number {
  return config.checkIntervalOverride ?? config.serverCheckInterval;
}

export interface LoadedConfig {
  config: AgentConfig & { guid: string };
  doc: PropertiesDoc;
}

/**
 * Load agent.properties; on first start (no `guid`, or an empty one) generate one and save it, so the agent
 * keeps the same identity — and so the same host id on the server — across restarts.
 */
export async function loadAgentConfig(
  path: string,
  newGuid: () => string = randomUUID,
): Promise<LoadedConfig | ConfigError> {
  let doc: PropertiesDoc;
  try {
    doc = await loadPropertiesFile(path);
  } catch (err) {
    return new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const config = readAgentConfig(doc);
  if (config instanceof ConfigError) return config;
  if (config.guid !== undefined) return { config: { ...config, guid: config.guid }, doc };
  const guid = newGuid();
  doc.set(AGENT_KEY_GUID, guid);
  try {
    await savePropertiesFile(path, doc);
  } catch (err) {
    return new ConfigError(`cannot save the new ${AGENT_KEY_GUID} to ${path}: ${(err as Error).message}`);
  }
  return { config: { ...config, guid }, doc };
}

export interface ServerAssignment {
  hosts: readonly string[];
  algorithm: string;
  /** Seconds. */
  checkInterval: number;
}

/**
 * Check a `hosts` update and write it into `doc` (not to disk). Returns whether anything
 * changed — an unchanged file is not rewritten — or the error naming what is wrong, in which
 * case `doc` is untouched. Lists are compared by meaning, so `a, b` and `a,b` are equal.
 */
export function applyAssignment(
  doc: PropertiesDoc,
  update: ServerAssignment,
  defaultPort: number = DEFAULT_AGENT_PORT,
): boolean | ConfigError {
  const hostText = formatHostSetting(update.hosts, update.algorithm);
  // Entry by entry, not through hostText: an entry holding a comma must be refused, not split.
  const checked = parseHostEntries(update.hosts, defaultPort);
  if (checked instanceof HostListError) return badValue(AGENT_KEY_HOST, hostText, checked.message);
  const algorithm = parseAlgorithmName(update.algorithm);
  if (algorithm instanceof HostListError) return badValue(AGENT_KEY_HOST, hostText, algorithm.message);
  if (!Number.isSafeInteger(update.checkInterval) || update.checkInterval < 0 || update.checkInterval > LIMITS.checkIntervalSeconds) {
    return badValue(AGENT_KEY_CHECK_INTERVAL, String(update.checkInterval), `expected 0..${LIMITS.checkIntervalSeconds}`);
  }
  const hostChanged = !sameHostSetting(doc.get(AGENT_KEY_HOST), update.hosts, algorithm, defaultPort);
  const intervalText = doc.get(AGENT_KEY_CHECK_INTERVAL);
  // An absent key means 0, so a server saying 0 does not cause a rewrite.
  const intervalChanged = Number(intervalText?.trim() ?? '0') !== update.checkInterval;
  if (hostChanged) doc.set(AGENT_KEY_HOST, hostText);
  if (intervalChanged) doc.set(AGENT_KEY_CHECK_INTERVAL, String(update.checkInterval));
  return hostChanged || intervalChanged;
}

function sameHostSetting(current: string | undefined, hosts: readonly string[], algorithm: AlgorithmName, defaultPort: number): boolean {
  if (current === undefined) return false;
  const parsed = parseHostSetting(current, defaultPort);
  if (parsed instanceof HostListError) return false;
  return parsed.algorithm === algorithm && equalInOrder(parsed.hosts, hosts);
}
