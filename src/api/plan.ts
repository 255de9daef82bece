/**
 * The what-if planner's answer (GET /api/plan) as both ends see it: src/planner/ computes it,
 * the CLI's `agentlb plan` prints it.
 */
import type { WorstFailure } from '../lb/plan-stats';

export interface ServerLoad {
  server: string;
  firstChoice: number;
  /** Hosts on it once the failed servers are gone (0 for a failed one). */
  afterFailure: number;
  failed: boolean;
}

export interface ZonePlan {
  zone: string;
  hosts: number;
  /** Agents whose first server the proposal would change. */
  firstServerChanges: number;
  /** Hosts left with no surviving server. */
  unserved: number;
  servers: ServerLoad[];
  /** The single failure that loads a survivor most (null with fewer than two servers). */
  worstSingleFailure: WorstFailure | null;
}

export interface PlanReport {
  algorithm: string;
  host: string;
  fail: string[];
  current: { algorithm: string; host: string };
  /** Servers draining or down now: every list sent puts them last. */
  avoided: string[];
  hosts: number;
  firstServerChanges: number;
  unserved: number;
  /** Sums over the zones. */
  servers: ServerLoad[];
  zones: ZonePlan[];
}
