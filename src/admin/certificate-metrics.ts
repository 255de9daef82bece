/**
 * Prometheus series for certificates and reloads (README "Security"), on the registry passed
 * in, every one present from the start: certificates signed, revocations known, the server
 * certificate's expiry, and reloads (SIGHUP) by outcome. The composition root counts through
 * the functions returned; the two gauges are read from the server when scraped.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export const RELOAD_OUTCOMES = ['ok', 'failed'] as const;
export type ReloadOutcome = (typeof RELOAD_OUTCOMES)[number];

export interface CertificateMetricsSources {
  /** Distinct revoked serials this server refuses. */
  revocations(): number;
  /** The agent listener's certificate's notAfter in unix seconds; undefined without TLS (then 0). */
  serverCertificateExpiry(): number | undefined;
}

export interface CertificateMetrics {
  issued(renewal: boolean): void;
  reloaded(outcome: ReloadOutcome): void;
}

export function registerCertificateMetrics(registry: Registry, sources: CertificateMetricsSources): CertificateMetrics {
  const registers = [registry];
  const issued = new Counter({
    name: 'agentlb_certificates_issued_total',
    help: 'Agent certificates this server signed (--ca-dir), by kind: enrolment or renewal.',
    labelNames: ['kind'] as const,
    registers,
  });
  issued.inc({ kind: 'enrolment' }, 0);
  issued.inc({ kind: 'renewal' }, 0);
  new Gauge({
    name: 'agentlb_certificate_revocations',
    help: 'Revoked certificate serials this server refuses (its CRL file, and in cluster mode the store).',
    registers,
    collect() {
      this.set(sources.revocations());
    },
  });
  new Gauge({
    name: 'agentlb_server_certificate_expiry_seconds',
    help: "The agent listener's TLS certificate's end of validity, in unix seconds (0 without TLS).",
    registers,
    collect() {
      this.set(sources.serverCertificateExpiry() ?? 0);
    },
  });
  const reloads = new Counter({
    name: 'agentlb_reloads_total',
    help: 'Reloads (SIGHUP) of the TLS certificate, key, CA, CRL and tokens, by outcome (failed: something was kept, the log says why).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of RELOAD_OUTCOMES) reloads.inc({ outcome }, 0);
  return {
    issued: (renewal) => issued.inc({ kind: renewal ? 'renewal' : 'enrolment' }),
    reloaded: (outcome) => reloads.inc({ outcome }),
  };
}
