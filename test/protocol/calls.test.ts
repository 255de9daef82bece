/**
 * Version 2's messages (protocol.md section 4.4): `call`, `result`, `cancel`. Validation with
 * the exact refusal for each bad field, the params/value rules (JSON's values only, fresh
 * copies, `__proto__` kept a plain key), the direction rules, the one-frame limit, and the
 * decoder fed a stream of them at every split point and every pair of split points.
 */
import t from 'tap';
import { encodeMessage, encodeWithin } from '../../src/protocol/encoder';
import { MessageReader, type Direction } from '../../src/protocol/message-decoder';
import { DEFAULT_MAX_FRAME, ProtocolError, type Message } from '../../src/protocol/messages';
import { validateAgentMessage, validateMessage, validateServerMessage } from '../../src/protocol/validate';
import { frame, pack } from './helpers';

const call = { type: 'call', id: 1, method: 'disk.usage', params: { path: '/var' }, timeoutMs: 10_000 };
const result = { type: 'result', id: 1, ok: true, value: { used: 42 } };
const failed = { type: 'result', id: 2, ok: false, error: { code: 'handler_failed', message: 'no disk', exitCode: 2 } };
const cancel = { type: 'cancel', id: 2 };

function refusal(value: unknown): string | undefined {
  const out = validateMessage(value);
  if (!(out instanceof ProtocolError)) return undefined;
  t.equal(out.code, 'bad_message');
  return out.message;
}

t.test('valid call, result and cancel come back equal', async (t) => {
  const valid = [
    call,
    { type: 'call', id: 0, method: 'agentlb.ping', timeoutMs: 1 },
    { ...call, params: null },
    { ...call, params: [1, 'two', [true, null], { a: { b: -1.5 } }] },
    { ...call, method: 'A-z_0.9', timeoutMs: 2_147_483_647 },
    { ...call, method: 'm'.repeat(128) },
    result,
    { type: 'result', id: 3, ok: true },
    { type: 'result', id: 3, ok: true, value: null },
    { type: 'result', id: 3, ok: true, value: 'pong' },
    failed,
    { type: 'result', id: 4, ok: false, error: { code: 'a_new_code_9', message: '' } },
    cancel,
  ];
  for (const m of valid) t.same(validateMessage(m), m, JSON.stringify(m));
});

const cases: [string, object, string][] = [
  ['call id missing', { ...call, id: undefined }, 'call.id must be an integer'],
  ['call id negative', { ...call, id: -1 }, `call.id must be in 0..${Number.MAX_SAFE_INTEGER}, got -1`],
  ['call method missing', { ...call, method: undefined }, 'call.method must be a string'],
  ['call method empty', { ...call, method: '' }, 'call.method must be 1..128 UTF-8 bytes, got 0'],
  ['call method too long', { ...call, method: 'm'.repeat(129) }, 'call.method must be 1..128 UTF-8 bytes, got 129'],
  ['call method with a slash', { ...call, method: '../etc/passwd' }, 'call.method "../etc/passwd" must be [A-Za-z0-9._-] only, not starting with "."'],
  ['call method a dot', { ...call, method: '.' }, 'call.method "." must be [A-Za-z0-9._-] only, not starting with "."'],
  ['call method hidden file', { ...call, method: '.profile' }, 'call.method ".profile" must be [A-Za-z0-9._-] only, not starting with "."'],
  ['call method with a space', { ...call, method: 'rm -rf' }, 'call.method "rm -rf" must be [A-Za-z0-9._-] only, not starting with "."'],
  ['call method non-ASCII', { ...call, method: 'é' }, 'call.method "é" must be [A-Za-z0-9._-] only, not starting with "."'],
  ['call timeoutMs 0', { ...call, timeoutMs: 0 }, 'call.timeoutMs must be in 1..2147483647, got 0'],
  ['call timeoutMs too big', { ...call, timeoutMs: 2 ** 31 }, 'call.timeoutMs must be in 1..2147483647, got 2147483648'],
  ['call timeoutMs missing', { ...call, timeoutMs: undefined }, 'call.timeoutMs must be an integer'],
  ['call params a bigint', { ...call, params: { n: 2n ** 64n } }, 'call.params holds a bigint, which JSON cannot carry'],
  ['call params NaN', { ...call, params: [NaN] }, 'call.params holds NaN, which JSON cannot carry'],
  ['call params Infinity', { ...call, params: -Infinity }, 'call.params holds -Infinity, which JSON cannot carry'],
  ['call params a Date', { ...call, params: new Date(0) }, 'call.params holds a object, which JSON cannot carry'],
  ['call params a Map', { ...call, params: { m: new Map() } }, 'call.params holds a object, which JSON cannot carry'],
  ['call params undefined inside', { ...call, params: [undefined] }, 'call.params holds a undefined, which JSON cannot carry'],
  ['result id a float', { ...result, id: 1.5 }, 'result.id must be an integer'],
  ['result ok missing', { ...result, ok: undefined }, 'result.ok must be a boolean'],
  ['result ok with an error', { ...result, error: { code: 'x', message: '' } }, 'result.error must be absent when result.ok is true'],
  ['result failed with a value', { ...failed, value: 1 }, 'result.value must be absent when result.ok is false'],
  ['result failed without error', { type: 'result', id: 1, ok: false }, 'result.error is required when result.ok is false'],
  ['result error not a map', { ...failed, error: 'boom' }, 'result.error must be a map'],
  ['result error code missing', { ...failed, error: { message: 'm' } }, 'result.error.code must be a string'],
  ['result error code upper case', { ...failed, error: { code: 'Boom', message: 'm' } }, 'result.error.code "Boom" must be [a-z0-9_] only'],
  ['result error code too long', { ...failed, error: { code: 'c'.repeat(65), message: 'm' } }, 'result.error.code must be 1..64 UTF-8 bytes, got 65'],
  ['result error message missing', { ...failed, error: { code: 'x' } }, 'result.error.message must be a string'],
  ['result error message too long', { ...failed, error: { code: 'x', message: 'm'.repeat(1025) } }, 'result.error.message must be 0..1024 UTF-8 bytes, got 1025'],
  ['result exitCode 256', { ...failed, error: { code: 'x', message: '', exitCode: 256 } }, 'result.error.exitCode must be in 0..255, got 256'],
  ['result exitCode negative', { ...failed, error: { code: 'x', message: '', exitCode: -1 } }, 'result.error.exitCode must be in 0..255, got -1'],
  ['result value a bigint', { ...result, value: 1n }, 'result.value holds a bigint, which JSON cannot carry'],
  ['cancel id missing', { type: 'cancel' }, 'cancel.id must be an integer'],
  ['cancel id a string', { type: 'cancel', id: '2' }, 'cancel.id must be an integer'],
];

