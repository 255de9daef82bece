/**
 * Cluster members for tests: real servers in-process (startTestServer) on a PgStore with
 * short timers, or as `agentlb server` processes (startMemberProcess); and waits on
 * cross-server facts that no event reports.
 */
import type { Test } from 'tap';
import { Registry } from 'prom-client';
import { PgStore } from '../../src/store/pg/store';
import { cleanEnv, startServerProcess, type ServerProcess } from '../helpers/cli';
import { TEST_STORE_OPTIONS, pollUntil } from '../helpers/pg-store-fixtures';
import { api, startTestServer, TEST_TOKEN, type TestServer } from '../helpers/server';

/** Fast heartbeats, so a member's count and state travel in a tenth of a second. */
export const TEST_HEARTBEAT_MS = 100;
/**
 * A member is listed down after 2 s without a heartbeat (20 of them), not 3: on a loaded
 * machine a live member's 100 ms beats were 300 ms apart and a running m1 was listed down
 * (test/cluster/membership.test.ts, issue 11). A stopped one still turns down in 2 s.
 */
export const TEST_SERVER_DOWN_AFTER_MS = 20 * TEST_HEARTBEAT_MS;

/**
 * How long a test waits for a frame caused by a change made on another server: it travels
 * through PostgreSQL's NOTIFY and a read (milliseconds when idle). A hang guard with a margin
 * for a loaded machine, not a figure: TestAgent's own 5 s default is for one server's answer.
 */
export const CROSS_SERVER_MS = 30_000;

export type Member = TestServer & { readonly store: PgStore };

/** A server on a PgStore for `url`, with metrics and fast heartbeats. */
export async function startMember(t: Test, url: string, advertise?: string): Promise<Member> {
  const store = new PgStore({ ...TEST_STORE_OPTIONS, connectionString: url, serverDownAfterMs: TEST_SERVER_DOWN_AFTER_MS });
  const server = await startTestServer(t, {
    store,
    metricsRegistry: new Registry(),
    listen: { advertise },
    cluster: { heartbeatIntervalMs: TEST_HEARTBEAT_MS },
  });
  return Object.assign(server, { store });
}

/** A cluster member as an `agentlb server` process, advertised as `name`, heartbeat 1 s. */
export interface MemberProcess {
  process: ServerProcess;
  adminUrl: string;
  agentPort: number;
  name: string;
}

/** `extra`: more flags for the server (TLS, --ca-dir, tokens). */
export async function startMemberProcess(t: Test, url: string, name: string, extra: readonly string[] = []): Promise<MemberProcess> {
  const process = await startServerProcess(t, ['--store', url, '--advertise', name, '--heartbeat-interval', '1', '--admin-token', TEST_TOKEN, ...extra], cleanEnv());
  return { process, adminUrl: `http://127.0.0.1:${process.adminPort}`, agentPort: process.agentPort, name };
}

export interface Health {
  status: string;
  store?: string;
  storeError?: string;
  /** The hosts in the server's memory (its fleet), which its lists, calls and removals use. */
  hosts?: number;
}

export async function health(server: { adminUrl: string }): Promise<Health> {
  return (await api(server, 'GET', '/healthz', { token: null })).body as Health;
}

/**
 * Waits until `server`'s /healthz reports the store `state`. Polling: the database going
 * away or coming back is noticed inside the server, with no event a test can await.
 */
export async function storeBecomes(server: { adminUrl: string }, state: 'available' | 'unavailable', deadlineMs = 20_000): Promise<boolean> {
  return pollUntil(async () => (await health(server)).store === state, deadlineMs);
}

/**
 * Waits until `server` has every guid in `guids` in its memory. A host registered on one
 * server reaches the others through NOTIFY and a read: milliseconds, but with no event a test
 * can await. Until then a list computed there may differ (and is re-sent once the host
 * arrives), and a call or removal of it is refused as unknown. GET /api/hosts alone does not
 * tell: in cluster mode it reads PostgreSQL, which holds a host before any welcome. So: the
 * guids are in PostgreSQL, and the server's /healthz counts at least as many hosts as
 * PostgreSQL listed (hosts only come, never go, while a test waits with this).
 */
export async function knowsHosts(server: { adminUrl: string }, guids: readonly string[], deadlineMs = 10_000): Promise<boolean> {
  return pollUntil(async () => {
    const hosts = (await api(server, 'GET', '/api/hosts')).body as { guid: string }[];
    if (!guids.every((guid) => hosts.some((host) => host.guid === guid))) return false;
    return ((await health(server)).hosts ?? 0) >= hosts.length;
  }, deadlineMs);
}

/** The value of an unlabelled gauge in the server's /metrics. */
export async function gauge(server: { adminUrl: string }, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
