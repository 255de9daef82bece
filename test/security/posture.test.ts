/**
 * The security posture on the record: an empty agent token (flag, or the variable a unit with
 * a missing EnvironmentFile leaves empty) exits 2 instead of silently turning enrolment off;
 * the `started` line and /healthz say tls, clientCerts, agentToken, the store kind and the
 * version. Real server processes.
 */
import path from 'node:path';
import t from 'tap';
import { securityPosture } from '../../src/server/posture';
import { agentlbVersion } from '../../src/util/version';
import { cleanEnv, runCliInProcess, runCliProcess, startServerProcess, type ServerProcess } from '../helpers/cli';

const TOKEN = 'an-enrolment-token-of-32-bytes!!';

const usage = (message: string) => `agentlb server: ${message}\nRun \`agentlb server --help\` for usage.\n`;
const EMPTY = (source: string) =>
  usage(`${source} is empty, which would turn enrolment off: give a token of 16 to 256 bytes, or leave it unset to admit agents without one`);

t.test('an empty agent token exits 2, from the flag or from the environment', async (t) => {
  const flag = await runCliProcess(['server', '--agent-token', '', '--data-dir', t.testdir()]);
  t.same([flag.code, flag.stdout, flag.stderr], [2, '', EMPTY('--agent-token')]);
  const env = await runCliProcess(['server', '--data-dir', t.testdir()], cleanEnv({ AGENTLB_AGENT_TOKEN: '' }));
  t.same([env.code, env.stdout, env.stderr], [2, '', EMPTY('AGENTLB_AGENT_TOKEN')]);
  t.same(await runCliInProcess(['server', '--agent-token=']), { code: 2, out: '', err: EMPTY('--agent-token') });
});

async function health(server: ServerProcess): Promise<Record<string, unknown>> {
  return (await (await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).json()) as Record<string, unknown>;
}

t.test('a plain server says so: no TLS, no client certificates, no token, embedded store', async (t) => {
  const server = await startServerProcess(t, ['--data-dir', t.testdir()]);
  const expected = { version: agentlbVersion(), tls: false, clientCerts: 'none', agentToken: 'none', storeKind: 'embedded' };
  t.match(server.logs.find((line) => line.event === 'started'), expected);
  t.match(await health(server), { status: 'ok', ...expected });
});

t.test('TLS with required client certificates and a token: all on the record', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'ca');
  for (const args of [['ca', 'init', dir], ['ca', 'issue', dir, '--server', '--name', 'localhost', '--san', '127.0.0.1']]) {
    t.equal((await runCliInProcess(args)).code, 0, args.join(' '));
  }
  const tls = ['--tls-cert', path.join(dir, 'localhost.crt'), '--tls-key', path.join(dir, 'localhost.key'), '--tls-ca', path.join(dir, 'ca.crt')];
  const required = await startServerProcess(t, ['--data-dir', path.join(root, 'a'), ...tls, '--require-client-cert'], cleanEnv({ AGENTLB_AGENT_TOKEN: TOKEN }));
  const expected = { tls: true, clientCerts: 'required', agentToken: 'required', storeKind: 'embedded' };
  t.match(required.logs.find((line) => line.event === 'started'), expected);
  t.match(await health(required), expected);
  t.notMatch(JSON.stringify(required.logs), TOKEN, 'the token itself is never logged');

  const requested = await startServerProcess(t, ['--data-dir', path.join(root, 'b'), ...tls, '--agent-token', TOKEN]);
  t.match(await health(requested), { tls: true, clientCerts: 'requested', agentToken: 'required' });
});

t.test('the posture of every combination', async (t) => {
  t.same(securityPosture({ tls: undefined, agentToken: undefined, embeddedStore: false }), { tls: false, clientCerts: 'none', agentToken: 'none', storeKind: 'postgresql' });
  t.same(securityPosture({ tls: { ca: undefined, requireClientCert: false }, agentToken: 'x', embeddedStore: true }), {
    tls: true,
    clientCerts: 'none',
    agentToken: 'required',
    storeKind: 'embedded',
  });
  t.match(agentlbVersion(), /^\d+\.\d+\.\d+/);
});
