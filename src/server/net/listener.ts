/**
 * The agent listener: a net.Server handing each socket to its own AgentConnection. It holds
 * every connection (handshaking ones too) so shutdown can reach them all.
 *
 * Each accepted socket passes admission first (src/security/admission.ts: agents, handshakes
 * in progress, connection rate per source); with TLS, an admitted socket then goes through the
 * TLS terminator, and the same handler gets the TLSSocket.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TLSSocket, type Server as TlsServer } from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { encodeMessage } from '../../protocol/encoder';
import type { ErrorCode } from '../../protocol/messages';
import { Admission, isRefusal, type AdmissionLimits, type AdmissionTicket } from '../../security/admission';
import type { ListenerTls } from '../../security/tls-files';
import { createTlsTerminator, refuseCertificate, secureContextOptions } from '../../security/tls-terminator';
import { AGENT_REFUSED_CERTIFICATE, agentRefusedCertificate, rawSocketOf } from '../../security/tls-refused';
import { formatAddress } from '../../util/address';
import { PingQueue } from './ping-queue';
import { AgentConnection, type ConnectionContext, type ConnectionLimits } from './connection';
import type { ServerEvents } from '../events';

/** Agents told `shutting_down` per turn of the loop when the listener closes. */
export const CLOSE_SLICE = 256;

/** Where the agent listener listens, and the name it gives agents. */
export interface ListenOptions {
  host: string;
  port: number;
  /** `welcome.server`; default: the local address the agent reached, with the listen port. */
  advertise: string | undefined;
}

export const DEFAULT_LISTEN_OPTIONS: Readonly<ListenOptions> = Object.freeze({ host: '0.0.0.0', port: 8250, advertise: undefined });

/** The listener's options, one group per owner: it keeps `listen`, hands the rest on. */
export interface ListenerOptions {
  listen: ListenOptions;
  /** Given to every connection as its `limits`. */
  connection: ConnectionLimits;
  /** The socket admission's limits (src/security/admission.ts). */
  admission: AdmissionLimits;
  /** Speak TLS to agents (certificate, key, optional client CA); undefined: plain TCP. */
  tls: ListenerTls | undefined;
}

/** The parts of a ConnectionContext the listener does not supply itself. */
export type ConnectionServices = Omit<ConnectionContext, 'limits' | 'events' | 'pings' | 'advertisedAddress' | 'handshakeDone' | 'connectionClosed'>;

/** A hello is timed out at most a tenth of the timeout late. */
function sweepIntervalMs(handshakeTimeoutMs: number): number {
  return Math.max(1, Math.ceil(handshakeTimeoutMs / 10));
}

/** Shared by every socket: an 'error' listener must exist, and one per socket would cost a closure each. */
function ignoreSocketError(): void {}

