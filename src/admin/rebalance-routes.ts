/**
 * POST /api/rebalance (start, or a dry run), GET /api/rebalance (progress) and
 * DELETE /api/rebalance (stop): README "Rebalance".
 */
import { StoreUnavailableError } from '../store/types';
import { MAX_REBALANCE_RATE, type RebalanceStatus } from '../api/rebalance';
import type { RebalanceAnswer, RebalanceRequest } from '../server/rebalance/controller';
import type { RunRecord } from '../server/rebalance/board';
import { errorResponse, json, type AdminResponse, type Route } from './http';

export interface RebalanceBackend {
  request(request: RebalanceRequest): Promise<RebalanceAnswer>;
  stop(): Promise<RunRecord | undefined>;
  status(): RebalanceStatus;
}

const FIELDS = ['rate', 'zone', 'dryRun'];

/** A request body's fields, or the message naming what is wrong with it. */
export function parseRebalanceBody(body: unknown): RebalanceRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object (with optional "rate", "zone" and "dryRun")';
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (!FIELDS.includes(key)) return `unknown field ${JSON.stringify(key)} (known: ${FIELDS.join(', ')})`;
  const request: RebalanceRequest = {};
  if (fields.rate !== undefined) {
    const rate = fields.rate;
    if (typeof rate !== 'number' || !Number.isSafeInteger(rate) || rate < 1 || rate > MAX_REBALANCE_RATE) {
      return `rate must be an integer number of agents per second from 1 to ${MAX_REBALANCE_RATE}, got ${JSON.stringify(rate)}`;
    }
    request.rate = rate;
  }
  if (fields.zone !== undefined) {
    if (typeof fields.zone !== 'string' || fields.zone === '' || Buffer.byteLength(fields.zone) > 128) {
      return `zone must be a string of 1..128 bytes, got ${JSON.stringify(fields.zone)}`;
    }
    request.zone = fields.zone;
  }
  if (fields.dryRun !== undefined) {
    if (typeof fields.dryRun !== 'boolean') return `dryRun must be true or false, got ${JSON.stringify(fields.dryRun)}`;
    request.dryRun = fields.dryRun;
  }
  return request;
}

async function answer(run: () => Promise<AdminResponse>): Promise<AdminResponse> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
    throw error;
  }
}

export function rebalanceRoutes(backend: RebalanceBackend): Route[] {
  return [
    { method: 'GET', path: '/api/rebalance', handle: () => json(200, backend.status()) },
    {
      method: 'POST',
      path: '/api/rebalance',
      body: 'json',
      handle(request) {
        const parsed = parseRebalanceBody(request.body);
        if (typeof parsed === 'string') return errorResponse(400, parsed);
        return answer(async () => {
          const outcome = await backend.request(parsed);
          if (outcome.kind === 'running') {
            return errorResponse(409, `a rebalance is running (started ${outcome.run.startedAt}, ${outcome.run.source}): stop it first (DELETE /api/rebalance)`);
          }
          if (outcome.kind === 'dry-run') return json(200, { toMove: outcome.toMove, rate: outcome.rate, dryRun: true });
          return json(202, { toMove: outcome.toMove, rate: outcome.rate });
        });
      },
    },
    {
      method: 'DELETE',
      path: '/api/rebalance',
      handle: () =>
        answer(async () => {
          const ended = await backend.stop();
          return json(200, { stopped: ended !== undefined, ...backend.status() });
        }),
    },
  ];
}
