/**
 * One agent connection: handshake, list delivery, acks and liveness.
 *
 * Everything that happens here is caught and turned into an `error` frame and a close of THIS
 * socket; nothing thrown can reach the listener or another agent's connection.
 */
import type { Socket } from 'node:net';
// perf_hooks' object, not the global: globalThis.performance is a getter, run at every use.
import { performance } from 'node:perf_hooks';
import { encodeMessage, encodeWelcome } from '../../protocol/encoder';
import { FrameTooLargeError } from '../../protocol/frame-decoder';
import { MessageReader } from '../../protocol/message-decoder';
import {
  CALLS_VERSION,
  DEFAULT_MAX_FRAME,
  PROTOCOL_VERSIONS,
  ProtocolError,
  type Ack,
  type AgentMessage,
  type ErrorCode,
  type Hello,
  type Welcome,
} from '../../protocol/messages';
import type { LimitName } from '../../security/admission';
import { RegistrationRefused } from '../../security/registration-limits';
import type { HostRecord } from '../../store/types';
import { formatAddress } from '../../util/address';
import type { DisconnectReason, HandshakeResult, HostsCause, ServerEventMap, ServerEvents } from '../events';
import type { AgentListState, FanoutAgent } from '../fleet/fanout';
import type { HostsFrame } from '../fleet/fanout';
import type { PingLink, PingQueue } from './ping-queue';
import { AgentCalls, type CallRefusal, type CallRequest, type ReplyHandler } from '../calls/agent-calls';

export interface ConnectionLimits {
  /** Time from accept to the first `hello` (enforced by the listener's shared sweep). */
  handshakeTimeoutMs: number;
  pingIntervalMs: number;
  /** The agent is dropped when this many pings in a row go unanswered by any frame. */
  maxMissedPings: number;
  maxFrame: number;
  /** An agent that stops reading is dropped once this much output is queued for it. */
  maxWriteBufferBytes: number;
  /** How long a closing connection may take to flush its last frame before it is destroyed. */
  closeGraceMs: number;
  /** The protocol versions this server speaks (protocol.md section 9); [1] refuses version 2. */
  protocolVersions: readonly number[];
  /** Calls in flight per agent (protocol.md section 4.4); one more is refused as busy. */
  maxCallsInFlight: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  handshakeTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
  maxMissedPings: 3,
  maxFrame: DEFAULT_MAX_FRAME,
  maxWriteBufferBytes: 1_048_576,
  closeGraceMs: 2_000,
  protocolVersions: PROTOCOL_VERSIONS,
  maxCallsInFlight: 8,
});

/** What a connection needs from the rest of the server; given, never imported. */
export interface ConnectionContext {
  readonly limits: ConnectionLimits;
  readonly events: ServerEvents;
  /** The shared ping timer, its interval limits.pingIntervalMs (ping-queue.ts). */
  readonly pings: PingQueue;
  /** Refusal reason for a hello (e.g. a bad token), or undefined to admit it. */
  authorize(hello: Hello, socket: Socket): string | undefined;
  /**
   * The guid's record: a known guid's synchronously (its welcome goes out in the same tick,
   * no promise per handshake), a new guid's once it is registered durably.
   */
  register(guid: string, zone: string, remoteAddress?: string): HostRecord | Promise<HostRecord>;
  /**
   * Signs hello.csr (enrolment or renewal), or says why not; undefined when this server does
   * not enrol agents (the csr is then ignored). Absent: never enrols.
   */
  enrol?(hello: Hello, socket: Socket): Promise<EnrolOutcome> | undefined;
  /** Called once the handshake succeeded; false when a newer connection holds the guid. */
  attach(connection: AgentConnection): boolean;
  detach(connection: AgentConnection): void;
  /** The list to send an agent holding `state`, or undefined when it is up to date. */
  listToSend(state: AgentListState): readonly string[] | undefined;
  hostsFrame(hosts: readonly string[]): HostsFrame;
  /** The address put in `welcome.server` for an agent that connected through `socket`. */
  advertisedAddress(socket: Socket): string;
  /**
   * Called once when the handshake ended, whatever the result, after `handshake` was emitted
   * (the listener frees the connection's handshake slot). A call, not the event: ServerEvents
   * is for logs and metrics.
   */
  handshakeDone?(connection: AgentConnection, result: HandshakeResult): void;
  /** Called once, after `disconnected` was emitted (the listener forgets the connection). */
  connectionClosed?(connection: AgentConnection): void;
}

