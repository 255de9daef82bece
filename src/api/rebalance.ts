/**
 * The rebalance's admin API values (README "Rebalance"), shared by the server
 * (src/server/rebalance/controller.ts, src/admin/rebalance-routes.ts) and the CLI.
 */

/** Highest `rate` a rebalance accepts, agents per second (as a drain's). */
export const MAX_REBALANCE_RATE = 100_000;

/** GET /api/rebalance. */
export interface RebalanceStatus {
  active: boolean;
  source: 'manual' | 'auto' | null;
  toMove: number;
  moved: number;
  notMoved: number;
  startedAt: string | null;
  endedAt: string | null;
  endReason: 'done' | 'stopped' | 'settled' | null;
  rate: number | null;
  zone: string | null;
  scope: 'server' | 'cluster';
  /** This server's part: agents still to tell, and told but not settled yet. */
  pending: number;
}
