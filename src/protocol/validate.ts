/**
 * Decoded value -> typed message, or bad_message (protocol.md "Messages").
 *
 * Each validator builds a FRESH object holding only the fields it knows, read as own
 * properties, so nothing else a peer sent (extra keys, `__proto__`, values on a polluted
 * prototype) reaches the rest of the program. Every value must be a plain JS value: numbers
 * must be integers where the schema says so, and anything else decoding might produce
 * (Date, Map, Set, bigint, Buffer, class instances) is refused.
 */
import { LIMITS } from './limits';
import {
  Ack,
  AgentMessage,
  Call,
  CallError,
  CallValue,
  Cancel,
  ERROR_CODES,
  ErrorCode,
  ErrorMessage,
  Hello,
  Hosts,
  Message,
  MessageType,
  Ping,
  Pong,
  ProtocolError,
  Result,
  ServerMessage,
  Welcome,
} from './messages';

type Fields = Readonly<Record<string, unknown>>;

/** Thrown only inside this module and caught by validateMessage: keeps each schema linear. */
class FieldError {
  constructor(readonly message: string) {}
}

function isPlainObject(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function field(obj: Fields, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A peer's string, quoted and cut short, safe to put in an error message sent back to it. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

function str(where: string, value: unknown, min: number, max: number): string {
  if (typeof value !== 'string') throw new FieldError(`${where} must be a string`);
  // UTF-8 takes 1..3 bytes per UTF-16 unit, so most strings need no byte count at all.
  if (value.length >= min && value.length * 3 <= max) return value;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < min || bytes > max) {
    throw new FieldError(`${where} must be ${min}..${max} UTF-8 bytes, got ${bytes}`);
  }
  return value;
}

function int(where: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new FieldError(`${where} must be an integer`);
  }
  if (value < min || value > max) throw new FieldError(`${where} must be in ${min}..${max}, got ${value}`);
  return value;
}

function bool(where: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new FieldError(`${where} must be a boolean`);
  return value;
}

function hostArray(where: string, value: unknown): string[] {
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype) {
    throw new FieldError(`${where} must be an array of strings`);
  }
  if (value.length > LIMITS.hostsPerList) {
    throw new FieldError(`${where} has ${value.length} entries, at most ${LIMITS.hostsPerList} allowed`);
  }
  const out: string[] = [];
  for (let i = 0; i < value.length; i++) out.push(str(`${where}[${i}]`, value[i], 1, LIMITS.hostEntryBytes));
  return out;
}

const MAX_INT = Number.MAX_SAFE_INTEGER;

/** A method names a handler file: no `/`, no leading `.` (so never `.` or `..`). */
const METHOD = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const CALL_ERROR_CODE = /^[a-z0-9_]+$/;

function method(where: string, value: unknown): string {
  const text = str(where, value, 1, LIMITS.methodBytes);
  if (!METHOD.test(text)) throw new FieldError(`${where} ${quote(text)} must be [A-Za-z0-9._-] only, not starting with "."`);
  return text;
}

/**
 * A deep, fresh copy of a `params` or `value`: only JSON's values (the subset's integers and
 * float 64 become finite numbers; a bigint, NaN or infinity cannot be JSON and is refused).
 * Depth is bounded by the decoder (32 levels), so the recursion is too.
 */
