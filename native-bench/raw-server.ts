/**
 * The raw Node baseline: a `net` server that reads ONE length-prefixed frame per connection,
 * answers it with one pre-encoded response, and does nothing else (later bytes are read and
 * dropped). It is the ceiling for a Node process on this machine — every agentlb figure is
 * reported as a ratio to it, measured in the same run — and, holding N idle connections, the
 * floor for memory per connection.
 *
 * It knows framing only (4-byte big-endian length), not msgpack: the caller hands it the
 * response bytes, so it can never be slower than agentlb for a reason that is not the work.
 *
 * Run as a process: `node dist/native-bench/raw-server.js --response-hex HEX [--host H]
 * [--port P]` prints one JSON line `{"event":"listening","port":N}` on stdout.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

export interface RawServerOptions {
  /** The bytes written after the first complete frame of every connection. */
  response: Buffer;
  host?: string;
  /** 0 (default) for an ephemeral port. */
  port?: number;
  /** Listen backlog; the kernel caps it at net.core.somaxconn. */
  backlog?: number;
}

export interface RawServer {
  readonly port: number;
  /** Connections currently open. */
  connections(): number;
  /** Connections that received the response since start. */
  answered(): number;
  close(): Promise<void>;
}

const HEADER = 4;

/** Handles one socket: wait for the first whole frame, answer, then drain and ignore. */
function serveSocket(socket: net.Socket, response: Buffer, onAnswered: () => void): void {
  let pending: Buffer | undefined;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    const data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    if (data.length < HEADER || data.length < HEADER + data.readUInt32BE(0)) {
      pending = data;
      return;
    }
    pending = undefined;
    socket.removeListener('data', onData);
    // Keep reading (and dropping) so a client that sends more never stalls on a full buffer.
    socket.on('data', ignore);
    socket.write(response);
    onAnswered();
  };
  socket.on('data', onData);
}

function ignore(): void {}

export function startRawServer(opts: RawServerOptions): Promise<RawServer> {
  let open = 0;
  let answered = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open++;
    sockets.add(socket);
    socket.on('close', () => {
      open--;
      sockets.delete(socket);
    });
    serveSocket(socket, opts.response, () => answered++);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, backlog: opts.backlog ?? 4096 }, () => {
      server.removeListener('error', reject);
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        connections: () => open,
        answered: () => answered,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The process entry point; exported so a test can drive it in-process. */
export async function main(argv: string[]): Promise<RawServer> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'response-hex': { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
    },
    strict: true,
  });
  const hex = values['response-hex'];
  if (hex === undefined || hex.length === 0 || !/^([0-9a-f]{2})+$/i.test(hex)) {
    throw new Error('raw-server: --response-hex must be a non-empty hex string');
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`raw-server: --port must be 0..65535, got "${values.port}"`);
  }
  const server = await startRawServer({ response: Buffer.from(hex, 'hex'), host: values.host, port });
  process.stdout.write(JSON.stringify({ event: 'listening', port: server.port }) + '\n');
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  });
}