export const DEFAULT_ZONE = 'default';

/** What signing a hello's certificate request came to. */
export type EnrolOutcome = { certificate: string } | { refusal: string };

type Phase = 'handshake' | 'registering' | 'ready' | 'closing' | 'closed';

/** A hosts frame waiting for its ack, to measure the latency. */
interface PendingAck {
  seq: number;
  sentAt: number;
}

/** Bounds the pending-ack queue of an agent that never acks. */
const MAX_PENDING_ACKS = 32;

const PING_FRAME = encodeMessage({ type: 'ping' });
const PONG_FRAME = encodeMessage({ type: 'pong' });

/**
 * The connection a socket belongs to, read by the shared 'data' and 'close' listeners: two
 * functions for every socket instead of two closures per socket (a server holds 15 000).
 */
const CONNECTION = Symbol('agentlb.connection');
type OwnedSocket = Socket & { [CONNECTION]?: AgentConnection };

export interface LastSent {
  seq: number;
  hosts: readonly string[];
  algorithm: string;
  checkInterval: number;
  /** Epoch milliseconds (a number, not a Date: one per agent, 15 000 of them). */
  atMs: number;
}

export class AgentConnection implements FanoutAgent, PingLink {
  readonly remoteAddress: string;
  /** Made on first ask (shutdown asks every connection; an idle one never does). */
  private closedWaiter: { promise: Promise<void>; resolve: () => void } | undefined;
  private socketClosed = false;
  private phase: Phase = 'handshake';
  private readonly reader: MessageReader<'agent'>;
  /** performance.now() at accept: the handshake's duration and its deadline. */
  private readonly acceptedAt: number;
  /** The shortened last wait before a ping deadline (a full interval waits in context.pings). */
  private pingTimer: NodeJS.Timeout | undefined;
  /** context.pings' links (ping-queue.ts): nothing else reads or writes them. */
  pingDueAt = 0;
  pingPrev: PingLink | undefined;
  pingNext: PingLink | undefined;
  pingQueued = false;
  private closeTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last inbound bytes: any frame proves the agent alive. */
  private lastInboundAt: number;
  private closeReason: DisconnectReason | undefined;
  private state: AgentListState | undefined;
  private host: HostRecord | undefined;
  /** Made with the first `hosts` frame. */
  private pendingAcks: PendingAck[] | undefined;
  private sent: LastSent | undefined;
  private ackedOk: boolean | undefined;
  private handshakeReported = false;
  /** The version the welcome named; 0 before. */
  private version = 0;
  /** Made on the first call (an agent never called costs nothing). */
  private calls: AgentCalls | undefined;
  /** The certificate signed for this hello's csr, until the welcome carries it. */
  private certificate: string | undefined;

  constructor(
    readonly connId: number,
    /** Public for the listener's failWhere (a revoked certificate); the connection alone writes to it. */
    readonly socket: Socket,
    private readonly context: ConnectionContext,
  ) {
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    this.acceptedAt = this.lastInboundAt = performance.now();
    this.reader = new MessageReader({ accept: 'agent', maxFrame: context.limits.maxFrame });
  }

  /** Wires the socket; call once, right after accept. */
  start(): void {
    const socket = this.socket as OwnedSocket;
    socket.setNoDelay(true);
    // Shared listeners, no closure per socket. The socket's 'error' needs no handler of ours
    // (the listener attached a shared one): `hadError` says it.
    socket[CONNECTION] = this;
    socket.on('data', AgentConnection.onSocketData);
    socket.on('close', AgentConnection.onSocketClose);
    this.context.events.emit('connected', { connId: this.connId, remoteAddress: this.remoteAddress });
  }