export class AgentListener {
  private readonly server: net.Server;
  private readonly tlsTerminator: TlsServer | undefined;
  /** The TLS material in use (replaced by setTls on reload). */
  private tls: ListenerTls | undefined;
  private readonly admission: Admission;
  /** Every open connection with its admission ticket (released when it closes). */
  private readonly connections = new Map<AgentConnection, AdmissionTicket>();
  /** Admitted sockets still in their TLS handshake, by remote address (to find their ticket). */
  private readonly tlsPending = new Map<string, { socket: net.Socket; ticket: AdmissionTicket }>();
  /**
   * Connections whose hello/registration is not done yet, by connId, in accept order: the
   * handshake-timeout sweep walks it from the oldest and stops at the first not yet due.
   */
  private readonly handshaking = new Map<number, AgentConnection>();
  private handshakeSweep: NodeJS.Timeout | undefined;
  private readonly context: ConnectionContext;
  private nextConnId = 1;
  private port = 0;
  private accepting = true;
  /** While set, new connections get this error at accept (a draining server admits nobody). */
  private refusal: { code: ErrorCode; message: string } | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ListenerOptions,
    private readonly events: ServerEvents,
    services: ConnectionServices,
  ) {
    this.context = {
      ...services,
      limits: options.connection,
      events,
      pings: new PingQueue(options.connection.pingIntervalMs),
      advertisedAddress: (socket) => this.advertisedAddress(socket),
      handshakeDone: (connection) => this.onHandshakeDone(connection),
      connectionClosed: (connection) => this.onConnectionClosed(connection),
    };
    this.admission = new Admission(options.admission);
    this.tls = options.tls;
    this.tlsTerminator =
      options.tls &&
      createTlsTerminator(options.tls, options.connection.handshakeTimeoutMs, {
        secure: (socket) => this.onSecure(socket),
        failed: (error, socket) => this.onTlsFailed(error, socket),
      });
    this.server = net.createServer({ noDelay: true }, (socket) => this.onSocket(socket));
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        this.port = address.port;
        const timeoutMs = this.options.connection.handshakeTimeoutMs;
        // After a stall of the event loop, timers run before pending input is read: judge
        // only once what already arrived has been read (setImmediate runs after the poll phase).
        this.handshakeSweep = setInterval(() => setImmediate(() => this.sweepHandshakes()), sweepIntervalMs(timeoutMs));
        this.handshakeSweep.unref();
        resolve(address);
      });
    });
  }

  /**
   * New TLS material (SIGHUP): handshakes from now on use it, connected agents keep theirs.
   * Throws, changing nothing, when this listener speaks no TLS or the material is unusable.
   */
  setTls(tls: ListenerTls): void {
    if (this.tlsTerminator === undefined) throw new Error('this server speaks plain TCP to agents: TLS cannot be added without a restart');
    this.tlsTerminator.setSecureContext(secureContextOptions(tls));
    this.tls = tls;
  }

  /** Sends `error {code}` to every connected agent whose socket matches and closes it; returns how many. */
  failWhere(match: (socket: net.Socket) => boolean, code: ErrorCode, message: string): number {
    let failed = 0;
    for (const connection of this.connections.keys()) {
      if (!connection.isOpen || !match(connection.socket)) continue;
      connection.fail(code, message);
      failed++;
    }
    return failed;
  }

  /** Refuses every new connection with `refusal` (undefined: admit again); open ones stay. */
  refuseNew(refusal: { code: ErrorCode; message: string } | undefined): void {
    this.refusal = refusal;
  }

  /**
   * Stops accepting, sends `error {code}` to every agent and waits until every connection
   * has closed (each is destroyed after closeGraceMs if its peer does not close first).
   */
  close(code: 'shutting_down' | 'draining', message: string): Promise<void> {
    this.closing ??= (async () => {
      this.accepting = false;
      clearInterval(this.handshakeSweep);
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      // Still in their TLS handshake: nothing can be told to them yet.
      for (const { socket } of this.tlsPending.values()) socket.destroy();
      const connections = [...this.connections.keys()];
      // A slice at a time, the loop given back between slices: 15 000 agents told at once
      // (a frame and a socket end each) held the loop ~2 s, so pings and the admin API of the
      // stopping server froze. New connections are refused meanwhile (accepting is false).
      for (let i = 0; i < connections.length; i++) {
        if (i > 0 && i % CLOSE_SLICE === 0) await nextTurn();
        connections[i]!.fail(code, message, 'shutting_down');
      }
      // The server's callback can come before the sockets' own close events: wait for both,
      // so every `disconnected` is reported before close() resolves.
      await Promise.all([serverClosed, ...connections.map((connection) => connection.closed)]);
    })();
    return this.closing;
  }

  private onSocket(socket: net.Socket): void {
    // A socket error before the connection's own handler is attached must not crash us.
    socket.on('error', ignoreSocketError);
    if (!this.accepting || this.refusal !== undefined) {
      const { code, message } = !this.accepting ? { code: 'shutting_down' as const, message: 'this server is shutting down' } : this.refusal!;
      const remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
      this.events.emit('handshake', { connId: this.nextConnId++, remoteAddress, result: code, detail: message, durationMs: 0 });
      this.refuse(socket, code, message);
      return;
    }
    const ticket = this.admission.admit(socket.remoteAddress);
    if (isRefusal(ticket)) {
      const remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
      this.events.emit('limitReached', { limit: ticket.limit, remoteAddress, message: ticket.message });
      this.refuse(socket, 'server_busy', ticket.message);
      return;
    }
    if (this.tlsTerminator === undefined) {
      // The connection's own close handler releases the ticket (onConnectionClosed): one
      // 'close' listener per socket instead of three.
      this.startConnection(socket, ticket);
      return;
    }
    const remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    // With TLS the raw socket's close releases the ticket, whatever became of its TLS socket.
    socket.once('close', () => {
      ticket.closed();
      // Only its own entry: a new connection may already reuse the address and port.
      if (this.tlsPending.get(remoteAddress)?.socket === socket) this.tlsPending.delete(remoteAddress);
    });
    this.tlsPending.set(remoteAddress, { socket, ticket });
    this.tlsTerminator.emit('connection', socket);
  }

  private onSecure(socket: TLSSocket): void {
    const remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    const pending = this.tlsPending.get(remoteAddress);
    this.tlsPending.delete(remoteAddress);
    socket.on('error', () => undefined);
    if (pending === undefined || !this.accepting) {
      socket.destroy(); // its raw socket is gone or we are closing: nobody counts it any more
      return;
    }
    const refusal = refuseCertificate(socket, this.tls!);
    if (refusal !== undefined) {
      pending.ticket.handshakeDone();
      this.events.emit('tlsFailed', { remoteAddress, code: 'client_certificate', message: refusal });
      this.refuse(socket, 'unauthorized', refusal);
      return;
    }
    this.startConnection(socket, pending.ticket);
  }

  private onTlsFailed(error: Error & { code?: string }, socket: TLSSocket): void {
    // The TLS socket is destroyed by now; its raw socket still knows the peer and what was sent.
    const raw = rawSocketOf(socket);
    const remoteAddress = formatAddress(raw?.remoteAddress ?? socket.remoteAddress, raw?.remotePort ?? socket.remotePort);
    const code = error.code ?? 'tls_error';
    const message = error.message.trim();
    if (agentRefusedCertificate(code, raw?.bytesWritten ?? 0)) {
      this.events.emit('tlsFailed', { remoteAddress, code: AGENT_REFUSED_CERTIFICATE, message, cause: code });
    } else {
      this.events.emit('tlsFailed', { remoteAddress, code, message });
    }
  }

  private startConnection(socket: net.Socket, ticket: AdmissionTicket): void {
    const connection = new AgentConnection(this.nextConnId++, socket, this.context);
    this.connections.set(connection, ticket);
    this.handshaking.set(connection.connId, connection);
    connection.start();
  }

  /** Times out every handshake older than handshakeTimeoutMs (oldest first). */
  private sweepHandshakes(): void {
    const now = performance.now();
    const timeoutMs = this.options.connection.handshakeTimeoutMs;
    for (const connection of this.handshaking.values()) {
      if (connection.ageAt(now) < timeoutMs) break; // accept order: the rest are younger
      connection.timeOutHandshake(); // one still registering is left alone
    }
  }

  /** The handshake ended (any result): its slot is free for the next one. */
  private onHandshakeDone(connection: AgentConnection): void {
    if (!this.handshaking.delete(connection.connId)) return;
    this.connections.get(connection)?.handshakeDone();
  }

  private onConnectionClosed(connection: AgentConnection): void {
    const ticket = this.connections.get(connection);
    this.connections.delete(connection);
    this.handshaking.delete(connection.connId);
    if (this.tlsTerminator === undefined) ticket?.closed();
  }

  /**
   * Tells the peer why in one `error` frame and closes without reading from it. Over TLS a
   * socket refused before its TLS handshake cannot be told anything: it is just closed.
   */
  private refuse(socket: net.Socket, code: ErrorCode, message: string): void {
    if (this.tlsTerminator !== undefined && !(socket instanceof TLSSocket)) {
      socket.destroy();
      return;
    }
    socket.end(encodeMessage({ type: 'error', code, message }));
    socket.setTimeout(this.options.connection.closeGraceMs, () => socket.destroy());
  }

  private advertisedAddress(socket: net.Socket): string {
    return this.options.listen.advertise ?? formatAddress(socket.localAddress, this.port);
  }
}
