/** Byte helpers shared by the protocol tests. */
import { Packr } from 'msgpackr';

/** Bytes from hex, ignoring whitespace and `#` comments to the end of each line. */
export function hex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error(`not hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

/** A frame around `payload`, with its real length unless `length` says otherwise. */
export function frame(payload: Buffer, length = payload.length): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length, 0);
  return Buffer.concat([header, payload]);
}

/** An independent msgpack encoder (not the one under test), with ext types allowed. */
const anyPackr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: true });

export function pack(value: unknown): Buffer {
  return Buffer.from(anyPackr.pack(value));
}
