/**
 * The `agentlb server` flags for TLS and the admission limits: their parseArgs spec, their
 * help text and their parsing, kept together so the server command only spreads them in.
 */
import { parseInteger, UsageError } from './args';
import { DEFAULT_ADMISSION_LIMITS as D } from '../app/options';
import { DEFAULT_MAX_HOSTS, DEFAULT_NEW_HOST_RATE } from '../security/registration-limits';
import type { ServerTlsFiles } from '../security/tls-files';
import { CA_CERT_FILE } from '../security/ca';
import { CRL_FILE } from '../security/ca-dir';
import { DEFAULT_ENROL_CERT_DAYS } from '../security/enroller';
import path from 'node:path';

export const SECURITY_FLAGS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-crl': { type: 'string' },
  'require-client-cert': { type: 'boolean' },
  'max-handshakes': { type: 'string' },
  'max-handshakes-per-source': { type: 'string' },
  'max-connection-rate': { type: 'string' },
  'connection-burst': { type: 'string' },
  'rate-limit-loopback': { type: 'boolean' },
  'max-hosts': { type: 'string' },
  'new-host-rate': { type: 'string' },
  'ca-dir': { type: 'string' },
  'cert-days': { type: 'string' },
} as const;

export const SECURITY_USAGE = `  --tls-cert FILE             speak TLS to agents with this PEM certificate (with --tls-key)
  --tls-key FILE              the certificate's PEM private key
  --tls-ca FILE               request client certificates signed by this PEM CA: a presented
                              certificate must chain to it and name the agent's guid (CN or a
                              DNS/URI SAN), else \`error unauthorized\`
  --tls-crl FILE              refuse client certificates this PEM CRL lists (signed by the
                              --tls-ca CA; \`agentlb ca revoke\` writes one): \`error unauthorized\`
                              "certificate revoked" (default with --ca-dir: DIR/ca.crl once it exists)
  --require-client-cert       refuse agents without such a certificate (needs --tls-ca)
  --ca-dir DIR                enrol agents: sign the certificate request an agent sends with
                              the enrolment token (hello.csr) with the CA in DIR (from
                              \`agentlb ca init\`), and renew certificates presented with one;
                              needs --tls-cert/--tls-key; --tls-ca defaults to DIR/ca.crt
  --cert-days N               lifetime of the certificates --ca-dir signs (default ${DEFAULT_ENROL_CERT_DAYS})
  --max-handshakes N          connections still handshaking (TLS, hello, registration) beyond
                              which new ones get \`error server_busy\` (default ${D.maxHandshakes}; 0 = no limit)
  --max-handshakes-per-source N
                              handshakes in progress from one source address (IPv6: per /64)
                              beyond which its new ones get \`error server_busy\` (default
                              ${D.maxHandshakesPerSource}; 0 = no limit; loopback exempt unless --rate-limit-loopback)
  --max-connection-rate N     new connections per second per source address (IPv6: per /64)
                              beyond which they get \`error server_busy\` (default ${D.maxConnectionRate}; 0 = off)
  --connection-burst N        connections a quiet source may open at once (default ${D.connectionBurst})
  --rate-limit-loopback       apply --max-connection-rate, --max-handshakes-per-source and
                              --new-host-rate to loopback sources too (exempt by default: a
                              local proxy would put the whole fleet in one bucket)
  --max-hosts N               hosts the registry may hold: a new guid beyond it gets
                              \`error server_busy\` (default ${DEFAULT_MAX_HOSTS}; 0 = no limit)
  --new-host-rate N           new guids per second per source address (burst: 10 s worth)
                              beyond which they get \`error server_busy\` (default ${DEFAULT_NEW_HOST_RATE};
                              0 = off; loopback exempt unless --rate-limit-loopback)
`;

export interface SecurityFlagValues {
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-ca'?: string | undefined;
  'tls-crl'?: string | undefined;
  'require-client-cert'?: boolean | undefined;
  'max-handshakes'?: string | undefined;
  'max-handshakes-per-source'?: string | undefined;
  'max-connection-rate'?: string | undefined;
  'connection-burst'?: string | undefined;
  'rate-limit-loopback'?: boolean | undefined;
  'max-hosts'?: string | undefined;
  'new-host-rate'?: string | undefined;
  'ca-dir'?: string | undefined;
  'cert-days'?: string | undefined;
}

export interface SecurityOptions {
  tlsFiles: ServerTlsFiles | undefined;
  maxHandshakes: number | undefined;
  maxHandshakesPerSource: number | undefined;
  maxConnectionRate: number | undefined;
  connectionBurst: number | undefined;
  rateLimitLoopback: boolean | undefined;
  maxHosts: number | undefined;
  newHostRate: number | undefined;
  /** Enrol agents with the CA in this directory. */
  caDir: string | undefined;
  certDays: number | undefined;
}

/** Checks the flags' values and combinations; throws UsageError naming the flag. */
export function parseSecurityFlags(values: SecurityFlagValues): SecurityOptions {
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  const caDir = values['ca-dir'];
  const requireClientCert = values['require-client-cert'] === true;
  for (const [flag, value] of [['--tls-cert', cert], ['--tls-key', key], ['--tls-ca', values['tls-ca']], ['--tls-crl', values['tls-crl']], ['--ca-dir', caDir]] as const) {
    if (value === '') throw new UsageError(`${flag} must not be empty`);
  }
  if (caDir !== undefined && cert === undefined) throw new UsageError('--ca-dir needs --tls-cert and --tls-key (enrolment runs over TLS)');
  if (values['cert-days'] !== undefined && caDir === undefined) throw new UsageError('--cert-days needs --ca-dir');
  // An enrolling server requests client certificates from its own CA unless told otherwise.
  const ca = values['tls-ca'] ?? (caDir === undefined ? undefined : path.join(caDir, CA_CERT_FILE));
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (cert === undefined && (ca !== undefined || requireClientCert)) {
    throw new UsageError(`${ca !== undefined ? '--tls-ca' : '--require-client-cert'} needs --tls-cert and --tls-key`);
  }
  if (values['tls-crl'] !== undefined && ca === undefined) throw new UsageError('--tls-crl needs --tls-ca (the CA that signed the list)');
  // The CA directory's list, once `agentlb ca revoke` wrote one (missing until then: no revocations).
  const crl = values['tls-crl'] !== undefined ? { crlFile: values['tls-crl'] } : caDir === undefined ? {} : { crlFile: path.join(caDir, CRL_FILE), crlOptional: true };
  if (requireClientCert && ca === undefined) throw new UsageError('--require-client-cert needs --tls-ca (the CA that issues agent certificates)');
  const integer = (flag: keyof SecurityFlagValues, min: number, max: number): number | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? parseInteger(`--${flag}`, value, min, max) : undefined;
  };
  return {
    tlsFiles: cert === undefined || key === undefined ? undefined : { certFile: cert, keyFile: key, caFile: ca, requireClientCert, ...crl },
    maxHandshakes: integer('max-handshakes', 0, 10_000_000),
    maxHandshakesPerSource: integer('max-handshakes-per-source', 0, 10_000_000),
    maxConnectionRate: integer('max-connection-rate', 0, 1_000_000),
    connectionBurst: integer('connection-burst', 1, 1_000_000),
    rateLimitLoopback: values['rate-limit-loopback'],
    maxHosts: integer('max-hosts', 0, 100_000_000),
    newHostRate: integer('new-host-rate', 0, 1_000_000),
    caDir,
    certDays: integer('cert-days', 1, 3650),
  };
}
