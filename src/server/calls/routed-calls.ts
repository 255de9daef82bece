/**
 * Calls carried between the servers of a cluster (README "Calls"): a call for a host whose
 * agent another server holds is written to the store for that server (CallCarrier), which
 * takes it once, runs it on its agent and writes the line back. No new port: the servers
 * already share PostgreSQL, behind its own authentication and TLS.
 *
 * At most once: the holder takes a call once (a restarted holder is another process and
 * never takes its predecessor's), and only within its timeout; a call whose holder died, or
 * whose deadline passed, is deleted before it is reported, so it is never run afterwards;
 * nothing is retried. The asker checks its open calls every `checkMs` (holder liveness from
 * the heartbeats, deadlines, and a read that makes up for a lost wake-up): one statement each
 * for all open calls. A deadline passes even when the store cannot be reached: the call is
 * reported timed out then, and its row, which no holder takes any more, is left to the sweep.
 *
 * The sweep: every `sweepMs` each server deletes rows past their expiry (a call's timeout, the
 * margin and a minute after it was asked), in batches of SWEEP_BATCH along an index: what an
 * asker that died with calls open, or one cut off from the store, left behind.
 */
import type { CallLine } from '../../api/calls';
import type { AskedCall, CallAnswer, CallCarrier, CarriedCall, Store } from '../../store/types';
import type { CallRequest } from './agent-calls';

/** Whether `store` can carry calls between servers (PostgreSQL, cluster mode). */
export function isCallCarrier(store: Store): store is Store & CallCarrier {
  const candidate = store as Partial<CallCarrier>;
  return typeof candidate.ask === 'function' && typeof candidate.take === 'function' && typeof candidate.listen === 'function';
}

/** How a routed call ended on the asking side. */
export type RoutedOutcome =
  | { kind: 'line'; line: CallLine }
  /** The holder stopped being live (died, stopped) before the line came back. */
  | { kind: 'lost'; holder: string }
  /** No line within the timeout plus the trip's margin. */
  | { kind: 'timeout'; holder: string }
  /** The store failed: the call may or may not have been asked. */
  | { kind: 'failed'; holder: string | null; message: string };

export interface RoutedCall {
  hostId: number;
  holder: string;
  outcome: Promise<RoutedOutcome>;
  /** The caller went away: the call is given up (not run if not yet taken). */
  cancel(): void;
}

export interface CallRouterOptions {
  carrier: CallCarrier;
  /** This server's registry address (calls are asked of, and answered to, addresses). */
  address: string;
  /** Runs a carried call on this server's own agent (never routed again). */
  runHere(call: CarriedCall): Promise<CallLine>;
  /** How often open calls are checked (holder liveness, deadline, missed wake-ups). */
  checkMs?: number;
  /** Added to a call's timeout for the trip through the store before it is reported timed out. */
  marginMs?: number;
  /** How often expired rows are swept (any server's leftovers). */
  sweepMs?: number;
  onError?(error: unknown): void;
}

/** Rows deleted per sweep statement, and statements per sweep at most (a backlog takes several sweeps). */
export const SWEEP_BATCH = 1_000;
const SWEEP_STATEMENTS = 10;
/** How long past its asker's deadline a row is kept before any server may sweep it. */
const SWEEP_GRACE_MS = 60_000;
/**
 * Lines a holder writes back in one statement at most. Lines wait for the next turn of the
 * event loop, and while a statement is in flight for it to finish, so a batch is whatever
 * came back meanwhile: one line when calls are few, hundreds in a fan-out.
 */
export const ANSWER_BATCH = 500;

interface Open {
  hostId: number;
  holder: string;
  deadline: number;
  settle(outcome: RoutedOutcome): void;
}

