/**
 * Whether an agent's hello may enrol: the shared token (when the server requires one) and,
 * over TLS with a client certificate, the guid bound to that certificate. Returns the reason
 * for `error unauthorized`, or undefined to admit.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { secretsEqual } from './secrets';
import { LIMITS } from '../protocol/limits';
import type { Hello } from '../protocol/messages';
import { certificateNames, presentedCertificate, untrustedCertificate } from './identity';

export type AgentAuthorizer = (hello: Hello, socket: Socket) => string | undefined;

export interface AgentAuthOptions {
  /** When set, hello.token must equal it (compared in constant time). */
  token: string | undefined;
}

export function agentAuthorizer(options: AgentAuthOptions): AgentAuthorizer {
  return (hello, socket) => refuseToken(options.token, hello.token) ?? refuseIdentity(hello.guid, socket);
}

/** Why a hello's enrolment token is refused; undefined when none is required or it matches. */
export function refuseToken(required: string | undefined, presented: string | undefined): string | undefined {
  if (required === undefined) return undefined;
  if (presented === undefined) return 'this server requires an enrolment token';
  return secretsEqual(presented, required) ? undefined : 'wrong enrolment token';
}

/**
 * Over TLS, a client certificate that was presented must be trusted and must name the guid.
 * No certificate at all only gets this far when the server does not require one.
 */
export function refuseIdentity(guid: string, socket: Socket): string | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = presentedCertificate(socket);
  if (cert === undefined) return undefined;
  const untrusted = untrustedCertificate(socket);
  if (untrusted !== undefined) return untrusted;
  const names = certificateNames(cert);
  if (names.includes(guid)) return undefined;
  const shown = names.slice(0, 4).map(quoteShort);
  return clampText(`guid ${quoteShort(guid)} is not a name of the client certificate (${shown.join(', ') || 'it names none'})`);
}

function quoteShort(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

/** error.message holds at most LIMITS.textBytes UTF-8 bytes (protocol.md section 8). */
function clampText(text: string): string {
  let out = text;
  while (Buffer.byteLength(out, 'utf8') > LIMITS.textBytes) out = out.slice(0, -16);
  return out;
}
