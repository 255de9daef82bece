/**
 * POST /api/servers/drain, POST /api/servers/undrain and GET /api/servers/drain (status).
 */
import { StoreUnavailableError } from '../store/types';
import { DrainError, MAX_DRAIN_RATE, type DrainOutcome, type DrainStatus, type UndrainOutcome } from '../server/drain-controller';
import { errorResponse, json, type AdminResponse, type Route } from './http';

export interface DrainBackend {
  drain(request: { address?: string; rate?: number }): Promise<DrainOutcome | DrainError>;
  undrain(request: { address?: string }): Promise<UndrainOutcome | DrainError>;
  status(): DrainStatus;
}

/** A request body's fields, or the message naming what is wrong with it. */
export function parseDrainBody(body: unknown, allowRate: boolean): { address?: string; rate?: number } | string {
  const allowed = allowRate ? ['address', 'rate'] : ['address'];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return `body must be a JSON object (with optional ${allowed.map((key) => `"${key}"`).join(' and ')})`;
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) return `unknown field ${JSON.stringify(key)} (known: ${allowed.join(', ')})`;
  }
  const request: { address?: string; rate?: number } = {};
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
function postRoute(path: string, allowRate: boolean, run: (request: { address?: string; rate?: number }) => Promise<unknown>): Route {
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
    postRoute('/api/servers/drain', true, (request) => backend.drain(request)),
    postRoute('/api/servers/undrain', false, (request) => backend.undrain(request)),
  ];
}
