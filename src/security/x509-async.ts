/**
 * Certificate requests and certificates built with node-forge (ASN.1, PEM: the parts that are
 * cheap) and signed or verified with Node's crypto on the libuv thread pool (the RSA private
 * key operation: the part that is not). forge's own `sign()` runs RSA in JavaScript on the
 * event loop, ~10-20 ms a signature on this machine: a burst of enrolments would freeze the
 * server for seconds, and an agent's key generation would stall its pings. Here the event
 * loop only assembles DER around a signature computed elsewhere.
 */
import { generateKeyPair, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

const SHA256_WITH_RSA = forge.pki.oids['sha256WithRSAEncryption']!;
const KEY_BITS = 2048;

export interface KeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  publicKeyPem: string;
}

/** An RSA-2048 key pair, generated on the thread pool. */
export function generateRsaKey(): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      { modulusLength: KEY_BITS, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } },
      (error, publicKeyPem, privateKeyPem) => (error ? reject(error) : resolve({ publicKeyPem, privateKeyPem })),
    );
  });
}

function signAsync(data: Buffer, key: string | KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => sign('sha256', data, key, (error, signature) => (error ? reject(error) : resolve(signature))));
}

function verifyAsync(data: Buffer, key: string, signature: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => verify('sha256', data, key, signature, (error, ok) => (error ? reject(error) : resolve(ok))));
}

/** forge functions its type definitions leave out. */
const pki = forge.pki as typeof forge.pki & {
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
};

const der = (node: forge.asn1.Asn1): Buffer => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');

/** A PKCS#10 request, subject CN = `commonName`, signed with `key`; PEM. */
export async function createCsr(commonName: string, key: KeyPair): Promise<string> {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  const request = csr as forge.pki.CertificateSigningRequest & { signatureOid: string; siginfo: { algorithmOid: string }; certificationRequestInfo: forge.asn1.Asn1 };
  request.signatureOid = SHA256_WITH_RSA;
  request.siginfo.algorithmOid = SHA256_WITH_RSA;
  const info = pki.getCertificationRequestInfo(csr);
  const signature = await signAsync(der(info), key.privateKeyPem);
  request.certificationRequestInfo = info;
  request.signature = signature.toString('binary');
  return forge.pki.certificationRequestToPem(csr);
}

export class CsrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsrError';
  }
}

export interface CheckedCsr {
  commonName: string;
  publicKey: forge.pki.PublicKey;
}

/** Parses a PEM request and verifies its self-signature; throws CsrError saying why not. */
export async function checkCsr(pem: string): Promise<CheckedCsr> {
  let csr: forge.pki.CertificateSigningRequest & { certificationRequestInfo?: forge.asn1.Asn1 };
  try {
    csr = forge.pki.certificationRequestFromPem(pem) as typeof csr;
  } catch (error) {
    throw new CsrError(`hello.csr is not a PEM PKCS#10 request with an RSA key: ${(error as Error).message}`);
  }
  if (csr.signatureOid !== SHA256_WITH_RSA) throw new CsrError(`hello.csr must be signed with sha256WithRSAEncryption, got OID ${String(csr.signatureOid)}`);
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < KEY_BITS) throw new CsrError(`hello.csr holds a ${bits}-bit RSA key; at least ${KEY_BITS} bits are required`);
  const info = csr.certificationRequestInfo;
  if (info === undefined) throw new CsrError('hello.csr has no request info');
  const signature = Buffer.from(csr.signature as string, 'binary');
  const ok = await verifyAsync(der(info), forge.pki.publicKeyToPem(csr.publicKey!), signature).catch(() => false);
  if (!ok) throw new CsrError("hello.csr's signature does not verify with the key it carries");
  const cn = csr.subject.getField('CN') as { value?: unknown } | null;
  if (cn === null || typeof cn.value !== 'string') throw new CsrError('hello.csr names no subject CN');
  return { commonName: cn.value, publicKey: csr.publicKey! };
}

export interface SigningCa {
  cert: forge.pki.Certificate;
  /** The CA's private key as PEM (Node's crypto signs with it). */
  keyPem: string;
}

export interface SignedCertificate {
  pem: string;
  /** Lower-case hex, as Node's PeerCertificate.serialNumber gives it (upper-cased there). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** An agent (clientAuth) certificate for `commonName` and `publicKey`, signed by `ca`. */
export async function signAgentCertificate(ca: SigningCa, commonName: string, publicKey: forge.pki.PublicKey, lifetimeMs: number, now = new Date()): Promise<SignedCertificate> {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // positive
  if (serial[0] === 0) serial[0] = 1; // and no leading zero byte, so hex round-trips exactly
  cert.serialNumber = serial.toString('hex');
  // Back-dated a little (5 minutes, or a tenth of a short lifetime), so a peer whose clock is
  // slightly behind accepts it at once.
  cert.validity.notBefore = new Date(now.getTime() - Math.min(5 * 60_000, lifetimeMs / 10));
  cert.validity.notAfter = new Date(now.getTime() + lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  const signed = cert as forge.pki.Certificate & { signatureOid: string; tbsCertificate: forge.asn1.Asn1 };
  signed.signatureOid = SHA256_WITH_RSA;
  cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  const tbs = pki.getTBSCertificate(cert);
  const signature = await signAsync(der(tbs), ca.keyPem);
  signed.tbsCertificate = tbs;
  cert.signature = signature.toString('binary');
  return { pem: forge.pki.certificateToPem(cert), serial: cert.serialNumber, notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter };
}
