import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { encodeMessage, encodeWelcome } from '../../src/protocol/encoder';
import { decodePayload, MessageReader } from '../../src/protocol/message-decoder';
import { ERROR_CODES, Message } from '../../src/protocol/messages';

/** The payload's value, after checking the header against the frame's real length. */
function decodeFrame(frame: Buffer): unknown {
  assert.equal(frame.readUInt32BE(0), frame.length - 4, 'header holds the payload length');
  return decodePayload(frame.subarray(4));
}

t.test('keys come out in canonical order whatever order the message was built in', async (t) => {
  const a = encodeMessage({ type: 'ack', seq: 1, ok: true });
  const b = encodeMessage({ ok: true, seq: 1, type: 'ack' } as Message);
  t.equal(a.toString('hex'), b.toString('hex'));
  t.same(Object.keys(decodeFrame(a) as object), ['type', 'seq', 'ok']);
});

t.test('absent and undefined optional fields are left out; unknown properties are not sent', async (t) => {
  const hello = { type: 'hello', version: 1, guid: 'g', hosts: [], algorithm: '', zone: undefined, secret: 'x' } as Message;
  t.same(decodeFrame(encodeMessage(hello)), { type: 'hello', version: 1, guid: 'g', hosts: [], algorithm: '' });
  t.same(decodeFrame(encodeMessage({ type: 'welcome', version: 1, hostId: 1, server: 's', pingInterval: undefined })), {
    type: 'welcome',
    version: 1,
    hostId: 1,
    server: 's',
  });
  t.same(decodeFrame(encodeMessage({ type: 'ack', seq: 1, ok: false, error: undefined })), { type: 'ack', seq: 1, ok: false });
});

t.test('pure: equal messages give equal bytes in separate buffers', async (t) => {
  const msg: Message = { type: 'hosts', seq: 9, hosts: ['m1', 'm2', 'm3'], algorithm: 'roundrobin', checkInterval: 30 };
  const first = encodeMessage(msg);
  const copy = Buffer.from(first);
  const second = encodeMessage({ ...msg, hosts: [...msg.hosts] });
  encodeMessage({ type: 'error', code: 'bad_frame', message: 'x'.repeat(5000) }); // reuses the packer's scratch space
  t.equal(first.toString('hex'), copy.toString('hex'), 'an earlier frame is not overwritten by later encodes');
  t.equal(second.toString('hex'), first.toString('hex'));
  second.fill(0);
  t.equal(first.toString('hex'), copy.toString('hex'), 'frames share no memory');
});

t.test('integers above 2^32 survive as integral float64', async (t) => {
  const msg: Message = { type: 'welcome', version: 1, hostId: 2 ** 40 + 1, server: 's' };
  const frame = encodeMessage(msg);
  t.ok(frame.includes(Buffer.from([0xcb])), 'msgpackr writes float64');
  t.same(decodeFrame(frame), msg);
});

const hostEntry = fc.stringMatching(/^[a-z0-9.-]{1,20}(:[1-9][0-9]{0,3})?$/);
const text = (max: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: max }).filter((s) => Buffer.byteLength(s) <= max);
const nonEmpty = (max: number): fc.Arbitrary<string> => text(max).filter((s) => s.length > 0);
const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const agentMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      version: uint,
      guid: nonEmpty(128),
      zone: nonEmpty(128),
      hosts: fc.array(hostEntry, { maxLength: 64 }),
      algorithm: text(64),
      checkInterval: fc.integer({ min: 0, max: 2_147_483 }),
      token: nonEmpty(256),
    },
    { requiredKeys: ['type', 'version', 'guid', 'hosts', 'algorithm'] },
  ),
  fc.record({ type: fc.constant('ack' as const), seq: uint, ok: fc.boolean(), error: text(1024) }, { requiredKeys: ['type', 'seq', 'ok'] }),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
);

const serverMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record(
    {
      type: fc.constant('welcome' as const),
      version: uint,
      hostId: uint,
      server: nonEmpty(255),
      pingInterval: fc.integer({ min: 1, max: 2_147_483_647 }),
    },
    { requiredKeys: ['type', 'version', 'hostId', 'server'] },
  ),
  fc.record({
    type: fc.constant('hosts' as const),
    seq: uint,
    hosts: fc.array(hostEntry, { maxLength: 64 }),
    algorithm: nonEmpty(64),
    checkInterval: fc.integer({ min: 0, max: 2_147_483 }),
    recheck: fc.boolean(),
  }, { requiredKeys: ['type', 'seq', 'hosts', 'algorithm', 'checkInterval'] }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...ERROR_CODES), message: text(1024) }),
);

t.test('property: every valid message survives encode -> MessageReader unchanged, in any split', async (t) => {
  for (const [accept, arbitrary] of [
    ['agent', agentMessage],
    ['server', serverMessage],
  ] as const) {
    fc.assert(
      fc.property(fc.array(arbitrary, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 64 }), (messages, step) => {
        const stream = Buffer.concat(messages.map(encodeMessage));
        const reader = new MessageReader({ accept });
        const got: Message[] = [];
        for (let i = 0; i < stream.length; i += step) {
          const error = reader.push(stream.subarray(i, i + step), (m) => void got.push(m));
          if (error) throw error;
        }
        // fast-check builds records with a null prototype; ours are plain objects.
        assert.deepStrictEqual(got, messages.map((m) => ({ ...m })));
      }),
      { numRuns: 150 },
    );
    t.pass(`${accept} messages round-trip`);
  }
});

t.test('encodeWelcome gives encodeMessage\'s bytes, with the bytes after it in the same buffer', async (t) => {
  const ids = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 1];
  const after = encodeMessage({ type: 'hosts', seq: 3, hosts: ['a:1'], algorithm: 'static', checkInterval: 0 });
  for (const welcome of [
    { type: 'welcome', version: 2, server: '127.0.0.1:8250', pingInterval: 15_000 },
    { type: 'welcome', version: 1, server: 's'.repeat(255), pingInterval: 2_147_483_647 },
    { type: 'welcome', version: 2, server: 'h\u00f4te:1' },
    { type: 'welcome', version: 2, server: 's', pingInterval: 1, certificate: 'PEM' },
  ] as const) {
    for (const hostId of ids) {
      const message = { ...welcome, hostId };
      const expected = encodeMessage(message).toString('hex');
      t.equal(encodeWelcome(message).toString('hex'), expected, `${welcome.server.slice(0, 12)} ${hostId}`);
      t.equal(encodeWelcome(message, after).toString('hex'), expected + after.toString('hex'), `${hostId}, with a hosts frame after it`);
    }
  }
});
