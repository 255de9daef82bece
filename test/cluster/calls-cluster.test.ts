/**
 * Calls in cluster mode, as far as they go today: a call asked of the server holding the
 * agent runs; asked of another server, it is not carried there (issue 14 item 6, routing
 * through PostgreSQL, is not built) and the refusal names the server that holds the agent,
 * from the fleet-wide connection registry (issue 12), so the caller can ask it.
 */
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import { pollUntil } from '../helpers/pg-store-fixtures';
import { api } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';
import { startMember } from './cluster-helpers';

t.test('a call asked of the holding server runs; of another, the refusal names the holder', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const url = await pg.database();
  const m1 = await startMember(t, url, 'm1.example:8250');
  const m2 = await startMember(t, url, 'm2.example:8250');
  const agent = await TestAgent.connect(m1.agentPort);
  const { hostId } = await agent.hello({ guid: 'held-by-m1' });
  agent.sock.on('message', (message) => {
    if (message.type === 'call') agent.send({ type: 'result', id: message.id, ok: true, value: 'ran on m1' });
  });
  t.match((await api(m1, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'x' } })).body, { status: 'ok', value: 'ran on m1', server: 'm1.example:8250' });
  // m2 learns of the host and of where it is connected through the store.
  t.ok(await pollUntil(async () => (await api(m2, 'GET', '/api/hosts')).body !== undefined && ((await api(m2, 'GET', '/api/hosts')).body as { server: string | null }[])[0]?.server === 'm1.example:8250'));
  const elsewhere = await api(m2, 'POST', `/api/hosts/${hostId}/call`, { body: { method: 'x' } });
  t.equal(elsewhere.status, 409);
  t.match(elsewhere.body, {
    error: `host ${hostId} (held-by-m1) is connected to m1.example:8250, not to m2.example:8250; calls are not routed between servers yet: ask m1.example:8250`,
    status: 'not_connected',
    server: 'm1.example:8250',
  });
  await agent.close();
});
