/**
 * The host-list codec: `M1,M2,M3@roundrobin` as the agent persists it in agent.properties, and
 * the bare comma list of the server's `host` setting. Bad lists are refused when they are set,
 * each error naming the part that is wrong (CloudStack let an empty or unknown value through and
 * then failed every agent connection).
 *
 * Entries are kept exactly as written (trimmed); lowercasing, the canonical IPv6 form and
 * default ports are applied only to compare entries (hostEntryKey).
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { ALGORITHM_NAMES, AlgorithmName } from './algorithms';
import { DEFAULT_AGENT_PORT, LIMITS } from './limits';

export class HostListError extends Error {
  readonly code = 'bad_host_list' as const;

  constructor(message: string) {
    super(message);
    this.name = 'HostListError';
  }
}

export interface HostEntry {
  /** Host name or address; an IPv6 address without its brackets. */
  host: string;
  port: number;
}

export interface HostSetting {
  hosts: string[];
  /** The algorithm after `@`, or undefined for a bare list. */
  algorithm: AlgorithmName | undefined;
}

const HOSTNAME = /^[A-Za-z0-9._-]+$/;
const WHITESPACE_OR_CONTROL = /[\s\x00-\x1f\x7f]/;
const PORT = /^[0-9]{1,5}$/;
/** A host made of digits and dots only is meant as an IPv4 address (no top-level domain is numeric). */
const NUMERIC_HOST = /^[0-9.]+$/;
/** `@NAME@` as left by an install template that was never filled in. */
const PLACEHOLDER = /@[^@,\s]*@/;

function q(text: string): string {
  return JSON.stringify(text);
}

function parsePort(entry: string, text: string): number | HostListError {
  const port = PORT.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    return new HostListError(`entry ${q(entry)} has a bad port ${q(text)} (expected 1..65535)`);
  }
  // Some parsers read `08250` as octal, others as 8250: the same server under two spellings.
  if (text.startsWith('0')) return new HostListError(`entry ${q(entry)} has a port with a leading zero ${q(text)} (write ${q(String(port))})`);
  return port;
}

/** `addr`, `addr:port` or `[ipv6]` / `[ipv6]:port`; spaces around the entry are ignored. */
export function parseHostEntry(entry: string, defaultPort: number = DEFAULT_AGENT_PORT): HostEntry | HostListError {
  const text = entry.trim();
  if (text === '') return new HostListError('empty entry');
  if (Buffer.byteLength(text, 'utf8') > LIMITS.hostEntryBytes) {
    return new HostListError(`entry ${q(text)} is longer than ${LIMITS.hostEntryBytes} bytes`);
  }
  if (PLACEHOLDER.test(text)) return new HostListError(`entry ${q(text)} is an unfilled placeholder`);
  if (text.includes('@')) return new HostListError(`entry ${q(text)} contains "@"`);
  if (WHITESPACE_OR_CONTROL.test(text)) {
    return new HostListError(`entry ${q(text)} contains whitespace or a control character`);
  }
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text);
  if (scheme) return new HostListError(`entry ${q(text)} is a URL: write host:port, without ${q(scheme[0])}`);
  if (text.startsWith('[')) return parseBracketed(text, defaultPort);
  const colons = text.split(':').length - 1;
  if (colons > 1) {
    return new HostListError(`entry ${q(text)} looks like a bare IPv6 address: write it as [addr]:port`);
  }
  const [host = '', portText] = text.split(':');
  if (host === '') return new HostListError(`entry ${q(text)} has no host`);
  if (!HOSTNAME.test(host)) return new HostListError(`entry ${q(text)} has a bad host ${q(host)}`);
  if (NUMERIC_HOST.test(host) && !isIPv4(host)) {
    // 127.000.000.001 is 127.0.0.1 to one resolver, an octal 127.0.0.1 to another and a
    // name to a third: the same server could be listed twice under two spellings.
    return new HostListError(`entry ${q(text)} has ${q(host)}, not an IPv4 address in dotted decimal without leading zeros`);
  }
  const port = portText === undefined ? defaultPort : parsePort(text, portText);
  return port instanceof HostListError ? port : { host, port };
}

function parseBracketed(text: string, defaultPort: number): HostEntry | HostListError {
  const close = text.indexOf(']');
  const host = close < 0 ? '' : text.slice(1, close);
  if (!isIPv6(host)) {
    return new HostListError(`entry ${q(text)}: brackets must hold an IPv6 address, as in [addr]:port`);
  }
  const rest = text.slice(close + 1);
  if (rest === '') return { host, port: defaultPort };
  if (!rest.startsWith(':')) return new HostListError(`entry ${q(text)} has ${q(rest)} after "]"`);
  const port = parsePort(text, rest.slice(1));
  return port instanceof HostListError ? port : { host, port };
}

