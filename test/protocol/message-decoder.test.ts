import t from 'tap';
import { encodeMessage } from '../../src/protocol/encoder';
import { decodePayload, MessageReader } from '../../src/protocol/message-decoder';
import { AgentMessage, ProtocolError, ServerMessage, type CallValue } from '../../src/protocol/messages';
import { frame, hex, pack } from './helpers';

function errorOf(value: unknown): { code: string; message: string } | undefined {
  return value instanceof ProtocolError ? { code: value.code, message: value.message } : undefined;
}

t.test('decodes one map of the allowed subset', async (t) => {
  const value = decodePayload(
    pack({ type: 'x', n: null, b: false, t: true, i: -5, u: 70000, big: 2 ** 40, f: 1.5, s: 'é', a: [1, [2]], m: { k: 'v' } }),
  );
  t.same(value, { type: 'x', n: null, b: false, t: true, i: -5, u: 70000, big: 2 ** 40, f: 1.5, s: 'é', a: [1, [2]], m: { k: 'v' } });
});

t.test('every msgpack width of str, array, map and int is admitted', async (t) => {
  // str8 "ab", str16 "ab", str32 "ab", array16 [1], array32 [1], map16 {a:1}, map32 {a:1}, uint8..64, int8..64
  const value = decodePayload(
    hex(`8d a1 61 d9 02 61 62   a1 62 da 00 02 61 62   a1 63 db 00 00 00 02 61 62
         a1 64 dc 00 01 01      a1 65 dd 00 00 00 01 01
         a1 66 de 00 01 a1 61 01   a1 67 df 00 00 00 01 a1 61 01
         a1 68 cc ff   a1 69 cd ff ff   a1 6a ce ff ff ff ff   a1 6b cf 00 1f ff ff ff ff ff ff
         a1 6c d0 80   a1 6d d3 ff ff ff ff ff ff ff ff`),
  );
  t.same(value, {
    a: 'ab', b: 'ab', c: 'ab', d: [1], e: [1], f: { a: 1 }, g: { a: 1 },
    h: 255, i: 65535, j: 4294967295, k: 2 ** 53 - 1, l: -128, m: -1,
  });
  t.equal(decodePayload(hex('81 a1 61 d1 80 00')) instanceof ProtocolError, false, 'int16');
  t.same(decodePayload(hex('81 a1 61 d2 80 00 00 00')), { a: -(2 ** 31) }, 'int32');
});

t.test('a uint64 beyond 2^53 decodes to a bigint, never a rounded number', async (t) => {
  const value = decodePayload(hex('81 a1 61 cf ff 00 00 00 00 00 00 05')) as { a: unknown };
  t.equal(typeof value.a, 'bigint');
});

const frameErrors: [string, string, string][] = [
  ['garbage', 'c1', 'payload uses msgpack type 0xc1 (never-used byte 0xc1), which the protocol does not allow'],
  ['truncated string', '81 a4 74 79 70 65 a4 70 69 6e', 'payload ends inside a msgpack value (truncated or garbage)'],
  ['truncated map', '82 a4 74 79 70 65 a4 70 69 6e 67', 'payload ends inside a msgpack value (truncated or garbage)'],
  ['truncated length field', '81 a1 61 da 00', 'payload ends inside a msgpack value (truncated or garbage)'],
  ['truncated int', '81 a1 61 cd 00', 'payload ends inside a msgpack value (truncated or garbage)'],
  ['trailing bytes', '81 a4 74 79 70 65 a4 70 69 6e 67 c0 c0', 'payload has 2 trailing byte(s) after its message'],
  ['two values', 'c0 c0', 'payload has 1 trailing byte(s) after its message'],
  ['timestamp ext -1', '81 a4 74 79 70 65 d6 ff 00 00 00 01', 'payload uses msgpack type 0xd6 (fixext 4), which the protocol does not allow'],
  ['custom ext', '81 a4 74 79 70 65 c7 01 05 00', 'payload uses msgpack type 0xc7 (ext 8), which the protocol does not allow'],
  ['fixext 1 (msgpackr record definition)', 'd4 72 40', 'payload uses msgpack type 0xd4 (fixext 1), which the protocol does not allow'],
  ['bin', '81 a4 74 79 70 65 c4 01 00', 'payload uses msgpack type 0xc4 (bin 8), which the protocol does not allow'],
  ['float32', '81 a1 61 ca 00 00 00 00', 'payload uses msgpack type 0xca (float 32), which the protocol does not allow'],
  ['integer map key', '81 01 a1 61', 'map key at byte 1 is not a string'],
  ['map as key', '81 80 a1 61', 'map key at byte 1 is not a string'],
  ['nested map key', '81 a1 61 81 c0 01', 'map key at byte 4 is not a string'],
  ['duplicate key', '82 a1 61 01 a1 61 02', 'payload map repeats a key'],
];

