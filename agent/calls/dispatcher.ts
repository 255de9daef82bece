/**
 * What the agent does with a `call` (protocol.md section 4.4): the built-ins (`agentlb.ping`,
 * `agentlb.info`), handlers registered in-process (library use), then the operator's files
 * in `handlers.dir`; anything else is `unknown_method`. At most `concurrency` handlers run at
 * once, up to `maxQueued` more wait (then `busy`). Every call gets exactly one result frame —
 * unless it was cancelled or its connection closed — and a deadline: on timeout, cancel or
 * close, the handler is stopped (an in-process one through its AbortSignal, a file's process
 * group killed).
 *
 * It sees the connection only through the `reply` it is given, so it is tested without one.
 */
import { encodeWithin } from '../../src/protocol/encoder';
import { DEFAULT_MAX_FRAME, type Call, type CallError, type CallValue, type Result } from '../../src/protocol/messages';
import { checkHandler } from './handler-file';
import { runHandler, type HandlerOutcome } from './run-handler';

/** What an in-process handler is told about its call. */
export interface CallContext {
  method: string;
  callId: number;
  guid: string;
  hostId: number;
  /** The server the call came through (as written in the agent's list). */
  server: string;
  /** Aborted on timeout, cancel or disconnect: stop, the result will not be sent. */
  signal: AbortSignal;
}

/** An in-process method: its value must be JSON (it is sent as JSON would carry it). */
export type CallHandler = (params: CallValue | undefined, context: CallContext) => unknown;

/** The connection a call came on: who to answer, and what a handler is told. */
export interface CallOrigin {
  guid: string;
  hostId: number;
  server: string;
  /** Sends the result frame (already known to fit one frame). */
  reply(frame: Buffer): void;
}

export interface DispatcherOptions {
  /** `handlers.dir`; undefined: only built-in and in-process methods. */
  handlersDir: string | undefined;
  /** Handlers running at once (`handlers.concurrency`). */
  concurrency: number;
  /** Calls waiting for a slot before `busy` is answered. */
  maxQueued: number;
  maxFrame: number;
  /** TERM to KILL for a handler process being stopped. */
  killGraceMs: number;
  /** `agentlb.info`'s value. */
  info(): CallValue;
  /** The environment handler processes start from (the agent's token is never passed on). */
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_HANDLER_CONCURRENCY = 4;

export const DEFAULT_DISPATCHER_OPTIONS: Omit<DispatcherOptions, 'info' | 'env' | 'handlersDir'> = {
  concurrency: DEFAULT_HANDLER_CONCURRENCY,
  maxQueued: 256,
  maxFrame: DEFAULT_MAX_FRAME,
  killGraceMs: 2_000,
};

/** Environment variables a handler never inherits: the agent's secrets. */
const SECRET_ENV = ['AGENTLB_AGENT_TOKEN'];

const BUILT_IN_PREFIX = 'agentlb.';

interface Running {
  readonly call: Call;
  readonly origin: CallOrigin;
  readonly abort: AbortController;
  timer: NodeJS.Timeout | undefined;
  /** The result went out (or will never): nothing more is sent for this call. */
  settled: boolean;
  /** Waiting for a slot: the function that starts it. */
  queued: (() => void) | undefined;
}

export class CallDispatcher {
  private readonly handlers = new Map<string, CallHandler>();
  /** Calls not settled yet, by origin then id. */
  private readonly byOrigin = new Map<CallOrigin, Map<number, Running>>();
  private readonly waiting: Running[] = [];
  private running = 0;

  constructor(private readonly opts: DispatcherOptions) {}

  /** Registers an in-process method (library use). The `agentlb.` prefix is reserved. */
  handle(method: string, handler: CallHandler): void {
    if (method.startsWith(BUILT_IN_PREFIX)) throw new Error(`methods starting with "${BUILT_IN_PREFIX}" are built in: ${method}`);
    this.handlers.set(method, handler);
  }

  /** Handlers running now (not counting those waiting for a slot). */
  get active(): number {
    return this.running;
  }

  run(call: Call, origin: CallOrigin): void {
    if (call.method === 'agentlb.ping') return this.answer(origin, call.id, { ok: true, value: 'pong' });
    if (call.method === 'agentlb.info') return this.answer(origin, call.id, { ok: true, value: this.opts.info() });
    if (call.method.startsWith(BUILT_IN_PREFIX) || (!this.handlers.has(call.method) && this.opts.handlersDir === undefined)) {
      return this.answer(origin, call.id, { ok: false, error: { code: 'unknown_method', message: `no method ${call.method} on this agent` } });
    }
    let calls = this.byOrigin.get(origin);
    if (calls === undefined) this.byOrigin.set(origin, (calls = new Map()));
    if (calls.has(call.id)) return; // a repeated id: the first one answers
    const entry: Running = { call, origin, abort: new AbortController(), timer: undefined, settled: false, queued: undefined };
    calls.set(call.id, entry);
    entry.timer = setTimeout(() => this.stop(entry, { code: 'timeout', message: `${call.method} did not finish within ${call.timeoutMs} ms` }), call.timeoutMs);
    if (this.running < this.opts.concurrency) return this.begin(entry);
    if (this.waiting.length >= this.opts.maxQueued) {
      return this.settle(entry, { ok: false, error: { code: 'busy', message: `${this.running} handlers running and ${this.waiting.length} waiting` } });
    }
    entry.queued = () => this.begin(entry);
    this.waiting.push(entry);
  }

