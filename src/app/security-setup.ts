/**
 * The server's security material, wired: the certificate book (trust on first enrolment),
 * the revocation list, the enroller (--ca-dir), the agent authorizer, the TLS material the
 * listener uses, the tokens; and what changes them while agents stay connected:
 *
 * - a revocation (a new CRL at reload, or, in cluster mode, one the store announces) refuses
 *   the certificate from then on and drops every agent connected with it (`error
 *   unauthorized`, "certificate revoked": protocol.md 1.1);
 * - in cluster mode (a store that is a CertificateRegistry: PostgreSQL) the certificate book,
 *   the issued certificates and the revocations live in the store, shared by every server;
 * - a reload (SIGHUP) reads the TLS files, the CA directory and the tokens again. Each part
 *   that cannot be read or does not fit (a key of another certificate, bad PEM, a CRL of
 *   another CA) keeps what is in use and is logged as a warning saying why; the rest applies.
 *   New handshakes see the new certificate (tls.Server.setSecureContext); connected agents
 *   keep their sessions.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { registerCertificateMetrics, type CertificateMetrics, type ReloadOutcome } from '../admin/certificate-metrics';
import { readTokenFile, AdminTokenError } from '../api/token';
import type { Logger } from '../log';
import { agentAuthorizer, type AgentAuthorizer } from '../security/agent-auth';
import { recordIssued } from '../security/ca-dir';
import { FileCertificateBook, type CertificateBook } from '../security/certificate-book';
import { Enroller, loadSigningCa } from '../security/enroller';
import { certificateSerial } from '../security/identity';
import { RevocationList } from '../security/revocations';
import { StoreCertificateBook } from '../security/store-certificate-book';
import { StoreRevocations } from '../security/store-revocations';
import type { CertificateRegistry, Store } from '../store/types';
import { normalSerial } from '../security/crl';
import { loadServerTls, type ListenerTls, type ServerTlsFiles } from '../security/tls-files';
import { CERTIFICATE_REVOKED } from '../security/tls-terminator';

/** What a reload reads again: as the command line, environment and config file now say. */
export interface ReloadInput {
  /** The TLS files (undefined: the server was started without TLS, or it is turned off: kept). */
  tlsFiles: ServerTlsFiles | undefined;
  agentToken: string | undefined;
  /** An explicit admin token; undefined: DATA_DIR/admin.token, read again. */
  adminToken: string | undefined;
}

/** The part of the listener that reload and revocation use. */
export interface TlsListener {
  setTls(tls: ListenerTls): void;
  failWhere(match: (socket: Socket) => boolean, code: 'unauthorized', message: string): number;
}

export interface SecuritySetupOptions {
  tls: ListenerTls | undefined;
  /** The files `tls` was read from (a reload without new ones reads these again). */
  tlsFiles: ServerTlsFiles | undefined;
  caDir: string | undefined;
  dataDir: string;
  agentToken: string | undefined;
  adminToken: string;
  /** Whether the admin token came from DATA_DIR/admin.token (re-read at reload when no explicit one is given). */
  adminTokenFromFile: boolean;
  certLifetimeMs: number;
  logger: Logger;
  metricsRegistry: Registry | undefined;
  /** Cluster mode: the store that shares the book, the issued certificates and the revocations. */
  shared: (Store & CertificateRegistry) | undefined;
}

export class SecuritySetup {
  readonly revocations = new RevocationList();
  readonly book: CertificateBook | undefined;
  readonly enroller: Enroller | undefined;
  readonly authorize: AgentAuthorizer;
  private tls: ListenerTls | undefined;
  private agentTokenValue: string | undefined;
  private adminTokenValue: string;
  private listener: TlsListener | undefined;
  private readonly metrics: CertificateMetrics | undefined;
  private reloading: Promise<ReloadOutcome> = Promise.resolve('ok');
  private storeRevocations: StoreRevocations | undefined;
  /** This server's registry address (known once it listens): who issued, in the store's ledger. */
  private serverName = '';
  /** notAfter of the server certificate in use, unix seconds: parsed when it changes, not per scrape. */
  private expiry: number | undefined;

