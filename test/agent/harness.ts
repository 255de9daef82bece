/**
 * Shared set-up for the agent's tests: an agent.properties in a temp dir, an in-process Agent
 * on it with short timers, captured JSON logs, and waiting on the agent's events with a
 * deadline (so a broken behaviour fails the test instead of hanging it).
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Test } from 'tap';
import { Agent, type AgentEvents, type AgentOptions } from '../../agent/agent';
import { ConfigError, loadAgentConfig } from '../../agent/config';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface TestAgent {
  agent: Agent;
  path: string;
  dir: string;
  logs: LogLine[];
}

/** Timers small enough that a test runs in milliseconds, with the same ratios as production. */
export const FAST: Partial<AgentOptions> = {
  session: { connectTimeoutMs: 1_000, handshakeTimeoutMs: 1_000, defaultPingIntervalMs: 50, missedIntervals: 3 },
  backoff: { baseMs: 20, capMs: 200, minMs: 5 },
  intervalUnitMs: 50,
};

export async function tempDir(t: Test, prefix = 'agent-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Write `properties` to a fresh file, load it and build (not start) an agent on it. */
export async function makeAgent(t: Test, properties: string, options: Partial<AgentOptions> = {}): Promise<TestAgent> {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.properties');
  await writeFile(path, properties);
  const loaded = await loadAgentConfig(path);
  if (loaded instanceof ConfigError) throw loaded;
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const agent = new Agent({ ...FAST, ...options, propertiesPath: path, doc: loaded.doc, config: loaded.config, logger: options.logger ?? logger });
  t.teardown(() => agent.stop());
  return { agent, path, dir, logs };
}

/** The next `event` from the agent, or a rejection after `timeoutMs`. */
export async function next<K extends keyof AgentEvents>(agent: Agent, event: K, timeoutMs = 5_000): Promise<AgentEvents[K][0]> {
  const args = (await once(agent as never, event as string, { signal: AbortSignal.timeout(timeoutMs) })) as AgentEvents[K];
  return args[0];
}

/** Resolves with the first `event` whose payload satisfies `match`. */
export function until<K extends keyof AgentEvents>(
  agent: Agent,
  event: K,
  match: (payload: AgentEvents[K][0]) => boolean,
  timeoutMs = 5_000,
): Promise<AgentEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const listener = (payload: AgentEvents[K][0]): void => {
      if (!match(payload)) return;
      clearTimeout(timer);
      (agent as unknown as NodeJS.EventEmitter).off(event, listener);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      (agent as unknown as NodeJS.EventEmitter).off(event, listener);
      reject(new Error(`no matching ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    (agent as unknown as NodeJS.EventEmitter).on(event, listener);
  });
}
