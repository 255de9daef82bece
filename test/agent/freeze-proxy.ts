/**
 * A TCP proxy in front of a real server that can play a powered-off machine: when frozen,
 * bytes in both directions are dropped and closes are not passed on (no FIN, no RST), so the
 * only way an agent can notice is its ping deadline. `reject` plays a host whose port accepts
 * and closes at once.
 */
import * as net from 'node:net';
import type { Test } from 'tap';

export type ProxyMode = 'forward' | 'frozen' | 'reject';

export interface FreezeProxy {
  readonly port: number;
  mode: ProxyMode;
  /** Where new connections go (change it to follow a restarted server to its new port). */
  targetPort: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Cut every open connection (ends a freeze's hung connections). */
  dropAll(): void;
}

export async function startFreezeProxy(t: Test, targetPort: number): Promise<FreezeProxy> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const proxy = {
    port: 0,
    mode: 'forward' as ProxyMode,
    targetPort,
    accepted: 0,
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
  const server = net.createServer((client) => {
    proxy.accepted += 1;
    track(client);
    if (proxy.mode === 'reject') {
      client.destroy();
      return;
    }
    const upstream = net.connect(proxy.targetPort, '127.0.0.1');
    track(upstream);
    const relay = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (proxy.mode === 'forward') to.write(chunk);
      });
      // A frozen machine sends no FIN: the other side is left hanging.
      from.on('close', () => {
        if (proxy.mode === 'forward') to.destroy();
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        proxy.dropAll();
        server.close(() => resolve());
      }),
  );
  return proxy;
}
