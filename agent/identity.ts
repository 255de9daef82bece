/**
 * The agent's own certificate: enrolment and renewal (protocol.md 1.1). With `tls.ca`, the
 * enrolment token and no certificate yet, the agent makes its key here (it never leaves the
 * host), sends a certificate request in hello.csr and saves what the server signs: the key
 * (mode 0600) first, then the certificate, each atomically, so a certificate is never on disk
 * without its key. At two thirds of the certificate's lifetime it asks for a new one the same
 * way, presenting the current one. Key generation and signing run on Node's thread pool
 * (src/security/x509-async.ts): the agent's pings go on meanwhile.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { writeFileAtomic, readFileIfExists } from '../src/util/atomic-file';
import { createCsr, generateRsaKey, type KeyPair } from '../src/security/x509-async';

export interface IdentityFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

interface Held {
  cert: string;
  key: string;
  notBefore: number;
  notAfter: number;
}

export class AgentIdentity {
  private held: Held | undefined;
  private request: { key: KeyPair; csr: string } | undefined;

  private constructor(
    private readonly files: IdentityFiles,
    private readonly ca: Buffer,
    readonly guid: string,
  ) {}

  /** Reads the CA, and the certificate and key when both exist. */
  static async load(files: IdentityFiles, guid: string): Promise<AgentIdentity> {
    const [ca, cert, key] = await Promise.all([readFile(files.caFile), readFileIfExists(files.certFile), readFileIfExists(files.keyFile)]);
    const identity = new AgentIdentity(files, ca, guid);
    if (cert !== undefined && key !== undefined) identity.hold(cert.toString('utf8'), key.toString('utf8'));
    return identity;
  }

  /** Whether the agent holds a certificate (else it must enrol). */
  get enrolled(): boolean {
    return this.held !== undefined;
  }

  /** tls.connect options: the CA, and the certificate and key once held. */
  tlsOptions(): ConnectionOptions {
    return { ca: this.ca, rejectUnauthorized: true, ...(this.held === undefined ? {} : { cert: this.held.cert, key: this.held.key }) };
  }

  /** Epoch ms at which to renew: two thirds into the certificate's lifetime; undefined without one. */
  get renewAt(): number | undefined {
    return this.held && this.held.notBefore + ((this.held.notAfter - this.held.notBefore) * 2) / 3;
  }

  get notAfter(): number | undefined {
    return this.held?.notAfter;
  }

  /** The request to send in hello.csr, made (new key, on the thread pool) on first ask after each accept. */
  async csr(): Promise<string> {
    if (this.request === undefined) {
      const key = await generateRsaKey();
      this.request = { key, csr: await createCsr(this.guid, key) };
    }
    return this.request.csr;
  }

  /** The request already made, if any (for a hello built synchronously). */
  get pendingCsr(): string | undefined {
    return this.request?.csr;
  }

  /**
   * Saves the certificate the server signed for the pending request, with its key, and holds
   * them from now on. Rejects (keeping what was held) when it is not for that key.
   */
  async accept(certPem: string): Promise<void> {
    const request = this.request;
    if (request === undefined) throw new Error('a certificate arrived, but no request was sent');
    const cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(request.key.privateKeyPem))) throw new Error('the certificate received is not for the key this agent made');
    if (cert.subject !== `CN=${this.guid}`) throw new Error(`the certificate received names ${cert.subject}, not CN=${this.guid}`);
    await writeFileAtomic(this.files.keyFile, request.key.privateKeyPem, { mode: 0o600 });
    await writeFileAtomic(this.files.certFile, certPem, { mode: 0o644 });
    this.hold(certPem, request.key.privateKeyPem);
    this.request = undefined;
  }

  private hold(cert: string, key: string): void {
    const parsed = new X509Certificate(cert);
    this.held = { cert, key, notBefore: Date.parse(parsed.validFrom), notAfter: Date.parse(parsed.validTo) };
  }
}
