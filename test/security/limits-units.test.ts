/**
 * The admission limits as plain units with a fake clock: token buckets per source, the
 * counts of open connections and handshakes, the default agent limit, and the log that
 * must not turn a flood into a flood of lines.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { Admission, isRefusal, type AdmissionLimits, type AdmissionTicket, type Refusal } from '../../src/security/admission';
import { agentLimitFor, defaultMaxConnections, parseOpenFileLimit } from '../../src/security/fd-limit';
import { logLimitEvents } from '../../src/server/limit-log';
import { ConnectionRateLimiter, sourceKey } from '../../src/security/rate-limit';
import { ServerEvents } from '../../src/server/events';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

t.test('a token bucket per source: burst at once, then the rate', async (t) => {
  const c = clock();
  const limiter = new ConnectionRateLimiter({ ratePerSecond: 2, burst: 3, limitLoopback: true, now: c.now });
  const takes = (n: number, address = '10.0.0.1'): boolean[] => Array.from({ length: n }, () => limiter.take(address));
  t.same(takes(4), [true, true, true, false], 'the burst, then refused');
  t.same(takes(1, '10.0.0.2'), [true], 'another source has its own bucket');
  c.advance(499);
  t.same(takes(1), [false], 'not yet a whole token');
  c.advance(1);
  t.same(takes(2), [true, false], 'one token per 500 ms');
  c.advance(60_000);
  t.same(takes(4), [true, true, true, false], 'refilled to the burst, never beyond');
});

t.test('rate 0 is off; buckets that refilled are forgotten', async (t) => {
  const off = new ConnectionRateLimiter({ ratePerSecond: 0, burst: 1, limitLoopback: true });
  t.ok(Array.from({ length: 1000 }, () => off.take('10.0.0.1')).every(Boolean));
  t.equal(off.trackedSources, 0);
  const c = clock();
  const limiter = new ConnectionRateLimiter({ ratePerSecond: 10, burst: 5, limitLoopback: true, now: c.now });
  for (let i = 0; i < 100; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
  t.equal(limiter.trackedSources, 100);
  c.advance(10_000);
  limiter.take('10.9.9.9');
  t.equal(limiter.trackedSources, 1, 'only the source seen since the sweep is kept');
  t.throws(() => new ConnectionRateLimiter({ ratePerSecond: -1, burst: 1, limitLoopback: true }), RangeError);
  t.throws(() => new ConnectionRateLimiter({ ratePerSecond: 1, burst: 0, limitLoopback: true }), RangeError);
});

t.test('which bucket an address falls in', async (t) => {
  const cases: [string | undefined, boolean, string | undefined][] = [
    ['192.0.2.7', false, '192.0.2.7'],
    ['::ffff:192.0.2.7', false, '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', false, '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', false, '2001:db8:1:2::/64'],
    ['2001:db8::1', false, '2001:db8:0:0::/64'],
    ['fe80::1%eth0', false, 'fe80:0:0:0::/64'],
    ['::ffff:1.2.3.4', true, '1.2.3.4'],
    ['64:ff9b::192.0.2.1', false, '64:ff9b:0:0::/64'],
    ['127.0.0.1', false, undefined],
    ['127.3.2.1', false, undefined],
    ['::1', false, undefined],
    ['::ffff:127.0.0.1', false, undefined],
    ['127.0.0.1', true, '127.0.0.1'],
    ['::1', true, '0:0:0:0::/64'],
    [undefined, true, undefined],
  ];
  for (const [address, limitLoopback, key] of cases) t.equal(sourceKey(address, limitLoopback), key, `${address} (loopback limited: ${limitLoopback})`);
});

const LIMITS: AdmissionLimits = { maxConnections: 3, maxHandshakes: 2, maxHandshakesPerSource: 0, maxConnectionRate: 1, connectionBurst: 2, rateLimitLoopback: false };

function ticket(value: AdmissionTicket | Refusal): AdmissionTicket {
  if (isRefusal(value)) throw new Error(`refused: ${value.message}`);
  return value;
}

t.test('admission counts open connections and handshakes; tickets count out once', async (t) => {
  const admission = new Admission(LIMITS);
  const a = ticket(admission.admit('127.0.0.1'));
  const b = ticket(admission.admit('127.0.0.1'));
  t.same(admission.admit('127.0.0.1'), { limit: 'max_handshakes', message: 'this server has its maximum of 2 handshakes in progress' });
  a.handshakeDone();
  a.handshakeDone();
  t.equal(admission.handshakesInProgress, 1, 'handshakeDone twice counts once');
  const c = ticket(admission.admit('127.0.0.1'));
  c.handshakeDone();
  t.same(admission.admit('127.0.0.1'), { limit: 'max_connections', message: 'this server holds its maximum of 3 agents' });
  b.closed();
  b.closed();
  t.same([admission.openConnections, admission.handshakesInProgress], [2, 0], 'closing mid-handshake counts both out, once');
  ticket(admission.admit('127.0.0.1'));
  t.equal(admission.openConnections, 3);
});

t.test('the rate limit is checked last: a refusal for another reason costs no token', async (t) => {
  const c = clock();
  const admission = new Admission({ ...LIMITS, maxConnections: 1, maxHandshakes: 0 }, c.now);
  const first = ticket(admission.admit('198.51.100.1'));
  for (let i = 0; i < 5; i++) t.equal((admission.admit('198.51.100.1') as Refusal).limit, 'max_connections');
  first.closed();
  ticket(admission.admit('198.51.100.1')).closed();
  t.same(admission.admit('198.51.100.1'), { limit: 'connection_rate', message: 'too many new connections from 198.51.100.1 (limit 1 per second)' });
});

t.test('the default agent limit follows the open-file limit', async (t) => {
  const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;
  t.equal(parseOpenFileLimit(limits('20000')), 20_000);
  t.equal(parseOpenFileLimit(limits('unlimited')), undefined);
  t.equal(parseOpenFileLimit('Max processes 100 100 processes\n'), undefined);
  t.equal(agentLimitFor(20_000), 19_744);
  t.equal(agentLimitFor(100), 1, 'never 0 (which would mean no limit)');
  t.equal(agentLimitFor(undefined), 0);
  t.equal(defaultMaxConnections(() => limits('1024')), 768);
  t.equal(
    defaultMaxConnections(() => {
      throw new Error('ENOENT');
    }),
    0,
    'no /proc: no default limit',
  );
});

t.test('limit log lines: the first of a window with its details, the rest in one summary', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const events = new ServerEvents();
  const stop = logLimitEvents(events, pino({ base: undefined, timestamp: false }, sink), 60_000);
  for (let i = 0; i < 500; i++) events.emit('limitReached', { limit: 'connection_rate', remoteAddress: `10.0.0.${i % 7}:${i}`, message: `too many from 10.0.0.${i % 7}` });
  events.emit('limitReached', { limit: 'max_frame', remoteAddress: '10.1.1.1:1', message: 'frame length 70000 exceeds the maximum of 65536', connId: 4 });
  events.emit('tlsFailed', { remoteAddress: '10.2.2.2:2', code: 'client_certificate', message: 'this server requires a client certificate' });
  await new Promise((resolve) => setImmediate(resolve));
  stop();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(lines, [
    { level: 40, event: 'limit_reached', limit: 'connection_rate', remote: '10.0.0.0:0', detail: 'too many from 10.0.0.0', msg: 'connection refused or dropped: too many from 10.0.0.0' },
    { level: 40, event: 'limit_reached', limit: 'max_frame', remote: '10.1.1.1:1', detail: 'frame length 70000 exceeds the maximum of 65536', msg: 'connection refused or dropped: frame length 70000 exceeds the maximum of 65536' },
    { level: 40, event: 'tls_failed', code: 'client_certificate', remote: '10.2.2.2:2', detail: 'this server requires a client certificate', msg: 'TLS refused: this server requires a client certificate' },
    { level: 40, event: 'limit_reached', limit: 'connection_rate', suppressed: 499, lastRemote: '10.0.0.2:499', msg: '499 more like it in the last 60000 ms' },
  ]);
  events.emit('limitReached', { limit: 'max_frame', remoteAddress: 'x', message: 'y' });
  t.equal(lines.length, 4, 'unsubscribed');
});
