#!/usr/bin/env node
/**
 * `agentlb-agent --properties PATH [--log-level LEVEL]` — also reached as `agentlb agent ...`
 * through runAgentCli. Runs until SIGTERM or SIGINT; a bad command line or properties file is
 * the only reason it exits on its own (code 2): servers that are down are retried forever.
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type pino from 'pino';
import { createLogger, exitOnFatalError, flushLogger, isLogLevel, LOG_LEVELS, type LogLevel } from '../src/log';
import { agentlbVersion, versionLine } from '../src/util/version';
import type { Agent } from './agent';
import { AgentStartError, createAgent, TOKEN_ENV } from './index';

export const AGENT_USAGE = `Usage: agentlb-agent --properties PATH [--log-level LEVEL]
       agentlb agent --properties PATH [--log-level LEVEL]

Runs the agentlb agent. It connects to the first server of the \`host\` list in PATH that
answers its hello, takes list and check-interval updates from the servers (persisting them to
PATH), fails over when its server stops answering pings, and moves back to the first (preferred)
server when the check interval is above 0.

Options:
  --properties PATH   the agent.properties file to read and update (required)
  --log-level LEVEL   ${LOG_LEVELS.join(', ')} (default: info)
  -V, --version       print the version (and the Node.js it runs on) and exit
  -h, --help          print this help and exit

Keys read from PATH: host, host.lb.check.interval, host.lb.check.interval.override, port, guid
(generated and saved when missing), zone, token, tls.ca, tls.cert, tls.key, handlers.dir,
handlers.concurrency. When the servers
require an enrolment token (agentlb server --agent-token), set it as \`token\` or in the
environment as AGENTLB_AGENT_TOKEN (which wins). With tls.ca (a PEM file, relative paths from
PATH's directory) the agent speaks TLS and checks the servers' certificates; tls.cert and
tls.key present its own certificate to servers that require one.
Calls (protocol 2): a method M runs the executable file handlers.dir/M (relative paths from
PATH's directory) with its params as JSON on stdin; its stdout is the value. A file that is
not regular, is group- or world-writable, or is owned by another user than root or the
agent's is refused. handlers.concurrency (default 4) run at once. Built in: agentlb.ping,
agentlb.info.
Logs are JSON lines on stdout.
Exit status: 0 after SIGTERM or SIGINT, 2 for a bad argument or properties file.
`;

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Where SIGTERM/SIGINT are awaited; the real process by default. */
  signals: Pick<NodeJS.Process, 'once' | 'off'>;
  /** Log destination; by default stdout, asynchronous and bounded (src/log-output.ts). */
  logDestination?: pino.DestinationStream;
  /** Where AGENTLB_AGENT_TOKEN is read; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export { TOKEN_ENV };

const defaultIo = (): CliIo => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  signals: process,
});

type Parsed = { help: true } | { version: true } | { help: false; propertiesPath: string; level: LogLevel } | { error: string };

function parseCommandLine(argv: string[]): Parsed {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        properties: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    }));
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (values.help === true) return { help: true };
  if (values.version === true) return { version: true };
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) return { error: `bad value for --log-level: "${level}" (expected one of ${LOG_LEVELS.join(', ')})` };
  if (values.properties === undefined || values.properties === '') return { error: 'missing --properties PATH' };
  return { help: false, propertiesPath: values.properties, level };
}

/** Run the agent as a command; resolves to the process exit code. */
export async function runAgentCli(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const parsed = parseCommandLine(argv);
  if ('error' in parsed) {
    io.err(`agentlb-agent: ${parsed.error}\n\n${AGENT_USAGE}`);
    return 2;
  }
  if ('version' in parsed) {
    io.out(versionLine('agentlb-agent'));
    return 0;
  }
  if (parsed.help) {
    io.out(AGENT_USAGE);
    return 0;
  }
  const root = createLogger({ level: parsed.level, ...(io.logDestination ? { destination: io.logDestination } : {}) });
  const logger = root.child({ name: 'agentlb-agent' });
  // The real process only: a test driving runAgentCli in-process keeps its own handlers.
  const removeFatalHandlers = io.logDestination === undefined ? exitOnFatalError(root) : () => undefined;

  // The library's own entry point (agentlb/agent): the binary is built on it.
  let agent: Agent;
  try {
    agent = await createAgent({ properties: parsed.propertiesPath, logger, ...(io.env === undefined ? {} : { env: io.env }) });
  } catch (error) {
    if (!(error instanceof AgentStartError)) throw error;
    logger.fatal({ code: error.code === 'bad_config' ? 'bad_config' : 'bad_tls_files', properties: parsed.propertiesPath }, error.message);
    io.err(`agentlb-agent: ${error.message}\n`);
    await flushLogger(root);
    removeFatalHandlers();
    return 2;
  }
  logger.info(
    { event: 'started', version: agentlbVersion(), node: process.version, properties: parsed.propertiesPath, guid: agent.info().guid },
    `agentlb-agent ${agentlbVersion()} on Node.js ${process.version}`,
  );
  if (agent.handlersDir !== undefined) await warnIfNoHandlersDir(agent.handlersDir, logger);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (name: NodeJS.Signals): void => {
      io.signals.off('SIGTERM', onSignal);
      io.signals.off('SIGINT', onSignal);
      resolve(name);
    };
    io.signals.once('SIGTERM', onSignal);
    io.signals.once('SIGINT', onSignal);
    agent.start();
  });
  logger.info({ signal }, `${signal} received: stopping`);
  await agent.stop();
  await flushLogger(root);
  removeFatalHandlers();
  return 0;
}

/** A missing handlers.dir is no reason to stop: its calls answer unknown_method, and it may appear later. */
async function warnIfNoHandlersDir(dir: string, logger: pino.Logger): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return;
    logger.warn({ handlersDir: dir }, `handlers.dir ${dir} is not a directory: calls to its methods answer unknown_method`);
  } catch (error) {
    logger.warn({ handlersDir: dir, reason: (error as Error).message }, `handlers.dir ${dir} cannot be read: calls to its methods answer unknown_method`);
  }
}

if (require.main === module) {
  // `agentlb-agent --help | head`: a reader that went away is no reason for a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
  void runAgentCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
