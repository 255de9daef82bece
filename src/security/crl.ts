/**
 * Certificate revocation lists (RFC 5280 section 5), version 2, as PEM: built and signed for
 * `agentlb ca revoke`, parsed and verified by the server. node-forge reads and writes ASN.1 but
 * has no CRL type, so the few structures a CRL holds are assembled here with forge.asn1; the
 * signature is Node's crypto (sha256WithRSAEncryption, as the CA signs certificates).
 *
 * Serials are compared in one form everywhere (normalSerial): lower-case hex without leading
 * zeros, as a certificate's INTEGER reads once its sign byte is dropped.
 */
import { createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

const { asn1 } = forge;
const SHA256_WITH_RSA = forge.pki.oids['sha256WithRSAEncryption']!;
const OID_CRL_NUMBER = '2.5.29.20';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const PEM_TYPE = 'X509 CRL';
/** RFC 5280 wants nextUpdate; agentlb's servers do not expire revocations by it. */
const NEXT_UPDATE_MS = 365 * 86_400_000;

export class CrlError extends Error {
  readonly code = 'bad_crl';
  constructor(message: string) {
    super(message);
    this.name = 'CrlError';
  }
}

export interface RevokedEntry {
  /** normalSerial form. */
  serial: string;
  revokedAt: Date;
}

export interface Crl {
  /** Revoked certificates, in the order the list holds them. */
  entries: RevokedEntry[];
  /** The cRLNumber extension (0 when absent). */
  number: bigint;
  thisUpdate: Date;
}

/** Lower-case hex, no leading zeros ("0" for zero); undefined when `text` is not hex. */
export function normalSerial(text: string): string | undefined {
  const hex = text.trim().replace(/^0x/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,128}$/.test(hex)) return undefined;
  return hex.replace(/^0+(?=.)/, '');
}

