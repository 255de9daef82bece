/**
 * The admin API as the client commands (`settings`, `hosts`) see it: where it is, the token,
 * and one request function whose failures are typed values with a code.
 */
import http from 'node:http';
import { AdminTokenError, readTokenFile, tokenFilePath } from '../api/token';
import { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT, DEFAULT_DATA_DIR } from '../api/defaults';
import { nonEmpty, parseHostPort, parseSecondsAsMs, type CliIo } from './args';

/** The flags every admin client command takes. */
export const CLIENT_FLAGS = {
  admin: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CLIENT_OPTIONS_HELP = `Connection options:
  --admin HOST:PORT   the server's admin API (default ${DEFAULT_ADMIN_HOST}:${DEFAULT_ADMIN_PORT})
  --token TOKEN       bearer token for the API (default: env AGENTLB_ADMIN_TOKEN, else the
                      admin.token file in --data-dir)
  --data-dir DIR      the server's data directory, to read admin.token (default ${DEFAULT_DATA_DIR})
  --timeout SECONDS   give up on the API after this long (default 10)
  --json              print the API's JSON instead of text
  -h, --help          print this help and exit
`;

export type AdminClientErrorCode = 'admin_unreachable' | 'admin_refused' | 'no_admin_token';

export class AdminClientError extends Error {
  constructor(
    readonly code: AdminClientErrorCode,
    message: string,
    readonly status?: number,
    /** The refusal's parsed JSON body (admin_refused), for commands that read its fields. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'AdminClientError';
  }
}

export interface AdminClientFlags {
  admin?: string;
  token?: string;
  'data-dir'?: string;
  timeout?: string;
}

export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly findToken: () => Promise<string>,
  ) {}

  /** `timeoutMs` overrides --timeout (a command whose --timeout means something else). */
  static fromFlags(flags: AdminClientFlags, io: CliIo, timeoutMs: number = flags.timeout === undefined ? 10_000 : parseSecondsAsMs('--timeout', flags.timeout)): AdminClient {
    const { host, port } = parseHostPort('--admin', flags.admin ?? `${DEFAULT_ADMIN_HOST}:${DEFAULT_ADMIN_PORT}`);
    const dataDir = flags['data-dir'] === undefined ? DEFAULT_DATA_DIR : nonEmpty('--data-dir', flags['data-dir']);
    const explicit = flags.token ?? io.env['AGENTLB_ADMIN_TOKEN'];
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return new AdminClient(`http://${hostPart}:${port}`, timeoutMs, async () => {
      if (explicit !== undefined && explicit !== '') return explicit;
      const fromFile = await readTokenFile(dataDir).catch((error: Error) => new AdminTokenError(error.message));
      if (typeof fromFile === 'string') return fromFile;
      const why = fromFile === undefined ? `${tokenFilePath(dataDir)} does not exist` : fromFile.message;
      throw new AdminClientError('no_admin_token', `no admin token: pass --token, set AGENTLB_ADMIN_TOKEN, or point --data-dir at the server's data directory (${why})`);
    });
  }

  /** Sends one request; resolves to the parsed JSON of a 2xx answer, rejects AdminClientError. */
  async request(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    return (await this.exchange(method, path, body)).body;
  }

  /** As request(), with the answer's headers (names lower-cased). */
  async exchange(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ body: unknown; headers: http.IncomingHttpHeaders }> {
    const headers: Record<string, string> = {};
    // Every /api call needs the token, reads included (the inventory is sensitive too).
    headers['authorization'] = `Bearer ${await this.findToken()}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const { status, text, headers: answerHeaders } = await this.send(method, path, headers, payload);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (status < 200 || status > 299) {
      const message = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String(parsed.error) : text.trim();
      throw new AdminClientError('admin_refused', `${method} ${path} failed (HTTP ${status}): ${message}`, status, parsed);
    }
    return { body: parsed, headers: answerHeaders };
  }

  /**
   * POSTs `body` and hands each line of a 2xx NDJSON answer, parsed, to `onLine` as it arrives
   * (a fan-out's lines come as hosts finish). Rejects AdminClientError as request() does.
   */
  async lines(path: string, body: unknown, onLine: (line: unknown) => void): Promise<void> {
    const headers = { authorization: `Bearer ${await this.findToken()}`, 'content-type': 'application/json' };
    const unreachable = (detail: string): AdminClientError => new AdminClientError('admin_unreachable', `cannot reach the admin API at ${this.baseUrl}: ${detail}`);
    await new Promise<void>((resolve, reject) => {
      const request = http.request(`${this.baseUrl}${path}`, { method: 'POST', headers, timeout: this.timeoutMs }, (response) => {
        const status = response.statusCode ?? 0;
        let buffered = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffered += chunk;
          if (status < 200 || status > 299) return;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            if (line.trim() !== '') onLine(JSON.parse(line));
          }
        });
        response.on('end', () => {
          if (status >= 200 && status <= 299) return resolve();
          let message = buffered.trim();
          let parsed: unknown = buffered;
          try {
            parsed = JSON.parse(buffered);
            if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) message = String(parsed.error);
          } catch {
            // not JSON: the text itself
          }
          reject(new AdminClientError('admin_refused', `POST ${path} failed (HTTP ${status}): ${message}`, status, parsed));
        });
        response.on('error', (error) => reject(unreachable(error.message)));
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (error: NodeJS.ErrnoException) => reject(unreachable(error.code ?? error.message)));
      request.end(JSON.stringify(body));
    });
  }

  /** node:http rather than fetch: fetch refuses "bad ports" (1, 6000, ...) an admin may use. */
  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: string | undefined,
  ): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const unreachable = (detail: string): AdminClientError =>
        new AdminClientError('admin_unreachable', `cannot reach the admin API at ${this.baseUrl}: ${detail}`);
      const request = http.request(`${this.baseUrl}${path}`, { method, headers, timeout: this.timeoutMs }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text, headers: response.headers }));
        response.on('error', (error) => reject(unreachable(error.message)));
      });
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (error: NodeJS.ErrnoException) => reject(unreachable(error.code ?? error.message)));
      request.end(payload);
    });
  }
}
