/**
 * Bad connections do not flood the log (audit: each wrote three lines, with no limit): a real
 * server at log level info, 200 clients sending a bad frame each. One `protocol_error` and one
 * `handshake_failed` line in full, the rest summed up; no per-connection `disconnected` line
 * for a connection that never registered; agents that did register still get theirs.
 */
import t from 'tap';
import { captureLogger } from '../helpers/log';
import { nextEvent, startTestServer } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

t.test('200 bad clients: two detailed lines and their summaries, not 600 lines', async (t) => {
  const { logger, lines } = captureLogger('info');
  const server = await startTestServer(t, { logger });
  for (let i = 0; i < 200; i++) {
    const bad = await TestAgent.connect(server.agentPort);
    bad.send(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    t.match(await bad.next(), { type: 'error', code: 'bad_frame' });
    await bad.closed;
  }
  const agent = await TestAgent.connect(server.agentPort);
  await agent.hello({ guid: 'good' });
  const gone = nextEvent(server.events, 'disconnected', (e) => e.guid === 'good');
  await agent.close();
  await gone;
  await server.close();
  const byEvent = (event: string) => lines.filter((line) => line.event === event);
  t.match(byEvent('protocol_error'), [
    { level: 40, code: 'bad_frame', remote: /^127\.0\.0\.1:\d+$/, detail: /exceeds the maximum/, msg: 'agent broke the protocol' },
    { level: 40, code: 'bad_frame', suppressed: 199, msg: '199 more like it in the last 10000 ms' },
  ]);
  t.equal(byEvent('protocol_error').length, 2);
  t.match(byEvent('handshake_failed'), [
    { level: 40, result: 'bad_frame', msg: 'agent handshake failed: bad_frame' },
    { level: 40, result: 'bad_frame', suppressed: 199 },
  ]);
  t.equal(byEvent('handshake_failed').length, 2);
  t.match(byEvent('disconnected'), [{ level: 30, guid: 'good', reason: 'closed_by_agent' }], 'only the registered agent has a disconnected line');
  t.equal(byEvent('disconnected').length, 1);
});