/** A CRL listing `entries`, signed by the CA (its certificate and PKCS#8/PKCS#1 PEM key). */
export async function buildCrl(ca: { certPem: string; keyPem: string }, entries: readonly RevokedEntry[], number: bigint, now = new Date()): Promise<string> {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const algorithm = (): forge.asn1.Asn1 =>
    seq([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(SHA256_WITH_RSA).getBytes()), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
  const extensions = seq([
    extension(OID_AUTHORITY_KEY_ID, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, caCert.generateSubjectKeyIdentifier().getBytes())])),
    extension(OID_CRL_NUMBER, integer(number.toString(16))),
  ]);
  const tbs = seq([
    integer('1'), // v2
    algorithm(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(now),
    time(new Date(now.getTime() + NEXT_UPDATE_MS)),
    ...(entries.length === 0 ? [] : [seq(entries.map((entry) => seq([integer(entry.serial), time(entry.revokedAt)])))]),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [extensions]),
  ]);
  const tbsDer = toDer(tbs);
  const signature = await new Promise<Buffer>((resolve, reject) => sign('sha256', tbsDer, ca.keyPem, (error, value) => (error ? reject(error) : resolve(value))));
  const list = seq([tbs, algorithm(), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`)]);
  return forge.pem.encode({ type: PEM_TYPE, body: asn1.toDer(list).getBytes() }, { maxline: 64 });
}

/**
 * Parses a PEM CRL and verifies its signature with one of the CA certificates in `caPem` (a
 * bundle); throws CrlError saying what is wrong.
 */
export function parseCrl(pem: string, caPem: string | Buffer): Crl {
  let list: forge.asn1.Asn1;
  try {
    const blocks = forge.pem.decode(pem).filter((block) => block.type === PEM_TYPE);
    if (blocks.length !== 1) throw new Error(`expected one "-----BEGIN ${PEM_TYPE}-----" block, found ${blocks.length}`);
    list = asn1.fromDer(blocks[0]!.body);
  } catch (error) {
    throw new CrlError(`not a PEM CRL: ${(error as Error).message}`);
  }
  const [tbs, , bits] = children(list, 3, 'CertificateList');
  const signature = Buffer.from(String(bits!.value), 'binary').subarray(1);
  const tbsDer = toDer(tbs!);
  const cas = caCertificates(caPem);
  if (!cas.some((ca) => verifies(tbsDer, ca, signature))) throw new CrlError('its signature does not verify with the CA certificate (signed by another CA, or altered)');
  const fields = children(tbs!, 4, 'TBSCertList');
  let at = fields[0]!.type === asn1.Type.INTEGER && fields[0]!.tagClass === asn1.Class.UNIVERSAL ? 1 : 0;
  at += 2; // signature algorithm, issuer
  const thisUpdate = readTime(fields[at++]);
  if (isTime(fields[at])) at++; // nextUpdate
  const entries: RevokedEntry[] = [];
  const revoked = fields[at];
  if (revoked !== undefined && revoked.tagClass === asn1.Class.UNIVERSAL && revoked.type === asn1.Type.SEQUENCE) {
    for (const entry of children(revoked, 0, 'revokedCertificates')) {
      const [serial, date] = children(entry, 2, 'a revoked certificate');
      entries.push({ serial: readSerial(serial!), revokedAt: readTime(date) });
    }
    at++;
  }
  let number = 0n;
  const extensions = fields[at];
  if (extensions !== undefined && extensions.tagClass === asn1.Class.CONTEXT_SPECIFIC) {
    for (const ext of children(children(extensions, 1, 'crlExtensions')[0]!, 0, 'crlExtensions')) {
      const parts = children(ext, 2, 'an extension');
      if (asn1.derToOid(String(parts[0]!.value)) !== OID_CRL_NUMBER) continue;
      const value = asn1.fromDer(String(parts[parts.length - 1]!.value));
      number = BigInt(`0x${readSerial(value)}`);
    }
  }
  return { entries, number, thisUpdate };
}

function caCertificates(caPem: string | Buffer): X509Certificate[] {
  const text = caPem.toString();
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      // not a certificate: it cannot have signed the list
    }
  }
  return certs;
}

function verifies(data: Buffer, ca: X509Certificate, signature: Buffer): boolean {
  try {
    return verify('sha256', data, createPublicKey(ca.publicKey.export({ type: 'spki', format: 'pem' })), signature);
  } catch {
    return false;
  }
}

function seq(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

/** A DER INTEGER from a non-negative hex number (a sign byte added when its top bit is set). */
function integer(hex: string): forge.asn1.Asn1 {
  let even = hex.length % 2 === 0 ? hex : `0${hex}`;
  if (parseInt(even.slice(0, 2), 16) >= 0x80) even = `00${even}`;
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, Buffer.from(even, 'hex').toString('binary'));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): forge.asn1.Asn1 {
  const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
  if (seconds.getUTCFullYear() < 2050) return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(seconds));
  const text = seconds.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, text);
}

function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return seq([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

function toDer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function children(node: forge.asn1.Asn1, atLeast: number, what: string): forge.asn1.Asn1[] {
  if (!Array.isArray(node.value) || node.value.length < atLeast) throw new CrlError(`not a CRL: ${what} is not a sequence of at least ${atLeast}`);
  return node.value;
}

function isTime(node: forge.asn1.Asn1 | undefined): boolean {
  return node !== undefined && node.tagClass === asn1.Class.UNIVERSAL && (node.type === asn1.Type.UTCTIME || node.type === asn1.Type.GENERALIZEDTIME);
}

function readTime(node: forge.asn1.Asn1 | undefined): Date {
  if (node === undefined || !isTime(node)) throw new CrlError('not a CRL: a date is missing');
  const text = String(node.value);
  return node.type === asn1.Type.UTCTIME ? asn1.utcTimeToDate(text) : asn1.generalizedTimeToDate(text);
}

function readSerial(node: forge.asn1.Asn1): string {
  if (node.type !== asn1.Type.INTEGER || typeof node.value !== 'string') throw new CrlError('not a CRL: a serial number is not an INTEGER');
  const serial = normalSerial(Buffer.from(node.value, 'binary').toString('hex'));
  if (serial === undefined) throw new CrlError('not a CRL: an empty serial number');
  return serial;
}
