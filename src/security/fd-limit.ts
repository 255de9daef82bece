/**
 * The default for the agent limit: what the process's open-file limit allows. Past it,
 * accept() fails with EMFILE and agents see their connection reset instead of being told
 * `server_busy`; stopping a little short keeps descriptors for the store, the admin API and
 * the logs. Node has no getrlimit, so Linux's /proc/self/limits is read; elsewhere (or when
 * the limit is unlimited) there is no default limit.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything that is not an agent connection. */
export const RESERVED_DESCRIPTORS = 256;

/** The soft "Max open files" limit in a /proc/PID/limits text; undefined when absent or unlimited. */
export function parseOpenFileLimit(limitsText: string): number | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  if (match === null || match[1] === 'unlimited') return undefined;
  return Number(match[1]);
}

export function agentLimitFor(openFileLimit: number | undefined): number {
  if (openFileLimit === undefined) return 0;
  return Math.max(1, openFileLimit - RESERVED_DESCRIPTORS);
}

/** 0 (no limit) when the open-file limit cannot be read. */
export function defaultMaxConnections(readLimits: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  try {
    return agentLimitFor(parseOpenFileLimit(readLimits()));
  } catch {
    return 0;
  }
}
