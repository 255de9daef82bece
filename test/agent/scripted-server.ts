/**
 * A tiny scriptable server for the agent's tests: it plays the misbehaviours a real agentlb
 * server must never show (silence, accept-then-close, a reply out of order), so the agent's
 * handling of them can be pinned. Real behaviour is tested against real servers.
 */
import * as net from 'node:net';
import type { Test } from 'tap';
import { encodeMessage } from '../../src/protocol/encoder';
import { MessageReader } from '../../src/protocol/message-decoder';
import { PROTOCOL_VERSION, type AgentMessage, type ServerMessage } from '../../src/protocol/messages';

export interface ScriptedConnection {
  readonly socket: net.Socket;
  /** Every message this connection received, in order. */
  readonly received: AgentMessage[];
  send(...messages: ServerMessage[]): void;
  /** Resolves with the first received message (past or future) that satisfies `match`. */
  arrival(match: (message: AgentMessage) => boolean): Promise<AgentMessage>;
}

export interface ScriptedServer {
  readonly port: number;
  readonly connections: ScriptedConnection[];
  /** Resolves with the connection once `count` connections have been accepted. */
  connection(count: number): Promise<ScriptedConnection>;
  close(): Promise<void>;
}

export interface Script {
  /** Called once per accepted connection, before any data. */
  onConnect?(conn: ScriptedConnection): void;
  onMessage?(conn: ScriptedConnection, message: AgentMessage): void;
}

/** Listens on 127.0.0.1:`port` (0: any free port). */
export function startScriptedServer(script: Script, port = 0): Promise<ScriptedServer> {
  const connections: ScriptedConnection[] = [];
  const waiters: Array<{ count: number; resolve: (c: ScriptedConnection) => void }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const reader = new MessageReader({ accept: 'agent' });
    const arrivals: Array<{ match: (m: AgentMessage) => boolean; resolve: (m: AgentMessage) => void }> = [];
    const conn: ScriptedConnection = {
      socket,
      received: [],
      send: (...messages) => {
        if (!socket.destroyed) socket.write(Buffer.concat(messages.map((m) => encodeMessage(m))));
      },
      arrival: (match) =>
        new Promise((resolve) => {
          const seen = conn.received.find(match);
          if (seen) resolve(seen);
          else arrivals.push({ match, resolve });
        }),
    };
    connections.push(conn);
    for (const waiter of waiters.filter((w) => w.count === connections.length)) waiter.resolve(conn);
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk, (message) => {
        conn.received.push(message);
        for (const waiter of arrivals.filter((w) => w.match(message))) {
          arrivals.splice(arrivals.indexOf(waiter), 1);
          waiter.resolve(message);
        }
        script.onMessage?.(conn, message);
      });
    });
    script.onConnect?.(conn);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections,
        connection: (count) =>
          new Promise((resolveConn) => {
            const existing = connections[count - 1];
            if (existing) resolveConn(existing);
            else waiters.push({ count, resolve: resolveConn });
          }),
        close: () =>
          new Promise<void>((resolveClose) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => resolveClose());
          }),
      });
    });
  });
}

/**
 * A port that refuses connections for the whole test: the local port of an open client
 * connection is bound but not listening, so a connect to it gets RST, and no other test
 * running in parallel can be handed it (as could happen to a port bound and released).
 */
export async function refusedPort(t: Test): Promise<number> {
  const holder = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const client = net.connect((holder.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  client.on('error', () => {});
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        client.destroy();
        holder.close(() => resolve());
      }),
  );
  return client.localPort as number;
}

/** A welcome of `version` (default: the newest, which the agent's hello asks for). */
export function welcome(pingInterval?: number, hostId = 1, version = PROTOCOL_VERSION): ServerMessage {
  return pingInterval === undefined
    ? { type: 'welcome', version, hostId, server: 'scripted' }
    : { type: 'welcome', version, hostId, server: 'scripted', pingInterval };
}

/** startScriptedServer, closed when test `t` ends. */
export async function serveScripted(t: Test, script: Script, port = 0): Promise<ScriptedServer> {
  const server = await startScriptedServer(script, port);
  t.teardown(() => server.close());
  return server;
}
