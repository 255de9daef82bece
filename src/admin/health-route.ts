/** GET /healthz: 200 while serving, 503 once shutting down (so a balancer stops sending). */
import { json, type Route } from './http';

export interface Health {
  status: 'ok' | 'shutting_down';
  agents: number;
  hosts: number;
  settingsVersion: number;
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
