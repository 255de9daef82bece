/**
 * GET /api/servers: the management servers of the fleet, with their state from their
 * heartbeats; DELETE /api/servers/ADDRESS: forget a server that is down or stopped.
 */
import { StoreUnavailableError, type ServerRegistry } from '../store/types';
import { errorResponse, json, type AdminResponse, type Route } from './http';

/** The registry's failures as answers: 503 while the database is unavailable. */
async function answer(work: () => Promise<AdminResponse>): Promise<AdminResponse> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
    throw error;
  }
}

/**
 * `planned`: the agents a server is planned for now (the rebalance's last survey), added to
 * each record as `planned` (null before the first survey or for a server not in `host`).
 */
export function serversRoutes(registry: ServerRegistry, planned: (address: string) => number | null = () => null): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/servers',
      handle: () => answer(async () => json(200, (await registry.listServers()).map((record) => ({ ...record, planned: planned(record.address) })))),
    },
    {
      method: 'DELETE',
      path: '/api/servers/:address',
      auth: true,
      handle: (request) =>
        answer(async () => {
          const address = request.params['address']!;
          if (address === '') return errorResponse(400, 'server address must not be empty');
          const result = await registry.forgetServer(address);
          switch (result.kind) {
            case 'unknown':
              return errorResponse(404, `no server ${JSON.stringify(address)} in the server registry`);
            case 'up':
              return errorResponse(409, `server ${address} is up (last heartbeat ${result.server.heartbeatAt}); stop it first: only a down or stopped server can be forgotten`);
            case 'forgotten':
              return json(200, { forgotten: result.server });
          }
        }),
    },
  ];
}
