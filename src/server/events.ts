/**
 * The typed events the server emits. Logging (event-log.ts) and, later, Prometheus metrics
 * subscribe to them; nothing in the server reads a global to report what it did.
 */
import type { ErrorCode } from '../protocol/messages';
import type { LimitName } from '../security/admission';
import type { HostRecord } from '../store/types';
import type { Settings } from '../settings/types';

/** Why a connection ended; one value per distinct cause so operators can count them apart. */
export type DisconnectReason =
  | 'closed_by_agent'
  | 'socket_error'
  | 'ping_timeout'
  | 'protocol_error'
  | 'replaced'
  | 'removed'
  | 'slow_consumer'
  | 'shutting_down'
  | 'store_error'
  | ErrorCode;

/** How a handshake ended: `ok`, the error code sent, or `closed` by the agent before the end. */
export type HandshakeResult = 'ok' | ErrorCode | 'closed';

/** What caused a `hosts` frame to be sent; `avoid`: a server started or stopped draining (or went down or up). */
export type HostsCause = 'handshake' | 'settings' | 'host-set' | 'avoid' | 'rebalance';

export interface ServerEventMap {
  connected: { connId: number; remoteAddress: string };
  handshake: {
    connId: number;
    remoteAddress: string;
    result: HandshakeResult;
    /** Why it failed, e.g. which enrolment check refused the agent (undefined when ok). */
    detail?: string;
    hostId?: number;
    guid?: string;
    zone?: string;
    durationMs: number;
  };
  disconnected: {
    connId: number;
    remoteAddress: string;
    reason: DisconnectReason;
    hostId?: number;
    guid?: string;
  };
  hostsSent: {
    connId: number;
    hostId: number;
    guid: string;
    seq: number;
    hosts: readonly string[];
    algorithm: string;
    checkInterval: number;
    cause: HostsCause;
  };
  /** A fan-out ended: the outdated agents (of `zone`, when given) were each sent one hosts frame. */
  fanout: {
    cause: HostsCause;
    zone?: string;
    agentsUpdated: number;
    /** Agents connected when it began (those it compared). */
    agentsConnected: number;
    settingsVersion: number;
    durationMs: number;
  };
  acked: {
    connId: number;
    hostId: number;
    guid: string;
    seq: number;
    ok: boolean;
    error?: string;
    /** Milliseconds from the matching `hosts` send to this ack; undefined if none matched. */
    latencyMs?: number;
  };
  protocolError: {
    connId: number;
    remoteAddress: string;
    code: ErrorCode;
    message: string;
    hostId?: number;
  };
  settingsChanged: { settings: Settings; settingsVersion: number; agentsUpdated: number };
  hostRegistered: { host: HostRecord };
  hostRemoved: { host: HostRecord; agentsUpdated: number };
  /** The servers sent last in every list changed (a drain began or ended, a server went down or up). */
  avoidChanged: { avoided: string[]; agentsUpdated: number };
  /** This server began, changed or ended its own drain. */
  drainChanged: { address: string; draining: boolean; rate?: number };
  /** This server's drain reached its deadline: the `remaining` agents are handed over at once. */
  drainTimedOut: { address: string; remaining: number; handedOver: number };
  /** This server began its part of a rebalance run: `mine` of its agents are misplaced. */
  rebalanceStarted: { id: number; source: 'manual' | 'auto'; rate: number; zone: string | null; toMove: number; mine: number; self: string | null };
  /** A rebalance run this server worked on ended; counts are the fleet's. */
  rebalanceEnded: { id: number; source: 'manual' | 'auto'; reason: 'done' | 'stopped' | 'settled'; toMove: number; moved: number; notMoved: number };
  /** One agent told to move by a rebalance settled. */
  rebalanceMove: { outcome: 'moved' | 'not_moved' };
  /** A draining server told one agent to move on (`error draining`); `at` is performance.now(). */
  handedOver: { connId: number; hostId: number; guid: string; at: number };
  /** A protective limit refused a connection at accept or dropped one (src/security/admission.ts). */
  limitReached: { limit: LimitName; remoteAddress: string; message: string; connId?: number };
  /** A TLS handshake failed, or the client certificate was refused (before any frame was read). */
  tlsFailed: {
    remoteAddress: string;
    code: string;
    message: string;
    /** The original error code when `code` names what it means (agent_refused_certificate). */
    cause?: string;
  };
  /**
   * One host's call ended (README "Calls"): never its params or value, which may hold secrets.
   * `status` is the fan-out line's; `code` the error code when it failed.
   */
  /** `via`: the server that carried the call here from `caller` (cluster routing). */
  call: { method: string; hostId: number; guid: string; caller: string; via?: string; status: string; code?: string; ms: number };
  /** A subscriber threw; reported here instead of breaking the socket handler that emitted. */
  /** A known host said hello with another zone and was moved there (both zones re-planned). */
  zoneChanged: { host: HostRecord; fromZone: string; toZone: string };
  listenerError: { event: string; error: unknown };
}

export type ServerEventName = keyof ServerEventMap;
type Listener<K extends ServerEventName> = (event: ServerEventMap[K]) => void;

/**
 * A small synchronous emitter. Unlike node:events, a throwing listener cannot escape into the
 * socket handler that emitted: the error is reported as `listenerError` and the rest run.
 */
export class ServerEvents {
  private readonly listeners = new Map<ServerEventName, Set<Listener<never>>>();

  /** Subscribes; returns the unsubscribe function. */
  on<K extends ServerEventName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => {
      set.delete(listener as Listener<never>);
    };
  }

  emit<K extends ServerEventName>(name: K, event: ServerEventMap[K]): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        if (name !== 'listenerError') this.emit('listenerError', { event: name, error });
      }
    }
  }
}
