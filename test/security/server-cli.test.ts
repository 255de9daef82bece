/**
 * TLS and the limits through the real `agentlb server` process: set up in two commands, used
 * by a client, refused files and flags, and the log line saying why a connection was refused.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { nextMessage } from '../../src/protocol/framed-socket';
import { runCliInProcess, runCliProcess, startServerProcess } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';
import { connectTls, helloOver, type Pki } from './pki';

/** Exit code and stderr of `agentlb ARGS` run in this process. */
async function cli(args: string[]): Promise<{ code: number; err: string }> {
  const { code, err } = await runCliInProcess(args);
  return { code, err };
}

t.test('TLS in two commands: ca init, ca issue; then the server requires client certificates', async (t) => {
  const root = t.testdir(); // once per test: a second call would empty it
  const dir = path.join(root, 'ca');
  t.equal((await cli(['ca', 'init', dir])).code, 0);
  t.equal((await cli(['ca', 'issue', dir, '--server', '--name', 'localhost', '--san', '127.0.0.1'])).code, 0);
  t.equal((await cli(['ca', 'issue', dir, '--name', 'h1'])).code, 0);
  const file = (name: string): string => path.join(dir, name);
  const server = await startServerProcess(t, [
    '--data-dir',
    path.join(root, 'data'),
    '--tls-cert',
    file('localhost.crt'),
    '--tls-key',
    file('localhost.key'),
    '--tls-ca',
    file('ca.crt'),
    '--require-client-cert',
  ]);
  const read = async (name: string) => ({ cert: await readFile(file(`${name}.crt`)), key: await readFile(file(`${name}.key`)) });
  const pki = { ca: await readFile(file('ca.crt')) } as Pki;
  const agent = await connectTls(server.agentPort, pki, await read('h1'));
  t.match(await helloOver(agent, 'h1'), { type: 'welcome', hostId: 1 });
  agent.destroy();
  const anonymous = await connectTls(server.agentPort, pki);
  t.same(await nextMessage(anonymous, 5_000), { type: 'error', code: 'unauthorized', message: 'this server requires a client certificate' });
  const logged = await server.waitForLog((line) => line.event === 'tls_failed');
  t.match(logged, { level: 40, code: 'client_certificate', detail: 'this server requires a client certificate', msg: 'TLS refused: this server requires a client certificate' });
});

t.test('unusable TLS files stop the server with exit 1, naming them', async (t) => {
  const root = t.testdir();
  const missing = path.join(root, 'missing.pem');
  const run = await runCliProcess(['server', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-dir', root, '--tls-cert', missing, '--tls-key', missing]);
  t.same([run.code, run.stderr], [1, `agentlb server: cannot start: cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'\n`]);
});

t.test('a token no agent or client could present exits 2, naming the flag or variable but not the token', async (t) => {
  const usage = (message: string) => ({ code: 2, out: '', err: `agentlb server: ${message}\nRun \`agentlb server --help\` for usage.\n` });
  const long = 's'.repeat(257);
  const agentToken = (source: string) => usage(`${source} must be 16 to 256 bytes (what an agent can send as hello.token), got 257`);
  t.same(await runCliInProcess(['server', '--agent-token', long]), agentToken('--agent-token'));
  t.same(await runCliInProcess(['server'], { AGENTLB_AGENT_TOKEN: long }), agentToken('AGENTLB_AGENT_TOKEN'));
  const short = (source: string) =>
    usage(`${source} is 15 bytes: an enrolment token must have at least 16 so it cannot be guessed (make one with \`openssl rand -hex 16\`)`);
  t.same(await runCliInProcess(['server', '--agent-token', 's'.repeat(15)]), short('--agent-token'));
  t.same(await runCliInProcess(['server'], { AGENTLB_AGENT_TOKEN: 's'.repeat(15) }), short('AGENTLB_AGENT_TOKEN'));
  const adminToken = (source: string) => usage(`${source} must be non-empty printable ASCII without spaces`);
  t.same(await runCliInProcess(['server', '--admin-token', 'two words']), adminToken('--admin-token'));
  t.same(await runCliInProcess(['server'], { AGENTLB_ADMIN_TOKEN: 'two words' }), adminToken('AGENTLB_ADMIN_TOKEN'));
});

t.test('bad TLS and limit flags exit 2', async (t) => {
  const usage = (message: string) => ({ code: 2, err: `agentlb server: ${message}\nRun \`agentlb server --help\` for usage.\n` });
  t.same(await cli(['server', '--tls-ca', 'ca.pem']), usage('--tls-ca needs --tls-cert and --tls-key'));
  t.same(await cli(['server', '--tls-cert', 'c', '--tls-key', 'k', '--require-client-cert']), usage('--require-client-cert needs --tls-ca (the CA that issues agent certificates)'));
  t.same(await cli(['server', '--max-connection-rate', 'fast']), usage('--max-connection-rate must be an integer from 0 to 1000000, got "fast"'));
});

t.test('a refused connection gets server_busy and the log says why, once per window', async (t) => {
  const server = await startServerProcess(t, ['--data-dir', t.testdir(), '--rate-limit-loopback', '--max-connection-rate', '1', '--connection-burst', '1']);
  const first = await TestAgent.connect(server.agentPort);
  for (let i = 0; i < 3; i++) {
    const refused = await TestAgent.connect(server.agentPort);
    t.same(await refused.next(), { type: 'error', code: 'server_busy', message: 'too many new connections from 127.0.0.1 (limit 1 per second)' });
  }
  await first.close();
  const line = await server.waitForLog((l) => l.event === 'limit_reached');
  t.match(line, { level: 40, limit: 'connection_rate', remote: /^127\.0\.0\.1:\d+$/, msg: 'connection refused or dropped: too many new connections from 127.0.0.1 (limit 1 per second)' });
  // Stopping writes the summary of the window still open; every line has been read at exit.
  server.child.kill('SIGTERM');
  await server.exited;
  t.equal(server.logs.filter((l) => l.event === 'limit_reached' && l.suppressed === undefined).length, 1, 'one detailed line, not one per refusal');
  t.match(server.logs.find((l) => l.suppressed !== undefined), { limit: 'connection_rate', suppressed: 2, msg: '2 more like it in the last 10000 ms' }, 'the rest summed up at shutdown');
});
