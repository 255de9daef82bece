/**
 * Streaming frame decoder (protocol.md "Framing"): a 4-byte unsigned big-endian length L, then
 * L payload bytes, 1 <= L <= maxFrame.
 *
 * Frames that lie whole inside one pushed chunk are handed out as zero-copy views of that chunk.
 * Only a frame split across chunks is assembled, into a buffer allocated once its (already
 * checked) length is known, so every byte is copied at most once and at most
 * 4 + maxFrame bytes are ever held between pushes.
 */
import { DEFAULT_MAX_FRAME, ProtocolError } from './messages';

const HEADER_BYTES = 4;

/** bad_frame for a length above maxFrame: a limit biting, which the server counts apart. */
export class FrameTooLargeError extends ProtocolError {
  constructor(
    readonly length: number,
    readonly maxFrame: number,
  ) {
    super('bad_frame', `frame length ${length} exceeds the maximum of ${maxFrame}`);
  }
}

export interface FrameDecoderOptions {
  /** Largest accepted payload length; 1..DEFAULT_MAX_FRAME (the protocol's hard ceiling). */
  maxFrame?: number;
}

/**
 * Called once per complete payload, in stream order. The payload may be a view of the pushed
 * chunk. Returning a ProtocolError stops decoding: the decoder is poisoned with that error.
 */
export type FrameHandler = (payload: Buffer) => ProtocolError | void;

export class FrameDecoder {
  readonly maxFrame: number;
  /**
   * A header split across chunks. Allocated on first need: most connections never split one,
   * and an eager 4-byte Buffer costs ~180 bytes of heap per connection (a server holds 15 000).
   */
  private header: Buffer | undefined;
  private headerFill = 0;
  /** The payload of a frame split across chunks, once its header is complete. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  private failure: ProtocolError | undefined;

  constructor(opts: FrameDecoderOptions = {}) {
    const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    if (!Number.isInteger(maxFrame) || maxFrame < 1 || maxFrame > DEFAULT_MAX_FRAME) {
      // A configuration bug, found at construction, never on a socket path.
      throw new RangeError(`maxFrame must be an integer in 1..${DEFAULT_MAX_FRAME}, got ${maxFrame}`);
    }
    this.maxFrame = maxFrame;
  }

  /** The error that poisoned this decoder, if any. */
  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /** Bytes held for an incomplete frame (header and payload so far). */
  get buffered(): number {
    return this.headerFill + this.bodyFill;
  }

  push(chunk: Buffer, onFrame: FrameHandler): ProtocolError | undefined {
    if (this.failure) return this.failure;
    let pos = this.headerFill > 0 || this.body ? this.continuePending(chunk, onFrame) : 0;
    while (pos >= 0 && chunk.length - pos >= HEADER_BYTES) {
      const length = chunk.readUInt32BE(pos);
      const bad = this.checkLength(length);
      if (bad) return this.fail(bad);
      if (chunk.length - pos - HEADER_BYTES < length) break;
      const start = pos + HEADER_BYTES;
      pos = start + length;
      const stop = onFrame(chunk.subarray(start, pos));
      if (stop) return this.fail(stop);
    }
    if (pos < 0) return this.failure;
    this.stashTail(chunk, pos);
    return undefined;
  }

  /** Feeds the start of `chunk` to the frame in progress; returns where the rest begins, or -1 on error. */
  private continuePending(chunk: Buffer, onFrame: FrameHandler): number {
    let pos = 0;
    if (!this.body) {
      const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length);
      const header = this.headerBuffer();
      chunk.copy(header, this.headerFill, 0, take);
      this.headerFill += take;
      pos = take;
      if (this.headerFill < HEADER_BYTES) return pos;
      if (!this.startBody(header.readUInt32BE(0))) return -1;
    }
    const body = this.body as Buffer;
    const take = Math.min(body.length - this.bodyFill, chunk.length - pos);
    chunk.copy(body, this.bodyFill, pos, pos + take);
    this.bodyFill += take;
    pos += take;
    if (this.bodyFill < body.length) return pos;
    this.resetPending();
    const stop = onFrame(body);
    if (stop) {
      this.fail(stop);
      return -1;
    }
    return pos;
  }

  /** Keeps the incomplete frame at the end of `chunk` (fewer than 4 + L bytes). */
  private stashTail(chunk: Buffer, pos: number): void {
    const tail = chunk.length - pos;
    if (tail === 0) return;
    if (tail < HEADER_BYTES) {
      chunk.copy(this.headerBuffer(), 0, pos);
      this.headerFill = tail;
      return;
    }
    // The loop in push() already checked this header; the body is read from `chunk` itself.
    this.headerFill = HEADER_BYTES;
    this.startBody(chunk.readUInt32BE(pos));
    const body = this.body as Buffer;
    this.bodyFill = chunk.copy(body, 0, pos + HEADER_BYTES);
  }

  private headerBuffer(): Buffer {
    this.header ??= Buffer.alloc(HEADER_BYTES);
    return this.header;
  }

  private startBody(length: number): boolean {
    const bad = this.checkLength(length);
    if (bad) {
      this.fail(bad);
      return false;
    }
    this.body = Buffer.allocUnsafe(length);
    this.bodyFill = 0;
    return true;
  }

  private checkLength(length: number): ProtocolError | undefined {
    if (length === 0) return new ProtocolError('bad_frame', 'frame length 0: a frame must hold one message');
    if (length > this.maxFrame) return new FrameTooLargeError(length, this.maxFrame);
    return undefined;
  }

  private resetPending(): void {
    this.headerFill = 0;
    this.body = undefined;
    this.bodyFill = 0;
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failure = error;
    this.resetPending();
    return error;
  }
}
