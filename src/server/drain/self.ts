/**
 * Which entry of the `host` setting is this server: what `drain` with no address drains, and
 * how a server recognises its own address in the fleet's drains. `--advertise` says it
 * outright; otherwise the entry that names this listener (its address, or for a wildcard
 * listener one of the machine's addresses or its host name, with the listen port), when
 * exactly one does.
 */
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { HostListError, parseHostEntry } from '../../protocol/host-list';

const WILDCARDS = new Set(['0.0.0.0', '::']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/** Names this machine answers to, lower-cased: interface addresses and the host name. */
export function localNames(): Set<string> {
  const names = new Set<string>([os.hostname().toLowerCase(), ...LOOPBACK_NAMES]);
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) names.add(address.address.toLowerCase());
  }
  return names;
}

function namesListener(host: string, listenAddress: string, local: () => Set<string>): boolean {
  const name = host.toLowerCase();
  if (WILDCARDS.has(listenAddress)) return local().has(name);
  if (name === listenAddress.toLowerCase()) return true;
  return LOOPBACK_NAMES.has(name) && LOOPBACK_NAMES.has(listenAddress);
}

/** This server's entry of `hostEntries`, or undefined when none or several match. */
export function selfAddress(
  advertise: string | undefined,
  listen: AddressInfo,
  hostEntries: readonly string[],
  local: () => Set<string> = localNames,
): string | undefined {
  if (advertise !== undefined) return advertise;
  let names: Set<string> | undefined;
  const cachedLocal = (): Set<string> => (names ??= local());
  const matches = hostEntries.filter((entry) => {
    const parsed = parseHostEntry(entry);
    return !(parsed instanceof HostListError) && parsed.port === listen.port && namesListener(parsed.host, listen.address, cachedLocal);
  });
  return matches.length === 1 ? matches[0] : undefined;
}