function callValue(where: string, value: unknown): CallValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new FieldError(`${where} holds ${value}, which JSON cannot carry`);
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) {
        const out: CallValue[] = [];
        for (let i = 0; i < value.length; i++) out.push(callValue(where, value[i]));
        return out;
      }
      if (isPlainObject(value)) {
        const out: { [key: string]: CallValue } = {};
        // defineProperty: a key named `__proto__` stays a plain key, never a prototype.
        for (const key of Object.keys(value)) {
          Object.defineProperty(out, key, { value: callValue(where, value[key]), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      break;
    }
  }
  throw new FieldError(`${where} holds a ${typeof value}, which JSON cannot carry`);
}

function callError(value: unknown): CallError {
  if (!isPlainObject(value)) throw new FieldError('result.error must be a map');
  const code = str('result.error.code', field(value, 'code'), 1, LIMITS.callErrorCodeBytes);
  if (!CALL_ERROR_CODE.test(code)) throw new FieldError(`result.error.code ${quote(code)} must be [a-z0-9_] only`);
  const error: CallError = { code, message: str('result.error.message', field(value, 'message'), 0, LIMITS.textBytes) };
  const exitCode = field(value, 'exitCode');
  if (exitCode !== undefined) error.exitCode = int('result.error.exitCode', exitCode, 0, LIMITS.exitCode);
  return error;
}

// Optional fields are added only when present, so an absent field stays absent (not `undefined`).
const SCHEMAS: { readonly [T in MessageType]: (o: Fields) => Extract<Message, { type: T }> } = {
  hello: (o): Hello => {
    const hello: Hello = {
      type: 'hello',
      version: int('hello.version', field(o, 'version'), 0, MAX_INT),
      guid: str('hello.guid', field(o, 'guid'), 1, LIMITS.guidBytes),
      hosts: hostArray('hello.hosts', field(o, 'hosts')),
      algorithm: str('hello.algorithm', field(o, 'algorithm'), 0, LIMITS.algorithmBytes),
    };
    const zone = field(o, 'zone');
    if (zone !== undefined) hello.zone = str('hello.zone', zone, 1, LIMITS.zoneBytes);
    const checkInterval = field(o, 'checkInterval');
    if (checkInterval !== undefined) {
      hello.checkInterval = int('hello.checkInterval', checkInterval, 0, LIMITS.checkIntervalSeconds);
    }
    const token = field(o, 'token');
    if (token !== undefined) hello.token = str('hello.token', token, 1, LIMITS.tokenBytes);
    const csr = field(o, 'csr');
    if (csr !== undefined) hello.csr = str('hello.csr', csr, 1, LIMITS.pemBytes);
    return hello;
  },
  welcome: (o): Welcome => {
    const welcome: Welcome = {
      type: 'welcome',
      version: int('welcome.version', field(o, 'version'), 0, MAX_INT),
      hostId: int('welcome.hostId', field(o, 'hostId'), 0, MAX_INT),
      server: str('welcome.server', field(o, 'server'), 1, LIMITS.serverBytes),
    };
    const pingInterval = field(o, 'pingInterval');
    if (pingInterval !== undefined) {
      welcome.pingInterval = int('welcome.pingInterval', pingInterval, 1, LIMITS.pingIntervalMs);
    }
    const certificate = field(o, 'certificate');
    if (certificate !== undefined) welcome.certificate = str('welcome.certificate', certificate, 1, LIMITS.pemBytes);
    return welcome;
  },
  hosts: (o): Hosts => {
    const hosts: Hosts = {
      type: 'hosts',
      seq: int('hosts.seq', field(o, 'seq'), 0, MAX_INT),
      hosts: hostArray('hosts.hosts', field(o, 'hosts')),
      algorithm: str('hosts.algorithm', field(o, 'algorithm'), 1, LIMITS.algorithmBytes),
      checkInterval: int('hosts.checkInterval', field(o, 'checkInterval'), 0, LIMITS.checkIntervalSeconds),
    };
    const recheck = field(o, 'recheck');
    if (recheck !== undefined) hosts.recheck = bool('hosts.recheck', recheck);
    return hosts;
  },
  ack: (o): Ack => {
    const ack: Ack = {
      type: 'ack',
      seq: int('ack.seq', field(o, 'seq'), 0, MAX_INT),
      ok: bool('ack.ok', field(o, 'ok')),
    };
    const error = field(o, 'error');
    if (error !== undefined) ack.error = str('ack.error', error, 0, LIMITS.textBytes);
    return ack;
  },
  ping: (): Ping => ({ type: 'ping' }),
  pong: (): Pong => ({ type: 'pong' }),
  call: (o): Call => {
    const call: Call = {
      type: 'call',
      id: int('call.id', field(o, 'id'), 0, MAX_INT),
      method: method('call.method', field(o, 'method')),
      timeoutMs: int('call.timeoutMs', field(o, 'timeoutMs'), 1, LIMITS.callTimeoutMs),
    };
    // `params` and `value` may hold nil: there it is JSON's null, a value, not an absent field.
    if (Object.hasOwn(o, 'params')) call.params = callValue('call.params', o['params']);
    return call;
  },
  result: (o): Result => {
    const result: Result = {
      type: 'result',
      id: int('result.id', field(o, 'id'), 0, MAX_INT),
      ok: bool('result.ok', field(o, 'ok')),
    };
    const hasValue = Object.hasOwn(o, 'value');
    const error = field(o, 'error');
    if (result.ok) {
      if (error !== undefined) throw new FieldError('result.error must be absent when result.ok is true');
      if (hasValue) result.value = callValue('result.value', o['value']);
    } else {
      if (hasValue) throw new FieldError('result.value must be absent when result.ok is false');
      if (error === undefined) throw new FieldError('result.error is required when result.ok is false');
      result.error = callError(error);
    }
    return result;
  },
  cancel: (o): Cancel => ({ type: 'cancel', id: int('cancel.id', field(o, 'id'), 0, MAX_INT) }),
  error: (o): ErrorMessage => ({
    type: 'error',
    code: errorCode(field(o, 'code')),
    message: str('error.message', field(o, 'message'), 0, LIMITS.textBytes),
  }),
};

function errorCode(value: unknown): ErrorCode {
  const code = str('error.code', value, 1, LIMITS.algorithmBytes);
  if (!(ERROR_CODES as readonly string[]).includes(code)) {
    throw new FieldError(`error.code ${quote(code)} is not a known error code`);
  }
  return code as ErrorCode;
}

const AGENT_TYPES: ReadonlySet<string> = new Set<AgentMessage['type']>(['hello', 'ack', 'ping', 'pong', 'result']);
const SERVER_TYPES: ReadonlySet<string> = new Set<ServerMessage['type']>([
  'welcome',
  'hosts',
  'error',
  'ping',
  'pong',
  'call',
  'cancel',
]);

function badMessage(message: string): ProtocolError {
  return new ProtocolError('bad_message', message);
}

/** The `type` of a decoded value, or bad_message. */
function messageType(value: unknown): MessageType | ProtocolError {
  if (!isPlainObject(value)) return badMessage('a message must be a map');
  const type = field(value, 'type');
  if (typeof type !== 'string') return badMessage('a message needs a string "type"');
  if (!Object.hasOwn(SCHEMAS, type)) return badMessage(`unknown message type ${quote(type)}`);
  return type as MessageType;
}

function validateAs(value: unknown, allowed: ReadonlySet<string> | undefined, from: string): Message | ProtocolError {
  const type = messageType(value);
  if (type instanceof ProtocolError) return type;
  if (allowed && !allowed.has(type)) return badMessage(`"${type}" is not a message ${from} may send`);
  try {
    return SCHEMAS[type](value as Fields);
  } catch (err) {
    // Only FieldError is expected; anything else still must not escape into a socket handler.
    return badMessage(err instanceof FieldError ? err.message : `invalid ${type}: ${String(err)}`);
  }
}

/** Any message of either direction. */
export function validateMessage(value: unknown): Message | ProtocolError {
  return validateAs(value, undefined, 'anyone');
}

/** A message an agent may send (what a server accepts). */
export function validateAgentMessage(value: unknown): AgentMessage | ProtocolError {
  return validateAs(value, AGENT_TYPES, 'an agent') as AgentMessage | ProtocolError;
}

/** A message a server may send (what an agent accepts). */
export function validateServerMessage(value: unknown): ServerMessage | ProtocolError {
  return validateAs(value, SERVER_TYPES, 'a server') as ServerMessage | ProtocolError;
}
