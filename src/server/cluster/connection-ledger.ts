/**
 * Tells the shared registry (cluster mode) which hosts' connections this server holds, in
 * batches: every connection taken or lost in one turn of the event loop goes out in ONE
 * statement (ConnectionRecorder.recordConnections), one batch in flight at a time, and
 * changes that arrive meanwhile wait for the next. A reconnect storm of 20 000 agents
 * costs a handful of statements, not 20 000. Only the last change per host is kept while it
 * waits (a connection replaced in the same turn is written once, as held).
 *
 * A failed write (the database down) is not retried change by change: the ledger marks
 * itself out of date and, at the next attempt (a retry timer, or the next change), replaces
 * this process's whole record with the connections it holds now, in one statement. Nothing
 * here blocks a handshake: recording is fire-and-forget, and a connection is served whether
 * or not its record is written yet.
 */
import type { ConnectionChange, ConnectionRecorder } from '../../store/types';
import type { ConnectionSink } from '../fleet/agent-registry';
import type { AgentConnection } from '../net/connection';

export interface ConnectionLedgerOptions {
  /** Most changes per statement. Default 5 000. */
  maxBatch?: number;
  /** Delay before retrying after a failed write. Default 1 000 ms. */
  retryMs?: number;
  /** A write failed (already logged once per outage by the store's status; for counting). */
  onError?: (error: unknown) => void;
}

export class ConnectionLedger implements ConnectionSink {
  private address: string | undefined;
  private pending = new Map<number, ConnectionChange>();
  private running: Promise<void> | undefined;
  /** Writes were lost: the next flush replaces the whole record. */
  private outOfDate = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private writes = 0;

  constructor(
    private readonly recorder: ConnectionRecorder,
    /** The connections this server holds now (the agent registry), for a full replace. */
    private readonly heldNow: () => Iterable<AgentConnection>,
    private readonly options: ConnectionLedgerOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 5_000;
    this.retryMs = options.retryMs ?? 1_000;
  }

  /** Starts writing under `address` (this server's registry key); changes before it wait. */
  start(address: string): void {
    this.address = address;
    this.schedule();
  }

  held(connection: AgentConnection): void {
    // Out of date, the retry's replace covers every change: no work per change while down.
    if (this.outOfDate) return;
    this.pending.set(connection.hostId!, { hostId: connection.hostId!, held: true, remoteAddress: connection.remoteAddress });
    this.schedule();
  }

  released(connection: AgentConnection): void {
    if (this.outOfDate) return;
    this.pending.set(connection.hostId!, { hostId: connection.hostId!, held: false });
    this.schedule();
  }

  /** Statements written so far (tests check the batching). */
  get statements(): number {
    return this.writes;
  }

  /** Resolves once every change recorded so far was written or failed. */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Writes what is waiting (best effort), then stops. */
  async close(): Promise<void> {
    clearTimeout(this.retryTimer);
    await this.settled();
    if (this.address !== undefined && this.pending.size > 0 && !this.outOfDate) {
      await this.writeBatch([...this.pending.values()]).catch(() => undefined);
    }
    this.closed = true;
    this.pending.clear();
  }

  private schedule(): void {
    if (this.retryTimer !== undefined && this.outOfDate) return; // the retry timer will
    if (this.closed || this.address === undefined || this.running !== undefined) return;
    // setImmediate: every handshake finished in this turn of the event loop joins the batch.
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (!this.closed && (this.pending.size > 0 || this.outOfDate)) {
        if (this.outOfDate) {
          this.pending.clear(); // the replace covers them
          await this.replaceAll();
          continue;
        }
        const batch: ConnectionChange[] = [];
        for (const [hostId, change] of this.pending) {
          batch.push(change);
          this.pending.delete(hostId);
          if (batch.length === this.maxBatch) break;
        }
        await this.writeBatch(batch);
      }
    } catch (error) {
      this.outOfDate = true;
      this.options.onError?.(error);
      this.retryLater();
    } finally {
      this.running = undefined;
    }
  }

  private async writeBatch(batch: readonly ConnectionChange[]): Promise<void> {
    this.writes += 1;
    await this.recorder.recordConnections(this.address!, batch);
  }

  private async replaceAll(): Promise<void> {
    const held: { hostId: number; remoteAddress: string }[] = [];
    for (const connection of this.heldNow()) held.push({ hostId: connection.hostId!, remoteAddress: connection.remoteAddress });
    this.writes += 1;
    await this.recorder.replaceConnections(this.address!, held);
    this.outOfDate = false;
  }

  private retryLater(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, this.retryMs);
    // Never what keeps a server alive: the listeners do that.
    this.retryTimer.unref();
  }
}
