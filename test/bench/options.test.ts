/**
 * `npm run bench` flags: defaults at issue 5's sizes, and an exact error for each bad input.
 */
import t from 'tap';
import { BenchUsageError, ISSUE_SIZES, parseBenchArgs, type BenchOptions } from '../../native-bench/options';

const fails = (argv: string[], message: string) => t.throws(() => parseBenchArgs(argv), new BenchUsageError(message), argv.join(' '));

t.test('rebalance: named only, 15 000 agents and K = 50 unless told', async (t) => {
  const opts = parseBenchArgs(['rebalance', '--rate', '200']);
  if (opts === 'help') throw new Error('unexpected help');
  t.same([opts.scenarios, opts.agents.rebalance, opts.rebalanceRate], [['rebalance'], 15_000, 200]);
  const defaults = parseBenchArgs(['rebalance']);
  if (defaults === 'help') throw new Error('unexpected help');
  t.equal(defaults.rebalanceRate, 50);
});

t.test('no scenario: every scenario at the issue sizes, and the run writes BENCHMARKS.md', async (t) => {
  const opts = parseBenchArgs([]);
  if (opts === 'help') throw new Error('unexpected help');
  t.same(opts.scenarios, ['handshake', 'storm', 'propagate', 'idle', 'admin-http']);
  t.equal(opts.all, true);
  t.same(opts.agents, ISSUE_SIZES);
  t.same(opts.agents, { handshake: 20_000, storm: 15_000, propagate: 15_000, idle: 15_000, rebalance: 15_000, calls: 15_000 });
  t.equal(opts.concurrency, 200);
  t.equal(opts.progress, false, 'no bar without a terminal');
  t.same(opts.pools, ['off', 'on'], 'the pool is measured both ways');
});

t.test('one scenario with every flag', async (t) => {
  const opts = parseBenchArgs(
    ['handshake', '--agents', '20', '--concurrency', '5', '--client', 'node', '--pool', 'on,off', '--json', 'x.json', '--workers', '3', '--sources', '4', '--rounds', '2', '--timeout-ms', '500', '--duration', '1', '--servers', '127.0.0.1:9000,127.0.0.2:9001'],
    true,
  );
  if (opts === 'help') throw new Error('unexpected help');
  t.same(opts.scenarios, ['handshake']);
  t.equal(opts.all, false);
  t.equal(opts.agents.handshake, 20);
  t.equal(opts.agents.idle, 20, '--agents sizes every scenario');
  t.same(opts.pools, ['on', 'off']);
  t.same(opts.servers, [{ host: '127.0.0.1', port: 9000 }, { host: '127.0.0.2', port: 9001 }]);
  t.equal(opts.client, 'node');
  t.equal(opts.workers, 3);
  t.equal(opts.progress, true);
});

t.test('scale: named only, 100 000 hosts and 15 000 connected by default, sizes and algorithm as flags', async (t) => {
  const opts = parseBenchArgs(['scale']) as BenchOptions;
  t.same(opts.scenarios, ['scale']);
  t.same(opts.scale, { hosts: 100_000, connected: 15_000 });
  t.equal(opts.algorithm, 'roundrobin');
  const small = parseBenchArgs(['scale', '--hosts', '3000', '--connected', '500', '--algorithm', 'balanced']) as BenchOptions;
  t.same(small.scale, { hosts: 3_000, connected: 500 });
  t.equal(small.algorithm, 'balanced');
  t.same((parseBenchArgs(['scale', '--hosts', '200']) as BenchOptions).scale, { hosts: 200, connected: 200 }, 'connected defaults to at most the hosts');
});

t.test('--help', async (t) => {
  t.equal(parseBenchArgs(['--help']), 'help');
});

t.test('bad input is refused with a message that names it', async () => {
  fails(['nope'], 'unknown scenario "nope" (expected handshake, storm, propagate, idle, admin-http, scale, rebalance, calls)');
  fails(['storm', '--rate', '5'], '--rate applies to rebalance only');
  fails(['rebalance', '--rate', '0'], '--rate needs an integer >= 1, got "0"');
  fails(['idle', 'storm'], 'one scenario at most, got "idle storm"');
  fails(['--agents', '0'], '--agents needs an integer >= 1, got "0"');
  fails(['--agents', '1.5'], '--agents needs an integer >= 1, got "1.5"');
  fails(['--client', 'java'], '--client must be native or node, got "java"');
  fails(['--pool', 'maybe'], '--pool must be on, off or auto, got "maybe"');
  fails(['--sources', '300'], '--sources must be at most 254, got "300"');
  fails(['handshake', '--servers', 'localhost'], '--servers needs HOST:PORT entries, got "localhost"');
  fails(['storm', '--servers', '127.0.0.1:1'], 'storm restarts the server it measures: it cannot run against --servers');
  fails(['idle', '--servers', '127.0.0.1:1'], "idle reads the server's memory through /proc: it cannot run against --servers");
  fails(['propagate', '--servers', '127.0.0.1:1'], 'propagate against --servers needs --admin HOST:PORT (and --token)');
  fails(['--bogus'], 'unknown flag --bogus');
  fails(['storm', '--hosts', '10'], '--hosts and --connected apply to scale only');
  fails(['storm', '--cpu-prof', 'x'], '--cpu-prof applies to scale, handshake and calls only');
  fails(['handshake', '--cpu-prof', ' '], '--cpu-prof needs a directory, got ""');
  fails(['scale', '--hosts', '10', '--connected', '20'], '--connected (20) cannot exceed --hosts (10)');
  fails(['scale', '--connected', '19000'], '--connected must be at most 18000 (one process\'s open files), got 19000');
  fails(['scale', '--algorithm', 'fastest'], '--algorithm must be one of static, roundrobin, shuffle, balanced, got "fastest"');
  fails(['--agents'], "Option '--agents <value>' argument missing");
});

t.test('handshake --cpu-prof DIR profiles the agentlb servers', async (t) => {
  t.match(parseBenchArgs(['handshake', '--cpu-prof', '/tmp/p']), { cpuProfDir: '/tmp/p' });
  t.notOk((parseBenchArgs(['handshake']) as { cpuProfDir?: string }).cpuProfDir);
});
