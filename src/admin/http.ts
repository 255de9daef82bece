/**
 * The admin HTTP listener: a small route table over node:http. Routes are plain values, so
 * more can be mounted (e.g. GET /metrics) by passing them in; nothing here knows the server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerMatches } from './auth';
import { drained, JsonArrayBody, writeJsonArray, type JsonArraySource } from './json-array';
import type { Logger } from '../log';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface AdminRequest {
  readonly method: HttpMethod;
  readonly url: URL;
  /** Values of the `:name` segments of the route's path. */
  readonly params: Readonly<Record<string, string>>;
  /** The parsed JSON body, for routes declared with `body: 'json'`; else undefined. */
  readonly body: unknown;
  /** Request headers, names lower-cased (node:http). */
  readonly headers: http.IncomingHttpHeaders;
  /** The client's address (`addr:port`), for the log of what it asked (always set by the listener). */
  readonly remoteAddress?: string;
  /** Aborted when the client goes away before the response is complete (always set by the listener). */
  readonly signal?: AbortSignal;
}

export interface AdminResponse {
  status: number;
  /** Sent as JSON, unless `contentType` is given and `body` is a string. */
  body: unknown;
  /**
   * Streamed instead of `body` (with `contentType`): each chunk is written as it comes, the
   * next pulled only once the client has taken the last (a slow reader slows the producer).
   */
  stream?: AsyncIterable<string>;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: HttpMethod;
  /** Literal segments and `:name` parameters, e.g. `/api/hosts/:id`. */
  path: string;
  /**
   * Requires `Authorization: Bearer TOKEN`. Every route under /api does, whatever this says
   * (see requiresBearer); it matters only for routes elsewhere.
   */
  auth?: boolean;
  body?: 'json';
  handle(request: AdminRequest): Promise<AdminResponse> | AdminResponse;
}

export interface AdminServerOptions {
  routes: readonly Route[];
  token: string;
  /** Largest request body accepted, in bytes; more gets 413. */
  maxBodyBytes: number;
  logger: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 65_536;

export function json(status: number, body: unknown, headers?: Record<string, string>): AdminResponse {
  return headers === undefined ? { status, body } : { status, body, headers };
}

/**
 * A JSON array written a slice per turn of the loop (json-array.ts): for lists of the whole
 * fleet, given whole or as pages pulled as the client takes them.
 */
export function jsonArray(status: number, items: JsonArraySource, headers?: Record<string, string>): AdminResponse {
  return json(status, new JsonArrayBody(items), headers);
}

export function errorResponse(status: number, message: string): AdminResponse {
  return json(status, { error: message });
}

interface CompiledRoute {
  route: Route;
  segments: string[];
}

function compile(route: Route): CompiledRoute {
  return { route, segments: route.path.split('/').slice(1) };
}

/** A path segment that is not valid percent-encoding (`%E0%A4%A`): the client's fault, a 400. */
class BadSegment {
  constructor(readonly segment: string) {}
}

function matchSegments(pattern: readonly string[], actual: readonly string[]): Record<string, string> | BadSegment | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < pattern.length; index++) {
    const expected = pattern[index]!;
    const got = actual[index]!;
    if (expected.startsWith(':')) {
      if (got === '') return undefined;
      try {
        params[expected.slice(1)] = decodeURIComponent(got);
      } catch {
        return new BadSegment(got);
      }
    } else if (expected !== got) {
      return undefined;
    }
  }
  return params;
}

type Match =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'bad'; segment: string }
  | { kind: 'none' };

function findRoute(routes: readonly CompiledRoute[], method: string, path: string): Match {
  const segments = path.split('/').slice(1);
  const allow: string[] = [];
  for (const compiled of routes) {
    const params = matchSegments(compiled.segments, segments);
    if (params === undefined) continue;
    if (params instanceof BadSegment) return { kind: 'bad', segment: params.segment };
    if (compiled.route.method === method) return { kind: 'found', route: compiled.route, params };
    allow.push(compiled.route.method);
  }
  return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
}

class BodyTooLarge extends Error {
  readonly code = 'body_too_large';
}

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Writes `result.stream` chunk by chunk, waiting for 'drain' when the socket is full. */
async function sendStream(response: http.ServerResponse, result: AdminResponse, stream: AsyncIterable<string>): Promise<void> {
  response.writeHead(result.status, { 'content-type': result.contentType ?? 'application/octet-stream', 'cache-control': 'no-store', ...result.headers });
  // At once: the client learns the status before the first line, which may take a while.
  response.flushHeaders();
  const gone = (): boolean => response.destroyed || response.writableEnded;
  for await (const chunk of stream) {
    if (gone()) break; // leaving the loop returns the iterator: its producer stops
    if (!response.write(chunk)) await drained(response);
  }
  if (!gone()) response.end();
}

