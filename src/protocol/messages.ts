/**
 * The messages of protocol.md, as plain typed values. This file holds only types and
 * constants; validation of decoded values lives in validate.ts, bytes in decoder/encoder.
 */

/** The newest version this code speaks: what an agent says in `hello.version`. */
export const PROTOCOL_VERSION = 2;

/** Every version this code speaks, oldest first (protocol.md section 9). */
export const PROTOCOL_VERSIONS: readonly number[] = [1, 2];

/** The first version with `call`, `result` and `cancel` (protocol.md section 4.4). */
export const CALLS_VERSION = 2;

/** Default and hard ceiling for a frame's payload length (protocol.md "Framing"). */
export const DEFAULT_MAX_FRAME = 65_536;

/** Error codes carried by `error` frames and by ProtocolError values. */
export const ERROR_CODES = [
  'bad_frame',
  'bad_message',
  'unsupported_version',
  'unauthorized',
  'handshake_timeout',
  'server_busy',
  'shutting_down',
  'draining',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface Hello {
  type: 'hello';
  version: number;
  guid: string;
  zone?: string;
  hosts: string[];
  algorithm: string;
  checkInterval?: number;
  token?: string;
  /** A PKCS#10 certificate request (PEM) for this guid: enrolment or renewal (protocol.md 1.1). */
  csr?: string;
}

export interface Welcome {
  type: 'welcome';
  version: number;
  hostId: number;
  server: string;
  /** Milliseconds between the server's pings; the agent declares it dead after 3 silent intervals. */
  pingInterval?: number;
  /** The certificate signed for `hello.csr` (PEM), when the server enrols agents. */
  certificate?: string;
}

export interface Hosts {
  type: 'hosts';
  seq: number;
  hosts: string[];
  algorithm: string;
  checkInterval: number;
  /**
   * true: run the preferred-host check at once (a real handshake, make-before-break) after
   * handling this list, instead of at the next interval (protocol.md section 5, rule 7). The
   * rebalance sends it; an agent that does not know it stays where it is.
   */
  recheck?: boolean;
}

export interface Ack {
  type: 'ack';
  seq: number;
  ok: boolean;
  error?: string;
}

export interface Ping {
  type: 'ping';
}

export interface Pong {
  type: 'pong';
}

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
}

/**
 * A call's `params` or a result's `value`: what MessagePack's admitted subset decodes to, which
 * is exactly what JSON can carry (protocol.md section 4.4).
 */
export type CallValue = null | boolean | number | string | CallValue[] | { [key: string]: CallValue };

/** Result error codes protocol.md defines; the set is open (any `[a-z0-9_]{1,64}` is accepted). */
export const CALL_ERROR_CODES = [
  'unknown_method',
  'handler_failed',
  'handler_refused',
  'timeout',
  'cancelled',
  'too_large',
  'busy',
  'internal',
] as const;

export interface CallError {
  code: string;
  message: string;
  /** The handler's exit status, for `handler_failed`. */
  exitCode?: number;
}

/** Server to agent, version 2: run `method` with `params` within `timeoutMs`. */
export interface Call {
  type: 'call';
  id: number;
  method: string;
  params?: CallValue;
  timeoutMs: number;
}

/** Agent to server, version 2: the outcome of call `id`. */
export interface Result {
  type: 'result';
  id: number;
  ok: boolean;
  value?: CallValue;
  error?: CallError;
}

/** Server to agent, version 2: stop call `id` (its timeout passed, or its caller went away). */
export interface Cancel {
  type: 'cancel';
  id: number;
}

export type AgentMessage = Hello | Ack | Ping | Pong | Result;
export type ServerMessage = Welcome | Hosts | ErrorMessage | Ping | Pong | Call | Cancel;
export type Message = AgentMessage | ServerMessage;
export type MessageType = Message['type'];

/** A protocol fault as a value: never thrown out of a socket handler. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}
