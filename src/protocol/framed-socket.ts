/**
 * The client end of a connection as messages instead of bytes: used by the agent, the bench
 * harness and tests. Transport only: it neither answers pings nor reconnects; that is policy.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { encodeMessage } from './encoder';
import { MessageReader } from './message-decoder';
import { AgentMessage, ProtocolError, ServerMessage } from './messages';

export interface FramedSocketEvents {
  message: [message: ServerMessage];
  /** The server sent bytes that break the protocol; the socket is destroyed right after. */
  protocolError: [error: ProtocolError];
  /** Always emitted once; `error` is the socket error (or listener failure) that ended it, if any. */
  close: [error: Error | undefined];
}

export interface FramedSocketOptions {
  maxFrame?: number;
}

export class FramedSocket extends EventEmitter<FramedSocketEvents> {
  private readonly reader: MessageReader<'server'>;
  /** Messages that arrived while no 'message' listener was attached (see takeQueued). */
  private readonly queued: ServerMessage[] = [];
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly socket: net.Socket,
    opts: FramedSocketOptions = {},
  ) {
    super();
    this.reader = new MessageReader({ accept: 'server', maxFrame: opts.maxFrame });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.failure ??= err;
    });
    socket.on('close', () => {
      this.closed = true;
      this.guarded(() => this.emit('close', this.failure));
    });
    // Queued messages go to the first listener attached after they arrived. newListener fires
    // before the listener is added, so the flush waits one microtask (still before any new I/O).
    // (The typed event map does not list EventEmitter's own 'newListener'.)
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message' && this.queued.length > 0) queueMicrotask(() => this.flushQueued());
    });
  }

  /** True once the underlying socket has closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Writes one message (encoded here) or one pre-encoded frame. Returns the socket's
   * backpressure signal; false, without writing, once the socket can no longer be written.
   */
  send(message: AgentMessage | Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(Buffer.isBuffer(message) ? message : encodeMessage(message));
  }

  /** Ends the connection after pending writes are flushed. */
  end(): void {
    this.socket.end();
  }

  /** Closes the connection at once. */
  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  /** Removes and returns the oldest message that arrived while nobody listened. */
  takeQueued(): ServerMessage | undefined {
    return this.queued.shift();
  }

  private deliver(message: ServerMessage): void {
    if (this.listenerCount('message') === 0) this.queued.push(message);
    else this.emit('message', message);
  }

  private flushQueued(): void {
    let next: ServerMessage | undefined;
    while (this.listenerCount('message') > 0 && (next = this.queued.shift()) !== undefined) {
      this.guarded(() => this.emit('message', next as ServerMessage));
    }
  }

  private onData(chunk: Buffer): void {
    const error = this.reader.push(chunk, (message) => {
      this.guarded(() => this.deliver(message));
      // Stop decoding the rest of the chunk once a listener has failed.
      return this.socket.destroyed ? new ProtocolError('bad_frame', 'connection closed') : undefined;
    });
    if (error && !this.socket.destroyed) {
      this.guarded(() => this.emit('protocolError', error));
      this.socket.destroy();
    }
  }

  /** A listener's exception must not escape the socket's event handler: it ends the connection. */
  private guarded(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      this.socket.destroy();
    }
  }
}

export type ConnectErrorCode = 'connect_timeout' | 'connect_refused' | 'connect_failed';

export class ConnectError extends Error {
  constructor(
    readonly code: ConnectErrorCode,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectError';
  }
}

export interface ConnectOptions extends FramedSocketOptions {
  host: string;
  port: number;
  /** Covers the TCP connect and, with `tls`, the TLS handshake. */
  timeoutMs: number;
  /** Connect with TLS using these options (servername defaults to `host` when it is a name). */
  tls?: tls.ConnectionOptions;
  /** The local address to connect from (tests give sources their own address in 127/8). */
  localAddress?: string;
}

/** Connects and resolves once the connection (and TLS handshake, if any) is up. */
export function connectFramed(opts: ConnectOptions): Promise<FramedSocket> {
  return new Promise((resolve, reject) => {
    const target = `${opts.host}:${opts.port}`;
    const from = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
    const socket = opts.tls
      ? tls.connect({ ...opts.tls, ...from, host: opts.host, port: opts.port })
      : net.connect({ ...from, host: opts.host, port: opts.port });
    const timer = setTimeout(() => {
      fail(new ConnectError('connect_timeout', `connecting to ${target} took more than ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code === 'ECONNREFUSED' ? 'connect_refused' : 'connect_failed';
      fail(new ConnectError(code, `connecting to ${target} failed: ${err.message}`, { cause: err }));
    };
    const fail = (error: ConnectError): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    // `on`, not `once`: a late error after a timeout must still find a listener.
    socket.on('error', onError);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(new FramedSocket(socket, { maxFrame: opts.maxFrame }));
    });
  });
}

export type NextMessageErrorCode = 'message_timeout' | 'closed';

export class NextMessageError extends Error {
  constructor(
    readonly code: NextMessageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NextMessageError';
  }
}

/**
 * The next server message: one queued while nobody listened, or the next to arrive. Rejects
 * with the ProtocolError if the server breaks the protocol, or a NextMessageError on timeout
 * or close.
 */
export function nextMessage(sock: FramedSocket, timeoutMs: number): Promise<ServerMessage> {
  const queued = sock.takeQueued();
  if (queued) return Promise.resolve(queued);
  if (sock.isClosed) return Promise.reject(new NextMessageError('closed', 'the connection is closed'));
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      sock.off('message', onMessage);
      sock.off('protocolError', onProtocolError);
      sock.off('close', onClose);
    };
    const onMessage = (message: ServerMessage): void => {
      done();
      resolve(message);
    };
    const onProtocolError = (error: ProtocolError): void => {
      done();
      reject(error);
    };
    const onClose = (): void => {
      done();
      reject(new NextMessageError('closed', 'the connection closed before a message arrived'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new NextMessageError('message_timeout', `no message within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('message', onMessage);
    sock.on('protocolError', onProtocolError);
    sock.on('close', onClose);
  });
}
