/**
 * Roll-out mode (--tls-ca without --require-client-cert) must not let a client without a
 * certificate take a certified agent's guid (audit: it was welcomed and the real agent was
 * dropped as `replaced`). Real TLS, a real server, restarts on the same data directory.
 */
import t from 'tap';
import { nextMessage } from '../../src/protocol/framed-socket';
import { nextEvent, startTestServer } from '../helpers/server';
import { closeError, connectTls, helloOver, listenerTls, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

const HOLDS = 'guid "agent-1" holds a certificate: connect with it (tls.cert and tls.key), or have an operator run `agentlb hosts reissue` for it';

t.test('a guid once seen with its certificate is refused without one, and the real agent stays', async (t) => {
  const dataDir = t.testdir();
  const server = await startTestServer(t, { dataDir, security: { tls: listenerTls(pki, false) } });
  const real = await connectTls(server.agentPort, pki, pki.agent);
  t.match(await helloOver(real, 'agent-1'), { type: 'welcome', hostId: 1 });

  const impostor = await connectTls(server.agentPort, pki);
  t.same(await helloOver(impostor, 'agent-1'), { type: 'error', code: 'unauthorized', message: HOLDS });
  t.equal(await closeError(impostor), undefined);
  t.equal(server.agentCount, 1, 'the real agent was not replaced');
  real.send({ type: 'ping' });
  let reply = await nextMessage(real, 5_000);
  while (reply.type === 'hosts') reply = await nextMessage(real, 5_000); // its first list
  t.match(reply, { type: 'pong' }, 'and is still served');

  const newcomer = await connectTls(server.agentPort, pki);
  t.match(await helloOver(newcomer, 'never-certified'), { type: 'welcome' }, 'a guid that never had a certificate is still admitted (roll-out)');
  newcomer.destroy();
  real.destroy();
  await nextEvent(server.events, 'disconnected', (e) => e.guid === 'agent-1');
  await server.close();

  const restarted = await startTestServer(t, { dataDir, security: { tls: listenerTls(pki, false) } });
  const again = await connectTls(restarted.agentPort, pki);
  t.same(await helloOver(again, 'agent-1'), { type: 'error', code: 'unauthorized', message: HOLDS }, 'remembered across a restart');
  const back = await connectTls(restarted.agentPort, pki, pki.agent);
  t.match(await helloOver(back, 'agent-1'), { type: 'welcome', hostId: 1 }, 'the agent with its certificate is welcome');
  back.destroy();
});
