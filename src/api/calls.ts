/**
 * The admin API's calls as both ends see them (POST /api/hosts/ID/call, POST /api/calls): the
 * server builds these lines, the CLI and the library read them.
 */
import type { CallError, CallValue } from '../protocol/messages';

/** How one host's call ended (the `status` of a line). */
export const CALL_STATUSES = ['ok', 'error', 'timeout', 'not_connected', 'unsupported', 'disconnected', 'server_lost'] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];

/** One host's call: the single call's 200 answer, and each fan-out line. */
export interface CallLine {
  hostId: number;
  guid: string;
  /** The server holding the agent's connection, when known. */
  server: string | null;
  status: CallStatus;
  ok: boolean;
  value?: CallValue;
  error?: CallError;
  /** Milliseconds from asking to this line. */
  ms: number;
}

/** The last line of a fan-out. */
export type CallSummary = { done: true; total: number; ms: number } & Record<CallStatus, number>;

/** Seconds a call may take when the request names no `timeout`. */
export const DEFAULT_CALL_TIMEOUT_S = 30;
export const MAX_CALL_TIMEOUT_S = 3_600;
/** Hosts called at once by a fan-out when the request names no `concurrency`. */
export const DEFAULT_FANOUT_CONCURRENCY = 1_000;
export const MAX_FANOUT_CONCURRENCY = 20_000;
