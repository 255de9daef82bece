/** GET /api/hosts and DELETE /api/hosts/ID. */
import { StoreUnavailableError } from '../store/types';
import type { HostView, RemoveHostResult } from '../server/fleet/controller';
import { errorResponse, json, jsonArray, type Route } from './http';

export interface HostsBackend {
  hosts(): HostView[];
  removeHost(id: number, force: boolean): Promise<RemoveHostResult>;
}

const HOST_ID = /^[0-9]{1,15}$/;

export function hostsRoutes(backend: HostsBackend): Route[] {
  return [
    { method: 'GET', path: '/api/hosts', handle: () => jsonArray(200, backend.hosts()) },
    {
      method: 'DELETE',
      path: '/api/hosts/:id',
      auth: true,
      async handle(request) {
        const text = request.params['id']!;
        if (!HOST_ID.test(text)) return errorResponse(400, `host id must be a non-negative integer, got ${JSON.stringify(text)}`);
        const id = Number(text);
        const force = request.url.searchParams.get('force');
        if (force !== null && force !== 'true' && force !== 'false') {
          return errorResponse(400, `force must be true or false, got ${JSON.stringify(force)}`);
        }
        let result: RemoveHostResult;
        try {
          result = await backend.removeHost(id, force === 'true');
        } catch (error) {
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          throw error;
        }
        switch (result.kind) {
          case 'unknown':
            return errorResponse(404, `no host with id ${id}`);
          case 'connected':
            return errorResponse(409, `host ${id} (${result.host.guid}) is connected; stop its agent first, or add ?force=true to disconnect it`);
          case 'removed':
            return json(200, { removed: result.host, agentsUpdated: result.agentsUpdated });
        }
      },
    },
  ];
}
