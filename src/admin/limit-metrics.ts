/**
 * Prometheus counters for the protective limits and TLS refusals, on the registry passed in
 * (registered by src/admin/metrics.ts with the server's other metrics).
 */
import type { Registry } from 'prom-client';
import { EventCounter } from './event-counter';
import type { LimitName } from '../security/admission';
import type { ServerEvents } from '../server/events';

/** Every limit, exported at 0 from the start (typed: a limit added to LimitName must be added here). */
const LIMIT_NAMES = [
  'max_connections', 'max_handshakes', 'source_handshakes', 'connection_rate', 'max_hosts', 'new_host_rate', 'max_frame', 'handshake_timeout', 'write_buffer',
] as const satisfies readonly LimitName[];
const LIMITS_COMPLETE: [Exclude<LimitName, (typeof LIMIT_NAMES)[number]>] extends [never] ? true : never = true;
void LIMITS_COMPLETE;
/** The TLS refusals agentlb names itself; OpenSSL's own codes appear as they happen. */
const KNOWN_TLS_CODES = ['client_certificate', 'agent_refused_certificate', 'tls_error'];

/** Registers the counters and feeds them from `events`; returns the unsubscribe function. */
export function registerLimitMetrics(registry: Registry, events: ServerEvents): () => void {
  const limits = new EventCounter(
    registry,
    'agentlb_limit_hits_total',
    'Connections refused or dropped by a protective limit: max_connections, max_handshakes, source_handshakes, connection_rate ' +
      '(refused at accept), max_hosts, new_host_rate (refused at registration), max_frame, handshake_timeout, write_buffer (dropped).',
    'limit',
    LIMIT_NAMES,
  );
  const tls = new EventCounter(
    registry,
    'agentlb_tls_failures_total',
    'Agent connections refused during or right after the TLS handshake, by code (client_certificate: refused for its certificate; agent_refused_certificate: the agent refused the server certificate).',
    'code',
    KNOWN_TLS_CODES,
  );
  const off = [events.on('limitReached', (e) => limits.inc(e.limit)), events.on('tlsFailed', (e) => tls.inc(e.code))];
  return () => {
    for (const unsubscribe of off) unsubscribe();
  };
}
