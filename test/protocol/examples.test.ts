/**
 * Every hex example of protocol.md, parsed out of protocol.md itself, so the spec cannot drift
 * from the code: valid frames decode to the JSON shown beside them and re-encode to the same
 * bytes; invalid frames give the error code their info string names.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import t from 'tap';
// Through the package's public entry point, as the server and the agent import it.
import { Direction, encodeMessage, Message, MessageReader, ProtocolError } from '../../src/protocol';
import { hex } from './helpers';

interface Example {
  name: string;
  from: Direction;
  error: string | undefined;
  bytes: Buffer;
}

const spec = readFileSync(resolve(__dirname, '../../protocol.md'), 'utf8');

function attributes(info: string): Record<string, string> {
  return Object.fromEntries(info.trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
}

const examples: Example[] = [...spec.matchAll(/^```hex ([^\n]*)\n([\s\S]*?)^```/gm)].map((m) => {
  const attrs = attributes(m[1] as string);
  return {
    name: attrs.example as string,
    from: attrs.from as Direction,
    error: attrs.error,
    bytes: hex(m[2] as string),
  };
});

const decodedAs = new Map<string, unknown>(
  [...spec.matchAll(/^```json example=(\S+)\n([\s\S]*?)^```/gm)].map((m) => [m[1] as string, JSON.parse(m[2] as string)]),
);

/** Reads messages from `chunks` with a reader for the example's direction. */
function read(example: Example, chunks: Buffer[]): { messages: Message[]; error: ProtocolError | undefined } {
  const reader = new MessageReader({ accept: example.from });
  const messages: Message[] = [];
  let error: ProtocolError | undefined;
  for (const chunk of chunks) {
    error = reader.push(chunk, (m) => void messages.push(m));
    if (error) break;
  }
  return { messages, error };
}

t.test('protocol.md holds the examples the spec promises', async (t) => {
  t.same(
    examples.map((e) => e.name),
    [
      'hello', 'hello-csr', 'welcome', 'welcome-certificate', 'hosts', 'hosts-recheck', 'ack', 'ping', 'error',
      'hello-v2', 'call', 'result', 'result-error', 'cancel',
      'zero-length', 'oversized', 'timestamp-ext', 'truncated', 'trailing', 'not-a-map', 'negative-seq', 'dot-method', 'welcome-from-agent',
    ],
  );
  t.same([...decodedAs.keys()], ['hello', 'hello-csr', 'welcome', 'welcome-certificate', 'hosts', 'hosts-recheck', 'ack', 'ping', 'error', 'hello-v2', 'call', 'result', 'result-error', 'cancel']);
  for (const e of examples) t.ok(e.from === 'agent' || e.from === 'server', `${e.name} names its sender`);
});

for (const example of examples.filter((e) => e.error === undefined)) {
  t.test(`example ${example.name}: decodes byte for byte and re-encodes identically`, async (t) => {
    const expected = decodedAs.get(example.name);
    t.same(read(example, [example.bytes]), { messages: [expected], error: undefined });
    const oneByteAtATime = [...example.bytes].map((b) => Buffer.from([b]));
    t.same(read(example, oneByteAtATime), { messages: [expected], error: undefined });
    t.equal(encodeMessage(expected as Message).toString('hex'), example.bytes.toString('hex'));
  });
}

/** What our decoder says about each invalid example (the spec fixes only the code). */
const refusals: Record<string, string> = {
  'zero-length': 'frame length 0: a frame must hold one message',
  oversized: 'frame length 65537 exceeds the maximum of 65536',
  'timestamp-ext': 'payload uses msgpack type 0xd6 (fixext 4), which the protocol does not allow',
  truncated: 'payload ends inside a msgpack value (truncated or garbage)',
  trailing: 'payload has 1 trailing byte(s) after its message',
  'not-a-map': 'a message must be a map',
  'negative-seq': `ack.seq must be in 0..${Number.MAX_SAFE_INTEGER}, got -1`,
  'dot-method': 'call.method ".." must be [A-Za-z0-9._-] only, not starting with "."',
  'welcome-from-agent': '"welcome" is not a message an agent may send',
};

for (const example of examples.filter((e) => e.error !== undefined)) {
  t.test(`example ${example.name}: refused with ${example.error}`, async (t) => {
    const { messages, error } = read(example, [example.bytes]);
    t.same(messages, []);
    t.same([error?.code, error?.message], [example.error, refusals[example.name]]);
    if (example.bytes.length > 4) {
      t.equal(example.bytes.readUInt32BE(0), example.bytes.length - 4, 'the header tells the payload length');
    }
    if (example.bytes.length === 4) t.pass('refused from the 4 header bytes alone: the example has no payload');
  });
}