  private constructor(
    private readonly options: SecuritySetupOptions,
    book: CertificateBook | undefined,
    enroller: (setup: SecuritySetup) => Enroller | undefined,
  ) {
    this.book = book;
    this.agentTokenValue = options.agentToken;
    this.adminTokenValue = options.adminToken;
    this.tls = options.tls && { ...options.tls, isRevoked: (serial) => this.revocations.has(serial) };
    this.revocations.replaceFile(options.tls?.crl);
    this.expiry = options.tls === undefined ? undefined : certificateExpiry(options.tls.cert);
    this.authorize = agentAuthorizer({ token: () => this.agentTokenValue, book, isRevoked: (serial) => this.revocations.has(serial) });
    this.metrics =
      options.metricsRegistry &&
      registerCertificateMetrics(options.metricsRegistry, {
        revocations: () => this.revocations.size,
        serverCertificateExpiry: () => this.expiry,
      });
    this.enroller = enroller(this);
  }

  /** Throws with a message for the operator when the book or the CA cannot be opened. */
  static async open(options: SecuritySetupOptions): Promise<SecuritySetup> {
    // Client certificates are requested: remember which guids hold one (roll-out hijack).
    const { logger, caDir, shared } = options;
    const storeError = (error: unknown): void => logger.warn({ err: (error as Error).message }, 'certificates: store error');
    const book =
      options.tls?.ca === undefined
        ? undefined
        : shared !== undefined
          ? await StoreCertificateBook.open(shared, storeError)
          : await FileCertificateBook.open(options.dataDir);
    const ca = options.caDir === undefined || book === undefined ? undefined : await loadSigningCa(options.caDir);
    const setup = new SecuritySetup(options, book, (self) =>
      ca === undefined || book === undefined || caDir === undefined
        ? undefined
        : new Enroller(ca, {
            book,
            certLifetimeMs: options.certLifetimeMs,
            tokenRequired: () => self.agentTokenValue !== undefined,
            isRevoked: (serial) => self.revocations.has(serial),
            // The CA directory's ledger (`ca revoke DIR --name` reads it), and the store's in
            // cluster mode (`ca revoke --store` finds what any server issued).
            recordIssued: async (entry) => {
              await recordIssued(caDir, entry);
              await shared?.recordIssued({ ...entry, serial: normalSerial(entry.serial) ?? entry.serial }, self.serverName);
            },
            issued: (guid, certificate, renewal) => {
              self.metrics?.issued(renewal);
              logger.info(
                { event: 'certificate_issued', guid, serial: certificate.serial, notAfter: certificate.notAfter.toISOString(), renewal },
                renewal ? `certificate renewed for ${guid}` : `agent ${guid} enrolled`,
              );
            },
          }),
    );
    // Client certificates are checked: revocations made anywhere in the cluster apply here.
    if (shared !== undefined && options.tls?.ca !== undefined) {
      setup.storeRevocations = await StoreRevocations.open(shared, setup.revocations, (serials) => setup.revoked(serials, 'store'), storeError);
    }
    return setup;
  }

  /** The TLS material for the listener (isRevoked bound to this server's revocations). */
  get listenerTls(): ListenerTls | undefined {
    return this.tls;
  }

  get agentToken(): string | undefined {
    return this.agentTokenValue;
  }

  get adminToken(): string {
    return this.adminTokenValue;
  }

  /**
   * Once the listener exists: a reload or a revocation the store announces drops revoked
   * agents from it. `serverName` (its registry address) is recorded with what it issues.
   */
  attach(listener: TlsListener, serverName: string): void {
    this.listener = listener;
    this.serverName = serverName;
  }

  async close(): Promise<void> {
    this.storeRevocations?.close();
    await this.book?.close();
  }

  /** Reads everything again (one reload at a time); `read` says what the options now are. */
  reload(read: () => Promise<ReloadInput>): Promise<ReloadOutcome> {
    this.reloading = this.reloading.then(() => this.reloadNow(read));
    return this.reloading;
  }

  private async reloadNow(read: () => Promise<ReloadInput>): Promise<ReloadOutcome> {
    const { logger } = this.options;
    const kept: string[] = [];
    const keep = (part: string, why: string): void => {
      kept.push(part);
      logger.warn({ event: 'reload_failed', part, reason: why }, `reload: keeping the ${part} in use: ${why}`);
    };
    let input: ReloadInput;
    try {
      input = await read();
    } catch (error) {
      keep('configuration', (error as Error).message);
      return this.reloaded(kept, []);
    }
    const changed: string[] = [];
    await this.reloadTls(input.tlsFiles, keep, changed);
    await this.reloadCa(keep);
    if (input.agentToken !== this.agentTokenValue) changed.push('agent token');
    this.agentTokenValue = input.agentToken;
    await this.reloadAdminToken(input.adminToken, keep, changed);
    return this.reloaded(kept, changed);
  }

