/**
 * Command-line helpers shared by every `agentlb` command: typed usage errors (exit 2) and
 * value parsers whose messages name the flag and the bad value.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line: the message names the flag or argument; the process exits 2. */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal (progress bars); absent: no. */
  isTty?: boolean;
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    isTty: process.stderr.isTTY === true,
  };
}

/** One subcommand (or group); `run` resolves to the exit code. */
export interface Command {
  name: string;
  summary: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode, its errors turned into UsageError. */
export function parseFlags<O extends Options>(argv: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals: positionals });
  } catch (error) {
    // Node appends a hint about `--` to unknown options; the first sentence names the flag.
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/**
 * `--ping-interval -1` as `--ping-interval=-1`: parseArgs calls a value starting with `-`
 * "ambiguous" without naming it, while a negative number is never a flag, and the flag's own
 * check then names the bad value.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return joined.concat(argv.slice(i));
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function quote(value: string): string {
  return JSON.stringify(value);
}

export interface HostPort {
  host: string;
  port: number;
}

/** `HOST:PORT` or `[IPv6]:PORT`; port 0 asks the system for a free one. */
export function parseHostPort(flag: string, value: string): HostPort {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(value);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65_535) {
    throw new UsageError(`${flag} must be HOST:PORT (or [IPv6]:PORT) with a port from 0 to 65535, got ${quote(value)}`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/** A positive number of seconds (fractions allowed), returned as whole milliseconds >= 1. */
export function parseSecondsAsMs(flag: string, value: string): number {
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
  const ms = Math.round(seconds * 1000);
  if (!(ms >= 1 && ms <= 2_147_483_647)) {
    throw new UsageError(`${flag} must be a number of seconds from 0.001 to 2147483, got ${quote(value)}`);
  }
  return ms;
}

/** An integer in [min, max]. */
export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const number = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(Number.isSafeInteger(number) && number >= min && number <= max)) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${quote(value)}`);
  }
  return number;
}

/** A non-empty flag value (parseArgs accepts `--flag=`). */
export function nonEmpty(flag: string, value: string): string {
  if (value === '') throw new UsageError(`${flag} must not be empty`);
  return value;
}

/** Runs a command body, mapping UsageError to exit 2 with a pointer to --help. */
export async function withUsage(io: CliIo, prefix: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${prefix}: ${error.message}\nRun \`${prefix} --help\` for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