function send(response: http.ServerResponse, result: AdminResponse, logger: Logger): void {
  if (result.body instanceof JsonArrayBody) {
    // Chunked: the length is not known before the last slice is serialized. A page that fails
    // (the database lost mid-listing) cuts the body short: the client sees an incomplete
    // response, never a short list that parses as whole.
    response.writeHead(result.status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...result.headers });
    void writeJsonArray(response, result.body.items).catch((error: unknown) => {
      logger.warn({ err: error }, 'admin response cut short');
      response.destroy();
    });
    return;
  }
  const isText = result.contentType !== undefined && typeof result.body === 'string';
  const payload = isText ? (result.body as string) : `${JSON.stringify(result.body)}\n`;
  response.writeHead(result.status, {
    'content-type': isText ? result.contentType! : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...result.headers,
  });
  response.end(payload);
}

/**
 * The whole API, reads included: the host inventory (guids, addresses, zones) and the settings
 * map the fleet for an attacker. /healthz and /metrics stay open for probes and scrapers.
 */
export function requiresBearer(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/');
}

function unauthorized(): AdminResponse {
  return json(401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
}

/** Runs one request to completion; every failure becomes a response, never a throw. */
async function dispatch(
  routes: readonly CompiledRoute[],
  options: AdminServerOptions,
  request: http.IncomingMessage,
  signal: AbortSignal,
): Promise<AdminResponse> {
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://admin.invalid');
  } catch {
    return errorResponse(400, `request target ${JSON.stringify(request.url)} is not a valid URL`);
  }
  // Before routing, so that without the token nothing is learned, not even which paths exist.
  if (requiresBearer(url.pathname) && !bearerMatches(request.headers.authorization, options.token)) return unauthorized();
  const match = findRoute(routes, request.method ?? 'GET', url.pathname);
  if (match.kind === 'none') return errorResponse(404, `no route for ${url.pathname}`);
  if (match.kind === 'bad') return errorResponse(400, `path segment ${JSON.stringify(match.segment)} is not valid percent-encoding`);
  if (match.kind === 'method') {
    return json(405, { error: `method ${request.method} not allowed on ${url.pathname}` }, { allow: match.allow.join(', ') });
  }
  const { route, params } = match;
  if (route.auth === true && !bearerMatches(request.headers.authorization, options.token)) return unauthorized();
  let body: unknown;
  if (route.body === 'json') {
    let raw: Buffer;
    try {
      raw = await readBody(request, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return errorResponse(413, `body exceeds ${options.maxBodyBytes} bytes`);
      throw error;
    }
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      return errorResponse(400, `body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const remoteAddress = formatRemote(request.socket.remoteAddress, request.socket.remotePort);
  return route.handle({ method: route.method, url, params, body, headers: request.headers, remoteAddress, signal });
}

function formatRemote(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

/** How long a refused client gets to read its 401/413 before its socket is destroyed. */
const REFUSED_CLOSE_GRACE_MS = 1_000;

/**
 * For a 401 or 413: the body is never read. Node would otherwise drain it after the response
 * to keep the connection alive, so an unauthenticated client could make the server read
 * 100 MiB. Reading stops at once (TCP's window then holds the client back), the answer says
 * `Connection: close`, and the socket is ended once the answer is out, destroyed after a grace
 * (a peer that never closes must not hold it).
 */
function refuseBody(request: http.IncomingMessage, response: http.ServerResponse): void {
  const socket = request.socket;
  socket.pause();
  response.setHeader('connection', 'close');
  response.once('finish', () => {
    socket.pause(); // the server resumes it to dump the unread body: keep it paused
    socket.end();
    setTimeout(() => socket.destroy(), REFUSED_CLOSE_GRACE_MS).unref();
  });
}

export function createAdminServer(options: AdminServerOptions): http.Server {
  const routes = options.routes.map(compile);
  const server = http.createServer((request, response) => {
    const aborter = new AbortController();
    // 'close' before the end was written: the client went away (a fan-out stops calling).
    response.on('close', () => {
      if (!response.writableFinished) aborter.abort();
    });
    dispatch(routes, options, request, aborter.signal)
      .catch((error: unknown) => {
        options.logger.error({ err: error, url: request.url }, 'admin request failed');
        return errorResponse(500, 'internal error');
      })
      .then((result) => {
        if (result.status === 401 || result.status === 413) refuseBody(request, response);
        if (result.stream !== undefined) return sendStream(response, result, result.stream);
        send(response, result, options.logger);
        return undefined;
      })
      .catch((error: unknown) => options.logger.error({ err: error }, 'admin response failed'));
  });
  // Admin clients are few and short-lived; idle keep-alive sockets must not delay shutdown.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

export function listenHttp(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
