/** GET /api/hosts (filtered, paged) and DELETE /api/hosts/ID: the HTTP side of the HostDirectory. */
import { HOST_VIEW_HEADER, MAX_PAGE, type HostConnectedError, type HostView, type RemovedHost } from '../api/hosts';
import { StoreUnavailableError, type HostQuery } from '../store/types';
import type { HostListing, RemoveResult } from '../server/fleet/host-directory';
import { errorResponse, json, jsonArray, type AdminResponse, type Route } from './http';

export interface HostsBackend {
  list(query: HostQuery): Promise<HostListing>;
  remove(id: number, force: boolean): Promise<RemoveResult>;
}

const HOST_ID = /^[0-9]{1,15}$/;
const QUERY_KEYS = new Set(['server', 'zone', 'connected', 'limit', 'after']);

/** The query of GET /api/hosts, or a message naming the bad parameter and value. */
export function parseHostQuery(params: URLSearchParams): HostQuery | string {
  const query: HostQuery = {};
  for (const key of params.keys()) {
    if (!QUERY_KEYS.has(key)) return `unknown query parameter ${JSON.stringify(key)} (expected server, zone, connected, limit, after)`;
    if (params.getAll(key).length > 1) return `query parameter ${key} given more than once`;
  }
  const server = params.get('server');
  if (server !== null) {
    if (server === '') return 'server must be a server address, got ""';
    query.server = server;
  }
  const zone = params.get('zone');
  if (zone !== null) {
    if (zone === '') return 'zone must be a zone name, got ""';
    query.zone = zone;
  }
  const connected = params.get('connected');
  if (connected !== null) {
    if (connected !== 'true' && connected !== 'false') return `connected must be true or false, got ${JSON.stringify(connected)}`;
    query.connected = connected === 'true';
  }
  const limit = params.get('limit');
  if (limit !== null) {
    if (!/^[0-9]{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) {
      return `limit must be an integer from 1 to ${MAX_PAGE}, got ${JSON.stringify(limit)}`;
    }
    query.limit = Number(limit);
  }
  const after = params.get('after');
  if (after !== null) {
    if (!HOST_ID.test(after)) return `after must be a host id (a non-negative integer), got ${JSON.stringify(after)}`;
    query.after = Number(after);
  }
  return query;
}

/** Every chunk of a page in one array (at most MAX_PAGE hosts). */
async function collectPage(pages: AsyncIterable<HostView[]>): Promise<HostView[]> {
  const hosts: HostView[] = [];
  for await (const chunk of pages) for (const view of chunk) hosts.push(view);
  return hosts;
}

/** `rel="next"`: the same query continued after the page's last id (only when the page is full). */
function nextLink(url: URL, lastId: number): string {
  const next = new URLSearchParams(url.searchParams);
  next.set('after', String(lastId));
  return `<${url.pathname}?${next.toString()}>; rel="next"`;
}

export function hostsRoutes(backend: HostsBackend): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/hosts',
      async handle(request): Promise<AdminResponse> {
        const query = parseHostQuery(request.url.searchParams);
        if (typeof query === 'string') return errorResponse(400, query);
        const { pages, scope } = await backend.list(query);
        const headers: Record<string, string> = { [HOST_VIEW_HEADER]: scope };
        // The whole fleet (~30 MB at 100 000 hosts) is streamed a registry chunk at a time.
        if (query.limit === undefined) return jsonArray(200, pages, headers);
        // A page (at most MAX_PAGE) is read whole first: its Link header needs its last id.
        let hosts: HostView[];
        try {
          hosts = await collectPage(pages);
        } catch (error) {
          // Lost after the page's first chunk: the rest cannot be told from memory consistently.
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          throw error;
        }
        const last = hosts[hosts.length - 1];
        if (hosts.length === query.limit && last !== undefined) headers['link'] = nextLink(request.url, last.id);
        return jsonArray(200, hosts, headers);
      },
    },
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
        let result: RemoveResult;
        try {
          result = await backend.remove(id, force === 'true');
        } catch (error) {
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          throw error;
        }
        switch (result.kind) {
          case 'unknown':
            return errorResponse(404, `no host with id ${id}`);
          case 'connected': {
            const body: HostConnectedError = {
              error: `host ${id} (${result.host.guid}) is connected to ${result.server}; stop its agent first, or add ?force=true to disconnect it`,
              hostId: id,
              guid: result.host.guid,
              server: result.server,
            };
            return json(409, body);
          }
          case 'removed': {
            const body: RemovedHost = { removed: result.host, agentsUpdated: result.agentsUpdated, scope: result.scope };
            return json(200, body);
          }
        }
      },
    },
  ];
}
