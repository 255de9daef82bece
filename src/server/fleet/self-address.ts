/**
 * This server's own address in the `host` setting: what the default `host` is, and whether a
 * configured `host` names this server at all.
 *
 * The default used to be `127.0.0.1:8250` whatever the server listened on: an agent reaching
 * a server on another port, or from another machine, was told to use a dead address (its own
 * loopback) and, after the next restart, retried it for ever. Now a server nobody configured
 * hands out its own advertised address, and a server whose `host` does not name it says so
 * (`self_not_in_host`): the agents it serves will move elsewhere, which is wanted only while
 * moving agents to other servers.
 */
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { hostEntryKey, HostListError, parseHostEntry, parseHostList } from '../../protocol/host-list';
import { SETTING_HOST, type Settings } from '../../settings/types';
import { formatAddress } from '../../util/address';

/** A port no entry can have, to tell "no port written" from any real one. */
const NO_PORT = -1;

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * The `host` entry this server gives as its own: `--advertise`, else the listen address and
 * port, with the machine's host name for a wildcard listen address (the registry's name too).
 */
export function ownHostEntry(advertise: string | undefined, listen: AddressInfo, hostname = os.hostname()): string {
  if (advertise !== undefined) {
    // An advertised name without a port means this listener's port, not the agents' 8250.
    const parsed = parseHostEntry(advertise, NO_PORT);
    if (!(parsed instanceof HostListError)) return parsed.port === NO_PORT ? formatAddress(parsed.host, listen.port) : advertise.trim();
  }
  // As the server registry names this server (cluster.ts registryAddress).
  return formatAddress(isWildcard(listen.address) ? hostname : listen.address, listen.port);
}

/**
 * Every entry key (hostEntryKey) by which an agent reaches this server: the advertised entry,
 * the listen address, and for a wildcard listener the host name and every local interface
 * address, all on the listen port. No DNS lookups: names other than these are not recognised.
 */
export function ownEntryKeys(advertise: string | undefined, listen: AddressInfo, interfaces = os.networkInterfaces(), hostname = os.hostname()): Set<string> {
  const keys = new Set<string>();
  const add = (entry: string): void => {
    const parsed = parseHostEntry(entry, listen.port);
    if (!(parsed instanceof HostListError)) keys.add(hostEntryKey(parsed));
  };
  add(ownHostEntry(advertise, listen, hostname));
  const hosts = isWildcard(listen.address)
    ? [hostname, ...Object.values(interfaces).flatMap((list) => (list ?? []).map((i) => i.address))]
    : [listen.address];
  for (const host of hosts) keys.add(hostEntryKey({ host, port: listen.port }));
  return keys;
}

/** The warning for a `host` setting that names none of `ownKeys`; undefined when it names this server. */
export function selfNotInHostWarning(settings: Settings, ownKeys: ReadonlySet<string>, ownEntry: string): string | undefined {
  const entries = parseHostList(settings[SETTING_HOST]);
  if (entries instanceof HostListError) return undefined;
  const namesSelf = entries.some((entry) => {
    const parsed = parseHostEntry(entry);
    return !(parsed instanceof HostListError) && ownKeys.has(hostEntryKey(parsed));
  });
  if (namesSelf) return undefined;
  return (
    `host "${settings[SETTING_HOST]}" does not name this server (${ownEntry}): every agent it serves is sent ` +
    'a list without it and moves to those servers. Intended only while moving agents to other servers; ' +
    `otherwise add ${ownEntry} to host`
  );
}