  /** The server cancelled call `id`: stopped, and no result is sent. */
  cancel(origin: CallOrigin, id: number): void {
    const entry = this.byOrigin.get(origin)?.get(id);
    if (entry !== undefined) this.stop(entry, undefined);
  }

  /** `origin`'s connection closed: its calls are stopped; nobody is left to answer. */
  dropOrigin(origin: CallOrigin): void {
    const calls = this.byOrigin.get(origin);
    if (calls === undefined) return;
    for (const entry of [...calls.values()]) this.stop(entry, undefined);
    this.byOrigin.delete(origin);
  }

  /** Stops everything (the agent is stopping). */
  stopAll(): void {
    for (const origin of [...this.byOrigin.keys()]) this.dropOrigin(origin);
  }

  private begin(entry: Running): void {
    entry.queued = undefined;
    this.running++;
    this.execute(entry)
      .catch((error: unknown): HandlerOutcome => ({ ok: false, error: { code: 'internal', message: String(error) } }))
      .then((outcome) => {
        this.running--;
        this.settle(entry, outcome);
        this.next();
      });
  }

  private next(): void {
    while (this.running < this.opts.concurrency) {
      const entry = this.waiting.shift();
      if (entry === undefined) return;
      entry.queued?.();
    }
  }

  private async execute(entry: Running): Promise<HandlerOutcome> {
    const { call, origin } = entry;
    const inProcess = this.handlers.get(call.method);
    if (inProcess !== undefined) {
      try {
        const value = await inProcess(call.params, {
          method: call.method,
          callId: call.id,
          guid: origin.guid,
          hostId: origin.hostId,
          server: origin.server,
          signal: entry.abort.signal,
        });
        return { ok: true, value: asJson(value) };
      } catch (error) {
        return { ok: false, error: { code: 'handler_failed', message: error instanceof Error ? error.message : String(error) } };
      }
    }
    const check = await checkHandler(this.opts.handlersDir!, call.method);
    if (!check.ok) return { ok: false, error: { code: check.code, message: check.message } };
    if (entry.abort.signal.aborted) return { ok: false, error: { code: 'cancelled', message: 'stopped before it started' } };
    return runHandler({
      file: check.file,
      params: call.params,
      env: this.handlerEnv(call, origin),
      maxOutputBytes: this.opts.maxFrame,
      signal: entry.abort.signal,
      killGraceMs: this.opts.killGraceMs,
    });
  }

  private handlerEnv(call: Call, origin: CallOrigin): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...this.opts.env };
    for (const name of SECRET_ENV) delete env[name];
    env['AGENTLB_METHOD'] = call.method;
    env['AGENTLB_CALL_ID'] = String(call.id);
    env['AGENTLB_GUID'] = origin.guid;
    env['AGENTLB_HOST_ID'] = String(origin.hostId);
    env['AGENTLB_SERVER'] = origin.server;
    return env;
  }

  /** Ends a call early: `error` is sent (timeout), or nothing (cancel, disconnect). */
  private stop(entry: Running, error: CallError | undefined): void {
    if (entry.settled) return;
    entry.abort.abort();
    if (entry.queued !== undefined) {
      const at = this.waiting.indexOf(entry);
      if (at >= 0) this.waiting.splice(at, 1);
      entry.queued = undefined;
    }
    if (error === undefined) this.forget(entry);
    else this.settle(entry, { ok: false, error });
  }

  private settle(entry: Running, outcome: HandlerOutcome): void {
    if (entry.settled) return;
    this.forget(entry);
    this.answer(entry.origin, entry.call.id, outcome);
  }

  private forget(entry: Running): void {
    entry.settled = true;
    clearTimeout(entry.timer);
    const calls = this.byOrigin.get(entry.origin);
    calls?.delete(entry.call.id);
    if (calls?.size === 0) this.byOrigin.delete(entry.origin);
  }

  private answer(origin: CallOrigin, id: number, outcome: HandlerOutcome): void {
    const result: Result = outcome.ok ? { type: 'result', id, ok: true, value: outcome.value } : { type: 'result', id, ok: false, error: outcome.error };
    const frame =
      encodeWithin(result, this.opts.maxFrame) ??
      encodeWithin({ type: 'result', id, ok: false, error: { code: 'too_large', message: `the value does not fit one frame of ${this.opts.maxFrame} bytes` } })!;
    origin.reply(frame);
  }
}

/** A JS value as JSON would carry it (undefined -> null, Dates -> strings, functions dropped). */
function asJson(value: unknown): CallValue {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as CallValue);
}
