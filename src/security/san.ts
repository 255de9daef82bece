/**
 * Subject alternative names as an operator writes them on the `agentlb ca issue` command line:
 * `DNS:name`, `IP:addr`, `URI:uri`, or a bare value (an IP address when it parses as one,
 * else a DNS name).
 */
import { isIP } from 'node:net';

export type SubjectAltName = { type: 'DNS'; value: string } | { type: 'IP'; value: string } | { type: 'URI'; value: string };

export class SanError extends Error {
  readonly code = 'bad_san';
  constructor(message: string) {
    super(message);
    this.name = 'SanError';
  }
}

/** Letters, digits, hyphens and dots, with an optional leading `*.` wildcard label. */
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** `scheme:rest` (RFC 3986 scheme), no whitespace. */
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

export function parseSan(text: string): SubjectAltName | SanError {
  const colon = text.indexOf(':');
  const prefix = colon < 0 ? '' : text.slice(0, colon).toUpperCase();
  if (prefix === 'DNS' || prefix === 'IP' || prefix === 'URI') return checkSan(prefix, text.slice(colon + 1));
  return checkSan(isIP(text) === 0 ? 'DNS' : 'IP', text);
}

function checkSan(type: SubjectAltName['type'], value: string): SubjectAltName | SanError {
  const quoted = JSON.stringify(value);
  switch (type) {
    case 'DNS':
      return DNS_NAME.test(value) && value.length <= 253 ? { type, value } : new SanError(`${quoted} is not a DNS name`);
    case 'IP':
      return isIP(value) === 0 ? new SanError(`${quoted} is not an IP address`) : { type, value };
    case 'URI':
      return URI.test(value) ? { type, value } : new SanError(`${quoted} is not a URI (scheme:rest)`);
  }
}

/** The SAN a server certificate named `name` carries for its own name. */
export function sanForName(name: string): SubjectAltName {
  return isIP(name) === 0 ? { type: 'DNS', value: name } : { type: 'IP', value: name };
}
