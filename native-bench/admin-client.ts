/**
 * The few admin-API calls the bench makes: change settings (propagate), read /metrics (heap,
 * event-loop delay), both over real HTTP to the server under test.
 */
import { AdminClient } from '../src/cli/admin-client';
import type { Settings } from '../src/settings/types';

export interface AdminTarget {
  host: string;
  port: number;
  token: string;
}

/** The CLI's client (typed errors, IPv6 brackets, timeout), with the bench's known token. */
function client(admin: AdminTarget): AdminClient {
  return new AdminClient(baseUrl(admin), 30_000, () => Promise.resolve(admin.token));
}

const baseUrl = (admin: AdminTarget): string => `http://${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;

export async function putSettings(admin: AdminTarget, patch: Partial<Settings>): Promise<Settings> {
  return (await client(admin).request('PUT', '/api/settings', patch)) as Settings;
}

/** GET /metrics, or undefined when the server has no metrics endpoint. */
export async function getMetrics(admin: AdminTarget): Promise<string | undefined> {
  const res = await fetch(`${baseUrl(admin)}/metrics`, { headers: { authorization: `Bearer ${admin.token}` } });
  const body = await res.text();
  return res.status === 200 ? body : undefined;
}

/**
 * The value of the first sample of `name` (exact metric name, optional label filter) in a
 * Prometheus text exposition, or undefined.
 */
export function metricValue(text: string | undefined, name: string, labels: Record<string, string> = {}): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(match[3]);
  }
  return undefined;
}

/** Any GET of the admin API, parsed JSON. */
export async function getJson(admin: AdminTarget, path: string): Promise<unknown> {
  return client(admin).request('GET', path);
}
