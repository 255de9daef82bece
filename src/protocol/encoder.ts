/**
 * Message -> frame bytes (protocol.md "Framing", "Encoding").
 *
 * encodeMessage is a pure function of the message's field VALUES: each message is rewritten
 * into its canonical key order (the order of protocol.md's field tables) with absent optional
 * fields left out, so two equal messages always give identical bytes. That is what lets the
 * server encode one `hosts` frame and write it to every agent that gets the same list, and
 * what makes protocol.md's hex examples reproducible.
 */
import { Packr } from 'msgpackr';
import { DEFAULT_MAX_FRAME, Message, Welcome } from './messages';

/**
 * variableMapSize: fixmap for small maps (msgpackr writes map16 for every object otherwise).
 * Integers above 2^32 come out as float64 holding an integral value, which protocol.md allows.
 */
const packr = new Packr({ useRecords: false, variableMapSize: true });

const HEADER_BYTES = 4;

/** The message's fields, in canonical order, without absent optional fields or unknown keys. */
function canonical(msg: Message): Record<string, unknown> {
  switch (msg.type) {
    case 'hello': {
      const out: Record<string, unknown> = { type: msg.type, version: msg.version, guid: msg.guid };
      if (msg.zone !== undefined) out.zone = msg.zone;
      out.hosts = msg.hosts;
      out.algorithm = msg.algorithm;
      if (msg.checkInterval !== undefined) out.checkInterval = msg.checkInterval;
      if (msg.token !== undefined) out.token = msg.token;
      if (msg.csr !== undefined) out.csr = msg.csr;
      return out;
    }
    case 'welcome': {
      const out: Record<string, unknown> = { type: msg.type, version: msg.version, hostId: msg.hostId, server: msg.server };
      if (msg.pingInterval !== undefined) out.pingInterval = msg.pingInterval;
      if (msg.certificate !== undefined) out.certificate = msg.certificate;
      return out;
    }
    case 'hosts': {
      const out: Record<string, unknown> = { type: msg.type, seq: msg.seq, hosts: msg.hosts, algorithm: msg.algorithm, checkInterval: msg.checkInterval };
      if (msg.recheck !== undefined) out.recheck = msg.recheck;
      return out;
    }
    case 'ack': {
      const out: Record<string, unknown> = { type: msg.type, seq: msg.seq, ok: msg.ok };
      if (msg.error !== undefined) out.error = msg.error;
      return out;
    }
    case 'error':
      return { type: msg.type, code: msg.code, message: msg.message };
    case 'call': {
      const out: Record<string, unknown> = { type: msg.type, id: msg.id, method: msg.method };
      if (msg.params !== undefined) out.params = msg.params;
      out.timeoutMs = msg.timeoutMs;
      return out;
    }
    case 'result': {
      const out: Record<string, unknown> = { type: msg.type, id: msg.id, ok: msg.ok };
      if (msg.value !== undefined) out.value = msg.value;
      if (msg.error !== undefined) {
        const error: Record<string, unknown> = { code: msg.error.code, message: msg.error.message };
        if (msg.error.exitCode !== undefined) error.exitCode = msg.error.exitCode;
        out.error = error;
      }
      return out;
    }
    case 'cancel':
      return { type: msg.type, id: msg.id };
    case 'ping':
    case 'pong':
      return { type: msg.type };
  }
}

/**
 * The complete frame (4-byte big-endian length, then the msgpack payload) in one fresh buffer
 * the encoder never touches again: safe to keep and to write to many sockets. Callers send only validated values; the
 * result is not checked against the receiver's maxFrame.
 */
export function encodeMessage(msg: Message): Buffer {
  return frameOf(packr.pack(canonical(msg)));
}

/**
 * The frame for `msg`, or undefined when its payload would exceed `maxFrame` (protocol.md
 * section 2): a call or result too large for one frame is refused, never split.
 */
export function encodeWithin(msg: Message, maxFrame: number = DEFAULT_MAX_FRAME): Buffer | undefined {
  const payload = packr.pack(canonical(msg));
  return payload.length > maxFrame ? undefined : frameOf(payload);
}

function frameOf(payload: Uint8Array): Buffer {
  // packr.pack returns a view into its reusable scratch buffer; copy it out once, behind the header.
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * A welcome's bytes around its hostId: everything else in it (version, server, pingInterval)
 * is the same for every agent of a server, so only the id is encoded per handshake.
 */
interface WelcomeTemplate {
  version: number;
  server: string;
  pingInterval: number | undefined;
  /** Frame header room + payload up to the hostId value. */
  head: Buffer;
  /** The payload after the hostId value. */
  tail: Buffer;
}

/** The last template made: a server has one (or one per local address it is reached on). */
let welcomeTemplate: WelcomeTemplate | undefined;

function templateOf(version: number, server: string, pingInterval: number | undefined): WelcomeTemplate {
  const cached = welcomeTemplate;
  if (cached !== undefined && cached.version === version && cached.server === server && cached.pingInterval === pingInterval) return cached;
  // Encoded twice, with ids 0 and 1 (one byte each): where they differ is the id's place.
  const message = (hostId: number): Welcome => ({ type: 'welcome', version, hostId, server, ...(pingInterval === undefined ? {} : { pingInterval }) });
  const zero = encodeMessage(message(0));
  const one = encodeMessage(message(1));
  let at = HEADER_BYTES;
  while (zero[at] === one[at]) at++;
  welcomeTemplate = { version, server, pingInterval, head: zero.subarray(0, at), tail: zero.subarray(at + 1) };
  return welcomeTemplate;
}

/** Bytes of msgpack's shortest encoding of a non-negative integer below 2^32 (what msgpackr writes). */
function uintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5;
}

function writeUint(frame: Buffer, at: number, value: number): void {
  if (value < 0x80) frame[at] = value;
  else if (value < 0x100) {
    frame[at] = 0xcc;
    frame[at + 1] = value;
  } else if (value < 0x10000) {
    frame[at] = 0xcd;
    frame.writeUInt16BE(value, at + 1);
  } else {
    frame[at] = 0xce;
    frame.writeUInt32BE(value, at + 1);
  }
}

/**
 * encodeMessage(welcome), byte for byte, followed by `after` (the first `hosts` frame) in the
 * same buffer: one allocation and one write per handshake, and no msgpack encoding but the
 * hostId's (test/protocol/encoder.test.ts compares it with encodeMessage).
 */
export function encodeWelcome(welcome: Welcome, after?: Buffer): Buffer {
  if (welcome.certificate !== undefined || !(welcome.hostId >= 0 && welcome.hostId < 2 ** 32 && Number.isInteger(welcome.hostId))) {
    const frame = encodeMessage(welcome);
    return after === undefined ? frame : Buffer.concat([frame, after], frame.length + after.length);
  }
  const { head, tail } = templateOf(welcome.version, welcome.server, welcome.pingInterval);
  const idBytes = uintBytes(welcome.hostId);
  const length = head.length + idBytes + tail.length;
  const frame = Buffer.allocUnsafe(length + (after === undefined ? 0 : after.length));
  // set(), not copy(): Buffer#copy's argument checks cost more than these few bytes do.
  frame.set(head, 0);
  frame.writeUInt32BE(length - HEADER_BYTES, 0);
  writeUint(frame, head.length, welcome.hostId);
  frame.set(tail, head.length + idBytes);
  if (after !== undefined) frame.set(after, length);
  return frame;
}