  private async reloadTls(files: ServerTlsFiles | undefined, keep: (part: string, why: string) => void, changed: string[]): Promise<void> {
    if (this.tls === undefined) {
      if (files !== undefined) keep('plain TCP agent listener', 'TLS cannot be turned on without a restart');
      return;
    }
    const wanted = files ?? this.options.tlsFiles;
    if (files === undefined) keep('TLS certificate, key, CA and CRL', 'TLS cannot be turned off without a restart');
    if (wanted === undefined) return;
    let next: ListenerTls;
    try {
      next = await loadServerTls(wanted);
    } catch (error) {
      keep('TLS certificate, key, CA and CRL', (error as Error).message);
      return;
    }
    if ((next.ca === undefined) !== (this.tls.ca === undefined)) {
      keep('TLS certificate, key, CA and CRL', `client certificates cannot be ${next.ca === undefined ? 'turned off (no CA given)' : 'turned on (a CA given)'} without a restart`);
      return;
    }
    const material: ListenerTls = { ...next, isRevoked: (serial) => this.revocations.has(serial) };
    try {
      this.listener?.setTls(material);
    } catch (error) {
      keep('TLS certificate, key, CA and CRL', (error as Error).message);
      return;
    }
    if (!next.cert.equals(this.tls.cert)) changed.push('TLS certificate');
    if (next.ca !== undefined && this.tls.ca !== undefined && !next.ca.equals(this.tls.ca)) changed.push('client CA');
    this.tls = material;
    const before = this.revocations.size;
    this.expiry = certificateExpiry(next.cert);
    this.revoked(this.revocations.replaceFile(next.crl), 'crl');
    if (this.revocations.size !== before) changed.push('CRL');
  }

  private async reloadCa(keep: (part: string, why: string) => void): Promise<void> {
    if (this.enroller === undefined || this.options.caDir === undefined) return;
    try {
      this.enroller.setCa(await loadSigningCa(this.options.caDir));
    } catch (error) {
      keep(`signing CA (${this.options.caDir})`, (error as Error).message);
    }
  }

  private async reloadAdminToken(explicit: string | undefined, keep: (part: string, why: string) => void, changed: string[]): Promise<void> {
    let token: string | undefined = explicit;
    if (token === undefined) {
      if (!this.options.adminTokenFromFile) {
        keep('admin token', 'it was given explicitly at start and no longer is; the token file is not read without a restart');
        return;
      }
      const read = await readTokenFile(this.options.dataDir).catch((error: Error) => new AdminTokenError(error.message));
      if (read instanceof AdminTokenError || read === undefined) {
        keep('admin token', read === undefined ? `${this.options.dataDir}/admin.token no longer exists` : read.message);
        return;
      }
      token = read;
    }
    if (token !== this.adminTokenValue) changed.push('admin token');
    this.adminTokenValue = token;
  }

  private reloaded(kept: string[], changed: string[]): ReloadOutcome {
    const outcome: ReloadOutcome = kept.length === 0 ? 'ok' : 'failed';
    this.metrics?.reloaded(outcome);
    const expiry = this.expiry;
    this.options.logger.info(
      { event: 'reloaded', outcome, changed, kept, ...(expiry === undefined ? {} : { certificateNotAfter: new Date(expiry * 1000).toISOString() }) },
      kept.length === 0 ? `reloaded (${changed.length === 0 ? 'nothing changed' : `changed: ${changed.join(', ')}`})` : `reloaded in part: kept ${kept.join(', ')}`,
    );
    return outcome;
  }

  /** Drops every agent connected with a certificate among `serials` (newly revoked by the CRL or the store). */
  private revoked(serials: string[], source: 'crl' | 'store'): void {
    if (serials.length === 0) return;
    const set = new Set(serials);
    const dropped = this.listener?.failWhere((socket) => set.has(certificateSerial(socket) ?? ''), 'unauthorized', CERTIFICATE_REVOKED) ?? 0;
    this.options.logger.warn(
      { event: 'certificates_revoked', source, serials: serials.slice(0, 20), count: serials.length, dropped },
      `${serials.length} certificate(s) revoked (${source === 'crl' ? 'revocation list' : 'cluster store'}); ${dropped} agent(s) connected with them dropped`,
    );
  }
}

/** notAfter of a PEM certificate in unix seconds; undefined when it cannot be read. */
function certificateExpiry(pem: Buffer): number | undefined {
  try {
    return Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000);
  } catch {
    return undefined;
  }
}
