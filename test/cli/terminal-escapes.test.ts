/**
 * Agent-chosen text (guids, zones) never reaches the operator's terminal raw: ESC, CR/LF, BEL
 * and the Unicode characters that reorder or hide text come out escaped in every CLI table
 * (audit: `agentlb hosts` printed them as they were). Units of `printable`, then the real
 * `agentlb hosts` against a real server holding such hosts.
 */
import t from 'tap';
import { formatTable, printable } from '../../src/cli/table';
import { runCliInProcess } from '../helpers/cli';
import { startTestServer, TEST_TOKEN } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';

t.test('printable escapes controls, DEL, C1 and text-reordering characters, and the backslash', async (t) => {
  t.equal(printable('plain-guid.1:2'), 'plain-guid.1:2');
  t.equal(printable('\x1b[2J\x1b[Hok'), '\\x1b[2J\\x1b[Hok');
  t.equal(printable('a\rb\nc\x07d\x00e\x7ff\x9bg'), 'a\\x0db\\x0ac\\x07d\\x00e\\x7ff\\x9bg');
  t.equal(printable('abc\u202edcba\u2066\u200b\ufeff'), 'abc\\u202edcba\\u2066\\u200b\\ufeff');
  t.equal(printable('back\\x1b'), 'back\\\\x1b', 'a literal backslash cannot fake an escape');
  t.equal(printable('zoné 区'), 'zoné 区', 'printable non-ASCII is kept');
});

t.test('formatTable pads the escaped text, so columns stay aligned', async (t) => {
  t.equal(formatTable([['A', 'B'], ['\x1b', 'x'], ['long', 'y']]), 'A     B\n\\x1b  x\nlong  y\n');
});

t.test('agentlb hosts prints hostile guids and zones escaped', async (t) => {
  const server = await startTestServer(t);
  const agents: TestAgent[] = [];
  for (const [guid, zone] of [
    ['evil\x1b]0;owned\x07', 'z\r\n1    fake-row'],
    ['\x1b[1A\x1b[2Kh2', 'zone\u202e'],
  ] as const) {
    const agent = await TestAgent.connect(server.agentPort);
    await agent.hello({ guid, zone });
    agents.push(agent);
  }
  const listed = await runCliInProcess(['hosts', '--admin', `127.0.0.1:${server.adminAddress.port}`, '--token', TEST_TOKEN]);
  t.equal(listed.code, 0, listed.err);
  t.notMatch(listed.out, /[\x00-\x09\x0b-\x1f\x7f\u202e]/, 'no control character but the line ends');
  const lines = listed.out.split('\n');
  t.equal(lines.length, 4, 'a header, two rows, the final newline: no injected row');
  t.match(lines[1], /^1 +evil\\x1b\]0;owned\\x07 +z\\x0d\\x0a1    fake-row +127\.0\.0\.1:\d+ /);
  t.match(lines[2], /^2 +\\x1b\[1A\\x1b\[2Kh2 +zone\\u202e +127\.0\.0\.1:\d+ /);
  const removed = await runCliInProcess(['hosts', 'remove', '1', '--force', '--admin', `127.0.0.1:${server.adminAddress.port}`, '--token', TEST_TOKEN]);
  t.equal(removed.out, 'removed host 1 (evil\\x1b]0;owned\\x07); 0 agent(s) sent a new list\n');
  for (const agent of agents) await agent.close();
});
