import t from 'tap';
import { ProtocolError } from '../../src/protocol/messages';
import { validateAgentMessage, validateMessage, validateServerMessage } from '../../src/protocol/validate';

const hello = { type: 'hello', version: 1, guid: 'g1', hosts: ['m1', 'm2:8250'], algorithm: 'static' };
const welcome = { type: 'welcome', version: 1, hostId: 3, server: 'm1' };
const hosts = { type: 'hosts', seq: 4, hosts: ['m1'], algorithm: 'roundrobin', checkInterval: 0 };
const ack = { type: 'ack', seq: 4, ok: true };
const error = { type: 'error', code: 'server_busy', message: 'too many agents' };

function badMessage(value: unknown): string | undefined {
  const result = validateMessage(value);
  if (!(result instanceof ProtocolError)) return undefined;
  t.equal(result.code, 'bad_message');
  return result.message;
}

t.test('valid messages come back equal, optional fields included', async (t) => {
  const full = [
    hello,
    { ...hello, zone: 'z', checkInterval: 60, token: 'secret' },
    welcome,
    { ...welcome, pingInterval: 30_000 },
    hosts,
    { ...hosts, recheck: true },
    { ...hosts, recheck: false },
    ack,
    { ...ack, ok: false, error: 'disk full' },
    error,
    { type: 'ping' },
    { type: 'pong' },
  ];
  for (const m of full) t.same(validateMessage(m), m, m.type);
  t.same(validateMessage({ ...hello, hosts: [], algorithm: '' }), { ...hello, hosts: [], algorithm: '' }, 'empty list');
});

t.test('the result is a fresh object holding only known keys', async (t) => {
  const input = JSON.parse('{"type":"ping","__proto__":{"polluted":1},"extra":2}') as object;
  const out = validateMessage(input);
  t.not(out, input);
  t.same(Object.keys(out as object), ['type']);
  t.equal(({} as { polluted?: unknown }).polluted, undefined);
  const withExtra = validateMessage({ ...hello, admin: true, zone: undefined });
  t.same(Object.keys(withExtra as object), ['type', 'version', 'guid', 'hosts', 'algorithm'], 'absent optional fields stay absent');
  const h = validateMessage(hello) as { hosts: string[] };
  t.not(h.hosts, hello.hosts, 'arrays are copied too');
});

t.test('fields inherited from a prototype are not read', async (t) => {
  t.equal(badMessage(Object.create({ type: 'ping' })), 'a message must be a map', 'a non-plain prototype');
  // Even with Object.prototype polluted, only own properties count.
  Object.defineProperty(Object.prototype, 'ok', { value: true, configurable: true, writable: true });
  try {
    t.equal(badMessage({ type: 'ack', seq: 1 }), 'ack.ok must be a boolean');
  } finally {
    delete (Object.prototype as { ok?: unknown }).ok;
  }
});

t.test('a null-prototype object is a map', async (t) => {
  t.same(validateMessage(Object.assign(Object.create(null), { type: 'pong' })), { type: 'pong' });
});

t.test('not a map, no type, unknown type', async (t) => {
  for (const v of [null, undefined, 'ping', 1, [], [{ type: 'ping' }], new Map([['type', 'ping']]), new Date(0), Buffer.from('x')]) {
    t.equal(badMessage(v), 'a message must be a map', String(v));
  }
  t.equal(badMessage({}), 'a message needs a string "type"');
  t.equal(badMessage({ type: 1 }), 'a message needs a string "type"');
  t.equal(badMessage({ type: 'nope' }), 'unknown message type "nope"');
  t.equal(badMessage({ type: 'toString' }), 'unknown message type "toString"', 'not fooled by Object.prototype');
  t.equal(badMessage({ type: 'x'.repeat(100) }), `unknown message type "${'x'.repeat(64)}..."`, 'cut short');
  t.equal(badMessage({ type: 'a\nb' }), 'unknown message type "a\\nb"', 'escaped');
});

