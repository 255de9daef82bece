/**
 * Property-based tests (fast-check) of the two decoders that read untrusted text:
 *
 * - the frame/message decoder (MessageReader), fed random bytes, random payloads in valid
 *   frames, arbitrary MessagePack values and mutated valid frames, split at random points:
 *   it never throws; every outcome is a valid message or a ProtocolError with a known code;
 *   how the bytes are split never changes the outcome; valid messages round trip exactly.
 * - the host-list codec: never throws on any string; every outcome is a list it would accept
 *   again or a HostListError `bad_host_list`; valid lists round trip through the
 *   `list@algorithm` form.
 *
 * AGENTLB_FUZZ_RUNS sets the runs per property (default 300; `npm run fuzz` runs many more).
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { ALGORITHM_NAMES } from '../../src/protocol/algorithms';
import { encodeMessage } from '../../src/protocol/encoder';
import { formatHostSetting, HostListError, parseHostEntry, parseHostList, parseHostSetting } from '../../src/protocol/host-list';
import { LIMITS } from '../../src/protocol/limits';
import { MessageReader, type Direction } from '../../src/protocol/message-decoder';
import { DEFAULT_MAX_FRAME, ERROR_CODES, ProtocolError, type AgentMessage, type CallValue, type Message, type ServerMessage } from '../../src/protocol/messages';
import { validateMessage } from '../../src/protocol/validate';

const RUNS = Number(process.env['AGENTLB_FUZZ_RUNS'] ?? 300);
const params = { numRuns: RUNS };

/** A decoder outcome, comparable with t.same. */
interface Outcome {
  messages: Message[];
  error: { code: string; message: string } | undefined;
}

function read(direction: Direction, chunks: readonly Uint8Array[], maxFrame = DEFAULT_MAX_FRAME): Outcome {
  const reader = new MessageReader({ accept: direction, maxFrame });
  const messages: Message[] = [];
  let error: ProtocolError | undefined;
  for (const chunk of chunks) {
    error = reader.push(Buffer.from(chunk), (message) => void messages.push(message));
    if (error !== undefined) {
      if (!(error instanceof ProtocolError)) throw new Error(`not a ProtocolError: ${String(error)}`);
      // Poisoned: later bytes change nothing.
      if (reader.push(Buffer.from([0, 0, 0, 1, 0xc0]), () => undefined) !== error) throw new Error('reader not poisoned');
      break;
    }
  }
  return { messages, error: error && { code: error.code, message: error.message } };
}

/** Throws (so fast-check shrinks and reports the case) unless deeply equal. */
function expectSame(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

/** `bytes` cut at the given points (taken modulo its length). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % bytes.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function frame(payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const utf8 = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', minLength: min, maxLength: max }).filter((s) => {
    const bytes = Buffer.byteLength(s, 'utf8');
    return bytes >= min && bytes <= max;
  });
const int = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max });
const hostArray = fc.array(utf8(1, 40), { maxLength: LIMITS.hostsPerList });

/** params and value: any JSON value (the subset maps 1:1 to JSON; as JSON, -0 is 0). */
const callValue = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as CallValue);
const method = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/);
const callError = fc.record(
  { code: fc.stringMatching(/^[a-z0-9_]{1,64}$/), message: utf8(0, 200), exitCode: int(LIMITS.exitCode) },
  { requiredKeys: ['code', 'message'], noNullPrototype: true },
);