export class CallRouter {
  private readonly open = new Map<number, Open>();
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private taking: Promise<void> = Promise.resolve();
  private closed = false;
  private collecting: Promise<void> | undefined;
  private collectAgain = false;
  /** Asks in flight: until one resolves, lines may come back for calls it has not registered yet. */
  private asking = 0;
  /** Lines read while an ask was in flight, for calls not (yet) open: settled when their ask resolves. */
  private readonly early = new Map<number, unknown>();
  /** Lines of calls run here, not yet written back; the statement writing the previous batch. */
  private answers: CallAnswer[] = [];
  private answering: Promise<void> | undefined;
  private answerSoon: NodeJS.Immediate | undefined;

  constructor(private readonly options: CallRouterOptions) {}

  /** Starts listening for wake-ups and takes what was asked of this process meanwhile. */
  async start(): Promise<void> {
    // What a previous process at this address asked is nobody's any more: never run it.
    await this.options.carrier.forgetAsked(this.options.address).catch((error) => this.options.onError?.(error));
    await this.options.carrier.listen(this.options.address, (kind) => (kind === 'asked' ? this.takeAsked() : this.collectSoon()));
    this.takeAsked();
    this.sweeper = setInterval(() => {
      this.sweeping = this.sweeping.then(async () => void (await this.sweep()));
    }, this.options.sweepMs ?? 60_000);
    this.sweeper.unref();
  }

  /** Deletes expired rows: at most SWEEP_STATEMENTS batches now, the rest at the next sweep. */
  async sweep(): Promise<number> {
    let swept = 0;
    try {
      for (let statement = 0; statement < SWEEP_STATEMENTS && !this.closed; statement++) {
        const deleted = await this.options.carrier.sweepExpired(SWEEP_BATCH);
        swept += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
    } catch (error) {
      this.options.onError?.(error);
    }
    return swept;
  }

  /**
   * Asks the holders of `hostIds` to run `request`, one statement for the batch; hosts that
   * no other live server holds are absent from the answer.
   */
  async route(hostIds: readonly number[], request: CallRequest, caller: string): Promise<RoutedCall[]> {
    const marginMs = this.options.marginMs ?? 2_000;
    this.asking++;
    let asked: AskedCall[];
    try {
      asked = await this.options.carrier.ask(this.options.address, hostIds, { ...request, caller, keepMs: request.timeoutMs + marginMs + SWEEP_GRACE_MS });
    } finally {
      this.asking--;
    }
    const deadline = Date.now() + request.timeoutMs + marginMs;
    const calls = asked.map((entry): RoutedCall => {
      let settle!: (outcome: RoutedOutcome) => void;
      const outcome = new Promise<RoutedOutcome>((resolve) => (settle = resolve));
      this.open.set(entry.id, { hostId: entry.hostId, holder: entry.holder, deadline, settle });
      return {
        hostId: entry.hostId,
        holder: entry.holder,
        outcome,
        cancel: () => {
          if (!this.open.has(entry.id)) return;
          this.open.delete(entry.id);
          settle({ kind: 'failed', holder: entry.holder, message: 'the caller went away' });
          this.options.carrier.giveUp([entry.id]).catch((error) => this.options.onError?.(error));
        },
      };
    });
    // A holder can answer before this ask's own answer is read (the wake-up and the rows come
    // on other connections): the collect that read those lines kept them for this.
    for (const entry of asked) {
      const line = this.early.get(entry.id);
      if (line === undefined) continue;
      this.early.delete(entry.id);
      this.settle(entry.id, { kind: 'line', line: line as CallLine });
    }
    // No ask in flight: a line still kept is for a call nobody waits for any more.
    if (this.asking === 0) this.early.clear();
    this.schedule();
    return calls;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.sweeper);
    const ids = [...this.open.keys()];
    for (const entry of this.open.values()) entry.settle({ kind: 'failed', holder: entry.holder, message: 'this server is shutting down' });
    this.open.clear();
    await this.options.carrier.giveUp(ids).catch(() => undefined);
    await Promise.all([this.taking, this.sweeping]);
    // Lines of calls already run here still go back to their askers.
    clearImmediate(this.answerSoon);
    while (this.answering !== undefined || this.answers.length > 0) await (this.answering ?? this.writeAnswers());
  }

