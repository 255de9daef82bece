/**
 * The clients of the server-level fuzz run, each over a raw socket so it can send anything,
 * and the oracle that says what the server must answer a byte stream: the project's own
 * decoder (whose properties test/fuzz/codec.test.ts pins) run over the same bytes.
 */
import net from 'node:net';
import { encodeMessage } from '../../src/protocol/encoder';
import { MessageReader } from '../../src/protocol/message-decoder';
import { PROTOCOL_VERSION, PROTOCOL_VERSIONS, ProtocolError, type AgentMessage, type ServerMessage } from '../../src/protocol/messages';

/** What a client expects to receive first: an `error` frame with this code and message. */
export interface Expected {
  code: string;
  message: string;
}

export interface FuzzLimits {
  maxFrame: number;
  handshakeTimeoutMs: number;
}

/**
 * The server's first answer to `bytes` sent as a connection's whole input, or undefined when
 * they hold a hello it would accept (the caller draws another input: those are not bad).
 */
export function expectedReply(bytes: Buffer, limits: FuzzLimits): Expected | undefined {
  const reader = new MessageReader({ accept: 'agent', maxFrame: limits.maxFrame });
  let first: AgentMessage | undefined;
  const error = reader.push(bytes, (message) => {
    first = message;
    return new ProtocolError('bad_frame', 'the oracle stops at the first message');
  });
  if (first !== undefined) {
    if (first.type !== 'hello') return { code: 'bad_message', message: `expected hello first, got ${first.type}` };
    if (!PROTOCOL_VERSIONS.includes(first.version)) return { code: 'unsupported_version', message: `supported versions: ${PROTOCOL_VERSIONS.join(', ')}` };
    return undefined;
  }
  if (error !== undefined) return { code: error.code, message: error.message };
  return { code: 'handshake_timeout', message: `no hello within ${limits.handshakeTimeoutMs} ms` };
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type Random = () => number;

export function randomInt(random: Random, below: number): number {
  return Math.floor(random() * below);
}

export function randomBytes(random: Random, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = randomInt(random, 256);
  return out;
}

export function helloFrame(guid: string): Buffer {
  return encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: ['m1:8250', 'm2:8250'], algorithm: 'static', checkInterval: 0 });
}

export type BadKind = 'random' | 'random-payload' | 'mutated' | 'truncated' | 'oversized' | 'garbage-flood' | 'wrong-first' | 'other-version' | 'drip';

export const BAD_KINDS: readonly BadKind[] = ['random', 'random-payload', 'mutated', 'truncated', 'oversized', 'garbage-flood', 'wrong-first', 'other-version', 'drip'];

/** The bytes a bad client of `kind` sends, and what the server must answer them. */
export function badInput(kind: Exclude<BadKind, 'drip'>, random: Random, limits: FuzzLimits): { bytes: Buffer; expected: Expected } {
  for (;;) {
    const bytes = draw(kind, random, limits);
    const expected = expectedReply(bytes, limits);
    if (expected !== undefined) return { bytes, expected };
  }
}

function draw(kind: Exclude<BadKind, 'drip'>, random: Random, limits: FuzzLimits): Buffer {
  switch (kind) {
    case 'random':
      return randomBytes(random, 1 + randomInt(random, 64));
    case 'random-payload': {
      const payload = randomBytes(random, 1 + randomInt(random, 200));
      const header = Buffer.alloc(4);
      header.writeUInt32BE(payload.length, 0);
      return Buffer.concat([header, payload]);
    }
    case 'mutated': {
      const frame = helloFrame(`mutant-${randomInt(random, 1e9)}`);
      for (let flips = 1 + randomInt(random, 4); flips > 0; flips--) frame[randomInt(random, frame.length)] = randomInt(random, 256);
      return frame;
    }
    case 'truncated': {
      const frame = helloFrame('cut-short');
      return frame.subarray(0, randomInt(random, frame.length));
    }
    case 'oversized': {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(limits.maxFrame + 1 + randomInt(random, 2 ** 32 - limits.maxFrame - 1), 0);
      return header;
    }
    case 'garbage-flood':
      // A valid-looking first frame header, then far more bytes than any frame may hold.
      return Buffer.concat([Buffer.from([0, 0, 0, 16]), randomBytes(random, 256 * 1024)]);
    case 'wrong-first':
      return encodeMessage(randomInt(random, 2) === 0 ? { type: 'ping' } : { type: 'ack', seq: randomInt(random, 100), ok: true });
    case 'other-version':
      return encodeMessage({ type: 'hello', version: randomInt(random, 2) === 0 ? 0 : 2 + randomInt(random, 2 ** 40), guid: 'from-elsewhere', hosts: [], algorithm: '' });
  }
}

export interface ClientResult {
  /** The server's first frame, if one complete frame arrived. */
  first: ServerMessage | undefined;
  /** The server closed the connection (it always must, for a bad client). */
  closedByServer: boolean;
}

/**
 * Connects from `localAddress`, sends `bytes` (all at once, or one byte per `dripMs`), and
 * resolves once the server has closed the connection; fails after `deadlineMs`.
 */
export function runBadClient(
  port: number,
  localAddress: string,
  bytes: Buffer,
  options: { dripMs?: number; deadlineMs: number },
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const received: Buffer[] = [];
    let drip: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close a bad client within ${options.deadlineMs} ms`));
    }, options.deadlineMs);
    socket.on('error', () => undefined); // EPIPE/ECONNRESET after the server closed: expected
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('connect', () => {
      if (options.dripMs === undefined) {
        socket.write(bytes);
        return;
      }
      let next = 0;
      drip = setInterval(() => {
        if (next < bytes.length && socket.writable) socket.write(bytes.subarray(next, ++next));
      }, options.dripMs);
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      clearInterval(drip);
      resolve({ first: firstFrame(Buffer.concat(received)), closedByServer: true });
    });
  });
}

function firstFrame(bytes: Buffer): ServerMessage | undefined {
  let first: ServerMessage | undefined;
  new MessageReader({ accept: 'server' }).push(bytes, (message) => {
    first ??= message;
  });
  return first;
}

/**
 * An agent that handshakes, then stops reading and floods pings: the server must drop it at
 * its write-buffer cap. Resolves with the local port once the server closed it.
 */
export function runSlowConsumer(port: number, localAddress: string, guid: string, deadlineMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const pings = Buffer.concat(Array.from({ length: 4096 }, () => encodeMessage({ type: 'ping' })));
    let localPort = 0;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`a client that stopped reading was not dropped within ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('error', () => undefined);
    const flood = (): void => {
      while (!socket.destroyed && socket.write(pings));
    };
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.write(helloFrame(guid));
      socket.once('data', () => {
        socket.pause(); // the welcome arrived: from now on, read nothing
        flood();
        socket.on('drain', flood);
      });
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(localPort);
    });
  });
}
