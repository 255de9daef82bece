/**
 * GET /healthz: 200 while serving, 503 once shutting down (so a balancer stops sending).
 * In cluster mode it also says whether the database is reachable; a server without it still
 * serves its agents, so that alone does not make it unhealthy (see server/cluster/health.ts).
 */
import type { SecurityPosture } from '../server/posture';
import { json, type Route } from './http';

export interface Health extends SecurityPosture {
  status: 'ok' | 'shutting_down';
  /** agentlb's version (package.json). */
  version: string;
  agents: number;
  hosts: number;
  settingsVersion: number;
  /** Cluster mode; with the embedded store only while its writes fail (`degraded`: a full disk). */
  store?: 'available' | 'unavailable' | 'degraded';
  storeSince?: string;
  storeError?: string;
}

export function healthRoute(health: () => Health): Route {
  return {
    method: 'GET',
    path: '/healthz',
    handle() {
      const current = health();
      return json(current.status === 'ok' ? 200 : 503, current);
    },
  };
}
