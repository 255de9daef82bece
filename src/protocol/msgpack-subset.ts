/**
 * A structural gate run over every payload BEFORE msgpackr sees it (protocol.md "Encoding").
 *
 * msgpackr's extension table is process-global and decodes ext types into Dates, Sets, Errors,
 * RegExps, typed arrays, BigInts, bundled strings and record definitions, some of which change
 * how the rest of the buffer is read. Rather than trust that table (any module may add to it),
 * we admit only the protocol's subset: nil, bool, int, float64, str, array, map with str keys.
 * The scan is iterative (no recursion for an attacker to exhaust), O(payload), allocates nothing
 * per call (its stacks hold LIMITS.nestingDepth entries), and proves exactly one value fills the payload.
 */
import { LIMITS } from './limits';
import { ProtocolError } from './messages';

/** Result of a successful scan: entries of the top-level map, or -1 if the value is not a map. */
export type TopLevelMapEntries = number;

const FORBIDDEN: Readonly<Record<number, string>> = {
  0xc1: 'never-used byte 0xc1',
  0xc4: 'bin 8',
  0xc5: 'bin 16',
  0xc6: 'bin 32',
  0xc7: 'ext 8',
  0xc8: 'ext 16',
  0xc9: 'ext 32',
  0xca: 'float 32',
  0xd4: 'fixext 1',
  0xd5: 'fixext 2',
  0xd6: 'fixext 4',
  0xd7: 'fixext 8',
  0xd8: 'fixext 16',
};

/** Payload bytes after the type byte of fixed-size scalars. */
const FIXED_SIZE: Readonly<Record<number, number>> = {
  0xcb: 8, // float 64
  0xcc: 1,
  0xcd: 2,
  0xce: 4,
  0xcf: 8, // uint 8..64
  0xd0: 1,
  0xd1: 2,
  0xd2: 4,
  0xd3: 8, // int 8..64
};

function badFrame(message: string): ProtocolError {
  return new ProtocolError('bad_frame', message);
}

function readLength(p: Buffer, pos: number, bytes: number): number {
  if (bytes === 1) return p[pos] as number;
  return bytes === 2 ? p.readUInt16BE(pos) : p.readUInt32BE(pos);
}

/** What one value's leading bytes say; filled in place to keep the scan allocation-free. */
interface Token {
  /** Bytes following the type byte and length field (string body, scalar body). */
  size: number;
  /** Items a container opens (2 per map entry); 0 for scalars and empty containers. */
  items: number;
  isString: boolean;
  isMap: boolean;
  /** An array or map, empty or not: an empty one still counts as a level of nesting. */
  isContainer: boolean;
  /** Bytes of the length field after the type byte. */
  lengthBytes: number;
}

function set(token: Token, size: number, items: number, isString: boolean, isMap: boolean, isContainer: boolean, lengthBytes: number): undefined {
  token.size = size;
  token.items = items;
  token.isString = isString;
  token.isMap = isMap;
  token.isContainer = isContainer;
  token.lengthBytes = lengthBytes;
  return undefined;
}

/** Describes into `token` the value starting with type byte `t`, whose length field is at `pos`. */
function describe(token: Token, t: number, p: Buffer, pos: number): ProtocolError | undefined {
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return set(token, 0, 0, false, false, false, 0);
  if (t <= 0x8f) return set(token, 0, 2 * (t & 0x0f), false, true, true, 0);
  if (t <= 0x9f) return set(token, 0, t & 0x0f, false, false, true, 0);
  if (t <= 0xbf) return set(token, t & 0x1f, 0, true, false, false, 0);
  const forbidden = FORBIDDEN[t];
  if (forbidden !== undefined) {
    return badFrame(`payload uses msgpack type 0x${t.toString(16)} (${forbidden}), which the protocol does not allow`);
  }
  const fixed = FIXED_SIZE[t];
  if (fixed !== undefined) return set(token, fixed, 0, false, false, false, 0);
  // What is left: str 8/16/32 (0xd9..0xdb), array 16/32 (0xdc, 0xdd), map 16/32 (0xde, 0xdf).
  const lengthBytes = t === 0xd9 ? 1 : t === 0xda || t === 0xdc || t === 0xde ? 2 : 4;
  if (pos + lengthBytes > p.length) return truncated();
  const n = readLength(p, pos, lengthBytes);
  if (t <= 0xdb) return set(token, n, 0, true, false, false, lengthBytes);
  if (t <= 0xdd) return set(token, 0, n, false, false, true, lengthBytes);
  return set(token, 0, 2 * n, false, true, true, lengthBytes);
}

function truncated(): ProtocolError {
  return badFrame('payload ends inside a msgpack value (truncated or garbage)');
}

// The scan runs to completion synchronously and never re-enters itself, so one set of stacks
// serves every call: nothing is allocated per frame on the server's hottest path.
// remaining[i]: items still expected in the i-th open container (2 per map entry; up to 2^33,
// exact in a double); openIsMap[i]: 1 when that container is a map.
const remaining = new Float64Array(LIMITS.nestingDepth);
const openIsMap = new Uint8Array(LIMITS.nestingDepth);
const token: Token = { size: 0, items: 0, isString: false, isMap: false, isContainer: false, lengthBytes: 0 };

/**
 * Checks that `payload` is exactly one msgpack value of the protocol's subset.
 * Returns the entry count of the top-level map (-1 when the value is not a map), or bad_frame.
 */
export function scanPayload(payload: Buffer): TopLevelMapEntries | ProtocolError {
  let depth = 0;
  let topLevelEntries = -1;
  let pos = 0;
  do {
    if (pos >= payload.length) return truncated();
    // Inside a map, items alternate key, value: with an even count left, the next item is a key.
    const isKey = depth > 0 && openIsMap[depth - 1] === 1 && remaining[depth - 1]! % 2 === 0;
    if (depth > 0) remaining[depth - 1]!--;
    const at = pos;
    const bad = describe(token, payload[pos++] as number, payload, pos);
    if (bad) return bad;
    if (isKey && !token.isString) return badFrame(`map key at byte ${at} is not a string`);
    pos += token.lengthBytes + token.size;
    if (pos > payload.length) return truncated();
    if (depth === 0 && token.isMap) topLevelEntries = token.items / 2;
    // `depth` containers are open around this value, so a container here is level depth + 1.
    if (token.isContainer && depth >= LIMITS.nestingDepth) {
      return badFrame(`payload nests arrays/maps deeper than ${LIMITS.nestingDepth} levels`);
    }
    if (token.items > 0) {
      remaining[depth] = token.items;
      openIsMap[depth] = token.isMap ? 1 : 0;
      depth++;
    }
    while (depth > 0 && remaining[depth - 1] === 0) depth--;
  } while (depth > 0);
  if (pos !== payload.length) {
    return badFrame(`payload has ${payload.length - pos} trailing byte(s) after its message`);
  }
  return topLevelEntries;
}
