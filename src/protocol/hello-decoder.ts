/**
 * A hand-written decoder for the common `hello` payload: one pass over the bytes straight into
 * a Hello, instead of the generic path (subset scan, msgpackr, duplicate-key count, schema
 * walk), which costs ~4 us per handshake (profiled under the handshake bench).
 *
 * It only ever ACCEPTS: anything it is not sure of (another message type, a key it does not
 * know, a repeated key, a non-ASCII string, a value of an unexpected msgpack type, a value out
 * of bounds, trailing bytes) returns undefined and the caller runs the generic path, which
 * gives the verdict and the exact error message. So for every payload this returns a Hello
 * for, the generic path returns the same Hello (test/protocol/hello-decoder.test.ts compares
 * them), and every refusal's code and text stay the generic path's.
 */
import { LIMITS } from './limits';
import type { Hello } from './messages';

/** Key ids, one bit each, to refuse a repeated key. */
const TYPE = 1;
const VERSION = 2;
const GUID = 4;
const ZONE = 8;
const HOSTS = 16;
const ALGORITHM = 32;
const CHECK_INTERVAL = 64;
const TOKEN = 128;
const CSR = 256;
const REQUIRED = TYPE | VERSION | GUID | HOSTS | ALGORITHM;

/** Each key's bytes. */
const key = (name: string): Buffer => Buffer.from(name, 'latin1');
const TYPE_KEY = key('type');
const VERSION_KEY = key('version');
const GUID_KEY = key('guid');
const ZONE_KEY = key('zone');
const HOSTS_KEY = key('hosts');
const ALGORITHM_KEY = key('algorithm');
const CHECK_INTERVAL_KEY = key('checkInterval');
const TOKEN_KEY = key('token');
const CSR_KEY = key('csr');

const HELLO_BYTES = Buffer.from('hello', 'latin1');

/** Whether p[start, end) holds exactly `bytes` (a loop: Buffer#compare's checks cost more for a few bytes). */
function equalBytes(bytes: Buffer, p: Buffer, start: number, end: number): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== p[start + i]) return false;
  return true;
}

/** The id of the key whose bytes are p[start, start + length), or 0 for an unknown key. */
function keyId(p: Buffer, start: number, length: number): number {
  // The length and the first byte name the candidate; its bytes confirm it.
  const end = start + length;
  switch (length) {
    case 3:
      return equalBytes(CSR_KEY, p, start, end) ? CSR : 0;
    case 4:
      if (p[start] === 0x74) return equalBytes(TYPE_KEY, p, start, end) ? TYPE : 0; // t
      if (p[start] === 0x67) return equalBytes(GUID_KEY, p, start, end) ? GUID : 0; // g
      return equalBytes(ZONE_KEY, p, start, end) ? ZONE : 0;
    case 5:
      if (p[start] === 0x68) return equalBytes(HOSTS_KEY, p, start, end) ? HOSTS : 0; // h
      return equalBytes(TOKEN_KEY, p, start, end) ? TOKEN : 0;
    case 7:
      return equalBytes(VERSION_KEY, p, start, end) ? VERSION : 0;
    case 9:
      return equalBytes(ALGORITHM_KEY, p, start, end) ? ALGORITHM : 0;
    case 13:
      return equalBytes(CHECK_INTERVAL_KEY, p, start, end) ? CHECK_INTERVAL : 0;
    default:
      return 0;
  }
}

/**
 * Scratch state of one decode: where the next byte is, and the last string's bounds. One
 * object for the module (decoding is synchronous and never re-entered): nothing per frame.
 */
const at = { pos: 0, start: 0, end: 0 };

/** Reads a str header at at.pos (fixstr, str 8, str 16) into at.start/at.end; false otherwise. */
function strBounds(p: Buffer): boolean {
  const pos = at.pos;
  if (pos >= p.length) return false;
  const t = p[pos]!;
  let start: number;
  let length: number;
  if (t >= 0xa0 && t <= 0xbf) {
    start = pos + 1;
    length = t & 0x1f;
  } else if (t === 0xd9) {
    if (pos + 2 > p.length) return false;
    start = pos + 2;
    length = p[pos + 1]!;
  } else if (t === 0xda) {
    if (pos + 3 > p.length) return false;
    start = pos + 3;
    length = p.readUInt16BE(pos + 1);
  } else return false;
  const end = start + length;
  if (end > p.length) return false;
  at.start = start;
  at.end = end;
  at.pos = end;
  return true;
}

/**
 * An ASCII string of min..max bytes at at.pos, or undefined. ASCII only: the generic path's
 * UTF-8 decoding (and its treatment of invalid sequences) is then the only one there is.
 */
