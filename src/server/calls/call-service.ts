/**
 * Calls on this server (README "Calls"): one call to one host, and a fan-out to many whose
 * lines are yielded as each host finishes. A fan-out holds only what is in flight: targets
 * are pulled from an iterator as slots free up, and no more are started while `concurrency`
 * finished lines wait for the reader (an HTTP client that reads slowly slows the fan-out
 * instead of filling memory).
 *
 * Control flow is calls: the connection's AgentCalls answers each call once; the service
 * turns that into a line, and reports it on the `call` event for the log and metrics.
 */
import { encodeWithin } from '../../protocol/encoder';
import { DEFAULT_MAX_FRAME, ProtocolError, type CallError, type CallValue } from '../../protocol/messages';
import { validateServerMessage } from '../../protocol/validate';
import type { HostRecord } from '../../store/types';
import { CALL_STATUSES, type CallLine, type CallStatus, type CallSummary } from '../../api/calls';
import type { AgentConnection } from '../net/connection';
import type { ServerEvents } from '../events';
import type { CallReply, CallRequest } from './agent-calls';
import type { CallRouter, RoutedCall, RoutedOutcome } from './routed-calls';


/** A single call refused before anything was sent to an agent. */
export interface CallRefused {
  refused: 'unknown_host';
  message: string;
}

export interface CallServiceDeps {
  host(id: number): HostRecord | undefined;
  /** Host ids of `zone`, or of every zone, pulled one at a time. */
  hostIds(zone: string | undefined): Iterable<number>;
  connection(hostId: number): AgentConnection | undefined;
  /**
   * The server holding host `hostId`'s connection, fleet-wide (the registry of issue 12), or
   * null; absent: only this server's connections are known.
   */
  holderOf?(hostId: number): Promise<string | null>;
  /** Cluster mode: carries calls for hosts held by other servers to them (routed-calls.ts). */
  router?: CallRouter;
  events: ServerEvents;
  /** This server's address as the fleet knows it (the `server` of a line). */
  serverName: string;
  maxFrame?: number;
  /**
   * A fan-out's calls for hosts held elsewhere wait at most this long for a batch to fill
   * (a quarter of its concurrency) before they are carried; default REFILL_DELAY_MS.
   */
  refillDelayMs?: number;
}

/**
 * How long freed fan-out slots for hosts held elsewhere wait for company: long enough for the
 * lines of one read of the store to free their slots together, short against any timeout.
 */
export const REFILL_DELAY_MS = 20;

/**
 * Calls a fan-out starts in one turn of the event loop at most: each is a socket write (about
 * 20-60 µs here), so a turn stays far below the 50 ms event-loop budget whatever `concurrency` is.
 */
export const STARTS_PER_TURN = 256;

export interface FanoutOptions {
  concurrency: number;
  /** Aborted when the caller went away: calls in flight are cancelled, nothing more starts. */
  signal?: AbortSignal;
}

/** Who asked, for the log (never params or values: they may hold secrets). */
export interface Caller {
  address: string;
  /** A call carried here from another server: that server (`address` is its client's). */
  via?: string;
}

export class CallService {
  private active = 0;

  constructor(private readonly deps: CallServiceDeps) {}

  /** Calls in flight on this server, all callers. */
  get inFlight(): number {
    return this.active;
  }

  /** Host ids of `zone`, or of every zone, pulled lazily (a fan-out's targets). */
  hostIds(zone: string | undefined): Iterable<number> {
    return this.deps.hostIds(zone);
  }

  /**
   * Why `request` can be sent to no agent at all, or undefined: the protocol's own check of a
   * call (method alphabet and length, params JSON's values, timeout), then the one-frame limit.
   */
  validate(request: CallRequest): string | undefined {
    const { params, ...rest } = request;
    const checked = validateServerMessage({ type: 'call', id: 0, ...rest, ...(params === undefined ? {} : { params }) });
    if (checked instanceof ProtocolError) return checked.message.replace(/^call\./, '');
    return this.checkRequest(request);
  }

  /**
   * Why `request` can be sent to no agent at all, or undefined: its call frame would exceed
   * one frame (protocol.md section 4.4: refused, never split).
   */
  checkRequest(request: CallRequest): string | undefined {
    const frame = encodeWithin(
      { type: 'call', id: Number.MAX_SAFE_INTEGER, method: request.method, ...(request.params === undefined ? {} : { params: request.params }), timeoutMs: request.timeoutMs },
      this.deps.maxFrame ?? DEFAULT_MAX_FRAME,
    );
    return frame === undefined ? `too_large: the params do not fit one call frame of ${this.deps.maxFrame ?? DEFAULT_MAX_FRAME} bytes` : undefined;
  }

