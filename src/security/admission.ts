/**
 * Which accepted sockets the agent listener keeps, decided before a byte is read from them:
 * at most `maxConnections` open, at most `maxHandshakes` still handshaking (TLS handshake or
 * waiting for the hello/registration), and no more than the per-source connection rate.
 *
 * Each admitted socket gets a ticket; the listener calls `handshakeDone` when its handshake
 * ended (either way) and `closed` when the socket closed. Both are idempotent, so a socket that
 * closes mid-handshake is counted out exactly once.
 */
import { ConnectionRateLimiter } from './rate-limit';

export interface AdmissionLimits {
  /** Open agent connections (handshaking or not); 0 = no limit. */
  maxConnections: number;
  /** Connections accepted whose handshake has not ended yet; 0 = no limit. */
  maxHandshakes: number;
  /** New connections per second per source address; 0 = no limit. */
  maxConnectionRate: number;
  /** Connections a quiet source may open at once. */
  connectionBurst: number;
  /** Apply the rate limit to loopback sources too. */
  rateLimitLoopback: boolean;
}

/** The limits that can refuse or drop a connection, as metrics and logs name them. */
export type LimitName = 'max_connections' | 'max_handshakes' | 'connection_rate' | 'max_frame' | 'handshake_timeout' | 'write_buffer';

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
  private open = 0;
  private handshaking = 0;
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
    return this.open;
  }

  get handshakesInProgress(): number {
    return this.handshaking;
  }

  /** A ticket for the socket, or why it is refused. `address` is the peer's IP address. */
  admit(address: string | undefined): AdmissionTicket | Refusal {
    const { maxConnections, maxHandshakes, maxConnectionRate } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) {
      return { limit: 'max_connections', message: `this server holds its maximum of ${maxConnections} agents` };
    }
    if (maxHandshakes > 0 && this.handshaking >= maxHandshakes) {
      return { limit: 'max_handshakes', message: `this server has its maximum of ${maxHandshakes} handshakes in progress` };
    }
    // Last, so a connection refused for another reason does not use up its source's tokens.
    if (!this.rate.take(address)) {
      return { limit: 'connection_rate', message: `too many new connections from ${address ?? 'this address'} (limit ${maxConnectionRate} per second)` };
    }
    this.open++;
    this.handshaking++;
    let handshaking = true;
    let open = true;
    const handshakeDone = (): void => {
      if (!handshaking) return;
      handshaking = false;
      this.handshaking--;
    };
    return {
      handshakeDone,
      closed: () => {
        handshakeDone();
        if (!open) return;
        open = false;
        this.open--;
      },
    };
  }
}

export function isRefusal(value: AdmissionTicket | Refusal): value is Refusal {
  return 'limit' in value;
}