for (const [name, bytes, message] of frameErrors) {
  t.test(`bad_frame: ${name}`, async (t) => {
    t.same(errorOf(decodePayload(hex(bytes))), { code: 'bad_frame', message });
  });
}

t.test('ext types msgpackr itself produces (Date, Map, Set, BigInt, Uint8Array) are refused', async (t) => {
  for (const value of [new Date(0), new Set([1]), 10n ** 30n, new Uint8Array([1]), new RegExp('x'), new Error('e')]) {
    const result = decodePayload(pack({ type: 'hello', v: value }));
    t.equal(errorOf(result)?.code, 'bad_frame', String(value));
  }
  t.equal(errorOf(decodePayload(pack({ type: 'hello', v: Buffer.from('x') })))?.code, 'bad_frame', 'Buffer as bin');
});

t.test('nesting is limited to 32 levels, without recursion', async (t) => {
  const nested = (depth: number): Buffer => Buffer.concat([Buffer.alloc(depth - 1, 0x91), Buffer.from([0x90])]);
  t.same(decodePayload(nested(32)), JSON.parse('['.repeat(31) + '[]' + ']'.repeat(31)), '32 levels (innermost empty)');
  t.same(decodePayload(Buffer.concat([Buffer.alloc(32, 0x91), Buffer.from([0x01])])), JSON.parse('['.repeat(32) + '1' + ']'.repeat(32)));
  t.same(errorOf(decodePayload(Buffer.concat([Buffer.alloc(33, 0x91), Buffer.from([0x01])]))), {
    code: 'bad_frame',
    message: 'payload nests arrays/maps deeper than 32 levels',
  });
  t.same(
    errorOf(decodePayload(nested(33))),
    { code: 'bad_frame', message: 'payload nests arrays/maps deeper than 32 levels' },
    '33 levels whose innermost is empty',
  );
  t.equal(errorOf(decodePayload(Buffer.alloc(65_536, 0x91)))?.code, 'bad_frame', 'a whole frame of nesting');
});

t.test('a huge declared count with few bytes is truncated, not allocated', async (t) => {
  t.equal(errorOf(decodePayload(hex('dd ff ff ff ff 01')))?.message, 'payload ends inside a msgpack value (truncated or garbage)');
  t.equal(errorOf(decodePayload(hex('df ff ff ff ff a1 61')))?.code, 'bad_frame');
});

t.test('an empty payload is bad_frame', async (t) => {
  t.equal(errorOf(decodePayload(Buffer.alloc(0)))?.code, 'bad_frame');
});

t.test('a __proto__ key does not reach the prototype', async (t) => {
  const value = decodePayload(hex('82 a4 74 79 70 65 a4 70 69 6e 67 a9 5f 5f 70 72 6f 74 6f 5f 5f 81 a1 78 01')) as object;
  t.equal(Object.getPrototypeOf(value), Object.prototype);
  t.equal((value as { x?: unknown }).x, undefined);
});

t.test('decodes payloads that are views into a larger buffer', async (t) => {
  const bytes = Buffer.concat([Buffer.from('junk'), pack({ type: 'ping' }), Buffer.from('more')]);
  t.same(decodePayload(bytes.subarray(4, bytes.length - 4)), { type: 'ping' });
});

t.test('MessageReader(accept: agent) yields agent messages in order', async (t) => {
  const reader = new MessageReader({ accept: 'agent' });
  const got: AgentMessage[] = [];
  const stream = Buffer.concat([
    encodeMessage({ type: 'hello', version: 1, guid: 'g', hosts: [], algorithm: '' }),
    encodeMessage({ type: 'ping' }),
    encodeMessage({ type: 'ack', seq: 2, ok: false, error: 'disk full' }),
  ]);
  for (const b of stream) t.equal(reader.push(Buffer.from([b]), (m) => void got.push(m)), undefined);
  t.same(got, [
    { type: 'hello', version: 1, guid: 'g', hosts: [], algorithm: '' },
    { type: 'ping' },
    { type: 'ack', seq: 2, ok: false, error: 'disk full' },
  ]);
});

