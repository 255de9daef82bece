/**
 * Runs one handler file for one call: the file itself, no shell, in a process group of its
 * own; `params` as JSON on stdin; stdout is the value (JSON when it parses, else the text),
 * stderr's tail explains a failure. The process group is killed (TERM, then KILL after a
 * grace) on timeout, on cancel and when its output outgrows one frame, so a handler's
 * children go too.
 */
import { spawn } from 'node:child_process';
import type { CallError, CallValue } from '../../src/protocol/messages';
import { LIMITS } from '../../src/protocol/limits';

export interface HandlerRun {
  file: string;
  params: CallValue | undefined;
  env: NodeJS.ProcessEnv;
  /** Bytes of stdout kept; one more and the run ends as too_large. */
  maxOutputBytes: number;
  /** Aborted on timeout or cancel: the process group is killed. */
  signal: AbortSignal;
  /** TERM to KILL. */
  killGraceMs: number;
}

export type HandlerOutcome = { ok: true; value: CallValue } | { ok: false; error: CallError };

/** Bytes of stderr kept for the failure message (its end: that is where errors are). */
const STDERR_TAIL_BYTES = LIMITS.textBytes;

/** The value of a handler's stdout: JSON when it is JSON, else the text without its last newline. */
export function outputValue(stdout: string): CallValue {
  const text = stdout.replace(/\r?\n$/, '');
  if (text === '') return null;
  try {
    return JSON.parse(text) as CallValue;
  } catch {
    return text;
  }
}

/** The last `max` bytes of `text`, cut on a character boundary. */
function tail(buffer: Buffer, max: number): string {
  const text = buffer.subarray(Math.max(0, buffer.length - max)).toString('utf8');
  return Buffer.byteLength(text) <= max ? text : text.slice(1);
}

/** Resolves once the process has exited (and its pipes closed); never rejects. */
export function runHandler(run: HandlerRun): Promise<HandlerOutcome> {
  return new Promise((resolve) => {
    let child;
    try {
      // detached: a process group of its own, so the whole group can be killed.
      child = spawn(run.file, [], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: run.env, shell: false });
    } catch (error) {
      resolve({ ok: false, error: { code: 'handler_failed', message: `cannot start ${run.file}: ${(error as Error).message}` } });
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = Buffer.alloc(0);
    let ended: CallError | undefined;
    const killGroup = (why: CallError): void => {
      if (ended !== undefined) return;
      ended = why;
      signalGroup('SIGTERM');
      // Not cleared when the leader exits: its children may have ignored the TERM.
      const killTimer = setTimeout(() => signalGroup('SIGKILL'), run.killGraceMs);
      killTimer.unref();
    };
    const signalGroup = (name: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, name);
      } catch {
        // The group is gone already.
      }
    };
    const onAbort = (): void => killGroup({ code: 'cancelled', message: 'stopped' });
    if (run.signal.aborted) onAbort();
    else run.signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > run.maxOutputBytes) {
        killGroup({ code: 'too_large', message: `the handler wrote more than ${run.maxOutputBytes} bytes; a result travels in one frame` });
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = Buffer.concat([err, chunk]);
      if (err.length > 2 * STDERR_TAIL_BYTES) err = err.subarray(err.length - STDERR_TAIL_BYTES);
    });
    // A handler that does not read its stdin must not fail the call (EPIPE).
    child.stdin.on('error', () => undefined);
    child.stdin.end(run.params === undefined ? '' : JSON.stringify(run.params));

    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => {
      run.signal.removeEventListener('abort', onAbort);
      if (ended !== undefined) return resolve({ ok: false, error: ended });
      if (spawnError !== undefined) {
        return resolve({ ok: false, error: { code: 'handler_failed', message: `cannot run ${run.file}: ${spawnError.message}` } });
      }
      if (code === 0) return resolve({ ok: true, value: outputValue(Buffer.concat(out).toString('utf8')) });
      const stderr = tail(err, STDERR_TAIL_BYTES).trimEnd();
      const message = stderr !== '' ? stderr : signal !== null ? `killed by ${signal}` : `exited with status ${code}`;
      resolve({
        ok: false,
        error: { code: 'handler_failed', message: tail(Buffer.from(message), LIMITS.textBytes), ...(code === null ? {} : { exitCode: code }) },
      });
    });
  });
}
