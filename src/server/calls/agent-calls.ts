/**
 * The calls in flight on ONE agent connection (protocol.md section 4.4): ids, the in-flight
 * cap, each call's deadline, and the one reply each call gets — the agent's `result`, the
 * deadline passing (the agent is then sent `cancel`), or the connection closing first.
 *
 * Made only for a version 2 connection that is asked to call (an idle agent costs nothing),
 * and it sees the socket only through `send`, so it is tested without one.
 */
import { encodeMessage, encodeWithin } from '../../protocol/encoder';
import type { CallError, CallValue, Result } from '../../protocol/messages';

export interface CallRequest {
  method: string;
  /** undefined: the call carries no params. */
  params: CallValue | undefined;
  timeoutMs: number;
}

/** How a started call ended. Exactly one per started call. */
export type CallReply =
  | { kind: 'ok'; value: CallValue | undefined }
  | { kind: 'error'; error: CallError }
  /** No result within timeoutMs; `cancel` was sent. */
  | { kind: 'timeout' }
  /** The connection closed before the result; the call may or may not have run. */
  | { kind: 'disconnected' }
  /** The caller gave up (abort); `cancel` was sent. */
  | { kind: 'cancelled' };

/** Why a call was not started; nothing was sent. */
export type CallRefusal = 'busy' | 'too_large' | 'closed';

export type ReplyHandler = (reply: CallReply) => void;

interface InFlight {
  reply: ReplyHandler;
  timer: NodeJS.Timeout;
}

export class AgentCalls {
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly maxInFlight: number,
    private readonly maxFrame: number,
    /** Writes a frame to the agent; false when it could not be written. */
    private readonly send: (frame: Buffer) => boolean,
  ) {}

  get size(): number {
    return this.inFlight.size;
  }

  /**
   * Sends a `call`; `reply` runs exactly once, later (never synchronously). Returns the call's
   * id, or why it was not sent (then `reply` never runs).
   */
  start(request: CallRequest, reply: ReplyHandler): number | CallRefusal {
    if (this.closed) return 'closed';
    if (this.inFlight.size >= this.maxInFlight) return 'busy';
    const id = this.nextId++;
    const frame = encodeWithin(
      { type: 'call', id, method: request.method, ...(request.params === undefined ? {} : { params: request.params }), timeoutMs: request.timeoutMs },
      this.maxFrame,
    );
    if (frame === undefined) return 'too_large';
    if (!this.send(frame)) return 'closed';
    const timer = setTimeout(() => this.expire(id), request.timeoutMs);
    this.inFlight.set(id, { reply, timer });
    return id;
  }

  /** The agent's result; one for an id not in flight (late, after a cancel) is ignored. */
  onResult(result: Result): void {
    const call = this.take(result.id);
    if (call === undefined) return;
    call.reply(result.ok ? { kind: 'ok', value: result.value } : { kind: 'error', error: result.error! });
  }

  /** The caller no longer wants call `id`: the agent is told to stop it. */
  cancel(id: number): void {
    const call = this.take(id);
    if (call === undefined) return;
    this.send(encodeMessage({ type: 'cancel', id }));
    call.reply({ kind: 'cancelled' });
  }

  /** The connection closed: every call in flight is `disconnected`; no new call starts. */
  close(): void {
    this.closed = true;
    const calls = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const call of calls) {
      clearTimeout(call.timer);
      call.reply({ kind: 'disconnected' });
    }
  }

  private expire(id: number): void {
    const call = this.inFlight.get(id);
    if (call === undefined) return;
    this.inFlight.delete(id);
    this.send(encodeMessage({ type: 'cancel', id }));
    call.reply({ kind: 'timeout' });
  }

  private take(id: number): InFlight | undefined {
    const call = this.inFlight.get(id);
    if (call === undefined) return undefined;
    this.inFlight.delete(id);
    clearTimeout(call.timer);
    return call;
  }
}
