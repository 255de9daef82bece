/**
 * A server that cannot start says why in one line on stderr and one `start_failed` log line,
 * with no stack trace anywhere on the terminal (a port in use is not a bug). Real process.
 */
import net from 'node:net';
import t from 'tap';
import { cleanEnv, runCliProcess } from '../helpers/cli';

t.test('port in use: exit 1, the reason once on stderr, a start_failed line without a stack', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const dataDir = t.testdir();

  const run = await runCliProcess(['server', '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--data-dir', dataDir], cleanEnv());
  t.equal(run.code, 1);
  const reason = `cannot listen for agent connections on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`;
  t.equal(run.stderr, `agentlb server: ${reason}\n`);
  const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const failed = lines.filter((line) => line['event'] === 'start_failed');
  t.equal(failed.length, 1);
  t.match(failed[0], { level: 60, code: 'listen_failed', msg: reason, cause: `listen EADDRINUSE: address already in use 127.0.0.1:${port}` });
  t.notMatch(run.stdout, /"stack"|\n\s+at /, 'no stack trace on stdout');
  t.notMatch(run.stderr, /\n\s+at /, 'nor on stderr');
});

t.test('at --log-level debug the stack is there, for whoever asked for it', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const run = await runCliProcess(['server', '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--data-dir', t.testdir(), '--log-level', 'debug'], cleanEnv());
  t.equal(run.code, 1);
  t.match(run.stdout, /"event":"start_failed_detail".*"stack"/);
});