const cases: [string, object, string][] = [
  ['version missing', { ...hello, version: undefined }, 'hello.version must be an integer'],
  ['version a string', { ...hello, version: '1' }, 'hello.version must be an integer'],
  ['version a float', { ...hello, version: 1.5 }, 'hello.version must be an integer'],
  ['version NaN', { ...hello, version: NaN }, 'hello.version must be an integer'],
  ['version Infinity', { ...hello, version: Infinity }, 'hello.version must be an integer'],
  ['version bigint', { ...hello, version: 1n }, 'hello.version must be an integer'],
  ['version beyond 2^53', { ...hello, version: 2 ** 53 }, 'hello.version must be an integer'],
  ['version negative', { ...hello, version: -1 }, `hello.version must be in 0..${Number.MAX_SAFE_INTEGER}, got -1`],
  ['guid missing', { ...hello, guid: undefined }, 'hello.guid must be a string'],
  ['guid empty', { ...hello, guid: '' }, 'hello.guid must be 1..128 UTF-8 bytes, got 0'],
  ['guid too long', { ...hello, guid: 'g'.repeat(129) }, 'hello.guid must be 1..128 UTF-8 bytes, got 129'],
  ['guid too long in UTF-8 bytes', { ...hello, guid: 'é'.repeat(65) }, 'hello.guid must be 1..128 UTF-8 bytes, got 130'],
  ['guid nil', { ...hello, guid: null }, 'hello.guid must be a string'],
  ['guid a Date', { ...hello, guid: new Date(0) }, 'hello.guid must be a string'],
  ['zone empty', { ...hello, zone: '' }, 'hello.zone must be 1..128 UTF-8 bytes, got 0'],
  ['zone nil', { ...hello, zone: null }, 'hello.zone must be a string'],
  ['hosts missing', { ...hello, hosts: undefined }, 'hello.hosts must be an array of strings'],
  ['hosts a string', { ...hello, hosts: 'm1,m2' }, 'hello.hosts must be an array of strings'],
  ['hosts a Set', { ...hello, hosts: new Set(['m1']) }, 'hello.hosts must be an array of strings'],
  ['hosts a typed array', { ...hello, hosts: new Uint8Array(1) }, 'hello.hosts must be an array of strings'],
  ['hosts entry a number', { ...hello, hosts: ['m1', 2] }, 'hello.hosts[1] must be a string'],
  ['hosts entry empty', { ...hello, hosts: [''] }, 'hello.hosts[0] must be 1..255 UTF-8 bytes, got 0'],
  ['hosts entry too long', { ...hello, hosts: ['h'.repeat(256)] }, 'hello.hosts[0] must be 1..255 UTF-8 bytes, got 256'],
  ['hosts too many', { ...hello, hosts: Array.from({ length: 65 }, (_, i) => `m${i}`) }, 'hello.hosts has 65 entries, at most 64 allowed'],
  ['algorithm missing', { ...hello, algorithm: undefined }, 'hello.algorithm must be a string'],
  ['algorithm too long', { ...hello, algorithm: 'a'.repeat(65) }, 'hello.algorithm must be 0..64 UTF-8 bytes, got 65'],
  ['checkInterval negative', { ...hello, checkInterval: -1 }, 'hello.checkInterval must be in 0..2147483, got -1'],
  ['checkInterval too big', { ...hello, checkInterval: 2_147_484 }, 'hello.checkInterval must be in 0..2147483, got 2147484'],
  ['checkInterval a string', { ...hello, checkInterval: '60' }, 'hello.checkInterval must be an integer'],
  ['token empty', { ...hello, token: '' }, 'hello.token must be 1..256 UTF-8 bytes, got 0'],
  ['token too long', { ...hello, token: 't'.repeat(257) }, 'hello.token must be 1..256 UTF-8 bytes, got 257'],
  ['csr empty', { ...hello, csr: '' }, 'hello.csr must be 1..16384 UTF-8 bytes, got 0'],
  ['csr too long', { ...hello, csr: 'c'.repeat(16_385) }, 'hello.csr must be 1..16384 UTF-8 bytes, got 16385'],
  ['csr a buffer', { ...hello, csr: Buffer.from('PEM') }, 'hello.csr must be a string'],
  ['welcome hostId negative', { ...welcome, hostId: -3 }, `welcome.hostId must be in 0..${Number.MAX_SAFE_INTEGER}, got -3`],
  ['welcome hostId a float', { ...welcome, hostId: 3.25 }, 'welcome.hostId must be an integer'],
  ['welcome version missing', { ...welcome, version: undefined }, 'welcome.version must be an integer'],
  ['welcome server empty', { ...welcome, server: '' }, 'welcome.server must be 1..255 UTF-8 bytes, got 0'],
  ['welcome pingInterval 0', { ...welcome, pingInterval: 0 }, 'welcome.pingInterval must be in 1..2147483647, got 0'],
  ['welcome certificate empty', { ...welcome, certificate: '' }, 'welcome.certificate must be 1..16384 UTF-8 bytes, got 0'],
  ['welcome certificate a number', { ...welcome, certificate: 7 }, 'welcome.certificate must be a string'],
  ['welcome pingInterval too big', { ...welcome, pingInterval: 2 ** 31 }, 'welcome.pingInterval must be in 1..2147483647, got 2147483648'],
  ['hosts seq negative', { ...hosts, seq: -1 }, `hosts.seq must be in 0..${Number.MAX_SAFE_INTEGER}, got -1`],
  ['hosts seq missing', { ...hosts, seq: undefined }, 'hosts.seq must be an integer'],
  ['hosts list missing', { ...hosts, hosts: undefined }, 'hosts.hosts must be an array of strings'],
  ['hosts algorithm empty', { ...hosts, algorithm: '' }, 'hosts.algorithm must be 1..64 UTF-8 bytes, got 0'],
  ['hosts checkInterval missing', { ...hosts, checkInterval: undefined }, 'hosts.checkInterval must be an integer'],
  ['hosts recheck a number', { ...hosts, recheck: 1 }, 'hosts.recheck must be a boolean'],
  ['hosts recheck nil', { ...hosts, recheck: null }, 'hosts.recheck must be a boolean'],
  ['ack seq a float', { ...ack, seq: 0.5 }, 'ack.seq must be an integer'],
  ['ack ok missing', { ...ack, ok: undefined }, 'ack.ok must be a boolean'],
  ['ack ok a number', { ...ack, ok: 1 }, 'ack.ok must be a boolean'],
  ['ack error too long', { ...ack, ok: false, error: 'e'.repeat(1025) }, 'ack.error must be 0..1024 UTF-8 bytes, got 1025'],
  ['error code unknown', { ...error, code: 'teapot' }, 'error.code "teapot" is not a known error code'],
  ['error code missing', { ...error, code: undefined }, 'error.code must be a string'],
  ['error message missing', { ...error, message: undefined }, 'error.message must be a string'],
  ['error message too long', { ...error, message: 'm'.repeat(1025) }, 'error.message must be 0..1024 UTF-8 bytes, got 1025'],
];

