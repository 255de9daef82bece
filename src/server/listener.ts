/**
 * The agent listener: a net.Server handing each socket to its own AgentConnection. It holds
 * every connection (handshaking ones too) so shutdown can reach them all.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { encodeMessage } from '../protocol/encoder';
import { DEFAULT_MAX_FRAME, type ErrorCode } from '../protocol/messages';
import { AgentConnection, formatAddress, type ConnectionContext, type ConnectionLimits } from './connection';
import type { ServerEvents } from './events';

export interface ListenerOptions extends ConnectionLimits {
  host: string;
  port: number;
  /** Agents beyond this many are sent `error server_busy` and closed; 0 = no limit. */
  maxConnections: number;
  /** `welcome.server`; default: the local address the agent reached, with the listen port. */
  advertise: string | undefined;
}

export const DEFAULT_LISTENER_OPTIONS: ListenerOptions = {
  host: '0.0.0.0',
  port: 8250,
  handshakeTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
  maxMissedPings: 3,
  maxFrame: DEFAULT_MAX_FRAME,
  maxWriteBufferBytes: 1_048_576,
  closeGraceMs: 2_000,
  maxConnections: 0,
  advertise: undefined,
};

/** The parts of a ConnectionContext the listener does not supply itself. */
export type ConnectionServices = Omit<ConnectionContext, 'limits' | 'events' | 'advertisedAddress'>;

export class AgentListener {
  private readonly server: net.Server;
  private readonly connections = new Set<AgentConnection>();
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
      limits: options,
      events,
      advertisedAddress: (socket) => this.advertisedAddress(socket),
    };
    this.server = net.createServer({ noDelay: true }, (socket) => this.onSocket(socket));
  }

  /** Open connections, handshaking or not. */
  get connectionCount(): number {
    return this.connections.size;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        this.port = address.port;
        resolve(address);
      });
    });
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
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const connections = [...this.connections];
      for (const connection of connections) connection.fail(code, message, 'shutting_down');
      // The server's callback can come before the sockets' own close events: wait for both,
      // so every `disconnected` is reported before close() resolves.
      await Promise.all([serverClosed, ...connections.map((connection) => connection.closed)]);
    })();
    return this.closing;
  }

  private onSocket(socket: net.Socket): void {
    // A socket error before the connection's own handler is attached must not crash us.
    socket.on('error', () => undefined);
    const limit = this.options.maxConnections;
    if (!this.accepting || this.refusal !== undefined || (limit > 0 && this.connections.size >= limit)) {
      const { code, message } = !this.accepting
        ? { code: 'shutting_down' as const, message: 'this server is shutting down' }
        : (this.refusal ?? { code: 'server_busy' as const, message: `this server holds its maximum of ${limit} agents` });
      this.events.emit('handshake', {
        connId: this.nextConnId++,
        remoteAddress: formatAddress(socket.remoteAddress, socket.remotePort),
        result: code,
        durationMs: 0,
      });
      socket.end(encodeMessage({ type: 'error', code, message }));
      socket.setTimeout(this.options.closeGraceMs, () => socket.destroy());
      return;
    }
    const connection = new AgentConnection(this.nextConnId++, socket, this.context);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
    connection.start();
  }

  private advertisedAddress(socket: net.Socket): string {
    return this.options.advertise ?? formatAddress(socket.localAddress, this.port);
  }
}
