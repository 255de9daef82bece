/**
 * `agentlb server`: runs the management server daemon until SIGTERM or SIGINT; SIGHUP reloads
 * the TLS files, the CA directory, the CRL and the tokens (the options read again as at start).
 */
import { DEFAULT_ENROL_CERT_DAYS } from '../security/enroller';
import { DEFAULT_MAX_HOSTS, DEFAULT_NEW_HOST_RATE } from '../security/registration-limits';
import { Registry } from 'prom-client';
import { ADMIN_TOKEN_RULE, isUsableAdminToken } from '../api/token';
import { createLogger, DEFAULT_LOG_BUFFER_BYTES, exitOnFatalError, flushLogger, isLogLevel, LOG_LEVELS } from '../log';
import { HostListError, parseHostEntry } from '../protocol/host-list';
import { LIMITS } from '../protocol/limits';
import { DEFAULT_MAX_FRAME, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from '../protocol/messages';
import { ServerStartError, startServer, type ReloadInput, type ServerOptionsInput } from '../app/index';
import { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT, DEFAULT_DATA_DIR } from '../api/defaults';
import { parseSecurityFlags, SECURITY_FLAGS, SECURITY_USAGE } from './server-flags';
import { loadServerTls } from '../security/tls-files';
import { DEFAULT_DRAIN_RATE, MAX_DRAIN_RATE } from '../api/drain';
import {
  DEFAULT_ADMISSION_LIMITS,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_LISTEN_OPTIONS,
  DEFAULT_POOL_OPTIONS,
  defaultAdmissionLimits,
  POOL_MODES,
  type PoolMode,
} from '../app/options';
import { createClusterStore, storeUrlOption } from './cluster-store';
import { DEFAULT_SERVER_HEARTBEAT_MS } from '../store/types';
import { exposesSecrets, formatEffectiveConfig, inFileTerms, mergeConfig, readConfigFile } from './server-config';
import {
  EXIT_FAILURE,
  EXIT_OK,
  nonEmpty,
  parseFlags,
  parseHostPort,
  parseInteger,
  parseSecondsAsMs,
  UsageError,
  withUsage,
  type CliIo,
  type Command,
} from './args';

const L = DEFAULT_LISTEN_OPTIONS;
const C = DEFAULT_CONNECTION_LIMITS;
const A = DEFAULT_ADMISSION_LIMITS;
const P = DEFAULT_POOL_OPTIONS;

/**
 * The help text. A function: the agent limit's default shown in it comes from the open-file
 * limit, read when help is printed, not when the CLI loads.
 */
export function serverUsage(maxConnections = defaultAdmissionLimits().maxConnections): string {
  return `Usage: agentlb server [options]

Runs the management server: agents connect on the agent port, operators use the admin HTTP
API. Logs are JSON lines on stdout. Stops on SIGTERM or SIGINT: it stops accepting, sends
\`error shutting_down\` to every agent (which move to their next server at once), closes and
exits 0. A second signal exits at once with status 1.

SIGHUP reloads, without dropping agents: the TLS certificate and key, the client CA and the
CRL (--tls-cert, --tls-key, --tls-ca, --tls-crl), the CA of --ca-dir, and the agent and admin
tokens, as the flags, environment and --config file now give them (the admin token is read
again from DATA_DIR/admin.token when it came from there). New handshakes use the new
certificate; agents connected with a certificate the new CRL lists are dropped (\`error
unauthorized\` "certificate revoked"). A part that cannot be read or does not fit (a key of
another certificate, bad PEM, a CRL another CA signed) keeps the one in use and is logged as
a warning (event reload_failed) saying why. Other options take effect at the next start.

Options:
  --listen HOST:PORT          agent listener (default ${L.host}:${L.port}; port 0 = any free port)
  --admin HOST:PORT           admin HTTP API (default ${DEFAULT_ADMIN_HOST}:${DEFAULT_ADMIN_PORT})
  --data-dir DIR              settings, host registry and admin.token (default ${DEFAULT_DATA_DIR})
  --store URL                 cluster mode: settings, hosts and the server registry in
                              PostgreSQL, shared by every server given the same URL
                              (postgres://USER:PASSWORD@HOST:PORT/DB; default: env
                              AGENTLB_STORE, else the data dir, which then holds admin.token only)
  --heartbeat-interval SECONDS
                              how often this server records itself in the server registry;
                              silent for 3 intervals = listed down (default ${DEFAULT_SERVER_HEARTBEAT_MS / 1000})
  --advertise ADDR            the name sent to agents in welcome.server (default: the local
                              address the agent connected to, with the listen port)
  --admin-token TOKEN         bearer token for every /api call, printable ASCII without spaces
                              (default: env AGENTLB_ADMIN_TOKEN, else DIR/admin.token,
                              generated with mode 0600 on first start)
  --agent-token TOKEN         require agents to send this hello.token, 16 to 256 bytes
                              (default: env AGENTLB_AGENT_TOKEN, else no token required;
                              an empty one is refused, it would turn enrolment off)
  --handshake-timeout SECONDS time allowed from connect to hello (default ${C.handshakeTimeoutMs / 1000})
  --ping-interval SECONDS     ping every interval; an agent silent for --max-missed-pings
                              intervals is dropped (default ${C.pingIntervalMs / 1000})
  --max-missed-pings N        intervals of silence before an agent is dropped (default ${C.maxMissedPings})
  --max-connections N         agents beyond N get \`error server_busy\` (default: the open-file
                              limit minus 256, here ${maxConnections}; 0 = no limit)
  --max-frame BYTES           largest frame accepted from an agent, 64..${DEFAULT_MAX_FRAME} (default ${C.maxFrame})
  --max-calls-in-flight N     calls in flight per agent; one more is refused 429 (default ${C.maxCallsInFlight})
  --protocol N                the newest protocol version spoken: 2 (default) or 1 (no calls;
                              version 2 agents fall back to 1, as with an older server)
  --max-write-buffer BYTES    output queued for an agent that stops reading before it is
                              dropped (default ${C.maxWriteBufferBytes})
  --close-grace SECONDS       time a closing connection gets to flush before it is cut
                              (default ${C.closeGraceMs / 1000})
  --pool MODE                 worker threads for bursts (a settings change reaching many
                              agents is planned and encoded on them, in batches): on, off,
                              or auto = only for bursts of --pool-threshold agents or more
                              (default ${P.mode})
  --pool-threshold N          smallest burst (agents) given to the pool in auto mode
                              (default ${P.threshold})
  --drain-rate K              agents a draining server hands over per second when the drain
                              names no rate (default ${DEFAULT_DRAIN_RATE})
${SECURITY_USAGE}  --log-level LEVEL           ${LOG_LEVELS.join(', ')} (default info)
  --log-buffer BYTES          log lines waiting to be written (stdout not read fast enough)
                              beyond which new lines are dropped and counted
                              (default ${DEFAULT_LOG_BUFFER_BYTES})
  --config FILE               read options from FILE: Java-properties syntax as in
                              agent.properties, one key per flag without "--"
                              (listen=0.0.0.0:8250, require-client-cert=true); a flag wins
                              over its environment variable, which wins over the file
  --check-config              check every option (and read the TLS files), print the
                              effective configuration with secrets masked, and exit
  -h, --help                  print this help and exit

SECONDS may have a fraction (0.5). Exit status: 0 after SIGTERM/SIGINT, 1 when the server
cannot start (port in use, unusable data dir, admin token, stored settings or TLS files, or
in cluster mode no database) or on a second signal, 2 for a bad command line.
`;
}

const FLAGS = {
  ...SECURITY_FLAGS,
  listen: { type: 'string' },
  admin: { type: 'string' },
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  'heartbeat-interval': { type: 'string' },
  advertise: { type: 'string' },
  'admin-token': { type: 'string' },
  'agent-token': { type: 'string' },
  'handshake-timeout': { type: 'string' },
  'ping-interval': { type: 'string' },
  'max-missed-pings': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-frame': { type: 'string' },
  'max-calls-in-flight': { type: 'string' },
  protocol: { type: 'string' },
  'max-write-buffer': { type: 'string' },
  'close-grace': { type: 'string' },
  pool: { type: 'string' },
  'pool-threshold': { type: 'string' },
  'drain-rate': { type: 'string' },
  'log-level': { type: 'string' },
  'log-buffer': { type: 'string' },
  config: { type: 'string' },
  'check-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type FlagValuesOf = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

/**
 * What each option is when nothing sets it, as `--check-config` prints it: from the same
 * constants the help text and the daemon use. Every flag has an entry (test/ops/config-file.test.ts).
 */
export function configDefaults(maxConnections = defaultAdmissionLimits().maxConnections): Readonly<Record<string, string>> {
  return {
    listen: `${L.host}:${L.port}`,
    admin: `${DEFAULT_ADMIN_HOST}:${DEFAULT_ADMIN_PORT}`,
    'data-dir': DEFAULT_DATA_DIR,
    store: 'unset: the embedded store in data-dir',
    'heartbeat-interval': String(DEFAULT_SERVER_HEARTBEAT_MS / 1000),
    advertise: 'unset: the address agents connect to, with the listen port',
    'admin-token': 'unset: read from, or generated into, DATA_DIR/admin.token',
    'agent-token': 'unset: agents are admitted without a token',
    'handshake-timeout': String(C.handshakeTimeoutMs / 1000),
    'ping-interval': String(C.pingIntervalMs / 1000),
    'max-missed-pings': String(C.maxMissedPings),
    'max-connections': `${maxConnections} (the open-file limit minus 256)`,
    'max-frame': String(C.maxFrame),
    'max-calls-in-flight': String(C.maxCallsInFlight),
    protocol: '2',
    'max-write-buffer': String(C.maxWriteBufferBytes),
    'close-grace': String(C.closeGraceMs / 1000),
    pool: P.mode,
    'pool-threshold': String(P.threshold),
    'drain-rate': String(DEFAULT_DRAIN_RATE),
    'log-level': 'info',
    'log-buffer': String(DEFAULT_LOG_BUFFER_BYTES),
    'tls-cert': 'unset: plain TCP',
    'tls-key': 'unset: plain TCP',
    'tls-ca': 'unset: no client certificates requested',
    'tls-crl': 'unset: CA_DIR/ca.crl with --ca-dir, else no revocation list',
    'require-client-cert': 'false',
    'max-handshakes': String(A.maxHandshakes),
    'max-handshakes-per-source': String(A.maxHandshakesPerSource),
    'max-connection-rate': String(A.maxConnectionRate),
    'connection-burst': String(A.connectionBurst),
    'rate-limit-loopback': 'false',
    'max-hosts': String(DEFAULT_MAX_HOSTS),
    'new-host-rate': String(DEFAULT_NEW_HOST_RATE),
    'ca-dir': 'unset: agents are not enrolled (no certificate requests signed)',
    'cert-days': String(DEFAULT_ENROL_CERT_DAYS),
  };
}

/** A token from its flag, else its environment variable; errors name where it came from, never the token. */
function tokenOption(
  flagValue: string | undefined,
  flag: string,
  env: NodeJS.ProcessEnv,
  variable: string,
  problem: (token: string) => string | undefined,
): string | undefined {
  const [token, source] = flagValue !== undefined ? [flagValue, flag] : [env[variable], variable];
  if (token === undefined || token === '') return undefined;
  const why = problem(token);
  if (why !== undefined) throw new UsageError(`${source} ${why}`);
  return token;
}

/** The shortest enrolment token accepted: below 16 bytes a token can be guessed (`openssl rand -hex 16` gives 32 characters, 128 random bits). */
export const MIN_AGENT_TOKEN_BYTES = 16;

/**
 * The agent token from --agent-token, else AGENTLB_AGENT_TOKEN. Empty is refused rather than
 * read as "no token": a unit whose EnvironmentFile is missing, or a template left unfilled,
 * would otherwise silently turn enrolment off. Too short is refused too, saying why.
 */
function agentTokenOption(flagValue: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const [token, source] = flagValue !== undefined ? [flagValue, '--agent-token'] : [env['AGENTLB_AGENT_TOKEN'], 'AGENTLB_AGENT_TOKEN'];
  if (token === undefined) return undefined;
  if (token === '') {
    throw new UsageError(
      `${source} is empty, which would turn enrolment off: give a token of ${MIN_AGENT_TOKEN_BYTES} to ${LIMITS.tokenBytes} bytes, or leave it unset to admit agents without one`,
    );
  }
  const bytes = Buffer.byteLength(token, 'utf8');
  if (bytes < MIN_AGENT_TOKEN_BYTES) {
    throw new UsageError(`${source} is ${bytes} bytes: an enrolment token must have at least ${MIN_AGENT_TOKEN_BYTES} so it cannot be guessed (make one with \`openssl rand -hex 16\`)`);
  }
  if (bytes > LIMITS.tokenBytes) throw new UsageError(`${source} must be ${MIN_AGENT_TOKEN_BYTES} to ${LIMITS.tokenBytes} bytes (what an agent can send as hello.token), got ${bytes}`);
  return token;
}

function adminTokenProblem(token: string): string | undefined {
  return isUsableAdminToken(token) ? undefined : ADMIN_TOKEN_RULE;
}

/** --advertise is this server's entry in `host` (and its default): it must be a valid one. */
function parseAdvertise(value: string): string {
  const entry = parseHostEntry(value);
  if (entry instanceof HostListError) throw new UsageError(`--advertise must be this server's address as agents write it in host (HOST, HOST:PORT or [IPv6]:PORT): ${entry.message}`);
  return value.trim();
}

function parsePoolMode(value: string): PoolMode {
  if (!(POOL_MODES as readonly string[]).includes(value)) throw new UsageError(`--pool must be one of ${POOL_MODES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as PoolMode;
}

function optional<T>(value: string | undefined, parse: (value: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

async function runServer(argv: string[], io: CliIo): Promise<number> {
  const { values: flags, positionals } = parseFlags(argv, FLAGS, true);
  if (flags.help === true) {
    io.out(serverUsage());
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const { config, merged, parsed } = await readOptions(flags, io.env);
  const { level, options, storeUrl, tlsFiles, maxBufferBytes } = parsed;
  const exposed = config !== undefined && exposesSecrets(config);
  const exposedWarning = exposed
    ? `${config.file} holds secrets and is readable by others (mode ${config.mode.toString(8).padStart(4, '0')}): chmod 600 ${config.file}`
    : undefined;

  if (flags['check-config'] === true) {
    if (tlsFiles !== undefined) {
      try {
        await loadServerTls(tlsFiles);
      } catch (error) {
        io.err(`agentlb server: ${(error as Error).message}\n`);
        return EXIT_FAILURE;
      }
    }
    if (exposedWarning !== undefined) io.err(`agentlb server: warning: ${exposedWarning}\n`);
    io.out(formatEffectiveConfig(FLAGS, merged, io.env, configDefaults()));
    return EXIT_OK;
  }

  // SIGHUP: the same reading again, the command line and environment as they were.
  const reread = async (): Promise<ReloadInput> => {
    const again = (await readOptions(flags, io.env)).parsed;
    return { tlsFiles: again.tlsFiles, agentToken: again.options.security.agentToken, adminToken: again.options.admin.token };
  };
  return startAndWait(level, options, storeUrl, tlsFiles, maxBufferBytes, exposedWarning, config?.file, io, reread);
}

/** The flags merged with the environment and the --config file, every option checked. */
async function readOptions(flags: FlagValuesOf, env: NodeJS.ProcessEnv) {
  const config = flags.config === undefined ? undefined : await readConfigFile(nonEmpty('--config', flags.config), FLAGS);
  const merged = mergeConfig(flags, config, env);
  try {
    return { config, merged, parsed: parseServerOptions(merged.values as FlagValuesOf, env) };
  } catch (error) {
    throw error instanceof UsageError ? inFileTerms(error, merged.sources) : error;
  }
}

/** Every option checked (UsageError naming the flag), none used yet: shared by start and --check-config. */
function parseServerOptions(values: FlagValuesOf, env: NodeJS.ProcessEnv) {
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const listen = optional(values.listen, (v) => parseHostPort('--listen', v));
  const admin = optional(values.admin, (v) => parseHostPort('--admin', v));
  const adminToken = tokenOption(values['admin-token'], '--admin-token', env, 'AGENTLB_ADMIN_TOKEN', adminTokenProblem);
  const agentToken = agentTokenOption(values['agent-token'], env);
  const security = parseSecurityFlags(values);
  // Checked one by one in this order: of several bad flags, the first here is the one reported.
  const dataDir = optional(values['data-dir'], (v) => nonEmpty('--data-dir', v));
  const advertise = optional(values.advertise, parseAdvertise);
  const handshakeTimeoutMs = optional(values['handshake-timeout'], (v) => parseSecondsAsMs('--handshake-timeout', v));
  const pingIntervalMs = optional(values['ping-interval'], (v) => parseSecondsAsMs('--ping-interval', v));
  const maxMissedPings = optional(values['max-missed-pings'], (v) => parseInteger('--max-missed-pings', v, 1, 1000));
  const maxConnections = optional(values['max-connections'], (v) => parseInteger('--max-connections', v, 0, 10_000_000));
  const maxFrame = optional(values['max-frame'], (v) => parseInteger('--max-frame', v, 64, DEFAULT_MAX_FRAME));
  const maxCallsInFlight = optional(values['max-calls-in-flight'], (v) => parseInteger('--max-calls-in-flight', v, 1, 10_000));
  const protocolVersions = optional(values.protocol, (v) => PROTOCOL_VERSIONS.slice(0, parseInteger('--protocol', v, 1, PROTOCOL_VERSION)));
  const maxWriteBufferBytes = optional(values['max-write-buffer'], (v) => parseInteger('--max-write-buffer', v, 1024, 1 << 30));
  const closeGraceMs = optional(values['close-grace'], (v) => parseSecondsAsMs('--close-grace', v));
  const drainRate = optional(values['drain-rate'], (v) => parseInteger('--drain-rate', v, 1, MAX_DRAIN_RATE));
  const poolMode = optional(values.pool, parsePoolMode);
  const poolThreshold = optional(values['pool-threshold'], (v) => parseInteger('--pool-threshold', v, 1, 10_000_000));
  const heartbeatIntervalMs = optional(values['heartbeat-interval'], (v) => parseSecondsAsMs('--heartbeat-interval', v));
  // The daemon's options, nested per owner; undefined = the default (app/options.ts serverOptions).
  // TLS material is read at start (startAndWait), from tlsFiles.
  const options = {
    dataDir,
    listen: { host: listen?.host, port: listen?.port, advertise },
    connection: { handshakeTimeoutMs, pingIntervalMs, maxMissedPings, maxFrame, maxCallsInFlight, protocolVersions, maxWriteBufferBytes, closeGraceMs },
    admission: {
      maxConnections,
      maxHandshakes: security.maxHandshakes,
      maxHandshakesPerSource: security.maxHandshakesPerSource,
      maxConnectionRate: security.maxConnectionRate,
      connectionBurst: security.connectionBurst,
      rateLimitLoopback: security.rateLimitLoopback,
    },
    registration: { maxHosts: security.maxHosts, newHostRate: security.newHostRate },
    security: { agentToken, caDir: security.caDir, certDays: security.certDays },
    admin: { host: admin?.host, port: admin?.port, token: adminToken },
    pool: { mode: poolMode, threshold: poolThreshold },
    drain: { rate: drainRate },
    cluster: { heartbeatIntervalMs },
  } satisfies Omit<ServerOptionsInput, 'logger'>;
  const { tlsFiles } = security;
  const storeUrl = storeUrlOption(values.store, env);

  const maxBufferBytes = optional(values['log-buffer'], (v) => parseInteger('--log-buffer', v, 4096, 1 << 30));
  return { level, options, storeUrl, tlsFiles, maxBufferBytes };
}

type ParsedServerOptions = ReturnType<typeof parseServerOptions>;

async function startAndWait(
  level: ParsedServerOptions['level'],
  options: ParsedServerOptions['options'],
  storeUrl: string | undefined,
  tlsFiles: ParsedServerOptions['tlsFiles'],
  maxBufferBytes: number | undefined,
  exposedWarning: string | undefined,
  configFile: string | undefined,
  io: CliIo,
  reread: () => Promise<ReloadInput>,
): Promise<number> {
  const logger = createLogger({ level, maxBufferBytes });
  exitOnFatalError(logger);
  if (exposedWarning !== undefined) logger.warn({ event: 'config_file_exposed', file: configFile }, exposedWarning);
  let handle;
  try {
    // The one metrics registry of this process, made here and passed in (no global registry).
    const heartbeatIntervalMs = options.cluster.heartbeatIntervalMs ?? DEFAULT_SERVER_HEARTBEAT_MS;
    const store = storeUrl === undefined ? undefined : createClusterStore(storeUrl, { logger, heartbeatIntervalMs });
    const tls = tlsFiles && (await loadServerTls(tlsFiles));
    handle = await startServer({ ...options, logger, metricsRegistry: new Registry(), store, security: { ...options.security, tls, tlsFiles } });
  } catch (error) {
    const message = error instanceof ServerStartError ? error.message : `cannot start: ${(error as Error).message}`;
    // The reason, not a stack trace: an operator reads this line on a terminal or in the
    // journal, and a port in use or a bad file is not a bug. The stack stays at debug.
    const cause = (error as { cause?: unknown }).cause;
    logger.fatal(
      { event: 'start_failed', code: (error as { code?: string }).code, ...(cause instanceof Error ? { cause: cause.message } : {}) },
      message,
    );
    logger.debug({ event: 'start_failed_detail', err: error }, 'start failure, with its stack');
    await flushLogger(logger);
    io.err(`agentlb server: ${message}\n`);
    return EXIT_FAILURE;
  }

  // Without a handler SIGHUP would end the process at once (Node's default), dropping every agent.
  const started = handle;
  const onHangUp = (): void => {
    logger.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP received: reloading the TLS files, CA, CRL and tokens');
    void started.reload(reread);
  };
  process.on('SIGHUP', onHangUp);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.off('SIGHUP', onHangUp);
  // A second signal means "now": the operator does not want to wait for the grace period.
  const hurry = (): void => process.exit(EXIT_FAILURE);
  process.once('SIGTERM', hurry);
  process.once('SIGINT', hurry);
  logger.info({ event: 'signal', signal }, `${signal} received: shutting down`);
  await handle.close();
  await flushLogger(logger);
  return EXIT_OK;
}

export const serverCommand: Command = {
  name: 'server',
  summary: 'run the management server daemon',
  run: (argv, io) => withUsage(io, 'agentlb server', () => runServer(argv, io)),
};
