/**
 * The calls scenario's admin-API side: one fan-out (POST /api/calls) read as its NDJSON
 * stream arrives, every line counted and timed, and sequential round trips on one keep-alive
 * connection (single calls, and the admin GET they are compared with). Plain node:http, so
 * the bench times the bytes as they come, not a client library's buffering.
 */
import http from 'node:http';
import type { CallLine, CallSummary } from '../src/api/calls';
import type { AdminTarget } from './admin-client';
import { newHistogram, recordNs, summarize, type LatencySummary } from './swarm/latency';

/** A hang guard: a fan-out of 15 000 pings takes seconds; a broken one never ends. */
const FANOUT_DEADLINE_MS = 300_000;

export interface FanoutReading {
  /** Host lines (the summary not counted). */
  lines: number;
  byStatus: Record<string, number>;
  byServer: Record<string, number>;
  /** The error codes of the lines that were not ok, and the first such line's message. */
  errorCodes: Record<string, number>;
  firstError?: string;
  /** Host ids with an `ok` line, and lines whose host id came back before. */
  okHosts: Set<number>;
  duplicateLines: number;
  summary: CallSummary | undefined;
  /** POST sent -> first host line, last host line, summary line (ms). */
  firstLineMs: number;
  lastResultMs: number;
  summaryMs: number;
  /** A host id that answered ok (for the single-call latency), or undefined. */
  anOkHost: number | undefined;
  /** The first host id that answered ok, per holding server. */
  firstOkByServer: Record<string, number>;
}

const msSince = (start: bigint): number => Math.round(Number(process.hrtime.bigint() - start) / 1e4) / 100;

/** POSTs a fan-out and reads its stream to the end; a status other than 200 is an error naming the body. */
export function fanout(admin: AdminTarget, body: Record<string, unknown>): Promise<FanoutReading> {
  const reading: FanoutReading = {
    lines: 0,
    byStatus: {},
    byServer: {},
    errorCodes: {},
    okHosts: new Set(),
    duplicateLines: 0,
    summary: undefined,
    firstLineMs: 0,
    lastResultMs: 0,
    summaryMs: 0,
    anOkHost: undefined,
    firstOkByServer: {},
  };
  const seen = new Set<number>();
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: admin.host,
        port: admin.port,
        path: '/api/calls',
        method: 'POST',
        timeout: FANOUT_DEADLINE_MS,
        headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let rest = '';
        let text = '';
        res.setEncoding('utf8');
        const onLine = (line: string): void => {
          if (line === '') return;
          const parsed = JSON.parse(line) as CallLine | CallSummary;
          if ('done' in parsed) {
            reading.summary = parsed;
            reading.summaryMs = msSince(started);
            return;
          }
          const at = msSince(started);
          if (reading.lines === 0) reading.firstLineMs = at;
          reading.lastResultMs = at;
          reading.lines++;
          reading.byStatus[parsed.status] = (reading.byStatus[parsed.status] ?? 0) + 1;
          const server = parsed.server ?? '(none)';
          reading.byServer[server] = (reading.byServer[server] ?? 0) + 1;
          if (seen.has(parsed.hostId)) reading.duplicateLines++;
          seen.add(parsed.hostId);
          if (parsed.error !== undefined) {
            reading.errorCodes[parsed.error.code] = (reading.errorCodes[parsed.error.code] ?? 0) + 1;
            reading.firstError ??= `host ${parsed.hostId}: ${parsed.status} ${parsed.error.code}: ${parsed.error.message}`;
          }
          if (parsed.status === 'ok') {
            reading.okHosts.add(parsed.hostId);
            reading.anOkHost ??= parsed.hostId;
            reading.firstOkByServer[server] ??= parsed.hostId;
          }
        };
        res.on('data', (chunk: string) => {
          if (res.statusCode !== 200) {
            text += chunk;
            return;
          }
          const parts = (rest + chunk).split('\n');
          rest = parts.pop()!;
          try {
            for (const line of parts) onLine(line);
          } catch (error) {
            req.destroy(error as Error);
          }
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`POST /api/calls: ${res.statusCode}: ${text.trim().slice(0, 300)}`));
          else if (reading.summary === undefined) reject(new Error(`POST /api/calls: the stream ended after ${reading.lines} lines without its summary line`));
          else resolve(reading);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`POST /api/calls: not done within ${FANOUT_DEADLINE_MS} ms`)));
    req.end(payload);
  });
}

export interface RoundTrips {
  latency: LatencySummary;
  /** Answers other than `expect`. */
  errors: number;
  /** The first unexpected answer, for the notes. */
  firstError?: string;
}

/** `count` requests one after another on one keep-alive connection; each timed from write to the end of its body. */
export async function roundTrips(admin: AdminTarget, count: number, method: 'GET' | 'POST', path: string, body?: unknown, expect = 200): Promise<RoundTrips> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const histogram = newHistogram();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  let errors = 0;
  let firstError: string | undefined;
  try {
    for (let i = 0; i < count; i++) {
      const started = process.hrtime.bigint();
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: admin.host,
            port: admin.port,
            path,
            method,
            agent,
            timeout: 60_000,
            headers: { authorization: `Bearer ${admin.token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
        req.end(payload);
      });
      recordNs(histogram, process.hrtime.bigint() - started);
      if (answer.status !== expect) {
        errors++;
        firstError ??= `${answer.status}: ${answer.text.trim().slice(0, 200)}`;
      }
    }
  } finally {
    agent.destroy();
  }
  return { latency: summarize(histogram), errors, ...(firstError === undefined ? {} : { firstError }) };
}
