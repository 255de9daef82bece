/**
 * One connection to one server, from `hello` to close: the agent's transport. A server counts
 * only once it has answered `hello` with `welcome` — a bare TCP connect proves nothing (a
 * server that accepts then closes is not healthy). After the welcome, liveness is ours to
 * judge: ping every interval, answer the server's pings, and declare the server dead after
 * `missedIntervals` intervals with no inbound frame, instead of waiting minutes for TCP.
 *
 * No policy here: which server to try, and what to do after a close, is agent.ts's job.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import { ConnectError, connectFramed, type FramedSocket } from '../src/protocol/framed-socket';
import { CALLS_VERSION, type Ack, type Call, type ErrorCode, type Hello, type Hosts, type Result, type ServerMessage, type Welcome } from '../src/protocol/messages';
import { isPlainPeerError, looksLikeTlsRecord, plainServerHint, silentCloseHint, tlsServerHint } from '../src/security/tls-mismatch';
import { timerDelay } from '../src/util/timer-delay';
import type { ServerEntry } from './server-pool';

export interface SessionOptions {
  /** TCP connect deadline. */
  connectTimeoutMs: number;
  /** Deadline for `welcome` after `hello` is sent. */
  handshakeTimeoutMs: number;
  /** Ping interval when the server's welcome does not state one (protocol.md section 6: 30 s). */
  defaultPingIntervalMs: number;
  /** Intervals with no inbound frame before the server is declared dead. protocol.md: 3. */
  missedIntervals: number;
  /** Speak TLS with these options (CA, and the agent's certificate and key); absent: plain TCP. */
  tls?: ConnectionOptions;
}

export const DEFAULT_SESSION_OPTIONS: Readonly<SessionOptions> = Object.freeze({
  connectTimeoutMs: 5_000,
  handshakeTimeoutMs: 10_000,
  defaultPingIntervalMs: 30_000,
  missedIntervals: 3,
});

/** Why a handshake did not produce a session. `serverCode` is set when the server said why. */
export type HandshakeFailureCode = 'connect_failed' | 'handshake_timeout' | 'closed' | 'bad_reply' | 'aborted' | 'server_error';

export class HandshakeFailure extends Error {
  constructor(
    readonly code: HandshakeFailureCode,
    message: string,
    readonly serverCode?: ErrorCode,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'HandshakeFailure';
  }
}

/** Why an established session ended. */
export type CloseCode = 'ping_timeout' | 'closed' | 'server_error' | 'protocol_error' | 'local';

export interface CloseReason {
  code: CloseCode;
  message: string;
  /** The server's error code, when it sent an `error` frame before closing. */
  serverCode?: ErrorCode;
}

interface SessionEvents {
  hosts: [Hosts];
  /** Version 2 only: the server asks for a method to be run (answer with sendResult). */
  call: [Call];
  /** Version 2 only: the server no longer wants call `id`. */
  cancel: [number];
  closed: [CloseReason];
}

/** How long a locally closed connection may take to finish its close handshake. */
const LINGER_MS = 1_000;

type Pending =
  | { kind: 'hosts'; msg: Hosts }
  | { kind: 'call'; msg: Call }
  | { kind: 'cancel'; id: number }
  | { kind: 'closed'; reason: CloseReason };

/**
 * A welcomed connection. Frames that arrive right behind the welcome (often a `hosts` in the
 * same TCP segment) are held until `start()`, so the owner cannot miss them while it attaches
 * its listeners.
 */
