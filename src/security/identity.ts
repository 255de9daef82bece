/**
 * The names a verified client certificate vouches for: its subject CN(s) and its DNS and URI
 * subject alternative names. An agent's hello.guid must be one of them, so an agent holding a
 * valid certificate still cannot take another host's id.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { normalSerial } from './crl';

/** The client certificate the peer presented, or undefined (Node gives an empty object). */
export function presentedCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const cert = socket.getPeerCertificate();
  return cert !== null && Object.keys(cert).length > 0 ? cert : undefined;
}

/**
 * The serial (crl.ts normalSerial form) of the certificate a TLS peer presented, or undefined.
 * Remembered per socket (a WeakMap, gone with the socket): a revocation asks every connection
 * once, and Node builds a new certificate object at each getPeerCertificate.
 */
const serials = new WeakMap<Socket, string | null>();

export function certificateSerial(socket: Socket): string | undefined {
  // A plain TCP socket has no certificate: asked at every hello, it is not worth a WeakMap
  // entry (~1 us per handshake, profiled).
  if (!(socket instanceof TLSSocket)) return undefined;
  let serial = serials.get(socket);
  if (serial === undefined) {
    const cert = presentedCertificate(socket);
    serial = (cert === undefined ? undefined : normalSerial(cert.serialNumber)) ?? null;
    // Only once the handshake is over: before, the peer has shown nothing yet.
    if (socket.encrypted) serials.set(socket, serial);
  }
  return serial ?? undefined;
}

/** Why a presented certificate is refused for its chain, or undefined when it chains to the CA. */
export function untrustedCertificate(socket: TLSSocket): string | undefined {
  return socket.authorized ? undefined : `client certificate not trusted (${String(socket.authorizationError)})`;
}

/** CN and DNS/URI SAN values of `cert` (empty for an empty object: no certificate). */
export function certificateNames(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>): string[] {
  const names: string[] = [];
  // Node gives a repeated attribute as an array.
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.['CN'];
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  for (const { type, value } of parseSubjectAltName(cert.subjectaltname ?? '')) {
    if (type === 'DNS' || type === 'URI') names.push(value);
  }
  return names;
}

export interface AltName {
  type: string;
  value: string;
}

/**
 * Node's `subjectaltname` string: `TYPE:value` entries joined by ", ". A value that holds a
 * comma, quote or other special character is written as a JSON string literal (Node >= 17.3.1,
 * CVE-2021-44532), so a crafted SAN cannot smuggle in a second entry.
 */
export function parseSubjectAltName(text: string): AltName[] {
  const names: AltName[] = [];
  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon < 0) break;
    const type = text.slice(pos, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = closingQuote(text, colon + 2);
      if (end < 0) break; // malformed: trust nothing after it
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        break;
      }
      end += 1;
    } else {
      const comma = text.indexOf(', ', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    pos = text.startsWith(', ', end) ? end + 2 : text.length;
  }
  return names;
}

/** Index of the quote ending a JSON string whose body starts at `from`; -1 if none. */
function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}
