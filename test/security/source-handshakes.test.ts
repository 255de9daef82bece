/**
 * The per-source cap on handshakes in progress (audit: two sources opening connections that
 * never say hello filled every one of the global slots, and a real agent from a third source
 * got `server_busy` for as long as they kept at it). Units with Admission, then real sockets
 * from distinct loopback addresses against a real server.
 */
import t from 'tap';
import { Admission, isRefusal, type AdmissionLimits, type AdmissionTicket, type Refusal } from '../../src/security/admission';
import type { ServerEventMap } from '../../src/server/events';
import { startTestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

const LIMITS: AdmissionLimits = { maxConnections: 0, maxHandshakes: 10, maxHandshakesPerSource: 2, maxConnectionRate: 0, connectionBurst: 1, rateLimitLoopback: false };

function ticket(value: AdmissionTicket | Refusal): AdmissionTicket {
  if (isRefusal(value)) throw new Error(`refused: ${value.message}`);
  return value;
}

t.test('a source holds at most its cap of handshakes; others are not held back; slots come back', async (t) => {
  const admission = new Admission(LIMITS);
  const a = [ticket(admission.admit('198.51.100.1')), ticket(admission.admit('198.51.100.1'))];
  t.same(admission.admit('198.51.100.1'), { limit: 'source_handshakes', message: '198.51.100.1 has its maximum of 2 handshakes in progress' });
  ticket(admission.admit('2001:db8::1'));
  ticket(admission.admit('2001:db8::ffff'));
  t.equal((admission.admit('2001:db8::2') as Refusal).limit, 'source_handshakes', 'IPv6: one /64 is one source');
  ticket(admission.admit('198.51.100.2'));
  a[0]!.handshakeDone();
  a[0]!.closed();
  ticket(admission.admit('198.51.100.1'));
  t.equal((admission.admit('198.51.100.1') as Refusal).limit, 'source_handshakes', 'one ended, one more admitted, no more');
  t.equal(admission.handshakesInProgress, 5);
});

t.test('memory follows live handshakes, not every source seen', async (t) => {
  const admission = new Admission({ ...LIMITS, maxHandshakes: 0 });
  const tickets = Array.from({ length: 50 }, (_, i) => ticket(admission.admit(`10.0.0.${i}`)));
  t.equal(admission.sourcesHandshaking, 50);
  for (const one of tickets) one.handshakeDone();
  t.equal(admission.sourcesHandshaking, 0);
});

t.test('loopback is exempt unless rateLimitLoopback; 0 turns the cap off', async (t) => {
  const exempt = new Admission(LIMITS);
  for (let i = 0; i < 5; i++) ticket(exempt.admit('127.0.0.1'));
  for (let i = 0; i < 5; i++) ticket(exempt.admit('::1'));
  const limited = new Admission({ ...LIMITS, rateLimitLoopback: true });
  ticket(limited.admit('127.0.0.1'));
  ticket(limited.admit('127.0.0.1'));
  t.equal((limited.admit('127.0.0.1') as Refusal).limit, 'source_handshakes');
  const off = new Admission({ ...LIMITS, maxHandshakesPerSource: 0 });
  for (let i = 0; i < 8; i++) ticket(off.admit('198.51.100.1'));
  t.equal(off.sourcesHandshaking, 0);
});

t.test('real sockets: two sources that never say hello cannot lock out an agent from a third', async (t) => {
  const server = await startTestServer(t, { admission: { maxHandshakes: 8, maxHandshakesPerSource: 3, rateLimitLoopback: true, maxConnectionRate: 0 } });
  const seen: ServerEventMap['limitReached'][] = [];
  server.events.on('limitReached', (e) => seen.push(e));
  const silent: TestAgent[] = [];
  for (const source of ['127.0.0.2', '127.0.0.3']) {
    for (let i = 0; i < 3; i++) silent.push(await TestAgent.connect(server.agentPort, source));
    const refused = await TestAgent.connect(server.agentPort, source);
    t.same(await refused.next(), { type: 'error', code: 'server_busy', message: `${source} has its maximum of 3 handshakes in progress` });
    await refused.closed;
  }
  t.match(seen, [
    { limit: 'source_handshakes', remoteAddress: /^127\.0\.0\.2:\d+$/ },
    { limit: 'source_handshakes', remoteAddress: /^127\.0\.0\.3:\d+$/ },
  ]);
  const agent = await TestAgent.connect(server.agentPort, '127.0.0.4');
  t.match(await agent.hello({ guid: 'real-agent' }), { type: 'welcome' }, 'the third source is served while the others hold their slots');
  for (const one of [...silent, agent]) await one.close();
});
