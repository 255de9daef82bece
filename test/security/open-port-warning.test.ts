/**
 * The start warning for an agent port anyone can enrol on (audit: the open defaults gave no
 * warning). The posture rule as a unit, then real servers bound to 0.0.0.0 and 127.0.0.1.
 */
import t from 'tap';
import { openAgentPortWarning } from '../../src/security/open-port-warning';
import { captureLogger } from '../helpers/log';
import { startTestServer } from '../helpers/server';
import { listenerTls, makePki } from './pki';

t.test('which bindings and postures warn', async (t) => {
  const open = (address: string, tls = false, token = false): boolean => openAgentPortWarning({ address, tls, token }) !== undefined;
  t.same(
    ['0.0.0.0', '::', '10.0.0.5', '2001:db8::1', '127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].map((address) => open(address)),
    [true, true, true, true, false, false, false, false],
  );
  t.equal(open('0.0.0.0', true), false, 'TLS');
  t.equal(open('0.0.0.0', false, true), false, 'a token');
});

t.test('a server on 0.0.0.0 with neither TLS nor a token warns at start; with a token it does not', async (t) => {
  const { logger, lines } = captureLogger('info');
  await startTestServer(t, { logger, listen: { host: '0.0.0.0' } });
  t.same(
    lines.filter((line) => line.event === 'open_agent_port').map(({ level, msg }) => ({ level, msg })),
    [
      {
        level: 40,
        msg:
          'the agent port (0.0.0.0) is reachable beyond loopback with neither TLS nor an enrolment token: anyone who can reach it can ' +
          'register hosts and take over a known guid; set --agent-token, or --tls-cert/--tls-key (with --tls-ca and ' +
          '--require-client-cert, or --ca-dir for enrolment), or listen on 127.0.0.1',
      },
    ],
  );
  const quiet = captureLogger('info');
  await startTestServer(t, { logger: quiet.logger, listen: { host: '0.0.0.0' }, security: { agentToken: 'an-enrolment-token' } });
  const loopback = captureLogger('info');
  await startTestServer(t, { logger: loopback.logger });
  const tls = captureLogger('info');
  await startTestServer(t, { logger: tls.logger, listen: { host: '0.0.0.0' }, security: { tls: listenerTls(await makePki(t.testdir()), false, false) } });
  for (const captured of [quiet, loopback, tls]) t.same(captured.lines.filter((line) => line.event === 'open_agent_port'), []);
});
