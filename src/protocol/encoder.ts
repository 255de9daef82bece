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
import { Message } from './messages';

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
  // packr.pack returns a view into its reusable scratch buffer; copy it out once, behind the header.
  const payload = packr.pack(canonical(msg));
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, HEADER_BYTES);
  return frame;
}
