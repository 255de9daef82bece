/**
 * The one-pass hello decoder (src/protocol/hello-decoder.ts) is a shortcut, never a second
 * opinion: whatever it accepts, the generic path (decodePayload + validateAgentMessage)
 * accepts as the very same Hello; whatever it is unsure of it leaves to the generic path.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { encodeMessage } from '../../src/protocol/encoder';
import { decodeHello } from '../../src/protocol/hello-decoder';
import { decodePayload } from '../../src/protocol/message-decoder';
import { ProtocolError, type Hello } from '../../src/protocol/messages';
import { validateAgentMessage } from '../../src/protocol/validate';
import { hex } from './helpers';

const RUNS = Number(process.env['AGENTLB_FUZZ_RUNS'] ?? 300);

/** What the generic path makes of `payload`: a message, or the error's code and text. */
function generic(payload: Buffer): unknown {
  const value = decodePayload(payload);
  const message = value instanceof ProtocolError ? value : validateAgentMessage(value);
  return message instanceof ProtocolError ? { code: message.code, message: message.message } : message;
}

const payloadOf = (hello: Hello): Buffer => encodeMessage(hello).subarray(4);

const HELLO: Hello = { type: 'hello', version: 2, guid: 'host-1', hosts: [], algorithm: '' };

t.test('the hellos agents send are decoded in one pass, as the generic path decodes them', async (t) => {
  const hellos: Hello[] = [
    HELLO,
    { ...HELLO, version: 1, zone: 'z', hosts: ['10.0.0.1:8250', '10.0.0.2'], algorithm: 'roundrobin', checkInterval: 60 },
    { ...HELLO, token: 't'.repeat(256), checkInterval: 2_147_483 },
    { ...HELLO, guid: 'g'.repeat(128), zone: 'z'.repeat(128), algorithm: 'a'.repeat(64), hosts: Array.from({ length: 64 }, (_, i) => `h${i}`) },
    { ...HELLO, csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(2000)}\n-----END CERTIFICATE REQUEST-----\n` },
    { ...HELLO, version: 70_000, hosts: ['x'.repeat(255)] },
    { ...HELLO, version: 2 ** 32 - 1 },
  ];
  for (const hello of hellos) {
    const payload = payloadOf(hello);
    t.same(decodeHello(payload), hello);
    t.ok(isDeepStrictEqual(decodeHello(payload), generic(payload)), `same as the generic path: ${JSON.stringify(hello).slice(0, 60)}`);
  }
  // Keys in any order, and a map 16.
  const packr = new Packr({ useRecords: false });
  const shuffled = packr.pack({ algorithm: 'static', hosts: ['a'], guid: 'g', version: 2, type: 'hello' });
  t.same(decodeHello(shuffled), { type: 'hello', version: 2, guid: 'g', hosts: ['a'], algorithm: 'static' });
  t.same(decodeHello(hex('de 00 05 a4 74 79 70 65 a5 68 65 6c 6c 6f a7 76 65 72 73 69 6f 6e 02 a4 67 75 69 64 a1 67 a5 68 6f 73 74 73 90 a9 61 6c 67 6f 72 69 74 68 6d a0')), {
    type: 'hello',
    version: 2,
    guid: 'g',
    hosts: [],
    algorithm: '',
  });
});

t.test('anything unusual is left to the generic path, which gives the verdict', async (t) => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const cases: [string, Buffer][] = [
    ['another message type', payloadOf(HELLO).fill(0x61, 6, 11)], // "aaaaa": unknown type
    ['an ack', encodeMessage({ type: 'ack', seq: 1, ok: true }).subarray(4)],
    ['an unknown key', packr.pack({ ...HELLO, extra: 1 })],
    ['a repeated key', hex('86 a4 74 79 70 65 a5 68 65 6c 6c 6f a7 76 65 72 73 69 6f 6e 02 a4 67 75 69 64 a1 67 a4 67 75 69 64 a1 68 a5 68 6f 73 74 73 90 a9 61 6c 67 6f 72 69 74 68 6d a0')],
    ['a missing field', packr.pack({ type: 'hello', version: 2, guid: 'g', hosts: [] })],
    ['a non-ASCII guid', packr.pack({ ...HELLO, guid: 'hôte' })],
    ['a guid too long', packr.pack({ ...HELLO, guid: 'g'.repeat(129) })],
    ['an empty guid', packr.pack({ ...HELLO, guid: '' })],
    ['a negative version', packr.pack({ ...HELLO, version: -1 })],
    ['a float version', packr.pack({ ...HELLO, version: 1.5 })],
    ['a uint64 version', hex('85 a4 74 79 70 65 a5 68 65 6c 6c 6f a7 76 65 72 73 69 6f 6e cf 00 00 00 00 00 00 00 02 a4 67 75 69 64 a1 67 a5 68 6f 73 74 73 90 a9 61 6c 67 6f 72 69 74 68 6d a0')],
    ['a nil zone', packr.pack({ ...HELLO, zone: null })],
    ['an interval out of range', packr.pack({ ...HELLO, checkInterval: 2_147_484 })],
    ['65 hosts', packr.pack({ ...HELLO, hosts: Array.from({ length: 65 }, (_, i) => `h${i}`) })],
    ['an empty host entry', packr.pack({ ...HELLO, hosts: [''] })],
    ['a host that is a number', packr.pack({ ...HELLO, hosts: [1] })],
    ['trailing bytes', Buffer.concat([payloadOf(HELLO), Buffer.from([0xc0])])],
    ['a truncated hello', payloadOf(HELLO).subarray(0, 20)],
    ['not a map', hex('93 01 02 03')],
    ['an empty payload', Buffer.alloc(0)],
  ];
  for (const [what, payload] of cases) t.equal(decodeHello(payload), undefined, what);
});

t.test('whatever the one-pass decoder accepts, the generic path accepts as the same Hello', async (t) => {
  const ascii = (max: number) => fc.stringMatching(new RegExp(`^[\\x00-\\x7f]{0,${max}}$`));
  const hello = fc.record(
    {
      type: fc.constant('hello' as const),
      version: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.nat()),
      guid: fc.oneof(ascii(130), fc.string({ maxLength: 8 })),
      zone: ascii(130),
      hosts: fc.array(ascii(20), { maxLength: 66 }),
      algorithm: ascii(66),
      checkInterval: fc.integer({ min: -1, max: 2_200_000 }),
      token: ascii(8),
    },
    { requiredKeys: ['type', 'version', 'guid', 'hosts', 'algorithm'] },
  );
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  let accepted = 0;
  fc.assert(
    fc.property(hello, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), (value, flips) => {
      const payload = Buffer.from(packr.pack(value));
      for (const [index, byte] of flips) payload[index % payload.length] = byte;
      const fast = decodeHello(payload);
      if (fast === undefined) return true;
      accepted++;
      return isDeepStrictEqual(fast, generic(payload));
    }),
    { numRuns: RUNS * 10 },
  );
  t.ok(accepted > 0, `${accepted} hellos decoded in one pass`);
});
