/**
 * `agentlb call` against a real server with real in-process agents: the single call's value
 * and exit status, a failing call on stderr with exit 1, the fan-out's table and totals, its
 * progress bar on a terminal, --json (one object; NDJSON lines), and the usage errors named.
 */
import t, { type Test } from 'tap';
import { makeAgent, next } from '../agent/harness';
import { runCli } from '../../src/cli/main';
import { callProgress } from '../../src/cli/call-command';
import { startTestServer, TEST_TOKEN, type TestServer } from '../helpers/server';

async function cli(server: TestServer, args: string[], isTty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['call', ...args, '--admin', server.adminUrl.replace('http://', '')], {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env: { AGENTLB_ADMIN_TOKEN: TEST_TOKEN },
    isTty,
  });
  return { code, out, err };
}

async function agentOn(t: Test, server: TestServer, guid: string, zone: string) {
  const made = await makeAgent(t, `host=127.0.0.1:${server.agentPort}\nguid=${guid}\nzone=${zone}\n`);
  made.agent.start();
  const { hostId } = await next(made.agent, 'connected');
  return { agent: made.agent, hostId };
}

t.test('agentlb call: single calls, fan-outs, --json, and refusals', async (t) => {
  const server = await startTestServer(t);
  const a = await agentOn(t, server, 'cli-a', 'z1');
  const b = await agentOn(t, server, 'cli-b', 'z1');
  a.agent.handle('add', (params) => (params as { x: number; y: number }).x + (params as { x: number; y: number }).y);
  b.agent.handle('add', () => {
    throw new Error('b cannot add');
  });

  t.same(await cli(server, [String(a.hostId), 'add', '{"x":2,"y":3}']), { code: 0, out: '5\n', err: '' });
  t.same(await cli(server, [String(a.hostId), 'agentlb.ping']), { code: 0, out: '"pong"\n', err: '' });
  t.same(await cli(server, [String(b.hostId), 'add', '{}']), { code: 1, out: '', err: `agentlb call: host ${b.hostId} (cli-b): handler_failed: b cannot add\n` });
  const json = await cli(server, [String(a.hostId), 'add', '{"x":1,"y":1}', '--json']);
  t.match(JSON.parse(json.out), { hostId: a.hostId, guid: 'cli-a', status: 'ok', ok: true, value: 2 });
  t.same(await cli(server, ['999', 'agentlb.ping']), { code: 1, out: '', err: 'agentlb call: POST /api/hosts/999/call failed (HTTP 404): no host with id 999\n' });

  const fan = await cli(server, ['--zone', 'z1', 'add', '{"x":1,"y":2}'], true);
  t.equal(fan.code, 1, 'one host failed');
  const [header, rowA, rowB] = fan.out.split('\n');
  t.match(header, /^ID\s+GUID\s+SERVER\s+STATUS\s+RESULT$/);
  t.match(rowA, new RegExp(`^${a.hostId}\\s+cli-a\\s+127\\.0\\.0\\.1:\\d+\\s+ok\\s+3$`));
  t.match(rowB, new RegExp(`^${b.hostId}\\s+cli-b\\s+127\\.0\\.0\\.1:\\d+\\s+error\\s+handler_failed: b cannot add$`));
  t.match(fan.out, /\n2 host\(s\) in \d+ ms: 1 ok, 1 error\n$/);
  t.match(fan.err, /\r\[#+\.*\] 1\/\? |\r\d+ done: /, 'a progress line on a terminal');

  const ndjson = await cli(server, ['--hosts', `${a.hostId}`, 'agentlb.ping', '--json']);
  const lines = ndjson.out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.equal(ndjson.code, 0);
  t.match(lines, [{ hostId: a.hostId, status: 'ok', value: 'pong' }, { done: true, total: 1, ok: 1 }]);
  t.equal(ndjson.err, '', 'no progress bar when not a terminal or with --json');

  const usage: [string[], string][] = [
    [['agentlb.ping'], 'METHOD is missing'],
    [['x', 'agentlb.ping'], 'host ID must be an integer from 0 to 9007199254740991, got "x"'],
    [['--all', '--zone', 'z', 'm'], '--zone, --all and --hosts exclude each other (got --zone, --all)'],
    [['1', 'm', '{nope'], 'params must be JSON'],
    [['1', 'm', '--concurrency', '3'], '--concurrency only applies to a fan-out (--zone, --all or --hosts)'],
    [['1', 'm', '--timeout', '0'], '--timeout must be seconds in (0, 3600], got "0"'],
  ];
  for (const [args, message] of usage) {
    const answer = await cli(server, args);
    t.equal(answer.code, 2, args.join(' '));
    t.ok(answer.err.includes(message), `${args.join(' ')}: ${answer.err.split('\n')[0]}`);
  }
});

t.test('the progress line', async (t) => {
  t.equal(callProgress(0, 4, 0), '[..............................] 0/4: 0 ok, 0 failed');
  t.equal(callProgress(2, 4, 1), '[###############...............] 2/4: 1 ok, 1 failed');
  t.equal(callProgress(7, undefined, 7), '7 done: 7 ok, 0 failed');
});
