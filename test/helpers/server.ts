/**
 * Starts a real server in-process on ephemeral ports with a temp data dir, and closes it when
 * the test ends. Short timers come in through options, never by waiting.
 */
import type { Test } from 'tap';
import { silentLogger } from '../../src/log';
import { startServer, type ServerHandle } from '../../src/app/daemon';
import type { ServerOptionsInput } from '../../src/app/options';
import type { ServerEventMap, ServerEventName, ServerEvents } from '../../src/server/events';

export type TestServer = ServerHandle & {
  readonly dataDir: string;
  readonly agentPort: number;
  readonly adminUrl: string;
};

export const TEST_TOKEN = 'test-admin-token';

/** Starts a server (closed at teardown unless already closed). `dataDir` reuses a directory. */
export async function startTestServer(t: Test, overrides: Partial<ServerOptionsInput> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? t.testdir();
  const handle = await startServer({
    logger: silentLogger(),
    ...overrides,
    listen: { host: '127.0.0.1', port: 0, ...overrides.listen },
    admin: { host: '127.0.0.1', port: 0, token: TEST_TOKEN, ...overrides.admin },
    connection: { closeGraceMs: 500, ...overrides.connection },
    dataDir,
  });
  t.teardown(() => handle.close());
  return Object.assign(handle, {
    dataDir,
    agentPort: handle.agentAddress.port,
    adminUrl: `http://127.0.0.1:${handle.adminAddress.port}`,
  });
}

export interface ApiAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** One admin API call; `token: null` sends no Authorization header. */
export async function api(
  server: { adminUrl: string },
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TEST_TOKEN : options.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.adminUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

/** Resolves with the first `name` event that `match` accepts. */
export function nextEvent<K extends ServerEventName>(
  events: ServerEvents,
  name: K,
  match: (event: ServerEventMap[K]) => boolean = () => true,
): Promise<ServerEventMap[K]> {
  return new Promise((resolve) => {
    const off = events.on(name, (event) => {
      if (match(event)) {
        off();
        resolve(event);
      }
    });
  });
}
