/**
 * Payload bytes -> plain value (decodePayload), and the whole inbound path
 * bytes -> frames -> values -> validated messages (MessageReader).
 */
import { Options, Unpackr } from 'msgpackr';
import { FrameDecoder } from './frame-decoder';
import { decodeHello } from './hello-decoder';
import { AgentMessage, ProtocolError, ServerMessage } from './messages';
import { scanPayload } from './msgpack-subset';
import { validateAgentMessage, validateServerMessage } from './validate';

/**
 * Configured for untrusted input. scanPayload() has already refused ext/bin types, so these
 * options only decide how the admitted subset becomes JS values:
 * - useRecords/structuredClone off: no record definitions or reference graphs;
 * - mapsAsObjects: maps become plain objects (msgpackr would rename a `__proto__` key: a
 *   payload that may hold one is decoded through Maps instead, below; validate.ts copies
 *   known keys into fresh objects anyway);
 * - int64AsType 'auto': a uint64/int64 within 2^53 becomes a number, anything larger a bigint,
 *   which validation rejects, instead of silently losing precision.
 */
const UNTRUSTED: Options = {
  useRecords: false,
  structuredClone: false,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings.
  int64AsType: 'auto' as Options['int64AsType'],
};
const unpackr = new Unpackr({ ...UNTRUSTED, mapsAsObjects: true });

/**
 * The same decoding with maps as Maps, for the rare payload that may hold a `__proto__` key:
 * msgpackr renames that key to `__proto_` in its objects, so a call's params or a result's
 * value holding one arrived changed (found by test/fuzz/codec.test.ts). withPlainObjects()
 * then makes the objects, the key kept as a plain own key, never the prototype.
 */
const mapUnpackr = new Unpackr({ ...UNTRUSTED, mapsAsObjects: false });

const PROTO_KEY = Buffer.from('__proto__');

/** Maps (string keys: scanPayload admits no other) to plain objects, arrays copied through. */
function withPlainObjects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withPlainObjects);
  if (!(value instanceof Map)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of value as Map<string, unknown>) {
    Object.defineProperty(out, key, { value: withPlainObjects(item), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Decodes exactly one msgpack value filling `payload`; bad_frame otherwise. */
export function decodePayload(payload: Buffer): unknown {
  const entries = scanPayload(payload);
  if (entries instanceof ProtocolError) return entries;
  let value: unknown;
  try {
    // A byte search first: only a payload with those bytes somewhere pays for the Maps.
    value = payload.includes(PROTO_KEY) ? withPlainObjects(mapUnpackr.unpack(payload)) : unpackr.unpack(payload);
    /* c8 ignore start */
  } catch (err) {
    // Unreachable while scanPayload admits only what msgpackr decodes: a last line of defence
    // against a future msgpackr change, so that it still cannot throw into a socket handler.
    return new ProtocolError('bad_frame', `payload could not be decoded: ${String(err)}`);
  }
  /* c8 ignore stop */
  // A repeated key would be decoded as "last one wins"; refuse the ambiguity instead.
  if (entries >= 0 && Object.keys(value as object).length !== entries) {
    return new ProtocolError('bad_frame', 'payload map repeats a key');
  }
  return value;
}

export type Direction = 'agent' | 'server';

/** The messages a reader yields: accept 'agent' reads what agents send, i.e. AgentMessage. */
export type AcceptedMessage<D extends Direction> = D extends 'agent' ? AgentMessage : ServerMessage;

export interface MessageReaderOptions<D extends Direction> {
  maxFrame?: number;
  /** Whose messages this reader accepts; the other side's message types are bad_message. */
  accept: D;
}

/** Returning a ProtocolError stops the reader; it is poisoned with that error. */
export type MessageHandler<M, This = unknown> = (this: This, message: M) => ProtocolError | void;

export class MessageReader<D extends Direction> {
  private readonly frames: FrameDecoder;
  private readonly validate: (value: unknown) => AcceptedMessage<D> | ProtocolError;
  /** Agent messages: a plain hello takes the one-pass decoder (hello-decoder.ts). */
  private readonly fastHello: boolean;
  /** The handler of the push in progress (push is synchronous), and its `this`: no closure per chunk. */
  private onMessage: MessageHandler<AcceptedMessage<D>, unknown> | undefined;
  private thisArg: unknown;
  /** Made once per reader, not once per push. */
  private readonly onFrame = (payload: Buffer): ProtocolError | void => this.frame(payload);

  constructor(opts: MessageReaderOptions<D>) {
    this.frames = new FrameDecoder({ maxFrame: opts.maxFrame });
    this.fastHello = opts.accept === 'agent';
    this.validate = (opts.accept === 'agent' ? validateAgentMessage : validateServerMessage) as (
      value: unknown,
    ) => AcceptedMessage<D> | ProtocolError;
  }

  /** The error that poisoned this reader, if any. */
  get error(): ProtocolError | undefined {
    return this.frames.error;
  }

  /**
   * Feeds bytes; calls onMessage (with `thisArg` as its this) for each complete valid message
   * in order. Returns the first error (framing, decoding, validation, or one returned by
   * onMessage); later pushes return it too.
   */
  push<This = undefined>(chunk: Buffer, onMessage: MessageHandler<AcceptedMessage<D>, This>, thisArg?: This): ProtocolError | undefined {
    // Saved and restored: a handler may push into this same reader again.
    const outer = this.onMessage;
    const outerThis = this.thisArg;
    this.onMessage = onMessage as MessageHandler<AcceptedMessage<D>, unknown>;
    this.thisArg = thisArg;
    try {
      return this.frames.push(chunk, this.onFrame);
    } finally {
      this.onMessage = outer;
      this.thisArg = outerThis;
    }
  }

  private frame(payload: Buffer): ProtocolError | void {
    const hello = this.fastHello ? decodeHello(payload) : undefined;
    if (hello !== undefined) return this.onMessage!.call(this.thisArg, hello as AcceptedMessage<D>);
    const value = decodePayload(payload);
    if (value instanceof ProtocolError) return value;
    const message = this.validate(value);
    if (message instanceof ProtocolError) return message;
    return this.onMessage!.call(this.thisArg, message);
  }
}
