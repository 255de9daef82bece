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
import { AgentIdentity, type IdentityFiles } from './identity';
import { access } from 'node:fs/promises';

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
  // With the token, the agent manages its own certificate (identity.ts): it enrols when it has
  // none yet (default files agent.crt / agent.key beside agent.properties) and renews it.
  const tlsPaths = loaded.config.tls && token ? withDefaultIdentityFiles(loaded.config.tls) : loaded.config.tls;
  const enrolling = tlsPaths !== undefined && token ? await missingIdentity(tlsPaths, baseDir) : false;
  const tls = tlsPaths && (await loadTls(enrolling ? { ...tlsPaths, cert: undefined, key: undefined } : tlsPaths, baseDir));
  if (tls instanceof TlsFilesError) throw new AgentStartError('bad_tls', tls.message);
  const identity = tlsPaths !== undefined && token ? await AgentIdentity.load(identityFiles(tlsPaths, baseDir), loaded.config.guid) : undefined;
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
    ...(identity === undefined ? {} : { identity }),
  });
}

/** createAgent, then start(): connecting begins at once. */
export async function startAgent(options: CreateAgentOptions): Promise<Agent> {
  const agent = await createAgent(options);
  agent.start();
  return agent;
}

/** Where an enrolling agent keeps its certificate and key when agent.properties names none. */
export const DEFAULT_CERT_FILE = 'agent.crt';
export const DEFAULT_KEY_FILE = 'agent.key';

function withDefaultIdentityFiles(paths: AgentTlsPaths): AgentTlsPaths {
  return { ...paths, cert: paths.cert ?? DEFAULT_CERT_FILE, key: paths.key ?? DEFAULT_KEY_FILE };
}

function identityFiles(paths: AgentTlsPaths, baseDir: string): IdentityFiles {
  return { caFile: path.resolve(baseDir, paths.ca), certFile: path.resolve(baseDir, paths.cert!), keyFile: path.resolve(baseDir, paths.key!) };
}

/** Neither the certificate nor the key exists yet: the agent enrols. (One without the other is an error, as before.) */
async function missingIdentity(paths: AgentTlsPaths, baseDir: string): Promise<boolean> {
  const files = identityFiles(paths, baseDir);
  const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);
  const [cert, key] = await Promise.all([exists(files.certFile), exists(files.keyFile)]);
  return !cert && !key;
}

/** The PEM files named in agent.properties, read and checked once at start. */
function loadTls(paths: AgentTlsPaths, baseDir: string): Promise<ConnectionOptions | TlsFilesError> {
  const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(baseDir, file));
  return loadAgentTls({ caFile: resolve(paths.ca)!, certFile: resolve(paths.cert), keyFile: resolve(paths.key) }).catch((error: unknown) => {
    if (error instanceof TlsFilesError) return error;
    throw error;
  });
}