export class Session extends EventEmitter<SessionEvents> {
  readonly pingIntervalMs: number;
  private readonly deadlineMs: number;
  private started = false;
  private pending: Pending[] = [];
  private closeReason: CloseReason | undefined;
  private lastInbound = performance.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly server: ServerEntry,
    readonly welcome: Welcome,
    private readonly socket: FramedSocket,
    opts: SessionOptions,
  ) {
    super();
    this.pingIntervalMs = welcome.pingInterval ?? opts.defaultPingIntervalMs;
    this.deadlineMs = this.pingIntervalMs * opts.missedIntervals;
    socket.on('message', (msg: ServerMessage) => this.onMessage(msg));
    socket.on('protocolError', (err: Error) => this.finish({ code: 'protocol_error', message: err.message }));
    socket.on('close', () => this.finish({ code: 'closed', message: 'the server closed the connection' }));
    this.pingTimer = setInterval(() => this.socket.send({ type: 'ping' }), this.pingIntervalMs);
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), timerDelay(this.deadlineMs));
  }

  /**
   * Runs when the deadline would pass if nothing had arrived since it was armed: either the
   * server is dead now, or the timer is armed again for what is left of the deadline counted
   * from the last frame. Checking only at ping ticks would notice up to one interval late; and
   * re-arming here, not on every frame, keeps inbound frames free of timer work.
   */
  private checkDeadline(): void {
    const silentMs = performance.now() - this.lastInbound;
    if (silentMs >= this.deadlineMs) {
      this.finish({ code: 'ping_timeout', message: `no frame from the server for ${Math.round(silentMs)} ms` });
    } else {
      this.deadlineTimer = setTimeout(() => this.checkDeadline(), timerDelay(this.deadlineMs - silentMs));
    }
  }

  /** Deliver the held frames and every later one as events. */
  start(): void {
    this.started = true;
    const held = this.pending;
    this.pending = [];
    for (const item of held) this.deliver(item);
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  sendAck(ack: Ack): void {
    if (!this.closed) this.socket.send(ack);
  }

  /** The protocol version of this connection (the welcome's). */
  get version(): number {
    return this.welcome.version;
  }

  /** Sends a result frame (already checked to fit one frame); dropped once closed. */
  sendResult(result: Result | Buffer): void {
    if (!this.closed) this.socket.send(result);
  }

  /** Close from our side (switching servers, stopping). Emits `closed` with code `local`. */
  close(): void {
    this.finish({ code: 'local', message: 'closed by the agent' });
  }

  private onMessage(msg: ServerMessage): void {
    this.lastInbound = performance.now();
    switch (msg.type) {
      case 'ping':
        this.socket.send({ type: 'pong' });
        return;
      case 'pong':
        return;
      case 'hosts':
        this.deliver({ kind: 'hosts', msg });
        return;
      case 'error':
        this.finish({ code: 'server_error', message: msg.message, serverCode: msg.code });
        return;
      case 'welcome':
        this.finish({ code: 'protocol_error', message: 'a second welcome from the server' });
        return;
      case 'call':
      case 'cancel':
        // protocol.md section 4.4: calls exist only on a version 2 connection.
        if (this.welcome.version < CALLS_VERSION) {
          this.finish({ code: 'protocol_error', message: `"${msg.type}" on a version ${this.welcome.version} connection` });
        } else if (msg.type === 'call') {
          this.deliver({ kind: 'call', msg });
        } else {
          this.deliver({ kind: 'cancel', id: msg.id });
        }
        return;
    }
  }

  private finish(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearInterval(this.pingTimer);
    clearTimeout(this.deadlineTimer);
    this.pingTimer = undefined;
    this.deadlineTimer = undefined;
    if (reason.code === 'local') this.endGracefully();
    else this.socket.destroy();
    this.deliver({ kind: 'closed', reason });
  }

  /** Flush what we sent (an ack, say) before the FIN; a peer that never closes is cut off. */
  private endGracefully(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private deliver(item: Pending): void {
    if (!this.started) {
      this.pending.push(item);
    } else if (item.kind === 'hosts') {
      if (!this.closed) this.emit('hosts', item.msg);
    } else if (item.kind === 'call') {
      if (!this.closed) this.emit('call', item.msg);
    } else if (item.kind === 'cancel') {
      if (!this.closed) this.emit('cancel', item.id);
    } else {
      this.emit('closed', item.reason);
    }
  }
}

/**
 * Connect to `server`, send `hello` and wait for `welcome`. Resolves to a Session, or to a
 * HandshakeFailure saying why not (refused, timed out, closed, the server's error code, or
 * `signal` aborted). Never rejects.
 */
export async function openSession(
  server: ServerEntry,
  hello: Hello,
  opts: SessionOptions,
  signal?: AbortSignal,
): Promise<Session | HandshakeFailure> {
  if (signal?.aborted) return new HandshakeFailure('aborted', 'stopped before connecting');
  let socket: FramedSocket;
  try {
    socket = await raceAbort(connectFramed({ host: server.host, port: server.port, timeoutMs: opts.connectTimeoutMs, ...(opts.tls ? { tls: opts.tls } : {}) }), signal);
  } catch (err) {
    if (err instanceof AbortedError) return new HandshakeFailure('aborted', 'stopped while connecting');
    return connectFailure(server, err as Error, opts);
  }
  return handshake(server, socket, hello, opts, signal);
}

class AbortedError extends Error {}

/**
 * A TLS agent whose server answered the TLS handshake in plain TCP is told so, with the fix;
 * OpenSSL's code stays in the message and the original error is the cause.
 */
function connectFailure(server: ServerEntry, err: Error, opts: SessionOptions): HandshakeFailure {
  const tlsCode = err instanceof ConnectError ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  if (opts.tls !== undefined && isPlainPeerError(tlsCode)) {
    return new HandshakeFailure('connect_failed', `${plainServerHint(server.text)} (${tlsCode})`, undefined, { cause: err });
  }
  return new HandshakeFailure('connect_failed', err.message);
}

/** How many of a server's first bytes are kept to recognise a TLS record (type and version). */
const FIRST_BYTES_KEPT = 2;

/** Resolve as `promise`, or reject with AbortedError on abort; a late result is closed. */
function raceAbort(promise: Promise<FramedSocket>, signal: AbortSignal | undefined): Promise<FramedSocket> {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (socket) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) socket.destroy();
        else resolve(socket);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function handshake(
  server: ServerEntry,
  socket: FramedSocket,
  hello: Hello,
  opts: SessionOptions,
  signal: AbortSignal | undefined,
): Promise<Session | HandshakeFailure> {
  return new Promise((resolve) => {
    const fail = (failure: HandshakeFailure): void => {
      cleanup();
      socket.destroy();
      resolve(failure);
    };
    const onMessage = (msg: ServerMessage): void => {
      if (msg.type === 'welcome' && msg.version !== hello.version) {
        // protocol.md section 9: the welcome names the version of the hello, or it is not an answer to it.
        fail(new HandshakeFailure('bad_reply', `welcome for protocol version ${msg.version}, hello asked for ${hello.version}`));
      } else if (msg.type === 'welcome') {
        cleanup();
        // Built synchronously inside this 'message' event, so frames that follow the welcome
        // in the same chunk reach the session's own listener.
        resolve(new Session(server, msg, socket, opts));
      } else if (msg.type === 'error') {
        fail(new HandshakeFailure('server_error', `${msg.code}: ${msg.message}`, msg.code));
      } else {
        fail(new HandshakeFailure('bad_reply', `expected welcome, got ${msg.type}`));
      }
    };
    // A plain agent keeps the server's first bytes: a TLS server answers it with a TLS record
    // or a bare close (protocol.md section 1.1), which the failure then names as the likely cause.
    let firstBytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      if (firstBytes.length < FIRST_BYTES_KEPT) firstBytes = Buffer.concat([firstBytes, chunk]).subarray(0, FIRST_BYTES_KEPT);
    };
    const tlsExpected = (): boolean => opts.tls === undefined && looksLikeTlsRecord(firstBytes);
    const onProtocolError = (err: Error): void =>
      fail(new HandshakeFailure('bad_reply', tlsExpected() ? `${tlsServerHint(server.text)} (${err.message})` : err.message));
    const onClose = (): void => {
      let message = 'the server closed the connection before welcome';
      if (tlsExpected()) message = tlsServerHint(server.text);
      else if (opts.tls === undefined && firstBytes.length === 0) message = silentCloseHint(server.text);
      fail(new HandshakeFailure('closed', message));
    };
    const onAbort = (): void => fail(new HandshakeFailure('aborted', 'stopped during the handshake'));
    const timer = setTimeout(
      () => fail(new HandshakeFailure('handshake_timeout', `no welcome within ${opts.handshakeTimeoutMs} ms`)),
      opts.handshakeTimeoutMs,
    );
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('protocolError', onProtocolError);
      socket.off('close', onClose);
      socket.socket.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
    }
    // Prepended: the framed socket's own listener may report a protocol error on this chunk.
    if (opts.tls === undefined) socket.socket.prependListener('data', onData);
    socket.on('message', onMessage);
    socket.on('protocolError', onProtocolError);
    socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.send(hello);
  });
}