function asciiString(p: Buffer, min: number, max: number): string | undefined {
  if (!strBounds(p)) return undefined;
  const { start, end } = at;
  if (end - start < min || end - start > max) return undefined;
  for (let i = start; i < end; i++) if (p[i]! > 0x7f) return undefined;
  return p.toString('latin1', start, end);
}

/** A non-negative integer of at most 32 bits at at.pos (positive fixint, uint 8/16/32) within 0..max, or -1. */
function uint(p: Buffer, max: number): number {
  const pos = at.pos;
  if (pos >= p.length) return -1;
  const t = p[pos]!;
  let value: number;
  if (t <= 0x7f) {
    value = t;
    at.pos = pos + 1;
  } else if (t === 0xcc && pos + 2 <= p.length) {
    value = p[pos + 1]!;
    at.pos = pos + 2;
  } else if (t === 0xcd && pos + 3 <= p.length) {
    value = p.readUInt16BE(pos + 1);
    at.pos = pos + 3;
  } else if (t === 0xce && pos + 5 <= p.length) {
    value = p.readUInt32BE(pos + 1);
    at.pos = pos + 5;
  } else return -1;
  return value <= max ? value : -1;
}

/** hello.hosts: an array (fixarray, array 16) of ASCII entries, or undefined. */
function hostList(p: Buffer): string[] | undefined {
  const pos = at.pos;
  if (pos >= p.length) return undefined;
  const t = p[pos]!;
  let count: number;
  if (t >= 0x90 && t <= 0x9f) {
    count = t & 0x0f;
    at.pos = pos + 1;
  } else if (t === 0xdc && pos + 3 <= p.length) {
    count = p.readUInt16BE(pos + 1);
    at.pos = pos + 3;
  } else return undefined;
  if (count > LIMITS.hostsPerList) return undefined;
  const hosts: string[] = [];
  for (let i = 0; i < count; i++) {
    const entry = asciiString(p, 1, LIMITS.hostEntryBytes);
    if (entry === undefined) return undefined;
    hosts.push(entry);
  }
  return hosts;
}

/**
 * The Hello in `payload` when it is a plain, valid one this decoder is sure of; undefined
 * means "ask the generic path" (which may still accept it, or says what is wrong).
 */
export function decodeHello(payload: Buffer): Hello | undefined {
  const p = payload;
  if (p.length === 0) return undefined;
  const t = p[0]!;
  let entries: number;
  if (t >= 0x80 && t <= 0x8f) {
    entries = t & 0x0f;
    at.pos = 1;
  } else if (t === 0xde && p.length >= 3) {
    entries = p.readUInt16BE(1);
    at.pos = 3;
  } else return undefined;
  let seen = 0;
  let version = -1;
  let guid: string | undefined;
  let zone: string | undefined;
  let hosts: string[] | undefined;
  let algorithm: string | undefined;
  let checkInterval = -1;
  let token: string | undefined;
  let csr: string | undefined;
  for (let n = 0; n < entries; n++) {
    if (!strBounds(p)) return undefined;
    const id = keyId(p, at.start, at.end - at.start);
    if (id === 0 || (seen & id) !== 0) return undefined;
    seen |= id;
    switch (id) {
      case TYPE:
        if (!strBounds(p) || !equalBytes(HELLO_BYTES, p, at.start, at.end)) return undefined;
        break;
      case VERSION:
        version = uint(p, Number.MAX_SAFE_INTEGER);
        if (version < 0) return undefined;
        break;
      case GUID:
        guid = asciiString(p, 1, LIMITS.guidBytes);
        if (guid === undefined) return undefined;
        break;
      case ZONE:
        zone = asciiString(p, 1, LIMITS.zoneBytes);
        if (zone === undefined) return undefined;
        break;
      case HOSTS:
        hosts = hostList(p);
        if (hosts === undefined) return undefined;
        break;
      case ALGORITHM:
        algorithm = asciiString(p, 0, LIMITS.algorithmBytes);
        if (algorithm === undefined) return undefined;
        break;
      case CHECK_INTERVAL:
        checkInterval = uint(p, LIMITS.checkIntervalSeconds);
        if (checkInterval < 0) return undefined;
        break;
      case TOKEN:
        token = asciiString(p, 1, LIMITS.tokenBytes);
        if (token === undefined) return undefined;
        break;
      case CSR:
        csr = asciiString(p, 1, LIMITS.pemBytes);
        if (csr === undefined) return undefined;
        break;
    }
  }
  if (at.pos !== p.length || (seen & REQUIRED) !== REQUIRED) return undefined;
  // The generic validator's field order, optional fields only when present.
  const hello: Hello = { type: 'hello', version, guid: guid!, hosts: hosts!, algorithm: algorithm! };
  if (zone !== undefined) hello.zone = zone;
  if (checkInterval >= 0) hello.checkInterval = checkInterval;
  if (token !== undefined) hello.token = token;
  if (csr !== undefined) hello.csr = csr;
  return hello;
}
