/**
 * Where log lines go: a file descriptor (stdout) written asynchronously, in order, in batches,
 * by sonic-boom (pino's own destination), so that a log consumer that stops reading (a full
 * pipe, a stuck journald or log shipper) can never stop the event loop. Before this, lines
 * were written synchronously and a server with stdout on an unread pipe froze after ~100
 * handshakes.
 *
 * Lines are gathered for up to BATCH_MS (or BATCH_BYTES) and handed to sonic-boom as one
 * string: sonic-boom batches only while a write is in flight, so when the disk kept up every
 * line (then every turn of the loop) was its own fs.write through the thread pool, a hand-off
 * and two wake-ups each (measured: +30 to +60 us of server CPU per handshake at info, twice
 * what the lines cost to build). Each line's time is taken when it is logged, not written.
 *
 * The buffer is bounded: a line that would take it past `maxBufferBytes` is dropped and
 * counted (agentlb_log_lines_dropped_total), and once everything buffered has been written
 * again, `onResumed` is told how many were dropped (the logger writes one warn line).
 */
import fs from 'node:fs';
import SonicBoom from 'sonic-boom';

/**
 * How long a line may wait for others before it is handed to sonic-boom, and how many
 * characters a batch holds at most: far below the bound, or a whole batch would be dropped
 * while the reader keeps up.
 */
const BATCH_MS = 20;
const BATCH_BYTES = 64 * 1024;
const BATCHES_IN_BOUND = 16;

/** 16 MiB: about 60 000 lines, a minute of a connect storm, before lines are dropped. */
export const DEFAULT_LOG_BUFFER_BYTES = 16 * 1024 * 1024;

export interface LogOutputOptions {
  /** The descriptor written to; default 1 (stdout). */
  fd?: number;
  maxBufferBytes?: number;
  /** Called once the buffer has drained after lines were dropped, with how many since the last call. */
  onResumed?: (dropped: number) => void;
}

/** The stream pino writes to, plus what the exit paths and metrics need to know about it. */
export class LogOutput {
  private readonly sonic: SonicBoom;
  private dropped = 0;
  private droppedUnreported = 0;
  /** A line was handed to sonic-boom and its 'drain' (everything written) has not come yet. */
  private busy = false;
  /** The reader went away (EPIPE) or the descriptor failed: nothing more can be written. */
  private broken = false;
  private readonly drainWaiters: (() => void)[] = [];
  /** Lines of this turn, not yet handed to sonic-boom. */
  private batch = '';
  private batchLength = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly handOver = (): void => this.flushBatch();
  private readonly batchBytes: number;
  private onResumed: ((dropped: number) => void) | undefined;

  constructor(options: LogOutputOptions = {}) {
    const fd = options.fd ?? 1;
    makeNonBlocking(fd);
    this.onResumed = options.onResumed;
    const bound = options.maxBufferBytes ?? DEFAULT_LOG_BUFFER_BYTES;
    this.batchBytes = Math.max(1, Math.min(BATCH_BYTES, Math.floor(bound / BATCHES_IN_BOUND)));
    // retryEAGAIN: a full non-blocking pipe is retried every 100 ms (sonic-boom's pace), for
    // as long as it stays full; lines that arrive meanwhile are buffered up to the bound.
    this.sonic = new SonicBoom({ fd, sync: false, maxLength: bound, retryEAGAIN: () => true });
    this.sonic.on('drop', (data: string) => {
      const lines = countLines(data);
      this.dropped += lines;
      this.droppedUnreported += lines;
    });
    this.sonic.on('drain', () => this.onDrain());
    this.sonic.on('error', (error: NodeJS.ErrnoException) => {
      // Nobody is left to read (EPIPE) or the descriptor is unusable: logging must not take
      // the server down with it. Later lines are counted as dropped.
      this.broken = true;
      this.busy = false;
      this.wakeDrainWaiters();
      void error;
    });
  }

  /** pino's destination: one call per line. */
  write(line: string): boolean {
    if (this.broken) {
      this.dropped++;
      return true;
    }
    this.busy = true;
    this.batch += line;
    this.batchLength += line.length;
    if (this.batchLength >= this.batchBytes) this.flushBatch();
    // Not unref'd: a process whose loop empties still writes its last lines first.
    else this.batchTimer ??= setTimeout(this.handOver, BATCH_MS);
    return true;
  }

  private flushBatch(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch === '') return;
    const batch = this.batch;
    this.batch = '';
    this.batchLength = 0;
    if (this.broken) this.dropped += countLines(batch);
    else this.sonic.write(batch);
  }

  /** Lines dropped since start (the buffer was full, or the output broke). */
  get droppedLines(): number {
    return this.dropped;
  }

  setOnResumed(onResumed: (dropped: number) => void): void {
    this.onResumed = onResumed;
  }

  /**
   * Resolves true once every buffered line has been written, false when `timeoutMs` passed
   * first (a reader that never reads) or the output broke: an exit must not wait forever.
   */
  drain(timeoutMs: number): Promise<boolean> {
    this.flushBatch();
    if (this.broken) return Promise.resolve(false);
    if (!this.busy) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const at = this.drainWaiters.indexOf(wake);
        if (at >= 0) this.drainWaiters.splice(at, 1);
        resolve(false);
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(!this.broken);
      };
      this.drainWaiters.push(wake);
    });
  }

  private onDrain(): void {
    // Everything handed over is written; lines of this turn may still wait for theirs.
    this.busy = this.batch !== '';
    if (this.droppedUnreported > 0) {
      const dropped = this.droppedUnreported;
      this.droppedUnreported = 0;
      this.onResumed?.(dropped);
    }
    if (!this.busy) this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    for (const wake of this.drainWaiters.splice(0)) wake();
  }
}

function countLines(text: string): number {
  let lines = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

/**
 * A pipe or socket inherited in blocking mode would park a libuv thread in write() while the
 * reader does not read, and a process cannot exit while one is parked there (measured: the
 * exit hung until killed). Node opens stdout as a non-blocking libuv stream the first time
 * `process.stdout` is read, so for fd 1 that is done here; a regular file never blocks.
 */
function makeNonBlocking(fd: number): void {
  if (fd !== 1) return;
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    return;
  }
  if (stat.isFIFO() || stat.isSocket()) void process.stdout;
}
