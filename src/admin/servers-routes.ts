/** GET /api/servers: the management servers of the fleet, with up/down from their heartbeats. */
import { StoreUnavailableError, type ServerRegistry } from '../store/types';
import { errorResponse, json, type Route } from './http';

export function serversRoutes(registry: ServerRegistry): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/servers',
      async handle() {
        try {
          return json(200, await registry.listServers());
        } catch (error) {
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          throw error;
        }
      },
    },
  ];
}
