/**
 * The few admin-API calls the bench makes: change settings (propagate), read /metrics (heap,
 * event-loop delay), both over real HTTP to the server under test.
 */
import type { Settings } from '../src/store/types';

export interface AdminTarget {
  host: string;
  port: number;
  token: string;
}

export class AdminCallError extends Error {
  readonly code = 'admin_call_failed';
  constructor(message: string) {
    super(message);
    this.name = 'AdminCallError';
  }
}

const url = (admin: AdminTarget, path: string): string => `http://${admin.host}:${admin.port}${path}`;

export async function putSettings(admin: AdminTarget, patch: Partial<Settings>): Promise<Settings> {
  const res = await fetch(url(admin, '/api/settings'), {
    method: 'PUT',
    headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
  const body = await res.text();
  if (res.status !== 200) throw new AdminCallError(`PUT /api/settings answered ${res.status}: ${body}`);
  return JSON.parse(body) as Settings;
}

/** GET /metrics, or undefined when the server has no metrics endpoint. */
export async function getMetrics(admin: AdminTarget): Promise<string | undefined> {
  const res = await fetch(url(admin, '/metrics'), { headers: { authorization: `Bearer ${admin.token}` } });
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
