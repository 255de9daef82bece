/**
 * Loopback source addresses and free ports.
 *
 * Linux routes all of 127.0.0.0/8 to lo, so a client can bind 127.0.0.2, 127.0.0.3, ... before
 * connecting: each source address has its own ephemeral port range towards one server port,
 * which is what lets a run open more connections than one range (~28 000 here) holds.
 */
import net from 'node:net';

/** `count` addresses 127.0.0.1 .. 127.0.0.<count>; at most 254. */
export function loopbackSources(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 254) {
    throw new RangeError(`loopback source count must be 1..254, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

/** A port that was free a moment ago (listen on 0, read it, close): for servers we restart. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
