/**
 * POST /api/hosts/ID/call and POST /api/calls (README "Calls"): the HTTP face of the call
 * service. A single call answers once the agent did; a fan-out streams one NDJSON line per
 * host as it finishes, then a summary line, and stops calling when the client goes away.
 */
import type { CallValue } from '../protocol/messages';
import type { CallRequest } from '../server/calls/agent-calls';
import type { CallRefused, Caller, FanoutOptions } from '../server/calls/call-service';
import { DEFAULT_CALL_TIMEOUT_S, DEFAULT_FANOUT_CONCURRENCY, MAX_CALL_TIMEOUT_S, MAX_FANOUT_CONCURRENCY, type CallLine, type CallSummary } from '../api/calls';
import { errorResponse, json, type AdminRequest, type AdminResponse, type Route } from './http';

export interface CallsBackend {
  /** Why the request can go to no agent (bad method, params, too large), or undefined. */
  validate(request: CallRequest): string | undefined;
  call(hostId: number, request: CallRequest, caller: Caller): Promise<CallLine | CallRefused>;
  /** A fan-out's lines in the arrays that finished together, then its summary. */
  callBatches(targets: Iterable<number>, request: CallRequest, caller: Caller, options: FanoutOptions): AsyncIterable<readonly CallLine[] | CallSummary>;
  /** Host ids of `zone`, or of every zone; pulled lazily. */
  hostIds(zone: string | undefined): Iterable<number>;
  hasHost(id: number): boolean;
}


const HOST_ID = /^[0-9]{1,15}$/;

type Fields = Record<string, unknown>;

class BadRequest {
  constructor(readonly message: string) {}
}

/** method, params and timeout of a body, checked as the protocol checks a call. */
function callRequest(body: unknown, backend: CallsBackend): CallRequest | BadRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return new BadRequest('the body must be a JSON object');
  const fields = body as Fields;
  const timeout = fields['timeout'] ?? DEFAULT_CALL_TIMEOUT_S;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_CALL_TIMEOUT_S) {
    return new BadRequest(`timeout must be seconds in (0, ${MAX_CALL_TIMEOUT_S}], got ${JSON.stringify(timeout)}`);
  }
  const request: CallRequest = {
    method: fields['method'] as string,
    params: fields['params'] === undefined ? undefined : (fields['params'] as CallValue),
    timeoutMs: Math.max(1, Math.round(timeout * 1000)),
  };
  if (fields['method'] === undefined) return new BadRequest('method is required');
  const refused = backend.validate(request);
  return refused === undefined ? request : new BadRequest(refused);
}

function caller(request: AdminRequest): Caller {
  return { address: request.remoteAddress ?? 'unknown' };
}

/** A refusal's body: `error` is the reason as text (as every refusal of the API), `code` its code. */
function refusal(status: number, line: CallLine): AdminResponse {
  const { error, ...rest } = line;
  return json(status, { error: error?.message ?? line.status, code: error?.code ?? line.status, ...rest });
}

/** The single call's HTTP status: 200 once the agent answered; the refusals name the reason. */
function singleResponse(line: CallLine): AdminResponse {
  switch (line.status) {
    case 'ok':
      return json(200, line);
    case 'error':
      return line.error?.code === 'busy' ? refusal(429, line) : json(200, line);
    case 'timeout':
      return refusal(504, line);
    case 'not_connected':
      return refusal(409, line);
    case 'unsupported':
      return refusal(422, line);
    case 'disconnected':
    case 'server_lost':
      return refusal(502, line);
  }
}

function targetsOf(body: Fields, backend: CallsBackend): Iterable<number> | BadRequest {
  const given = ['hosts', 'zone', 'all'].filter((key) => body[key] !== undefined);
  if (given.length !== 1) return new BadRequest(`name exactly one of hosts, zone or all (got ${given.length === 0 ? 'none' : given.join(', ')})`);
  if (body['all'] !== undefined) {
    if (body['all'] !== true) return new BadRequest(`all must be true, got ${JSON.stringify(body['all'])}`);
    return backend.hostIds(undefined);
  }
  if (body['zone'] !== undefined) {
    if (typeof body['zone'] !== 'string' || body['zone'] === '') return new BadRequest(`zone must be a non-empty string, got ${JSON.stringify(body['zone'])}`);
    return backend.hostIds(body['zone']);
  }
  const hosts = body['hosts'];
  if (!Array.isArray(hosts) || hosts.length === 0) return new BadRequest('hosts must be a non-empty array of host ids');
  const unknown: unknown[] = [];
  for (const id of hosts) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return new BadRequest(`hosts must hold host ids (non-negative integers), got ${JSON.stringify(id)}`);
    if (!backend.hasHost(id) && unknown.length < 5) unknown.push(id);
  }
  if (unknown.length > 0) return new BadRequest(`no host with id ${unknown.join(', ')}`);
  return new Set(hosts as number[]);
}

/** One chunk per batch of lines (one write to the socket), each line JSON and a newline. */
async function* ndjson(batches: AsyncIterable<readonly CallLine[] | CallSummary>): AsyncGenerator<string> {
  for await (const batch of batches) {
    if (!Array.isArray(batch)) {
      yield `${JSON.stringify(batch)}\n`;
      continue;
    }
    let chunk = '';
    for (const line of batch as readonly CallLine[]) chunk += `${JSON.stringify(line)}\n`;
    yield chunk;
  }
}

export function callsRoutes(backend: CallsBackend): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/hosts/:id/call',
      auth: true,
      body: 'json',
      async handle(request) {
        const text = request.params['id']!;
        if (!HOST_ID.test(text)) return errorResponse(400, `host id must be a non-negative integer, got ${JSON.stringify(text)}`);
        const call = callRequest(request.body, backend);
        if (call instanceof BadRequest) return errorResponse(400, call.message);
        const line = await backend.call(Number(text), call, caller(request));
        if ('refused' in line) return errorResponse(404, line.message);
        return singleResponse(line);
      },
    },
    {
      method: 'POST',
      path: '/api/calls',
      auth: true,
      body: 'json',
      handle(request) {
        const call = callRequest(request.body, backend);
        if (call instanceof BadRequest) return errorResponse(400, call.message);
        const body = request.body as Fields;
        const concurrency = body['concurrency'] ?? DEFAULT_FANOUT_CONCURRENCY;
        if (typeof concurrency !== 'number' || !Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > MAX_FANOUT_CONCURRENCY) {
          return errorResponse(400, `concurrency must be an integer in 1..${MAX_FANOUT_CONCURRENCY}, got ${JSON.stringify(concurrency)}`);
        }
        const targets = targetsOf(body, backend);
        if (targets instanceof BadRequest) return errorResponse(400, targets.message);
        const lines = backend.callBatches(targets, call, caller(request), { concurrency, ...(request.signal === undefined ? {} : { signal: request.signal }) });
        return { status: 200, body: undefined, contentType: 'application/x-ndjson', stream: ndjson(lines) };
      },
    },
  ];
}
