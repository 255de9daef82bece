/**
 * Limits on registering NEW hosts (audit: registration had no cap, and 10 000 fake hellos from
 * one source registered at 3 300/s, each a durable host id for ever): at most `maxHosts` hosts
 * in the registry, and at most `ratePerSecond` new guids per source address (a token bucket,
 * ten seconds' worth as its burst; IPv6 per /64; loopback exempt unless `limitLoopback`, as
 * for the connection rate). Known guids reconnect without being counted. A refused hello gets
 * `error server_busy` and moves on to its next server.
 */
import type { LimitName } from './admission';
import { ConnectionRateLimiter } from './rate-limit';

/** Above the 100 000 hosts agentlb is built and measured for; an operator sets their own. */
export const DEFAULT_MAX_HOSTS = 200_000;
/** Per source: a host added by hand registers once; ten a second is a whole rack at once. */
export const DEFAULT_NEW_HOST_RATE = 10;

export interface RegistrationLimitOptions {
  /** Hosts the registry may hold; 0 = no limit. */
  maxHosts: number;
  /** New guids per second per source; 0 = no limit. */
  newHostRate: number;
  limitLoopback: boolean;
  now?: () => number;
}

/** A registration refused by a limit (the connection reports `limit` and sends `message`). */
export class RegistrationRefused extends Error {
  constructor(
    readonly limit: Extract<LimitName, 'max_hosts' | 'new_host_rate'>,
    message: string,
  ) {
    super(message);
    this.name = 'RegistrationRefused';
  }
}

export class RegistrationLimits {
  private readonly rate: ConnectionRateLimiter;
  /** Registrations admitted and not yet settled: counted against maxHosts so a burst cannot overshoot it. */
  private pending = 0;

  constructor(
    private readonly options: RegistrationLimitOptions,
    private readonly hostCount: () => number,
  ) {
    this.rate = new ConnectionRateLimiter({
      ratePerSecond: options.newHostRate,
      burst: Math.max(1, options.newHostRate * 10),
      limitLoopback: options.limitLoopback,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
  }

  /**
   * Registers a new guid through `register` unless a limit refuses it (then rejects with
   * RegistrationRefused, without calling it).
   */
  async admit<T>(address: string | undefined, register: () => Promise<T>): Promise<T> {
    const { maxHosts, newHostRate } = this.options;
    if (maxHosts > 0 && this.hostCount() + this.pending >= maxHosts) {
      throw new RegistrationRefused('max_hosts', `this server's registry holds its maximum of ${maxHosts} hosts; no new host can register`);
    }
    if (!this.rate.take(address)) {
      throw new RegistrationRefused('new_host_rate', `too many new hosts from ${address ?? 'this address'} (limit ${newHostRate} per second)`);
    }
    this.pending++;
    try {
      return await register();
    } finally {
      this.pending--;
    }
  }
}