  /** One call to host `hostId`, answered when the agent answers (or times out, or goes). */
  async call(hostId: number, request: CallRequest, caller: Caller): Promise<CallLine | CallRefused> {
    const host = this.deps.host(hostId);
    if (host === undefined) return { refused: 'unknown_host', message: `no host with id ${hostId}` };
    return this.callHost(host, request, caller, undefined, true);
  }

  /**
   * A call another server carried here for one of this server's agents: run on the local
   * connection only, never routed again (a host that moved meanwhile is not_connected).
   */
  async callHere(hostId: number, request: CallRequest, caller: Caller): Promise<CallLine> {
    const host = this.deps.host(hostId);
    if (host === undefined) return this.line(undefined, hostId, 'not_connected', { code: 'not_connected', message: `no host with id ${hostId} on ${this.deps.serverName}` }, 0);
    return this.callHost(host, request, caller, undefined, false);
  }

  /**
   * Calls every host `targets` yields, at most `concurrency` at once; yields each host's line
   * as it finishes, then the summary. Ids with no host are yielded as not_connected.
   *
   * Hosts held by other servers are carried in batches, one statement each: the first fill
   * is one batch, and slots that free up later are refilled once a quarter of `concurrency`
   * waits, or after refillDelayMs, or when nothing else is in flight or left to start. Lines
   * come back one by one, so refilling each freed slot at once drifted toward one statement
   * per host.
   *
   * Work goes in turns of the event loop, never chained from one agent's result to the next
   * call: the results read in one poll phase are handed over together in its check phase
   * (setImmediate), then at most STARTS_PER_TURN calls are started. Refilling each freed slot
   * from the result's own callback kept libuv in its poll phase (it polls again while events
   * keep coming), so 15 000 agents that answer at once starved every timer for seconds.
   */
  async *callMany(targets: Iterable<number>, request: CallRequest, caller: Caller, options: FanoutOptions): AsyncGenerator<CallLine | CallSummary> {
    for await (const lines of this.callBatches(targets, request, caller, options)) {
      if (Array.isArray(lines)) yield* lines;
      else yield lines as CallSummary;
    }
  }

