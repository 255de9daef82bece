/**
 * `agentlb/agent`: the agent as a library (README "Calls", "Library use"). createAgent reads
 * agent.properties (and its TLS files) exactly as the `agentlb-agent` binary does — the binary
 * is built on this very function — and returns the Agent: `handle(method, handler)` adds
 * in-process methods, its events say `connected`, `disconnected` and `list`.
 *
 *   const agent = await startAgent({ properties: '/etc/agentlb/agent.properties' });
 *   agent.handle('disk.usage', async ({ path }) => statfs(path));
 *   agent.on('connected', ({ server, hostId }) => ...);
 *   await agent.stop();
 */
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { silentLogger } from '../src/log';
import { loadAgentTls, TlsFilesError } from '../src/security/tls-files';
import { Agent, type AgentLogger, type AgentOptions } from './agent';
import { ConfigError, loadAgentConfig, type AgentTlsPaths } from './config';

export { Agent } from './agent';
export type { AgentEvents, AgentLogger } from './agent';
export type { CallContext, CallHandler } from './calls/dispatcher';
export type { CallValue } from '../src/protocol/messages';

export interface CreateAgentOptions {
  /** agent.properties: read at start, and where list updates are persisted. */
  properties: string;
  /** Default: no log output. */
  logger?: AgentLogger;
  /** hello.token; default: AGENTLB_AGENT_TOKEN, else the file's `token`. */
  token?: string;
  /** The handlers directory; default: the file's handlers.dir (relative to the file's directory). */
  handlersDir?: string;
  /** Where AGENTLB_AGENT_TOKEN is read; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Timers and limits (tests shrink them); the defaults are production's. */
  tuning?: Pick<AgentOptions, 'session' | 'backoff' | 'intervalUnitMs' | 'protocolVersion'>;
}

export type AgentStartErrorCode = 'bad_config' | 'bad_tls';

/** agent.properties or its TLS files are unusable; the message names the key or file. */
export class AgentStartError extends Error {
  constructor(
    readonly code: AgentStartErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AgentStartError';
  }
}

export const TOKEN_ENV = 'AGENTLB_AGENT_TOKEN';

/** Reads the configuration and builds the agent, not started yet. Throws AgentStartError. */
export async function createAgent(options: CreateAgentOptions): Promise<Agent> {
  const loaded = await loadAgentConfig(options.properties);
  if (loaded instanceof ConfigError) throw new AgentStartError('bad_config', loaded.message);
  const baseDir = path.dirname(options.properties);
  const token = options.token ?? ((options.env ?? process.env)[TOKEN_ENV] || loaded.config.token);
  const tls = loaded.config.tls && (await loadTls(loaded.config.tls, baseDir));
  if (tls instanceof TlsFilesError) throw new AgentStartError('bad_tls', tls.message);
  const configured = loaded.config.handlersDir === undefined ? undefined : path.resolve(baseDir, loaded.config.handlersDir);
  return new Agent({
    ...options.tuning,
    propertiesPath: options.properties,
    doc: loaded.doc,
    config: loaded.config,
    logger: options.logger ?? silentLogger(),
    ...(token ? { token } : {}),
    ...(tls ? { session: { ...options.tuning?.session, tls } } : {}),
    calls: { handlersDir: options.handlersDir ?? configured },
  });
}

/** createAgent, then start(): connecting begins at once. */
export async function startAgent(options: CreateAgentOptions): Promise<Agent> {
  const agent = await createAgent(options);
  agent.start();
  return agent;
}

/** The PEM files named in agent.properties, read and checked once at start. */
function loadTls(paths: AgentTlsPaths, baseDir: string): Promise<ConnectionOptions | TlsFilesError> {
  const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(baseDir, file));
  return loadAgentTls({ caFile: resolve(paths.ca)!, certFile: resolve(paths.cert), keyFile: resolve(paths.key) }).catch((error: unknown) => {
    if (error instanceof TlsFilesError) return error;
    throw error;
  });
}