for (const [name, value, message] of cases) {
  t.test(`bad_message: ${name}`, async (t) => {
    t.equal(refusal(value), message);
  });
}

t.test('params and value are fresh deep copies; a __proto__ key stays a plain key', async (t) => {
  const params = JSON.parse('{"a":[{"b":1}],"__proto__":{"polluted":true}}') as object;
  const out = validateMessage({ ...call, params }) as { params: Record<string, unknown> };
  t.not(out.params, params);
  t.not((out.params['a'] as unknown[])[0], (params as { a: unknown[] }).a[0]);
  t.equal(Object.getPrototypeOf(out.params), Object.prototype, 'the prototype is untouched');
  t.same(Object.keys(out.params), ['a', '__proto__']);
  t.equal(({} as { polluted?: unknown }).polluted, undefined);
  t.equal(JSON.stringify(out.params), '{"a":[{"b":1}],"__proto__":{"polluted":true}}');
});

t.test('direction: result comes from agents only; call and cancel from servers only', async (t) => {
  t.same(validateAgentMessage(result), result);
  t.same(validateServerMessage(call), call);
  t.same(validateServerMessage(cancel), cancel);
  const asMessage = (out: unknown): unknown => (out instanceof ProtocolError ? [out.code, out.message] : out);
  t.same(asMessage(validateServerMessage(result)), ['bad_message', '"result" is not a message a server may send']);
  t.same(asMessage(validateAgentMessage(call)), ['bad_message', '"call" is not a message an agent may send']);
  t.same(asMessage(validateAgentMessage(cancel)), ['bad_message', '"cancel" is not a message an agent may send']);
});

t.test('a call or result that does not fit one frame is refused by encodeWithin, never split', async (t) => {
  // 65 536 payload bytes exactly: the map's fixed part plus a str 16 filling the rest.
  const fixed = encodeMessage({ type: 'result', id: 1, ok: true, value: '' }).length - 4 - 1; // minus fixstr "" byte
  const fits = 'x'.repeat(DEFAULT_MAX_FRAME - fixed - 3); // str 16: 3 header bytes
  const exact = encodeWithin({ type: 'result', id: 1, ok: true, value: fits });
  t.equal(exact?.readUInt32BE(0), DEFAULT_MAX_FRAME, 'exactly 65 536 bytes of payload is one frame');
  t.equal(encodeWithin({ type: 'result', id: 1, ok: true, value: `${fits}x` }), undefined, 'one byte more is refused');
  t.equal(encodeWithin(call as Message, 16), undefined, 'a receiver limit below the ceiling');
  t.same(encodeWithin(call as Message), encodeMessage(call as Message), 'within the limit: the same bytes as encodeMessage');
});

/** The decoded messages and first error for `chunks`, read as `accept` reads. */
function read(accept: Direction, chunks: Buffer[]): { messages: unknown[]; error: string | undefined } {
  const reader = new MessageReader({ accept });
  const messages: unknown[] = [];
  for (const chunk of chunks) {
    const error = reader.push(chunk, (m) => void messages.push(m));
    if (error) return { messages, error: `${error.code}: ${error.message}` };
  }
  return { messages, error: undefined };
}

const fromServer = [call, cancel, { type: 'call', id: 9, method: 'agentlb.info', params: null, timeoutMs: 5 }] as Message[];
const fromAgent = [result, failed, { type: 'result', id: 9, ok: true }] as Message[];

for (const [accept, messages] of [['agent', fromAgent], ['server', fromServer]] as const) {
  const stream = Buffer.concat(messages.map(encodeMessage));
  t.test(`${accept === 'agent' ? 'results' : 'calls and cancels'}: every split point and every pair decode alike`, async (t) => {
    const want = { messages, error: undefined };
    let checked = 0;
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const got = read(accept, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          t.same(got, want, `splits ${i},${j}`);
          return;
        }
        checked++;
      }
    }
    t.equal(checked, ((stream.length + 1) * (stream.length + 2)) / 2, 'every pair of split points');
  });
}

t.test('a bad call behind a good one is refused however the stream is split', async (t) => {
  const bad = frame(pack({ type: 'call', id: 2, method: '.x', timeoutMs: 1 }));
  const stream = Buffer.concat([encodeMessage(call as Message), bad]);
  const want = { messages: [call], error: 'bad_message: call.method ".x" must be [A-Za-z0-9._-] only, not starting with "."' };
  for (let i = 0; i <= stream.length; i++) {
    const got = read('server', [stream.subarray(0, i), stream.subarray(i)]);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.same(got, want, `split at ${i}`);
      return;
    }
  }
  t.pass(`all ${stream.length + 1} splits`);
});
