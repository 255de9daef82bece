/**
 * Which accepted sockets the agent listener keeps, decided before a byte is read from them:
 * at most `maxConnections` open, at most `maxHandshakes` still handshaking (TLS handshake or
 * waiting for the hello/registration), at most `maxHandshakesPerSource` of those from one
 * source (so two sources that open connections and never say hello cannot hold every slot
 * and lock out a real agent from a third), and no more than the per-source connection rate.
 *
 * Each admitted socket gets a ticket; the listener calls `handshakeDone` when its handshake
 * ended (either way) and `closed` when the socket closed. Both are idempotent, so a socket that
 * closes mid-handshake is counted out exactly once.
 */
import { defaultMaxConnections } from './fd-limit';
import { ConnectionRateLimiter, sourceKey } from './rate-limit';

export interface AdmissionLimits {
  /** Open agent connections (handshaking or not); 0 = no limit. */
  maxConnections: number;
  /** Connections accepted whose handshake has not ended yet; 0 = no limit. */
  maxHandshakes: number;
  /**
   * Handshakes in progress from one source (IPv6: one /64); 0 = no limit. Loopback is exempt
   * unless rateLimitLoopback, as for the rate.
   */
  maxHandshakesPerSource: number;
  /** New connections per second per source address; 0 = no limit. */
  maxConnectionRate: number;
  /** Connections a quiet source may open at once. */
  connectionBurst: number;
  /** Apply the rate limit and the per-source handshake cap to loopback sources too. */
  rateLimitLoopback: boolean;
}

/** The defaults besides the agent limit, which depends on the process (defaultAdmissionLimits). */
export const DEFAULT_ADMISSION_LIMITS: Readonly<Omit<AdmissionLimits, 'maxConnections'>> = Object.freeze({
  maxHandshakes: 1_000,
  maxHandshakesPerSource: 100,
  maxConnectionRate: 50,
  connectionBurst: 200,
  rateLimitLoopback: false,
});

/**
 * Every default. A function, not a constant: the agent limit comes from the open-file limit
 * (/proc/self/limits), read when a server starts or help is printed, never at import.
 */
export function defaultAdmissionLimits(): AdmissionLimits {
  return { maxConnections: defaultMaxConnections(), ...DEFAULT_ADMISSION_LIMITS };
}

/** The limits that can refuse or drop a connection, as metrics and logs name them. */
export type LimitName =
  | 'max_connections'
  | 'max_handshakes'
  | 'source_handshakes'
  | 'connection_rate'
  | 'max_hosts'
  | 'new_host_rate'
  | 'max_frame' | 'handshake_timeout' | 'write_buffer';

export interface Refusal {
  limit: LimitName;
  /** Sent to the peer in `error server_busy` when it can be told, and logged. */
  message: string;
}

export interface AdmissionTicket {
  handshakeDone(): void;
  closed(): void;
}

export class Admission {
  private readonly counts: AdmissionCounts = { open: 0, handshaking: 0, bySource: new Map() };
  private readonly rate: ConnectionRateLimiter;

  constructor(
    private readonly limits: AdmissionLimits,
    now?: () => number,
  ) {
    this.rate = new ConnectionRateLimiter({
      ratePerSecond: limits.maxConnectionRate,
      burst: Math.max(1, limits.connectionBurst),
      limitLoopback: limits.rateLimitLoopback,
      ...(now === undefined ? {} : { now }),
    });
  }

  get openConnections(): number {
    return this.counts.open;
  }

  get handshakesInProgress(): number {
    return this.counts.handshaking;
  }

  /** Sources with a handshake in progress that the per-source cap counts (for tests). */
  get sourcesHandshaking(): number {
    return this.counts.bySource.size;
  }

  /** A ticket for the socket, or why it is refused. `address` is the peer's IP address. */
  admit(address: string | undefined): AdmissionTicket | Refusal {
    const { maxConnections, maxHandshakes, maxHandshakesPerSource, maxConnectionRate } = this.limits;
    if (maxConnections > 0 && this.counts.open >= maxConnections) {
      return { limit: 'max_connections', message: `this server holds its maximum of ${maxConnections} agents` };
    }
    if (maxHandshakes > 0 && this.counts.handshaking >= maxHandshakes) {
      return { limit: 'max_handshakes', message: `this server has its maximum of ${maxHandshakes} handshakes in progress` };
    }
    // Keyed once for both the per-source cap and the rate (a regular expression or two each).
    const key = sourceKey(address, this.limits.rateLimitLoopback);
    const source = maxHandshakesPerSource > 0 ? key : undefined;
    const fromSource = source === undefined ? 0 : (this.counts.bySource.get(source) ?? 0);
    if (source !== undefined && fromSource >= maxHandshakesPerSource) {
      return {
        limit: 'source_handshakes',
        message: `${address ?? 'this address'} has its maximum of ${maxHandshakesPerSource} handshakes in progress`,
      };
    }
    // Last, so a connection refused for another reason does not use up its source's tokens.
    if (!this.rate.takeForSource(key)) {
      return { limit: 'connection_rate', message: `too many new connections from ${address ?? 'this address'} (limit ${maxConnectionRate} per second)` };
    }
    this.counts.open++;
    this.counts.handshaking++;
    if (source !== undefined) this.counts.bySource.set(source, fromSource + 1);
    return new Ticket(this.counts, source);
  }
}

/** The counters tickets release; shared by the Admission and every ticket it issued. */
interface AdmissionCounts {
  open: number;
  handshaking: number;
  /** Handshakes in progress per limited source; a source at 0 is deleted (memory follows live handshakes). */
  bySource: Map<string, number>;
}

/** A class, not two closures: one small object per connection, its methods shared. */
class Ticket implements AdmissionTicket {
  private handshaking = true;
  private open = true;

  constructor(
    private readonly counts: AdmissionCounts,
    /** The source key counted in bySource, or undefined when the source is not capped. */
    private readonly source: string | undefined,
  ) {}

  handshakeDone(): void {
    if (!this.handshaking) return;
    this.handshaking = false;
    this.counts.handshaking--;
    if (this.source === undefined) return;
    const left = this.counts.bySource.get(this.source)! - 1;
    if (left > 0) this.counts.bySource.set(this.source, left);
    else this.counts.bySource.delete(this.source);
  }

  closed(): void {
    this.handshakeDone();
    if (!this.open) return;
    this.open = false;
    this.counts.open--;
  }
}

export function isRefusal(value: AdmissionTicket | Refusal): value is Refusal {
  return 'limit' in value;
}
