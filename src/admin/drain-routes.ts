/**
 * POST /api/servers/drain, POST /api/servers/undrain and GET /api/servers/drain (status; also
 * as GET /api/servers/drains, the name `agentlb servers drains` uses).
 */
import { StoreUnavailableError } from '../store/types';
import {
  DrainError,
  MAX_DRAIN_RATE,
  MAX_DRAIN_TIMEOUT_SECONDS,
  type DrainOutcome,
  type DrainStatus,
  type UndrainOutcome,
} from '../api/drain';
import { errorResponse, json, type AdminResponse, type Route } from './http';

export interface DrainRequest {
  address?: string;
  rate?: number;
  /** Seconds until the rest are handed over at once. */
  timeout?: number;
}

export interface DrainBackend {
  drain(request: DrainRequest): Promise<DrainOutcome | DrainError>;
  undrain(request: { address?: string }): Promise<UndrainOutcome | DrainError>;
  status(): DrainStatus;
}

/** A request body's fields, or the message naming what is wrong with it. */
export function parseDrainBody(body: unknown, allowRate: boolean): DrainRequest | string {
  const allowed = allowRate ? ['address', 'rate', 'timeout'] : ['address'];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return `body must be a JSON object (with optional ${allowed.map((key) => `"${key}"`).join(' and ')})`;
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) return `unknown field ${JSON.stringify(key)} (known: ${allowed.join(', ')})`;
  }
  const request: DrainRequest = {};
  if (fields.address !== undefined) {
    if (typeof fields.address !== 'string' || fields.address.trim() === '') {
      return `address must be a non-empty string (a server as written in host), got ${JSON.stringify(fields.address)}`;
    }
    request.address = fields.address.trim();
  }
  if (fields.rate !== undefined) {
    const rate = fields.rate;
    if (typeof rate !== 'number' || !Number.isSafeInteger(rate) || rate < 1 || rate > MAX_DRAIN_RATE) {
      return `rate must be an integer number of agents per second from 1 to ${MAX_DRAIN_RATE}, got ${JSON.stringify(rate)}`;
    }
    request.rate = rate;
  }
  if (fields.timeout !== undefined) {
    const timeout = fields.timeout;
    // Whole milliseconds are what is kept; less than one is no deadline at all.
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0.001 || timeout > MAX_DRAIN_TIMEOUT_SECONDS) {
      return `timeout must be a number of seconds from 0.001 to ${MAX_DRAIN_TIMEOUT_SECONDS}, got ${JSON.stringify(timeout)}`;
    }
    request.timeout = Math.round(timeout * 1000) / 1000;
  }
  return request;
}

async function answer(run: () => Promise<unknown>): Promise<AdminResponse> {
  try {
    const outcome = await run();
    return outcome instanceof DrainError ? errorResponse(400, outcome.message) : json(200, outcome);
  } catch (error) {
    if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
    throw error;
  }
}

/** A POST route taking a drain body (`rate` only where allowed). */
function postRoute(path: string, allowRate: boolean, run: (request: DrainRequest) => Promise<unknown>): Route {
  return {
    method: 'POST',
    path,
    auth: true,
    body: 'json',
    handle(request) {
      const parsed = parseDrainBody(request.body, allowRate);
      if (typeof parsed === 'string') return errorResponse(400, parsed);
      return answer(() => run(parsed));
    },
  };
}

export function drainRoutes(backend: DrainBackend): Route[] {
  return [
    { method: 'GET', path: '/api/servers/drain', handle: () => json(200, backend.status()) },
    { method: 'GET', path: '/api/servers/drains', handle: () => json(200, backend.status()) },
    postRoute('/api/servers/drain', true, (request) => backend.drain(request)),
    postRoute('/api/servers/undrain', false, (request) => backend.undrain(request)),
  ];
}
