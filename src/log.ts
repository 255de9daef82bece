/**
 * The JSON logger (pino). Created once by the entry point and passed in: no module-level
 * logger, so tests can give the server a silent or captured one.
 *
 * By default lines go to stdout through a LogOutput (log-output.ts): asynchronous, in order,
 * bounded, never blocking the event loop. Times are ISO 8601 (UTC), as operators read them.
 */
import pino from 'pino';
import { DEFAULT_LOG_BUFFER_BYTES, LogOutput } from './log-output';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export { DEFAULT_LOG_BUFFER_BYTES };

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; default: stdout through an asynchronous, bounded LogOutput. */
  destination?: pino.DestinationStream;
  /** The LogOutput's bound (default 16 MiB); ignored with `destination`. */
  maxBufferBytes?: number;
}

let stampMs = Number.NaN;
let stamp = '';

/**
 * pino's isoTime, formatted once per millisecond: the lines of one busy turn (a fan-out logs a
 * `call` line per host) share their millisecond, and Date#toISOString was a few per cent of a
 * 15 000-agent fan-out's CPU at info.
 */
function isoTime(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

/** The LogOutput behind a logger made here, found through pino's stream (children share it). */
function outputOf(logger: Logger): LogOutput | undefined {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return stream instanceof LogOutput ? stream : undefined;
}

export function createLogger(options: LoggerOptions): Logger {
  const output = options.destination === undefined ? new LogOutput({ maxBufferBytes: options.maxBufferBytes }) : undefined;
  // errWithCause: pino's default `err` serializer appends every cause's message to the
  // error's own, which already names its cause here ("cannot open the store: X: X").
  const logger = pino(
    { level: options.level, base: { pid: process.pid }, timestamp: isoTime, serializers: { err: pino.stdSerializers.errWithCause } },
    options.destination ?? output!,
  );
  if (output !== undefined) {
    output.setOnResumed((dropped) =>
      logger.warn(
        { event: 'log_lines_dropped', dropped, droppedTotal: output.droppedLines },
        `${dropped} log lines were dropped: the log output did not keep up (more than ${options.maxBufferBytes ?? DEFAULT_LOG_BUFFER_BYTES} bytes waiting)`,
      ),
    );
  }
  return logger;
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Lines this logger's output dropped since start (0 for a destination not made here). */
export function logLinesDropped(logger: Logger): number {
  return outputOf(logger)?.droppedLines ?? 0;
}

/** How long an exit waits for buffered lines to be written before it goes anyway. */
export const FLUSH_TIMEOUT_MS = 5_000;

/**
 * Writes buffered lines before the process exits, waiting at most `timeoutMs` (a reader that
 * never reads must not keep the process alive); resolves false if some were left. Never throws.
 */
export async function flushLogger(logger: Logger, timeoutMs = FLUSH_TIMEOUT_MS): Promise<boolean> {
  const output = outputOf(logger);
  if (output !== undefined) return output.drain(timeoutMs);
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve(true));
    } catch {
      resolve(false);
    }
  });
}

/**
 * An uncaught exception or unhandled rejection: log it as `fatal`, write what is buffered
 * (bounded by FLUSH_TIMEOUT_MS), exit 1. Without this the asynchronous output would lose the
 * very lines that say what went wrong. Returns the function that removes the handlers.
 */
export function exitOnFatalError(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let exiting = false;
  const onFatal = (error: unknown, origin: string): void => {
    if (exiting) return;
    exiting = true;
    try {
      logger.fatal({ event: 'fatal_error', origin, err: error }, `fatal ${origin}: ${(error as Error)?.message ?? String(error)}`);
    } catch {
      // the logger itself failed: exit anyway
    }
    void flushLogger(logger).then(() => exit(1));
  };
  const onException = (error: Error, origin: string): void => onFatal(error, origin);
  const onRejection = (reason: unknown): void => onFatal(reason, 'unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