/**
 * What makes two entries the same server: the host lower-cased (an IPv6 address in its
 * canonical form, so `[::1]` and `[0:0::1]` match) and the effective port.
 */
export function hostEntryKey(entry: HostEntry): string {
  return `${canonicalHost(entry.host)}:${entry.port}`;
}

function canonicalHost(host: string): string {
  if (!host.includes(':')) return host.toLowerCase();
  // SocketAddress drops a zone id (`%eth0`), which names a different link: keep it apart.
  const zoneAt = host.indexOf('%');
  const address = zoneAt < 0 ? host : host.slice(0, zoneAt);
  const zone = zoneAt < 0 ? '' : host.slice(zoneAt);
  return new SocketAddress({ address, family: 'ipv6' }).address + zone;
}

/**
 * A list given entry by entry (a `hosts` message, the agent's pool). Each entry is checked on
 * its own, so a comma inside one is refused instead of silently making two servers.
 */
export function parseHostEntries(entries: readonly string[], defaultPort: number = DEFAULT_AGENT_PORT): HostEntry[] | HostListError {
  return checkEntries(entries, defaultPort, undefined);
}

/** The bare comma list of the server's `host` setting (no `@algorithm`). */
export function parseHostList(text: string, defaultPort: number = DEFAULT_AGENT_PORT): string[] | HostListError {
  if (text.trim() === '') return new HostListError('empty host list');
  const entries = text.split(',').map((e) => e.trim());
  const checked = checkEntries(entries, defaultPort, text);
  return checked instanceof HostListError ? checked : entries;
}

/** `source`: the comma list the entries were split from, named when one of them is empty. */
function checkEntries(entries: readonly string[], defaultPort: number, source: string | undefined): HostEntry[] | HostListError {
  if (entries.length === 0) return new HostListError('empty host list');
  if (entries.length > LIMITS.hostsPerList) {
    return new HostListError(`${entries.length} entries, at most ${LIMITS.hostsPerList} allowed`);
  }
  // hostEntryKey -> the entry that first used it
  const seen = new Map<string, string>();
  const parsed: HostEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as string;
    if (source !== undefined && entry === '') return new HostListError(`empty entry #${i + 1} in ${q(source)}`);
    const host = parseHostEntry(entry, defaultPort);
    if (host instanceof HostListError) return host;
    const key = hostEntryKey(host);
    const first = seen.get(key);
    if (first !== undefined) return new HostListError(`duplicate entry ${q(entry)} (same as ${q(first)})`);
    seen.set(key, entry);
    parsed.push(host);
  }
  return parsed;
}

/** An algorithm name as written after `@` (or sent in `hosts`), or the error listing the known ones. */
export function parseAlgorithmName(name: string): AlgorithmName | HostListError {
  if ((ALGORITHM_NAMES as readonly string[]).includes(name)) return name as AlgorithmName;
  return new HostListError(`unknown algorithm ${q(name)} (expected one of ${ALGORITHM_NAMES.join(', ')})`);
}

/** `M1,M2,M3@algorithm` or a bare list, as in agent.properties' `host` key. */
export function parseHostSetting(text: string, defaultPort: number = DEFAULT_AGENT_PORT): HostSetting | HostListError {
  const placeholder = PLACEHOLDER.exec(text);
  if (placeholder) return new HostListError(`unfilled placeholder ${q(placeholder[0])} in ${q(text.trim())}`);
  const at = text.lastIndexOf('@');
  const hosts = parseHostList(at < 0 ? text : text.slice(0, at), defaultPort);
  if (hosts instanceof HostListError) return hosts;
  if (at < 0) return { hosts, algorithm: undefined };
  const algorithm = text.slice(at + 1).trim();
  if (algorithm === '') return new HostListError(`missing algorithm after "@" in ${q(text.trim())}`);
  const name = parseAlgorithmName(algorithm);
  return name instanceof HostListError ? name : { hosts, algorithm: name };
}

/** The inverse of parseHostSetting for lists it accepts. */
export function formatHostSetting(hosts: readonly string[], algorithm?: string): string {
  const list = hosts.join(',');
  return algorithm ? `${list}@${algorithm}` : list;
}