  /** Takes the calls asked of this process (serially: one take at a time) and runs each. */
  private takeAsked(): void {
    this.taking = this.taking.then(async () => {
      if (this.closed) return;
      let taken: CarriedCall[];
      try {
        taken = await this.options.carrier.take(this.options.address);
      } catch (error) {
        this.options.onError?.(error);
        return;
      }
      for (const call of taken) {
        void this.options.runHere(call).then(
          (line) => this.answer(call.id, line),
          (error) => this.options.onError?.(error),
        );
      }
    });
  }

  /** Queues a line for its asker: written with the others of this turn, or after the statement in flight. */
  private answer(id: number, line: CallLine): void {
    this.answers.push({ id, line });
    if (this.answering === undefined) this.answerSoon ??= setImmediate(() => void this.writeAnswers());
  }

  /** Writes up to ANSWER_BATCH queued lines in one statement; then the next batch, if any waits. */
  private writeAnswers(): Promise<void> {
    this.answerSoon = undefined;
    const batch = this.answers.splice(0, ANSWER_BATCH);
    if (batch.length === 0) return Promise.resolve();
    const writing = this.options.carrier
      .answer(batch)
      .catch((error) => this.options.onError?.(error))
      .finally(() => {
        this.answering = undefined;
        if (this.answers.length > 0) void this.writeAnswers();
      });
    this.answering = writing;
    return writing;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.open.size === 0 || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() => this.schedule());
    }, this.options.checkMs ?? 1_000);
    this.timer.unref();
  }

  /**
   * One read for any number of wake-ups: while a read is in flight, later wake-ups ask for one
   * more read after it, no more (each holder wakes this server once per batch of lines).
   */
  private collectSoon(): void {
    if (this.collecting !== undefined) {
      this.collectAgain = true;
      return;
    }
    this.collecting = this.collect().finally(() => {
      this.collecting = undefined;
      if (!this.collectAgain) return;
      this.collectAgain = false;
      this.collectSoon();
    });
  }

  /** Reads the lines answered for this server: the statement costs what it returns, not what is open. */
  private async collect(): Promise<void> {
    if (this.open.size === 0 && this.asking === 0) return;
    let lines: Map<number, unknown>;
    try {
      lines = await this.options.carrier.collect(this.options.address);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    for (const [id, line] of lines) {
      if (this.open.has(id)) this.settle(id, { kind: 'line', line: line as CallLine });
      // Its ask may not have resolved yet (the row is deleted now: nobody else will read it).
      else if (this.asking > 0) this.early.set(id, line);
    }
  }

  /**
   * Lines that came back, holders that died, deadlines that passed. Each step stands alone: a
   * store that cannot be reached fails the first two, and the deadlines pass all the same.
   */
  private async check(): Promise<void> {
    await this.collect();
    const ids = [...this.open.keys()];
    if (ids.length === 0) return;
    try {
      for (const id of await this.options.carrier.endLost(ids)) this.settle(id, { kind: 'lost', holder: this.open.get(id)?.holder ?? '' });
    } catch (error) {
      this.options.onError?.(error);
    }
    const now = Date.now();
    const late = [...this.open].filter(([, entry]) => entry.deadline <= now).map(([id]) => id);
    if (late.length === 0) return;
    try {
      for (const id of await this.options.carrier.giveUp(late)) this.timedOut(id);
      // Answered just before being given up: the line is there to read.
      if (late.some((id) => this.open.has(id))) await this.collect();
    } catch (error) {
      // The store cannot be reached: the row stays, but no holder takes it after its timeout
      // (take's own condition), and the sweep deletes it.
      this.options.onError?.(error);
    }
    // Past the deadline with no line to be had (its read failed too): timed out all the same.
    for (const id of late) this.timedOut(id);
  }

  private timedOut(id: number): void {
    this.settle(id, { kind: 'timeout', holder: this.open.get(id)?.holder ?? '' });
  }

  private settle(id: number, outcome: RoutedOutcome): void {
    const entry = this.open.get(id);
    if (entry === undefined) return;
    this.open.delete(id);
    entry.settle(outcome);
  }
}