for (const [name, value, message] of cases) {
  t.test(`bad_message: ${name}`, async (t) => {
    t.equal(badMessage(value), message);
  });
}

t.test('bounds are inclusive', async (t) => {
  t.same(validateMessage({ ...hello, guid: 'g'.repeat(128) }), { ...hello, guid: 'g'.repeat(128) });
  t.same(validateMessage({ ...hello, hosts: Array.from({ length: 64 }, (_, i) => `m${i}`) }) instanceof ProtocolError, false);
  t.same(validateMessage({ ...welcome, hostId: Number.MAX_SAFE_INTEGER }), { ...welcome, hostId: Number.MAX_SAFE_INTEGER });
  t.same(validateMessage({ ...error, message: '' }), { ...error, message: '' });
});

t.test('direction: a server accepts only agent messages', async (t) => {
  for (const m of [hello, ack, { type: 'ping' }, { type: 'pong' }]) t.same(validateAgentMessage(m), m);
  for (const m of [welcome, hosts, error]) {
    const result = validateAgentMessage(m);
    t.same(
      result instanceof ProtocolError ? [result.code, result.message] : result,
      ['bad_message', `"${m.type}" is not a message an agent may send`],
    );
  }
});

t.test('direction: an agent accepts only server messages', async (t) => {
  for (const m of [welcome, hosts, error, { type: 'ping' }, { type: 'pong' }]) t.same(validateServerMessage(m), m);
  for (const m of [hello, ack]) {
    const result = validateServerMessage(m);
    t.same(
      result instanceof ProtocolError ? [result.code, result.message] : result,
      ['bad_message', `"${m.type}" is not a message a server may send`],
    );
  }
  const unknown = validateServerMessage({ type: 'nope' });
  t.equal(unknown instanceof ProtocolError && unknown.message, 'unknown message type "nope"');
});

t.test('a getter that throws cannot make validation throw', async (t) => {
  const hostile = {
    type: 'ack',
    get seq(): number {
      throw new Error('boom');
    },
  };
  t.equal(badMessage(hostile), 'invalid ack: Error: boom');
});