const agentMessage: fc.Arbitrary<AgentMessage> = fc.oneof(
  fc.record({ type: fc.constant('result' as const), id: fc.maxSafeNat(), ok: fc.constant(true as const), value: callValue }, { requiredKeys: ['type', 'id', 'ok'], noNullPrototype: true }),
  fc.record({ type: fc.constant('result' as const), id: fc.maxSafeNat(), ok: fc.constant(false as const), error: callError }, { noNullPrototype: true }),
  fc.record(
    {
      type: fc.constant('hello' as const),
      version: fc.maxSafeNat(),
      guid: utf8(1, LIMITS.guidBytes),
      zone: utf8(1, LIMITS.zoneBytes),
      hosts: hostArray,
      algorithm: utf8(0, LIMITS.algorithmBytes),
      checkInterval: int(LIMITS.checkIntervalSeconds),
      token: utf8(1, LIMITS.tokenBytes),
    },
    { requiredKeys: ['type', 'version', 'guid', 'hosts', 'algorithm'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('ack' as const), seq: fc.maxSafeNat(), ok: fc.boolean(), error: utf8(0, 200) }, { requiredKeys: ['type', 'seq', 'ok'], noNullPrototype: true }),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
);

const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record(
    { type: fc.constant('call' as const), id: fc.maxSafeNat(), method, params: callValue, timeoutMs: fc.integer({ min: 1, max: LIMITS.callTimeoutMs }) },
    { requiredKeys: ['type', 'id', 'method', 'timeoutMs'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('cancel' as const), id: fc.maxSafeNat() }, { noNullPrototype: true }),
  fc.record(
    { type: fc.constant('welcome' as const), version: fc.maxSafeNat(), hostId: fc.maxSafeNat(), server: utf8(1, LIMITS.serverBytes), pingInterval: fc.integer({ min: 1, max: LIMITS.pingIntervalMs }) },
    { requiredKeys: ['type', 'version', 'hostId', 'server'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('hosts' as const), seq: fc.maxSafeNat(), hosts: hostArray, algorithm: utf8(1, LIMITS.algorithmBytes), checkInterval: int(LIMITS.checkIntervalSeconds) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...ERROR_CODES), message: utf8(0, 300) }, { noNullPrototype: true }),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
);

/** Byte streams a hostile or broken peer might send. */
const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map(frame),
  fc.jsonValue({ maxDepth: 4 }).map((value) => frame(packr.pack(value))),
  fc.dictionary(fc.constantFrom('type', 'version', 'guid', 'hosts', 'algorithm', 'seq', 'ok', 'token', 'zone', 'code', 'x'), fc.jsonValue({ maxDepth: 2 })).map((value) => frame(packr.pack(value))),
  // Version 2's messages with random fields: near-valid calls, results and cancels.
  fc
    .tuple(fc.constantFrom('call', 'result', 'cancel'), fc.dictionary(fc.constantFrom('id', 'method', 'params', 'timeoutMs', 'ok', 'value', 'error', 'x'), fc.jsonValue({ maxDepth: 2 })))
    .map(([type, fields]) => frame(packr.pack({ type, ...fields }))),
  fc
    .tuple(fc.array(serverMessage, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
    .map(([messages, flips]) => {
      const bytes = Buffer.concat(messages.map(encodeMessage));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      return bytes;
    }),
  fc
    .tuple(fc.array(agentMessage, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat())
    .map(([messages, flips, truncate]) => {
      const bytes = Buffer.concat(messages.map(encodeMessage));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      return bytes.subarray(0, bytes.length - (truncate % 3 === 0 ? truncate % bytes.length : 0));
    }),
);

const KNOWN_CODES: readonly string[] = ['bad_frame', 'bad_message'];

t.test('the decoder never throws: every outcome is valid messages and/or a known ProtocolError, whatever the split', async (t) => {
  fc.assert(
    fc.property(hostileBytes, fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom<Direction>('agent', 'server'), (bytes, cuts, direction) => {
      const whole = read(direction, [bytes]);
      const pieces = read(direction, split(bytes, cuts));
      expectSame(pieces, whole, 'the outcome once split');
      if (whole.error !== undefined && !KNOWN_CODES.includes(whole.error.code)) throw new Error(`unknown code ${whole.error.code}`);
      for (const message of whole.messages) {
        if (validateMessage(JSON.parse(JSON.stringify(message)) as unknown) instanceof ProtocolError) throw new Error(`delivered an invalid message ${JSON.stringify(message)}`);
      }
    }),
    params,
  );
  t.pass(`${RUNS} runs`);
});

t.test('valid messages round trip exactly, however the stream is cut', async (t) => {
  fc.assert(
    fc.property(fc.array(agentMessage, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (messages, cuts) => {
      expectSame(read('agent', split(Buffer.concat(messages.map(encodeMessage)), cuts)), { messages, error: undefined }, 'agent messages');
    }),
    params,
  );
  fc.assert(
    fc.property(fc.array(serverMessage, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (messages, cuts) => {
      expectSame(read('server', split(Buffer.concat(messages.map(encodeMessage)), cuts)), { messages, error: undefined }, 'server messages');
    }),
    params,
  );
  t.pass(`${RUNS} runs each way`);
});

t.test('a frame length of 0 or above maxFrame is refused from its 4 header bytes', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: DEFAULT_MAX_FRAME }), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 - 1 })), (maxFrame, length) => {
      fc.pre(length === 0 || length > maxFrame);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(length, 0);
      const expected =
        length === 0
          ? { code: 'bad_frame', message: 'frame length 0: a frame must hold one message' }
          : { code: 'bad_frame', message: `frame length ${length} exceeds the maximum of ${maxFrame}` };
      expectSame(read('agent', [header], maxFrame), { messages: [], error: expected }, `length ${length}`);
    }),
    params,
  );
  t.pass(`${RUNS} runs`);
});

const ALPHABET = fc.constantFrom(...'abcXYZ019.-_:,@[]  \t\u00e9\u4e2d%/'.split(''), '::1', '127.0.0.1', '@static', '@MSHOST@', ':8250', ':65536', ':0');

t.test('the host-list codec never throws; it accepts a list or names why not', async (t) => {
  const texts = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.array(ALPHABET, { maxLength: 24 }).map((parts) => parts.join('')));
  fc.assert(
    fc.property(texts, (text) => {
      for (const result of [parseHostList(text), parseHostSetting(text), parseHostEntry(text)]) {
        if (result instanceof HostListError) {
          if (result.code !== 'bad_host_list' || result.message === '') throw new Error(`bad error ${result.code}: ${result.message}`);
        }
      }
      const list = parseHostList(text);
      if (list instanceof HostListError) return;
      if (list.length < 1 || list.length > LIMITS.hostsPerList) throw new Error(`accepted ${list.length} entries`);
      if (list.some((entry) => parseHostEntry(entry) instanceof HostListError)) throw new Error(`accepted a bad entry in ${JSON.stringify(list)}`);
      expectSame(parseHostList(list.join(',')), list, 'what it accepts, accepted again');
    }),
    params,
  );
  t.pass(`${RUNS} runs`);
});

const hostEntry: fc.Arbitrary<{ text: string; key: string }> = fc
  .tuple(
    fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((v6) => `[${v6}]`)),
    fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
  )
  .map(([host, port]) => ({ text: port === undefined ? host : `${host}:${port}`, key: `${host.toLowerCase()} ${port ?? 8250}` }))
  .filter(({ text }) => Buffer.byteLength(text) <= LIMITS.hostEntryBytes);

t.test('valid lists round trip through list@algorithm', async (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(hostEntry, { minLength: 1, maxLength: LIMITS.hostsPerList, selector: (entry) => entry.key }),
      fc.option(fc.constantFrom(...ALGORITHM_NAMES), { nil: undefined }),
      (entries, algorithm) => {
        const hosts = entries.map((entry) => entry.text);
        expectSame(parseHostSetting(formatHostSetting(hosts, algorithm)), { hosts, algorithm }, 'the list');
      },
    ),
    params,
  );
  t.pass(`${RUNS} runs`);
});
