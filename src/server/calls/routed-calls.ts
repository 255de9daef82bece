/**
 * Calls carried between the servers of a cluster (README "Calls"): a call for a host whose
 * agent another server holds is written to the store for that server (CallCarrier), which
 * takes it once, runs it on its agent and writes the line back. No new port: the servers
 * already share PostgreSQL, behind its own authentication and TLS.
 *
 * At most once: the holder takes a call once (a restarted holder is another process and
 * never takes its predecessor's); a call whose holder died, or whose deadline passed, is
 * deleted before it is reported, so it is never run afterwards; nothing is retried. The asker
 * checks its open calls every `checkMs` (holder liveness from the heartbeats, deadlines, and
 * a read that makes up for a lost wake-up): one statement each for all open calls.
 */
import type { CallLine } from '../../api/calls';
import type { CallCarrier, CarriedCall, Store } from '../../store/types';
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
  onError?(error: unknown): void;
}

interface Open {
  hostId: number;
  holder: string;
  deadline: number;
  settle(outcome: RoutedOutcome): void;
}

export class CallRouter {
  private readonly open = new Map<number, Open>();
  private timer: NodeJS.Timeout | undefined;
  private taking: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: CallRouterOptions) {}

  /** Starts listening for wake-ups and takes what was asked of this process meanwhile. */
  async start(): Promise<void> {
    // What a previous process at this address asked is nobody's any more: never run it.
    await this.options.carrier.forgetAsked(this.options.address).catch((error) => this.options.onError?.(error));
    await this.options.carrier.listen(this.options.address, (kind) => (kind === 'asked' ? this.takeAsked() : void this.collect()));
    this.takeAsked();
  }

  /**
   * Asks the holders of `hostIds` to run `request`, one statement for the batch; hosts that
   * no other live server holds are absent from the answer.
   */
  async route(hostIds: readonly number[], request: CallRequest): Promise<RoutedCall[]> {
    const asked = await this.options.carrier.ask(this.options.address, hostIds, request);
    const deadline = Date.now() + request.timeoutMs + (this.options.marginMs ?? 2_000);
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
    this.schedule();
    return calls;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const ids = [...this.open.keys()];
    for (const entry of this.open.values()) entry.settle({ kind: 'failed', holder: entry.holder, message: 'this server is shutting down' });
    this.open.clear();
    await this.options.carrier.giveUp(ids).catch(() => undefined);
    await this.taking;
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
        void this.options
          .runHere(call)
          .then((line) => this.options.carrier.answer(call.id, line))
          .catch((error) => this.options.onError?.(error));
      }
    });
  }

  private schedule(): void {
    if (this.timer !== undefined || this.open.size === 0 || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().finally(() => this.schedule());
    }, this.options.checkMs ?? 1_000);
    this.timer.unref();
  }

  /** Reads the lines of open calls that are done. */
  private async collect(): Promise<void> {
    const ids = [...this.open.keys()];
    if (ids.length === 0) return;
    let lines: Map<number, unknown>;
    try {
      lines = await this.options.carrier.collect(ids);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    for (const [id, line] of lines) this.settle(id, { kind: 'line', line: line as CallLine });
  }

  /** Lines that came back, holders that died, deadlines that passed. */
  private async check(): Promise<void> {
    await this.collect();
    const ids = [...this.open.keys()];
    if (ids.length === 0) return;
    try {
      for (const id of await this.options.carrier.endLost(ids)) this.settle(id, { kind: 'lost', holder: this.open.get(id)?.holder ?? '' });
      const now = Date.now();
      const late = [...this.open].filter(([, entry]) => entry.deadline <= now).map(([id]) => id);
      for (const id of await this.options.carrier.giveUp(late)) this.settle(id, { kind: 'timeout', holder: this.open.get(id)?.holder ?? '' });
      // Answered just before being given up: the line is there to read.
      if (late.some((id) => this.open.has(id))) await this.collect();
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private settle(id: number, outcome: RoutedOutcome): void {
    const entry = this.open.get(id);
    if (entry === undefined) return;
    this.open.delete(id);
    entry.settle(outcome);
  }
}
