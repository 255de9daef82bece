/**
 * A socket address as operators write it (`host` setting, logs, welcome.server): the one
 * formatter the listener, the connections and the server registry share.
 */

/** `addr:port`, with IPv6 in brackets, as operators write it. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}
