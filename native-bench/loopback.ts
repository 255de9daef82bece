/**
 * Loopback source addresses and free ports.
 *
 * Linux routes all of 127.0.0.0/8 to lo, so a client can bind 127.0.0.2, 127.0.0.3, ... before
 * connecting: each source address has its own ephemeral port range towards one server port,
 * which is what lets a run open more connections than one range (~28 000 here) holds.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** `count` addresses 127.0.0.1 .. 127.0.0.<count>; at most 254. */
export function loopbackSources(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 254) {
    throw new RangeError(`loopback source count must be 1..254, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

/** The kernel's ephemeral range (outgoing connections draw their source ports from it). */
export function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! };
  } catch {
    // not Linux: assume its default
  }
  return { low: 32_768, high: 60_999 };
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port }, () => probe.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago, for a server the bench restarts on the same port. It is
 * drawn from BELOW the ephemeral range: a port from that range could be taken, while the
 * server is down, as the source port of one of the swarm's thousands of outgoing connections.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = 10_000;
  const high = Math.max(low + 1_000, ephemeralRange().low - 1);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(host, port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high} on ${host}`);
}