  private static onSocketData(this: OwnedSocket, chunk: Buffer): void {
    const connection = this[CONNECTION]!;
    try {
      connection.onData(chunk);
    } catch (error) {
      connection.contain(error);
    }
  }

  private static onSocketClose(this: OwnedSocket, hadError: boolean): void {
    const connection = this[CONNECTION]!;
    // An agent that ended its side first closed the connection, whatever followed.
    connection.closeReason ??= hadError && !this.readableEnded ? 'socket_error' : 'closed_by_agent';
    try {
      connection.onClose();
    } catch (error) {
      connection.contain(error);
    }
    connection.socketClosed = true;
    connection.closedWaiter?.resolve();
    connection.context.connectionClosed?.(connection);
  }

  /** Milliseconds since accept, at `now` (performance.now()). */
  ageAt(now: number): number {
    return now - this.acceptedAt;
  }

  /**
   * Ends the handshake with `handshake_timeout` if no hello was read yet; called by the
   * listener's sweep (one timer for all handshakes, not one per connection) once the
   * connection is older than handshakeTimeoutMs and pending input was read.
   */
  timeOutHandshake(): void {
    this.guard(() => this.onHandshakeTimeout());
  }

  /** Resolves once the socket has closed and `disconnected` was emitted. */
  get closed(): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    if (this.closedWaiter === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.closedWaiter = { promise, resolve };
    }
    return this.closedWaiter.promise;
  }

  get guid(): string | undefined {
    return this.host?.guid;
  }

  get hostId(): number | undefined {
    return this.host?.id;
  }

  get zone(): string | undefined {
    return this.host?.zone;
  }

  /** What the agent holds, once its handshake is done; undefined before. */
  get listState(): AgentListState | undefined {
    return this.phase === 'ready' ? this.state : undefined;
  }

  get lastSent(): LastSent | undefined {
    return this.sent;
  }

  /** Whether the last `hosts` frame was acked ok (undefined: none sent, or not acked yet). */
  get acked(): boolean | undefined {
    return this.pendingAcks !== undefined && this.pendingAcks.length > 0 ? undefined : this.ackedOk;
  }

  get isOpen(): boolean {
    return this.phase !== 'closing' && this.phase !== 'closed';
  }

  /** The protocol version of this connection (welcome.version); 0 before the handshake. */
  get protocolVersion(): number {
    return this.version;
  }

  /** Calls in flight on this connection. */
  get callsInFlight(): number {
    return this.calls?.size ?? 0;
  }

  /**
   * Sends a `call` to this agent; `reply` runs once, later. Returns the call id, or why it was
   * not sent: `unsupported` for a version 1 agent, `closed` before the handshake or once closing.
   */
  startCall(request: CallRequest, reply: ReplyHandler): number | CallRefusal | 'unsupported' {
    if (this.phase !== 'ready') return 'closed';
    if (this.version < CALLS_VERSION) return 'unsupported';
    this.calls ??= new AgentCalls(this.context.limits.maxCallsInFlight, this.context.limits.maxFrame, (frame) => this.write(frame));
    return this.calls.start(request, reply);
  }

  /** The caller gave up on call `id`: the agent is sent `cancel`. */
  cancelCall(id: number): void {
    this.calls?.cancel(id);
  }

  sendHosts(hosts: readonly string[], cause: HostsCause): void {
    if (this.phase !== 'ready' || this.state === undefined || this.host === undefined) return;
    this.sendHostsFrame(this.context.hostsFrame(hosts), cause);
  }

  /**
   * Sends an already encoded `hosts` frame (planned in a burst, maybe on a worker thread).
   * `welcome`: the handshake's welcome, put ahead of it in the same buffer and write.
   */
  sendHostsFrame(frame: HostsFrame, cause: HostsCause, welcome?: Welcome): void {
    if (this.phase !== 'ready' || this.state === undefined || this.host === undefined) return;
    if (!this.write(welcome === undefined ? frame.frame : encodeWelcome(welcome, frame.frame))) return;
    const { hostId, zone } = this.state;
    this.state = { hostId, zone, hosts: frame.hosts, algorithm: frame.algorithm, checkInterval: frame.checkInterval };
    this.sent = { seq: frame.seq, hosts: frame.hosts, algorithm: frame.algorithm, checkInterval: frame.checkInterval, atMs: Date.now() };
    const pending: PendingAck = { seq: frame.seq, sentAt: performance.now() };
    if (this.pendingAcks === undefined) this.pendingAcks = [pending];
    else {
      if (this.pendingAcks.length >= MAX_PENDING_ACKS) this.pendingAcks.shift();
      this.pendingAcks.push(pending);
    }
    this.context.events.emit('hostsSent', {
      connId: this.connId,
      hostId: this.host.id,
      guid: this.host.guid,
      seq: frame.seq,
      hosts: frame.hosts,
      algorithm: frame.algorithm,
      checkInterval: frame.checkInterval,
      cause,
    });
  }

  /** Sends `error {code}` and closes: shutdown, draining, or a protocol fault. */
  fail(code: ErrorCode, message: string, reason: DisconnectReason = code): void {
    if (!this.isOpen) return;
    this.closeReason ??= reason;
    this.phase = 'closing';
    this.clearTimers();
    if (this.socket.writable) this.socket.end(encodeMessage({ type: 'error', code, message }));
    // The peer may never close its side; do not hold the descriptor forever.
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.context.limits.closeGraceMs);
    this.closeTimer.unref();
  }

  /** Closes without an error frame (replaced by a newer connection, host removed, dead peer). */
  close(reason: DisconnectReason): void {
    if (this.phase === 'closed') return;
    this.closeReason ??= reason;
    this.phase = 'closing';
    this.clearTimers();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (!this.isOpen) return; // draining what the peer still sends while we close
    this.lastInboundAt = performance.now();
    const error = this.reader.push(chunk, this.onMessage, this);
    if (error !== undefined && this.isOpen) {
      this.context.events.emit('protocolError', {
        connId: this.connId,
        remoteAddress: this.remoteAddress,
        code: error.code,
        message: error.message,
        ...(this.host === undefined ? {} : { hostId: this.host.id }),
      });
      if (error instanceof FrameTooLargeError) this.emitLimit('max_frame', error.message);
      if (this.phase === 'handshake') this.emitHandshake(error.code, undefined, error.message);
      this.fail(error.code, error.message, 'protocol_error');
    }
  }

  private onMessage(message: AgentMessage): ProtocolError | undefined {
    if (!this.isOpen) return new ProtocolError('bad_message', 'connection is closing');
    if (this.phase === 'handshake') {
      if (message.type !== 'hello') return new ProtocolError('bad_message', `expected hello first, got ${message.type}`);
      return this.onHello(message);
    }
    switch (message.type) {
      case 'hello':
        return new ProtocolError('bad_message', 'hello was already received');
      case 'ping':
        this.write(PONG_FRAME);
        return undefined;
      case 'pong':
        return undefined; // liveness was already noted when the bytes arrived
      case 'ack':
        return this.onAck(message);
      case 'result':
        if (this.version < CALLS_VERSION) {
          return new ProtocolError('bad_message', `"result" is a version ${CALLS_VERSION} message; this connection speaks version ${this.version}`);
        }
        this.calls?.onResult(message);
        return undefined;
    }
  }

  private onHello(hello: Hello): ProtocolError | undefined {
    const { protocolVersions } = this.context.limits;
    if (!protocolVersions.includes(hello.version)) {
      const supported = `supported versions: ${protocolVersions.join(', ')}`;
      this.emitHandshake('unsupported_version', hello.guid, `the agent speaks version ${hello.version}; ${supported}`);
      this.fail('unsupported_version', supported);
      return undefined;
    }
    const refusal = this.context.authorize(hello, this.socket);
    if (refusal !== undefined) {
      this.emitHandshake('unauthorized', hello.guid, refusal);
      this.fail('unauthorized', refusal);
      return undefined;
    }
    this.phase = 'registering';
    // A certificate request is signed (or refused) before the host is registered.
    const enrolment = hello.csr === undefined ? undefined : this.context.enrol?.(hello, this.socket);
    if (enrolment !== undefined) {
      enrolment.then(
        (outcome) => this.guard(() => this.onEnrolled(hello, outcome)),
        (error: unknown) =>
          this.guard(() => {
            const message = `cannot sign the certificate: ${(error as Error).message}`;
            this.emitHandshake('server_busy', hello.guid, message);
            this.fail('server_busy', message, 'store_error');
          }),
      );
      return undefined;
    }
    this.register(hello);
    return undefined;
  }

  private onEnrolled(hello: Hello, outcome: EnrolOutcome): void {
    if (this.phase !== 'registering') return; // closed while the certificate was signed
    if ('refusal' in outcome) {
      this.emitHandshake('unauthorized', hello.guid, outcome.refusal);
      this.fail('unauthorized', outcome.refusal);
      return;
    }
    this.certificate = outcome.certificate;
    this.register(hello);
  }

  private register(hello: Hello): void {
    const registered = this.context.register(hello.guid, hello.zone ?? DEFAULT_ZONE, this.socket.remoteAddress);
    if (!(registered instanceof Promise)) {
      this.onRegistered(hello, registered);
      return undefined;
    }
    registered.then(
      (host) => this.guard(() => this.onRegistered(hello, host)),
      (error: unknown) =>
        this.guard(() => {
          if (error instanceof RegistrationRefused) {
            this.emitHandshake('server_busy', hello.guid, error.message);
            this.emitLimit(error.limit, error.message);
            this.fail('server_busy', error.message);
            return;
          }
          const message = `cannot register the host: ${(error as Error).message}`;
          this.emitHandshake('server_busy', hello.guid, message);
          this.fail('server_busy', message, 'store_error');
        }),
    );
  }

  private onRegistered(hello: Hello, host: HostRecord): void {
    if (this.phase !== 'registering') return; // closed while the store was writing
    this.host = host;
    if (!this.context.attach(this)) {
      this.emitHandshake('ok', host.guid);
      this.close('replaced');
      return;
    }
    this.phase = 'ready';
    this.version = hello.version;
    this.state = {
      hostId: host.id,
      zone: host.zone,
      algorithm: hello.algorithm,
      hosts: hello.hosts,
      checkInterval: hello.checkInterval,
    };
    const welcome: Welcome = {
      type: 'welcome',
      version: this.version,
      hostId: host.id,
      server: this.context.advertisedAddress(this.socket),
      pingInterval: this.context.limits.pingIntervalMs,
    };
    if (this.certificate !== undefined) welcome.certificate = this.certificate;
    this.certificate = undefined; // sent once; not kept for the connection's life
    this.emitHandshake('ok', host.guid);
    const hosts = this.context.listToSend(this.state);
    // welcome and the first list in ONE buffer and write: a loopback write costs ~7 µs of
    // kernel time, the largest single cost of a handshake (profiled), and the agent reads
    // both at once. encodeWelcome encodes only the hostId (the rest is cached).
    if (hosts === undefined) this.write(encodeWelcome(welcome));
    else this.sendHostsFrame(this.context.hostsFrame(hosts), 'handshake', welcome);
    this.schedulePing(this.context.limits.pingIntervalMs);
  }

  private onAck(ack: Ack): ProtocolError | undefined {
    if (this.host === undefined || this.pendingAcks === undefined) return undefined;
    // Frames are acked in order: an ack for seq S settles the oldest frame sent with S and any
    // older one whose ack went missing. protocol.md: an ack for a seq not sent is ignored.
    const index = this.pendingAcks.findIndex((pending) => pending.seq === ack.seq);
    if (index < 0) return undefined;
    const pending = this.pendingAcks.splice(0, index + 1)[index]!;
    this.ackedOk = ack.ok;
    this.context.events.emit('acked', {
      connId: this.connId,
      hostId: this.host.id,
      guid: this.host.guid,
      seq: ack.seq,
      ok: ack.ok,
      ...(ack.error === undefined ? {} : { error: ack.error }),
      latencyMs: performance.now() - pending.sentAt,
    });
    return undefined;
  }

  private schedulePing(delayMs: number): void {
    if (delayMs === this.context.pings.intervalMs) this.context.pings.add(this);
    else this.pingTimer = setTimeout(() => this.pingDue(), delayMs);
  }

  /** The ping queue's (or the shortened wait's) tick. */
  pingDue(): void {
    this.pingTimer = undefined;
    this.guard(() => this.onPingTick());
  }

  /**
   * Pings once per interval and closes when nothing at all arrived for maxMissedPings
   * intervals (protocol.md section 6). The last wait is shortened to end exactly at that
   * deadline, so a dead agent is dropped after 3 intervals of silence, not up to 4.
   */
  private onPingTick(): void {
    const { pingIntervalMs, maxMissedPings } = this.context.limits;
    const deadlineMs = pingIntervalMs * maxMissedPings;
    const silentMs = performance.now() - this.lastInboundAt;
    if (silentMs >= deadlineMs) {
      this.close('ping_timeout');
      return;
    }
    this.write(PING_FRAME);
    this.schedulePing(Math.min(pingIntervalMs, deadlineMs - silentMs));
  }

  /** Writes unless the agent stopped reading; then it is dropped instead of buffered. */
  private write(frame: Buffer): boolean {
    if (!this.socket.writable) return false;
    if (this.socket.writableLength + frame.length > this.context.limits.maxWriteBufferBytes) {
      this.emitLimit('write_buffer', `more than ${this.context.limits.maxWriteBufferBytes} bytes queued for an agent that stopped reading`);
      this.close('slow_consumer');
      return false;
    }
    this.socket.write(frame);
    return true;
  }

  private onClose(): void {
    if (!this.handshakeReported) this.emitHandshake('closed');
    this.phase = 'closed';
    this.clearTimers();
    clearTimeout(this.closeTimer);
    // Before `disconnected`: a caller learns its call's fate with the connection's end.
    this.calls?.close();
    // The registry forgets this connection only if it still holds it (not a newer one).
    if (this.host !== undefined) this.context.detach(this);
    const event: ServerEventMap['disconnected'] = { connId: this.connId, remoteAddress: this.remoteAddress, reason: this.closeReason ?? 'closed_by_agent' };
    if (this.host !== undefined) {
      event.hostId = this.host.id;
      event.guid = this.host.guid;
    }
    this.context.events.emit('disconnected', event);
  }

  /** `detail`: why a handshake failed (the text the agent was sent, or more). */
  private emitHandshake(result: HandshakeResult, guid?: string, detail?: string): void {
    if (this.handshakeReported) return;
    this.handshakeReported = true;
    // Optional fields are added, not spread in: a spread of `{}` or `{ guid }` per handshake is
    // two objects and a generic property copy each (seen in the handshake benchmark's profile).
    const event: ServerEventMap['handshake'] = { connId: this.connId, remoteAddress: this.remoteAddress, result, durationMs: performance.now() - this.acceptedAt };
    if (guid !== undefined) event.guid = guid;
    if (detail !== undefined) event.detail = detail;
    if (this.host !== undefined) {
      event.hostId = this.host.id;
      event.zone = this.host.zone;
    }
    this.context.events.emit('handshake', event);
    this.context.handshakeDone?.(this, result);
  }

  private onHandshakeTimeout(): void {
    if (this.phase !== 'handshake') return; // the hello was read meanwhile, or we are closing
    const message = `no hello within ${this.context.limits.handshakeTimeoutMs} ms`;
    this.emitHandshake('handshake_timeout', undefined, message);
    this.emitLimit('handshake_timeout', message);
    this.fail('handshake_timeout', message);
  }

  private emitLimit(limit: LimitName, message: string): void {
    this.context.events.emit('limitReached', { limit, remoteAddress: this.remoteAddress, message, connId: this.connId });
  }

  private clearTimers(): void {
    this.context.pings.remove(this);
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  /** The last line of defence: a bug in a handler closes this connection, nothing else. */
  private guard(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.contain(error);
    }
  }

  private contain(error: unknown): void {
    this.closeReason ??= 'socket_error';
    this.context.events.emit('listenerError', { event: `connection ${this.connId}`, error });
    this.socket.destroy();
  }
}