t.test('MessageReader refuses the other direction, and stays poisoned', async (t) => {
  const reader = new MessageReader({ accept: 'agent' });
  const got: AgentMessage[] = [];
  const stream = Buffer.concat([
    encodeMessage({ type: 'ping' }),
    encodeMessage({ type: 'welcome', version: 1, hostId: 1, server: 's' }),
    encodeMessage({ type: 'pong' }),
  ]);
  const error = reader.push(stream, (m) => void got.push(m));
  t.same(errorOf(error), { code: 'bad_message', message: '"welcome" is not a message an agent may send' });
  t.same(got, [{ type: 'ping' }], 'nothing after the bad message');
  t.equal(reader.push(encodeMessage({ type: 'pong' }), () => void t.fail('poisoned')), error);
  t.equal(reader.error, error);
});

t.test('MessageReader(accept: server) passes decoding and framing errors through', async (t) => {
  const server = new MessageReader({ accept: 'server', maxFrame: 16 });
  const seen: ServerMessage[] = [];
  t.same(errorOf(server.push(frame(hex('c1')), (m) => void seen.push(m))), {
    code: 'bad_frame',
    message: 'payload uses msgpack type 0xc1 (never-used byte 0xc1), which the protocol does not allow',
  });
  const small = new MessageReader({ accept: 'server', maxFrame: 16 });
  t.same(errorOf(small.push(Buffer.from([0, 0, 0, 17]), () => void t.fail('none'))), {
    code: 'bad_frame',
    message: 'frame length 17 exceeds the maximum of 16',
  });
  const hello = new MessageReader({ accept: 'server' });
  t.same(errorOf(hello.push(encodeMessage({ type: 'hello', version: 1, guid: 'g', hosts: [], algorithm: '' }), () => void t.fail('none'))), {
    code: 'bad_message',
    message: '"hello" is not a message a server may send',
  });
  t.same(seen, []);
});

t.test('MessageReader stops when the handler returns an error', async (t) => {
  const reader = new MessageReader({ accept: 'server' });
  const stop = new ProtocolError('bad_message', 'second hello');
  let calls = 0;
  const error = reader.push(Buffer.concat([encodeMessage({ type: 'ping' }), encodeMessage({ type: 'pong' })]), () => {
    calls++;
    return stop;
  });
  t.equal(error, stop);
  t.equal(calls, 1);
});

t.test('a __proto__ key inside call params and a result value arrives as sent, a plain own key', async (t) => {
  // msgpackr alone renames the key to `__proto_` (test/fuzz/codec.test.ts found it).
  const params = JSON.parse('{"a":[{"__proto__":{"polluted":true}}],"__proto__":"x"}') as { [key: string]: CallValue };
  const call = { type: 'call', id: 1, method: 'm', params, timeoutMs: 5 } as const;
  const got: unknown[] = [];
  t.equal(new MessageReader({ accept: 'server' }).push(encodeMessage(call), (m) => void got.push(m)), undefined);
  t.equal(got.length, 1);
  const decoded = got[0] as { params: Record<string, unknown> };
  t.equal(JSON.stringify(decoded.params), '{"a":[{"__proto__":{"polluted":true}}],"__proto__":"x"}');
  t.same(Object.keys(decoded.params), ['a', '__proto__']);
  t.equal(Object.getPrototypeOf(decoded.params), Object.prototype, 'the prototype is untouched');
  t.equal(({} as { polluted?: unknown }).polluted, undefined);

  const result = { type: 'result', id: 1, ok: true, value: JSON.parse('{"__proto__":[1,2]}') as CallValue } as const;
  const back: unknown[] = [];
  t.equal(new MessageReader({ accept: 'agent' }).push(encodeMessage(result), (m) => void back.push(m)), undefined);
  t.equal(JSON.stringify((back[0] as { value: unknown }).value), '{"__proto__":[1,2]}');
});

t.test('a payload that only mentions __proto__ in a string decodes as before', async (t) => {
  const got: unknown[] = [];
  t.equal(new MessageReader({ accept: 'agent' }).push(encodeMessage({ type: 'ack', seq: 3, ok: false, error: '__proto__' }), (m) => void got.push(m)), undefined);
  t.same(got, [{ type: 'ack', seq: 3, ok: false, error: '__proto__' }]);
});
