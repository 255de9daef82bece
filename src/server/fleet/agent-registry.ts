/**
 * The connected agents, by guid and by host id. One live connection per guid: a newer
 * handshake replaces the older connection (the agent reconnected before the old socket
 * was noticed dead).
 */
import type { AgentConnection } from '../net/connection';

/**
 * Told when this server starts and stops holding a host's connection: the connection
 * registry (ConnectionLedger in cluster mode, LocalConnectionRegistry embedded). Called in
 * order, O(1) each; `released` then `held` for a connection replaced by a newer one.
 */
export interface ConnectionSink {
  held(connection: AgentConnection): void;
  released(connection: AgentConnection): void;
}

const NO_SINK: ConnectionSink = { held: () => undefined, released: () => undefined };

export class AgentRegistry {
  private readonly byGuid = new Map<string, AgentConnection>();
  private readonly byHostId = new Map<number, AgentConnection>();
  /** Told after each attach (drain: a newly connected agent must be handed over too). */
  private readonly attachedHooks = new Set<(connection: AgentConnection) => void>();

  constructor(private readonly sink: ConnectionSink = NO_SINK) {}

  get size(): number {
    return this.byGuid.size;
  }

  /**
   * Makes `connection` the live one for its guid, closing an older one. Returns false, and
   * changes nothing, when a NEWER connection already holds the guid: two handshakes of one
   * guid can finish registering out of order.
   */
  attach(connection: AgentConnection): boolean {
    const { guid, hostId } = connection;
    if (guid === undefined || hostId === undefined) return false;
    const existing = this.byGuid.get(guid);
    if (existing !== undefined && existing !== connection) {
      if (existing.connId > connection.connId) return false;
      this.forget(existing);
      existing.close('replaced');
    }
    this.byGuid.set(guid, connection);
    this.byHostId.set(hostId, connection);
    this.sink.held(connection);
    for (const hook of this.attachedHooks) hook(connection);
    return true;
  }

  /** Calls `hook` after every attach from now on; returns the call that stops it. */
  onAttached(hook: (connection: AgentConnection) => void): () => void {
    this.attachedHooks.add(hook);
    return () => this.attachedHooks.delete(hook);
  }

  /** Forgets `connection` if it is the live one for its guid. */
  detach(connection: AgentConnection): void {
    if (connection.guid !== undefined && this.byGuid.get(connection.guid) === connection) this.forget(connection);
  }

  byHost(hostId: number): AgentConnection | undefined {
    return this.byHostId.get(hostId);
  }

  all(): IterableIterator<AgentConnection> {
    return this.byGuid.values();
  }

  private forget(connection: AgentConnection): void {
    this.byGuid.delete(connection.guid!);
    if (this.byHostId.get(connection.hostId!) === connection) this.byHostId.delete(connection.hostId!);
    this.sink.released(connection);
  }
}
