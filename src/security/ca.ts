/**
 * A small certificate authority for the agent channel, kept in one directory:
 *
 *   ca.crt, ca.key         the CA (created by initCa)
 *   NAME.crt, NAME.key     a server or agent certificate (issueCertificate)
 *
 * node-forge builds and signs the certificates (no shelling out to openssl); RSA keys come
 * from Node's own generator through forge. Keys are written mode 0600, certificates 0644,
 * each atomically; nothing existing is ever overwritten (a CA key replaced by accident would
 * orphan every certificate it signed).
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import forge from 'node-forge';
import { writeFileAtomic } from '../util/atomic-file';
import { sanForName, type SubjectAltName } from './san';
import { CA_CERT_FILE, CA_KEY_FILE, CaError, recordIssued } from './ca-dir';

export { CA_CERT_FILE, CA_KEY_FILE, CaError, type CaErrorCode } from './ca-dir';

export const DEFAULT_CA_DAYS = 3650;
/** The longest validity browsers accept for a leaf; a sane ceiling for ours too. */
export const DEFAULT_CERT_DAYS = 825;
const KEY_BITS = 2048;
const DAY_MS = 86_400_000;

/** File-system safe and usable as a certificate CN: a host name, an IP address or a guid. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function checkName(name: string): string | CaError {
  return NAME.test(name) && name !== CA_CERT_FILE.split('.')[0]
    ? name
    : new CaError('bad_name', `name ${JSON.stringify(name)} must be 1..128 of A-Z a-z 0-9 . _ : - starting with a letter or digit, and not "ca"`);
}

export interface IssuedFiles {
  certFile: string;
  keyFile: string;
}

export interface CaInitOptions {
  commonName?: string;
  days?: number;
  now?: Date;
}

/** Creates DIR (0700) if needed and a new CA in it; refuses when DIR already holds one. */
export async function initCa(dir: string, options: CaInitOptions = {}): Promise<IssuedFiles> {
  const files = { certFile: path.join(dir, CA_CERT_FILE), keyFile: path.join(dir, CA_KEY_FILE) };
  if ((await exists(files.certFile)) || (await exists(files.keyFile))) {
    throw new CaError('ca_exists', `${dir} already holds a CA (${CA_CERT_FILE}/${CA_KEY_FILE}); refusing to replace it`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = forge.pki.rsa.generateKeyPair({ bits: KEY_BITS, e: 0x10001 });
  const subject = [{ name: 'commonName', value: options.commonName ?? 'agentlb CA' }];
  const cert = newCertificate(keys.publicKey, subject, subject, options.days ?? DEFAULT_CA_DAYS, options.now);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  await writePair(files, cert, keys.privateKey);
  return files;
}

export interface IssueOptions {
  name: string;
  /** server: serverAuth, and the name itself as a SAN; agent: clientAuth. */
  role: 'server' | 'agent';
  sans?: readonly SubjectAltName[];
  days?: number;
  now?: Date;
}

/** Issues NAME.crt / NAME.key in DIR, signed by the CA there. */
export async function issueCertificate(dir: string, options: IssueOptions): Promise<IssuedFiles> {
  const name = checkName(options.name);
  if (name instanceof CaError) throw name;
  const files = { certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) };
  if ((await exists(files.certFile)) || (await exists(files.keyFile))) {
    throw new CaError('cert_exists', `${files.certFile} or ${files.keyFile} already exists; remove both to issue a new one`);
  }
  const ca = await loadCa(dir);
  const keys = forge.pki.rsa.generateKeyPair({ bits: KEY_BITS, e: 0x10001 });
  const cert = newCertificate(keys.publicKey, [{ name: 'commonName', value: name }], ca.cert.subject.attributes, options.days ?? DEFAULT_CERT_DAYS, options.now);
  const sans = options.role === 'server' ? [sanForName(name), ...(options.sans ?? [])] : [...(options.sans ?? [])];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: options.role === 'server', clientAuth: options.role === 'agent' },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
    ...(sans.length > 0 ? [{ name: 'subjectAltName', altNames: uniqueSans(sans).map(toForgeAltName) }] : []),
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  await writePair(files, cert, keys.privateKey);
  // In the CA's ledger, so `agentlb ca revoke --name` finds it.
  await recordIssued(dir, { serial: cert.serialNumber, name, notAfter: cert.validity.notAfter.toISOString() });
  return files;
}

interface LoadedCa {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

async function loadCa(dir: string): Promise<LoadedCa> {
  const certFile = path.join(dir, CA_CERT_FILE);
  const keyFile = path.join(dir, CA_KEY_FILE);
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'ca_missing' : 'ca_unreadable';
    const hint = code === 'ca_missing' ? ` (run \`agentlb ca init ${dir}\` first)` : '';
    throw new CaError(code, `cannot read the CA in ${dir}: ${(error as Error).message}${hint}`);
  }
  try {
    return { cert: forge.pki.certificateFromPem(certPem), key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey };
  } catch (error) {
    throw new CaError('ca_unreadable', `the CA in ${dir} is not a PEM certificate and RSA key: ${(error as Error).message}`);
  }
}

function newCertificate(
  publicKey: forge.pki.PublicKey,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  days: number,
  now = new Date(),
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // 16 random bytes with the top bit clear: a positive serial, unique without any state.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString('hex');
  // Back-dated a little, so a peer whose clock is slightly behind accepts it at once.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

function uniqueSans(sans: readonly SubjectAltName[]): SubjectAltName[] {
  const seen = new Set<string>();
  return sans.filter((san) => {
    const key = `${san.type}:${san.value.toLowerCase()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** forge's GeneralName: type 2 dNSName, 6 uniformResourceIdentifier, 7 iPAddress. */
function toForgeAltName(san: SubjectAltName): { type: number; value?: string; ip?: string } {
  switch (san.type) {
    case 'DNS':
      return { type: 2, value: san.value };
    case 'URI':
      return { type: 6, value: san.value };
    case 'IP':
      return { type: 7, ip: san.value };
  }
}

async function writePair(files: IssuedFiles, cert: forge.pki.Certificate, key: forge.pki.PrivateKey): Promise<void> {
  // The key first: a certificate is never on disk without the key that goes with it.
  await writeFileAtomic(files.keyFile, forge.pki.privateKeyToPem(key), { mode: 0o600 });
  await writeFileAtomic(files.certFile, forge.pki.certificateToPem(cert), { mode: 0o644 });
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