  /**
   * callMany's lines as they come out of each turn of the event loop: an array of the lines
   * that finished together, then the summary. The HTTP stream writes each array as one chunk
   * (a write and two async-generator hops per line were a share of a 15 000-agent fan-out's
   * longest turns).
   */
  async *callBatches(targets: Iterable<number>, request: CallRequest, caller: Caller, options: FanoutOptions): AsyncGenerator<readonly CallLine[] | CallSummary> {
    const started = performance.now();
    const counts = Object.fromEntries(CALL_STATUSES.map((status) => [status, 0])) as Record<CallStatus, number>;
    const source = targets[Symbol.iterator]();
    let ready: CallLine[] = [];
    const live = new Set<InFlightCall>();
    let running = 0;
    let exhausted = false;
    let wake: (() => void) | undefined;
    const elsewhere: { host: HostRecord; finished: (line: CallLine) => void }[] = [];
    const refillBatch = Math.ceil(options.concurrency / 4);
    let refillTimer: NodeJS.Timeout | undefined;
    const carry = (): void => {
      clearTimeout(refillTimer);
      refillTimer = undefined;
      const batch = elsewhere.splice(0);
      if (batch.length === 0) return;
      for (const [index, promise] of this.routeMany(batch.map((entry) => entry.host), request, caller, live).entries()) void promise.then(batch[index]!.finished);
    };
    let wakeSoon: NodeJS.Immediate | undefined;
    // Starts left in this turn: the loop starts calls before and after handing over a batch,
    // and both count against one turn's STARTS_PER_TURN; the turn ends when results wake it.
    let startsLeft = STARTS_PER_TURN;
    const finished = (line: CallLine): void => {
      running--;
      ready.push(line);
      wakeSoon ??= setImmediate(() => {
        wakeSoon = undefined;
        startsLeft = STARTS_PER_TURN;
        const resume = wake;
        wake = undefined;
        resume?.();
      });
    };
    const onAbort = (): void => {
      for (const call of live) call.cancel();
      // Not carried yet: nothing was asked, nothing runs.
      for (const entry of elsewhere.splice(0)) entry.finished(this.line(entry.host, entry.host.id, 'error', { code: 'cancelled', message: 'the caller went away before the call was carried to its server' }, 0));
      wake?.();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const startMore = (): void => {
      while (!exhausted && running < options.concurrency && ready.length < options.concurrency && startsLeft > 0 && options.signal?.aborted !== true) {
        startsLeft--;
        const next = source.next();
        if (next.done === true) {
          exhausted = true;
          // Not return: hosts for other servers picked in this pass are still to be carried.
          break;
        }
        running++;
        const host = this.deps.host(next.value);
        if (host === undefined) finished(this.line(undefined, next.value, 'not_connected', { code: 'not_connected', message: `no host with id ${next.value}` }, 0));
        else if (this.deps.router !== undefined && this.deps.connection(host.id) === undefined) elsewhere.push({ host, finished });
        else void this.callHost(host, request, caller, live, false).then(finished);
      }
      // Hosts held by other servers: one statement for the batch (one row per host, a wake-up per holder).
      if (elsewhere.length === 0) return;
      if (elsewhere.length >= refillBatch || exhausted || elsewhere.length === running) carry();
      else refillTimer ??= setTimeout(carry, this.deps.refillDelayMs ?? REFILL_DELAY_MS);
    };
    try {
      for (;;) {
        startMore();
        if (ready.length === 0) {
          if ((exhausted || options.signal?.aborted === true) && running === 0) break;
          // Something is in flight, or finished this turn: a finish (its setImmediate) wakes this.
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const batch = ready;
        ready = [];
        for (const line of batch) counts[line.status]++;
        yield batch;
      }
    } finally {
      clearTimeout(refillTimer);
      clearImmediate(wakeSoon);
      options.signal?.removeEventListener('abort', onAbort);
      // The reader stopped early (closed stream): nothing it will not read keeps running.
      for (const call of live) call.cancel();
    }
    const total = CALL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
    yield { done: true, total, ...counts, ms: Math.round(performance.now() - started) };
  }

  private callHost(host: HostRecord, request: CallRequest, caller: Caller, live: Set<InFlightCall> | undefined, route: boolean): Promise<CallLine> {
    const started = performance.now();
    const finish = (status: CallStatus, error?: CallError, value?: CallValue): CallLine => {
      const line = this.line(host, host.id, status, error, performance.now() - started, value);
      this.deps.events.emit('call', { method: request.method, hostId: host.id, guid: host.guid, caller: caller.address, ...(caller.via === undefined ? {} : { via: caller.via }), status, ms: line.ms, ...(error === undefined ? {} : { code: error.code }) });
      return line;
    };
    const connection = this.deps.connection(host.id);
    if (connection === undefined) return route && this.deps.router !== undefined ? this.routeMany([host], request, caller, live)[0]! : this.notHere(host, finish);
    return new Promise<CallLine>((resolve) => {
      let entry: InFlightCall | undefined;
      const onReply = (reply: CallReply): void => {
        this.active--;
        if (entry !== undefined) live?.delete(entry);
        resolve(finish(...statusOf(reply, request, host)));
      };
      const id = connection.startCall(request, onReply);
      if (typeof id === 'number') {
        this.active++;
        entry = { cancel: () => connection.cancelCall(id) };
        live?.add(entry);
        return;
      }
      switch (id) {
        case 'unsupported':
          return resolve(finish('unsupported', { code: 'unsupported', message: `host ${host.id} (${host.guid}) speaks protocol ${connection.protocolVersion}, which has no calls` }));
        case 'busy':
          return resolve(finish('error', { code: 'busy', message: `host ${host.id} already has its maximum of calls in flight` }));
        case 'too_large':
          return resolve(finish('error', { code: 'too_large', message: 'the params do not fit one call frame' }));
        case 'closed':
          return resolve(finish('disconnected', { code: 'disconnected', message: `host ${host.id} (${host.guid}) is disconnecting` }));
      }
    });
  }

  /**
   * Calls for `hosts`, none held here, carried to the servers holding them (one statement for
   * the batch): a line each, in the order of `hosts`. A host no other live server holds is
   * not_connected; the holder's line comes back as it wrote it (it logged and counted the call);
   * the holder dying first is server_lost, nothing coming back in time is timeout.
   */
  private routeMany(hosts: readonly HostRecord[], request: CallRequest, caller: Caller, live: Set<InFlightCall> | undefined): Promise<CallLine>[] {
    const started = performance.now();
    const finish = (host: HostRecord, status: CallStatus, error: CallError, server: string | null): CallLine => {
      const line = this.line(host, host.id, status, error, performance.now() - started);
      if (server !== null) line.server = server;
      this.deps.events.emit('call', { method: request.method, hostId: host.id, guid: host.guid, caller: caller.address, status, ms: line.ms, code: error.code });
      return line;
    };
    // By host id: finding each host's call in the batch's list was O(batch) per host.
    const routed = this.deps.router!.route(hosts.map((host) => host.id), request, caller.address).then((calls) => new Map(calls.map((call) => [call.hostId, call])));
    return hosts.map(async (host) => {
      let calls: Map<number, RoutedCall>;
      try {
        calls = await routed;
      } catch (error) {
        return finish(host, 'error', { code: 'store_unavailable', message: `host ${host.id} (${host.guid}) is not connected to ${this.deps.serverName}, and the call could not be carried to its server: ${describe(error)}` }, null);
      }
      const call = calls.get(host.id);
      if (call === undefined) return finish(host, 'not_connected', { code: 'not_connected', message: `host ${host.id} (${host.guid}) is not connected to ${this.deps.serverName} nor to any other live server` }, null);
      const entry: InFlightCall = { cancel: () => call.cancel() };
      live?.add(entry);
      this.active++;
      const outcome: RoutedOutcome = await call.outcome;
      this.active--;
      live?.delete(entry);
      switch (outcome.kind) {
        case 'line':
          return outcome.line;
        case 'lost':
          return finish(host, 'server_lost', { code: 'server_lost', message: `server ${outcome.holder}, which holds host ${host.id} (${host.guid}), went away before the call's result came back; the call may have run, and is not retried` }, outcome.holder);
        case 'timeout':
          return finish(host, 'timeout', { code: 'timeout', message: `no result from ${outcome.holder} within ${request.timeoutMs} ms for host ${host.id} (${host.guid})` }, outcome.holder);
        case 'failed':
          return finish(host, 'error', { code: 'cancelled', message: outcome.message }, outcome.holder);
      }
    });
  }

  /** A host whose connection this server does not hold, out of cluster mode: not run. */
  private async notHere(host: HostRecord, finish: (status: CallStatus, error?: CallError) => CallLine): Promise<CallLine> {
    let holder: string | null = null;
    try {
      holder = (await this.deps.holderOf?.(host.id)) ?? null;
    } catch {
      // The registry is unavailable: say what this server knows.
    }
    if (holder === null || holder === this.deps.serverName) {
      return finish('not_connected', { code: 'not_connected', message: `host ${host.id} (${host.guid}) is not connected to ${this.deps.serverName}` });
    }
    const line = finish('not_connected', {
      code: 'not_connected',
      message: `host ${host.id} (${host.guid}) is connected to ${holder}, not to ${this.deps.serverName}; calls are not routed between servers yet: ask ${holder}`,
    });
    line.server = holder;
    return line;
  }

  private line(host: HostRecord | undefined, hostId: number, status: CallStatus, error: CallError | undefined, ms: number, value?: CallValue): CallLine {
    const line: CallLine = { hostId, guid: host?.guid ?? '', server: status === 'not_connected' ? null : this.deps.serverName, status, ok: status === 'ok', ms: 0 };
    if (status === 'ok') line.value = value ?? null;
    else if (error !== undefined) line.error = error;
    // Last, so a line reads hostId, guid, server, status, ok, value | error, ms.
    delete (line as { ms?: number }).ms;
    line.ms = Math.round(ms * 10) / 10;
    return line;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface InFlightCall {
  cancel(): void;
}

/** The status, error and value of a line from the agent's reply. */
function statusOf(reply: CallReply, request: CallRequest, host: HostRecord): [CallStatus, CallError?, CallValue?] {
  switch (reply.kind) {
    case 'ok':
      return ['ok', undefined, reply.value ?? null];
    case 'error':
      // The agent's own deadline is the same timeout the caller set.
      return [reply.error.code === 'timeout' ? 'timeout' : 'error', reply.error];
    case 'timeout':
      return ['timeout', { code: 'timeout', message: `no result within ${request.timeoutMs} ms; the agent was sent cancel` }];
    case 'cancelled':
      return ['error', { code: 'cancelled', message: 'the caller went away; the agent was sent cancel' }];
    case 'disconnected':
      return ['disconnected', { code: 'disconnected', message: `host ${host.id} (${host.guid}) disconnected before it answered; the call is not retried` }];
  }
}
