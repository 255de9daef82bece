/**
 * `agentlb`: the management server as a library (README "Calls", "Library use"). startServer
 * is what `agentlb server` runs — the CLI is built on this very function — and the handle it
 * returns can call agents: `call(hostId, method, params)` answers once the agent did;
 * `callMany(targets, method, params)` yields one line per host as each finishes, then the
 * summary, holding only what is in flight.
 *
 *   const server = await startServer({ logger, listen: { host: '0.0.0.0', port: 8250 } });
 *   const line = await server.call(42, 'agentlb.ping');
 *   for await (const line of server.callMany({ zone: 'rack-7' }, 'uptime')) console.log(line);
 */
import { silentLogger } from '../log';
import type { CallValue } from '../protocol/messages';
import { DEFAULT_CALL_TIMEOUT_S, DEFAULT_FANOUT_CONCURRENCY, type CallLine, type CallSummary } from '../api/calls';
import { startServer as startDaemon, type ServerHandle } from './daemon';
import type { ServerOptionsInput } from './options';

export { ServerStartError } from './daemon';
export type { ServerHandle, ServerStartErrorCode } from './daemon';
export { serverOptions } from './options';
export type {
  AdminOptions,
  AdmissionLimits,
  ClusterOptions,
  ConnectionLimits,
  DrainOptions,
  ListenOptions,
  PoolOptions,
  RegistrationOptions,
  SecurityOptions,
  ServerOptions,
  ServerOptionsInput,
} from './options';
export type { ReloadInput } from './security-setup';
export { CALL_STATUSES } from '../api/calls';
export type { CallLine, CallStatus, CallSummary } from '../api/calls';
export type { CallValue } from '../protocol/messages';

export interface CallOptions {
  /** Seconds the agent has (default 30). */
  timeout?: number;
  /** Who asks, for the `call` log line (default "library"). */
  caller?: string;
}

export interface CallManyOptions extends CallOptions {
  /** Hosts called at once (default 1 000). */
  concurrency?: number;
  /** Abort to cancel the calls in flight and start no more. */
  signal?: AbortSignal;
}

/** Whom a fan-out calls: these host ids, the hosts of a zone, or every host. */
export type CallTargets = { hosts: Iterable<number> } | { zone: string } | { all: true };

/** Refused before any agent was asked: a bad method or params, or an unknown host. */
export class CallRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallRefusedError';
  }
}

export interface AgentlbServer extends ServerHandle {
  call(hostId: number, method: string, params?: CallValue, options?: CallOptions): Promise<CallLine>;
  callMany(targets: CallTargets, method: string, params?: CallValue, options?: CallManyOptions): AsyncIterable<CallLine | CallSummary>;
}

/** Starts a server; `logger` defaults to none. Rejects ServerStartError. */
export async function startServer(input: Partial<ServerOptionsInput> = {}): Promise<AgentlbServer> {
  const handle = await startDaemon({ ...input, logger: input.logger ?? silentLogger() });
  const request = (method: string, params: CallValue | undefined, options: CallOptions | undefined) => {
    const call = { method, params, timeoutMs: Math.max(1, Math.round((options?.timeout ?? DEFAULT_CALL_TIMEOUT_S) * 1000)) };
    const refused = handle.calls.validate(call);
    if (refused !== undefined) throw new CallRefusedError(refused);
    return call;
  };
  return Object.assign(handle, {
    async call(hostId: number, method: string, params?: CallValue, options?: CallOptions): Promise<CallLine> {
      const line = await handle.calls.call(hostId, request(method, params, options), { address: options?.caller ?? 'library' });
      if ('refused' in line) throw new CallRefusedError(line.message);
      return line;
    },
    callMany(targets: CallTargets, method: string, params?: CallValue, options?: CallManyOptions): AsyncIterable<CallLine | CallSummary> {
      const call = request(method, params, options);
      const ids = 'hosts' in targets ? targets.hosts : handle.calls.hostIds('zone' in targets ? targets.zone : undefined);
      return handle.calls.callMany(ids, call, { address: options?.caller ?? 'library' }, {
        concurrency: options?.concurrency ?? DEFAULT_FANOUT_CONCURRENCY,
        ...(options?.signal === undefined ? {} : { signal: options.signal }),
      });
    },
  });
}
